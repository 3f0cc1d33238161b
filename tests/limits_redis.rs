//! Limits shared through a real Redis: several gateway processes enforce one limit
//! (LiteLLM #2730, #18518, #35533 and Bifrost #3547 multiplied limits by replicas),
//! and a Redis that dies or is not there follows `on_error`.

mod common;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const KEY: &str = "key-shared-000001";

fn gateway(mock: &Mock, redis_url: &str, limits: &str, on_error: &str) -> Gateway {
    let models = r#"  gpt: { targets: [ { provider: oai, model: gpt-x } ] }
  slow: { targets: [ { provider: oai, model: "mock:delay_ms=150,events=8" } ] }
  usage1527: { targets: [ { provider: anth, model: "mock:fixture=anthropic/stream_text.sse" } ] }"#;
    let yaml = two_provider_config(mock, models).replace(
        "providers:",
        &format!(
            "keys:\n  - {{ name: shared, key: {KEY}, limits: {{ {limits} }} }}\n\
             state:\n  redis: {{ url: \"{redis_url}\", timeout_ms: 200, on_error: {on_error} }}\n\
             providers:"
        ),
    );
    Gateway::start(&yaml)
}

fn call(gw: &Gateway, body: Vec<u8>) -> Reply {
    gw.post_raw(
        "/v1/chat/completions",
        body,
        &[("authorization", &format!("Bearer {KEY}"))],
    )
}

/// Polls until `f` holds, for at most 10 s (settlement is sent in the background).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "never: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn redis_get(redis: &Redis, cmd: &[&str]) -> Option<i64> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let mut c = redis::cmd(cmd[0]);
    for a in &cmd[1..] {
        c.arg(*a);
    }
    c.query(&mut conn).unwrap()
}

#[test]
fn two_gateways_sharing_redis_enforce_one_limit() {
    let redis = Redis::start();
    let mock = Mock::start();
    let a = gateway(&mock, &redis.url(), "rpm: 10", "fail_closed");
    let b = gateway(&mock, &redis.url(), "rpm: 10", "fail_closed");
    let mut ok = 0;
    for i in 0..20 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = call(gw, chat("gpt", 5));
        match r.status {
            200 => ok += 1,
            429 => {
                let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry));
                assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
            }
            s => panic!("status {s}: {}", r.text()),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(mock.requests().len(), 10);
    // Both instances keep counting against the same window, concurrently too.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let gw = if i % 2 == 0 { &a } else { &b };
                s.spawn(move || call(gw, chat("gpt", 5)).status)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|s| *s == 429), "{statuses:?}");
    // One round trip per request: one admission script each (rpm only, so nothing
    // to settle), plus one NOSCRIPT miss per gateway before its script was loaded.
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(
            &mut redis::Client::open(redis.url())
                .unwrap()
                .get_connection()
                .unwrap(),
        )
        .unwrap();
    let calls = |cmd: &str| -> u64 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let scripts = calls("evalsha") + calls("eval");
    assert!((30..=32).contains(&scripts), "{stats}");
}

#[test]
fn concurrency_and_tokens_are_shared_and_settled_through_redis() {
    let redis = Redis::start();
    let mock = Mock::start();
    let a = gateway(
        &mock,
        &redis.url(),
        "concurrency: 1, tpm: 2000",
        "fail_closed",
    );
    let b = gateway(
        &mock,
        &redis.url(),
        "concurrency: 1, tpm: 2000",
        "fail_closed",
    );
    let body = json!({
        "model": "slow", "stream": true, "max_tokens": 5,
        "messages": [{"role": "user", "content": "one two three four five six seven eight"}]
    });
    let stream = open_stream(&a, KEY, &body);
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["x-ratelimit-limit-tokens"], "2000");
    let r = call(&b, chat("gpt", 5));
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("concurrency limit"));
    let done = Reply::from(stream);
    assert!(done.text().contains("[DONE]"));
    eventually("the stream's slot is released", || {
        redis_get(&redis, &["ZCARD", "switchyard:{shared}:conc"]) == Some(0)
    });

    // A stream reserving ~40 tokens settles to the 1527 it reported.
    let body = serde_json::to_vec(&json!({
        "model": "usage1527", "max_tokens": 5, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]
    }))
    .unwrap();
    // The first stream was settled in the same script that freed its slot.
    let before: i64 = redis_get(&redis, &["HGET", "switchyard:{shared}:tokv", "_sum"]).unwrap();
    let r = call(&a, body);
    assert_eq!(r.status, 200, "{}", r.text());
    eventually("the stream settles to its usage", || {
        redis_get(&redis, &["HGET", "switchyard:{shared}:tokv", "_sum"]) == Some(before + 1527)
    });
    let sum = redis_get(&redis, &["HGET", "switchyard:{shared}:tokv", "_sum"]).unwrap() as u64;
    let next = chat("gpt", 1000);
    let r = call(&b, next);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("tpm limit (2000 tokens per minute)"));
    assert_eq!(
        r.header("x-ratelimit-remaining-tokens").unwrap(),
        (2000 - sum).to_string()
    );
    // Every key in Redis expires by itself.
    for k in ["tok", "tokv"] {
        let ttl = redis_get(&redis, &["PTTL", &format!("switchyard:{{shared}}:{k}")]).unwrap();
        assert!(ttl > 0 && ttl <= 60_000, "{k}: {ttl}");
    }
}

#[test]
fn redis_killed_mid_run_fail_open_admits_and_recovers() {
    let mut redis = Redis::start();
    let mock = Mock::start();
    let gw = gateway(&mock, &redis.url(), "rpm: 2", "fail_open");
    assert_eq!(call(&gw, chat("gpt", 5)).status, 200);
    assert_eq!(call(&gw, chat("gpt", 5)).status, 200);
    assert_eq!(call(&gw, chat("gpt", 5)).status, 429);
    redis.kill();
    for _ in 0..5 {
        let r = call(&gw, chat("gpt", 5));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("x-ratelimit-limit-requests").is_none());
    }
    // Logged once per interval, counted every time.
    let log = gw.log_with("rate-limit state: Redis admit failed");
    assert_eq!(log.matches("Redis admit failed").count(), 1, "{log}");
    let metrics = gw.metrics();
    let errors: u64 = metrics
        .lines()
        .find(|l| l.starts_with(r#"switchyard_state_errors_total{op="admit"}"#))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(errors >= 5, "{metrics}");
    // Redis back (empty): limits apply again once the connection is re-made.
    redis.restart();
    eventually("limits apply again after Redis returns", || {
        call(&gw, chat("gpt", 5)).header("x-ratelimit-limit-requests") == Some("2")
    });
    gw.log_with("Redis answers again");
}

#[test]
fn redis_killed_mid_run_fail_closed_refuses_in_the_callers_shape() {
    let mut redis = Redis::start();
    let mock = Mock::start();
    let gw = gateway(&mock, &redis.url(), "rpm: 100", "fail_closed");
    assert_eq!(call(&gw, chat("gpt", 5)).status, 200);
    redis.kill();
    let r = call(&gw, chat("gpt", 5));
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("fail_closed"));
    let r = gw.post_raw(
        "/v1/messages",
        chat("gpt", 5),
        &[("x-api-key", KEY), ("anthropic-version", "2023-06-01")],
    );
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "overloaded_error");
    assert_eq!(mock.requests().len(), 1);
}

#[test]
fn redis_unreachable_at_start_up_the_gateway_serves_and_follows_on_error() {
    let port = free_port();
    let mock = Mock::start();
    let url = format!("redis://127.0.0.1:{port}");
    let gw = gateway(&mock, &url, "rpm: 1", "fail_closed");
    gw.log_with("is unreachable");
    assert_eq!(call(&gw, chat("gpt", 5)).status, 503);
    // Redis comes up later on that port: the gateway connects by itself.
    let mut redis = Redis { child: None, port };
    redis.restart();
    eventually("the gateway reaches Redis", || {
        call(&gw, chat("gpt", 5)).status != 503
    });
    assert_eq!(call(&gw, chat("gpt", 5)).status, 429);
    assert!(!gw
        .log_text()
        .contains(&url.replace("127.0.0.1", "user:pw@")));
}
