//! Gateway keys with limits, in process: rpm, tpm (reserve then settle), concurrency,
//! the model allowlist and `key_sha256`, through a running gateway and the mock.
//!
//! Peer bugs these would have caught in our code: rate limits answered as 502
//! (TensorZero #3647), concurrent requests overspending a limit (LiteLLM #34732,
//! #40095), streams never counted against token limits (LiteLLM #41610), and
//! `retry-after: 60` whatever the real wait.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A gateway with one key per entry of `keys` (YAML flow maps without the braces).
fn gateway_with_keys(mock: &Mock, keys: &[&str]) -> Gateway {
    let models = r#"  gpt: { targets: [ { provider: oai, model: gpt-x } ] }
  claude: { targets: [ { provider: anth, model: claude-x } ] }
  slow: { targets: [ { provider: oai, model: "mock:delay_ms=150,events=8" } ] }
  usage1527: { targets: [ { provider: anth, model: "mock:fixture=anthropic/stream_text.sse" } ] }"#;
    let keys: String = keys.iter().map(|k| format!("  - {{ {k} }}\n")).collect();
    let yaml = two_provider_config(mock, models)
        .replace("providers:", &format!("keys:\n{keys}providers:"));
    Gateway::start(&yaml)
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn openai(gw: &Gateway, key: &str, body: Vec<u8>) -> Reply {
    gw.post_raw(
        "/v1/chat/completions",
        body,
        &[("authorization", &bearer(key))],
    )
}

fn anthropic(gw: &Gateway, key: &str, body: Vec<u8>) -> Reply {
    gw.post_raw(
        "/v1/messages",
        body,
        &[("x-api-key", key), ("anthropic-version", "2023-06-01")],
    )
}

fn header_u64(r: &Reply, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header: {:?}", r.headers))
        .parse()
        .unwrap()
}

/// Waits until the gateway logged request `id` (settlement runs just before).
fn settled(gw: &Gateway, r: &Reply) {
    let id = r.header("x-request-id").expect("request id");
    gw.log_with(&format!("request_id={id} "));
}

#[test]
fn rpm_over_the_limit_is_429_in_both_shapes_with_the_real_retry_after() {
    let mock = Mock::start();
    let gw = gateway_with_keys(
        &mock,
        &["name: a, key: key-a-0000000001, limits: { rpm: 3 }"],
    );
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = openai(&gw, "key-a-0000000001", chat("gpt", 5));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(header_u64(&r, "x-ratelimit-limit-requests"), 3);
        assert!(r.header("x-ratelimit-reset-requests").is_some());
        remaining.push(header_u64(&r, "x-ratelimit-remaining-requests"));
    }
    assert_eq!(remaining, [2, 1, 0]);
    // Real time passes, so the wait must have shrunk below the full minute.
    std::thread::sleep(Duration::from_millis(1500));
    let r = openai(&gw, "key-a-0000000001", chat("gpt", 5));
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=59).contains(&retry), "retry-after {retry}");
    let e = r.json();
    assert_eq!(e["error"]["type"], "rate_limit_error");
    assert_eq!(e["error"]["code"], "rate_limit_exceeded");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("'a'") && msg.contains("rpm limit (3 requests per minute)"),
        "{msg}"
    );
    assert!(!r.text().contains("key-a-0000000001"));
    assert_eq!(header_u64(&r, "x-ratelimit-remaining-requests"), 0);

    let r = anthropic(&gw, "key-a-0000000001", chat("claude", 5));
    assert_eq!(r.status, 429);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");
    assert!(r.header("retry-after").is_some());

    // Turned-away requests never reached the provider.
    assert_eq!(mock.requests().len(), 3);
    let log = gw.log_with("limit=rpm");
    assert!(log.contains("key=a") && log.contains("status=429"));
    let metrics = gw.metrics();
    assert!(
        metrics.contains(r#"switchyard_ratelimited_total{key="a",limit="rpm"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"switchyard_key_requests_total{key="a"} 5"#),
        "{metrics}"
    );
}

#[test]
fn a_concurrent_burst_gets_exactly_the_limit() {
    let mock = Mock::start();
    let gw = gateway_with_keys(
        &mock,
        &["name: a, key: key-a-0000000001, limits: { rpm: 10 }"],
    );
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..25)
            .map(|_| s.spawn(|| openai(&gw, "key-a-0000000001", chat("gpt", 5)).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 15);
    assert_eq!(mock.requests().len(), 10);
}

#[test]
fn concurrency_counts_a_stream_until_its_end_and_headers_come_first() {
    let mock = Mock::start();
    let gw = gateway_with_keys(
        &mock,
        &["name: a, key: key-a-0000000001, limits: { concurrency: 1, rpm: 100 }"],
    );
    let body = json!({
        "model": "slow", "stream": true,
        "messages": [{"role": "user", "content": "one two three four five six seven eight"}]
    });
    let stream = open_stream(&gw, "key-a-0000000001", &body);
    // The head arrived before the events: it carries the limit headers.
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["x-ratelimit-limit-requests"], "100");
    assert_eq!(stream.headers()["x-ratelimit-remaining-requests"], "99");
    let r = openai(&gw, "key-a-0000000001", chat("gpt", 5));
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("concurrency limit (1 requests in flight)"));
    let done = Reply::from(stream);
    assert!(done.text().contains("[DONE]"));
    settled(&gw, &done);
    assert_eq!(openai(&gw, "key-a-0000000001", chat("gpt", 5)).status, 200);
}

#[test]
fn tpm_settles_to_real_usage_larger_and_smaller_than_the_estimate() {
    let mock = Mock::start();
    let gw = gateway_with_keys(
        &mock,
        &[
            "name: big, key: key-big-00000001, limits: { tpm: 2000 }",
            "name: small, key: key-small-000001, limits: { tpm: 2000 }",
        ],
    );
    // Larger: a stream reserving ~40 tokens that reports 1500 + 27 (translated
    // Anthropic -> OpenAI), so the stream counts in full.
    let body = serde_json::to_vec(&json!({
        "model": "usage1527", "max_tokens": 5, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]
    }))
    .unwrap();
    let reserved = body.len() as u64 / 4 + 5;
    let r = openai(&gw, "key-big-00000001", body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        header_u64(&r, "x-ratelimit-remaining-tokens"),
        2000 - reserved
    );
    settled(&gw, &r);
    let next = chat("gpt", 600);
    let next_reserved = next.len() as u64 / 4 + 600;
    assert!(1527 + next_reserved > 2000);
    let r = openai(&gw, "key-big-00000001", next);
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(header_u64(&r, "x-ratelimit-remaining-tokens"), 2000 - 1527);

    // Smaller: reserve ~1500, use ~30; the second request fits only once the first
    // was settled down.
    let first = chat("gpt", 1500);
    let r = openai(&gw, "key-small-000001", first);
    assert_eq!(r.status, 200);
    let u = &r.json()["usage"];
    let used = u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap();
    settled(&gw, &r);
    let second = chat("gpt", 1500);
    let second_reserved = second.len() as u64 / 4 + 1500;
    let r = openai(&gw, "key-small-000001", second);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        header_u64(&r, "x-ratelimit-remaining-tokens"),
        2000 - used - second_reserved
    );
}

#[test]
fn a_stream_the_client_abandons_still_settles_and_frees_its_slot() {
    let mock = Mock::start();
    let gw = gateway_with_keys(
        &mock,
        &["name: a, key: key-a-0000000001, limits: { concurrency: 1, tpm: 100000 }"],
    );
    let body = json!({
        "model": "slow", "stream": true, "max_tokens": 1000,
        "messages": [{"role": "user", "content": "one two three four five six seven eight"}]
    });
    let reserved = serde_json::to_vec(&body).unwrap().len() as u64 / 4 + 1000;
    let mut stream = open_stream(&gw, "key-a-0000000001", &body);
    assert_eq!(stream.status(), 200);
    let mut first = [0u8; 16];
    std::io::Read::read(&mut stream, &mut first).unwrap();
    drop(stream);
    gw.log_with("client_gone=true");
    // The slot is free again, and the abandoned stream (no usage reported before it
    // was cut) kept its reservation.
    let next = chat("gpt", 5);
    let next_reserved = next.len() as u64 / 4 + 5;
    let r = openai(&gw, "key-a-0000000001", next);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        header_u64(&r, "x-ratelimit-remaining-tokens"),
        100000 - reserved - next_reserved
    );
}

#[test]
fn the_model_allowlist_answers_403_naming_model_and_key_not_the_secret() {
    let mock = Mock::start();
    let gw = gateway_with_keys(
        &mock,
        &["name: team-a, key: key-team-a-000001, models: [gpt, \"anth/*\"]"],
    );
    assert_eq!(openai(&gw, "key-team-a-000001", chat("gpt", 5)).status, 200);
    assert_eq!(
        openai(&gw, "key-team-a-000001", chat("anth/claude-x", 5)).status,
        200
    );
    let r = openai(&gw, "key-team-a-000001", chat("claude", 5));
    assert_eq!(r.status, 403, "{}", r.text());
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("'claude'") && msg.contains("'team-a'"),
        "{msg}"
    );
    assert!(!r.text().contains("key-team-a-000001"));
    let r = anthropic(&gw, "key-team-a-000001", chat("oai/gpt-x", 5));
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"]["type"], "permission_error");
    assert_eq!(mock.requests().len(), 2);
    // The model list shows what the key may use.
    let models: Value = client()
        .get(format!("{}/v1/models", gw.base()))
        .header("authorization", bearer("key-team-a-000001"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gpt"]);
}

#[test]
fn key_sha256_keys_work_and_the_config_holds_no_secret() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["keys", "new", "--name", "ci"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_string()
    };
    let key = field("key:");
    let digest = field("key_sha256:");
    assert!(key.starts_with("sy-") && key.len() >= 3 + 64);
    assert_eq!(digest.len(), 64);
    let mock = Mock::start();
    let gw = gateway_with_keys(&mock, &[&format!("name: ci, key_sha256: \"{digest}\"")]);
    assert_eq!(openai(&gw, &key, chat("gpt", 5)).status, 200);
    assert_eq!(openai(&gw, &digest, chat("gpt", 5)).status, 401);
    gw.log_with("key=ci");
}

#[test]
fn keys_without_limits_get_no_limit_headers() {
    let mock = Mock::start();
    let gw = gateway_with_keys(&mock, &["name: free, key: key-free-0000001"]);
    let r = openai(&gw, "key-free-0000001", chat("gpt", 5));
    assert_eq!(r.status, 200);
    assert!(r.header("x-ratelimit-limit-requests").is_none());
}
