//! Selection strategies, circuit breaking, retries with backoff and `retry-after`,
//! pinning, and health-checked replicas, through a running gateway and the mock.

mod common;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn hello(model: &str) -> Value {
    json!({"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]})
}

/// Requests the mock received for an upstream model.
fn hits(mock: &Mock, upstream_model: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|r| {
            serde_json::from_str::<Value>(r["body"].as_str().unwrap_or("{}"))
                .is_ok_and(|b| b["model"] == upstream_model)
        })
        .count()
}

/// Polls `f` until it is true or the bound runs out (not a timing assertion).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never happened: {what}");
}

#[test]
fn latency_strategy_shifts_traffic_to_the_faster_deployment() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        r#"  m:
    strategy: latency
    exploration: 0.05
    targets:
      - { provider: anth, model: "mock:first_byte_delay_ms=150" }
      - { provider: oai, model: "mock:echo" }"#,
    ));
    let mut fast = 0;
    for i in 0..60 {
        let r = gw.post("/v1/chat/completions", &hello("m"));
        assert_eq!(r.status, 200);
        if i >= 10 && r.header("x-switchyard-provider") == Some("oai") {
            fast += 1;
        }
    }
    // 5% exploration sends ~2-3 of 50 to the slow one.
    assert!(fast >= 40, "only {fast} of 50 went to the fast deployment");
}

#[test]
fn cost_strategy_picks_the_cheaper_deployment() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        r#"  m:
    strategy: cost
    targets:
      - { provider: anth, model: dear, price: { input: 3.0, output: 15.0 } }
      - { provider: oai, model: cheap, price: { input: 0.15, output: 0.6 } }"#,
    ));
    for _ in 0..20 {
        let r = gw.post("/v1/messages", &hello("m"));
        assert_eq!(r.header("x-switchyard-provider"), Some("oai"));
    }
    assert_eq!(hits(&mock, "dear"), 0);
}

#[test]
fn breaker_opens_then_lets_one_probe_through() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        r#"  m:
    breaker: { failures: 2, cooldown_ms: 700 }
    targets: [ { provider: anth, model: "mock:status=500" } ]
    fallbacks: [ok]
  ok:
    targets: [ { provider: oai, model: fine } ]"#,
    ));
    for _ in 0..2 {
        let r = gw.post("/v1/chat/completions", &hello("m"));
        assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
    }
    // Open: the failing deployment is skipped without a request.
    let r = gw.post("/v1/chat/completions", &hello("m"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-switchyard-attempts"), Some("1"));
    assert_eq!(hits(&mock, "mock:status=500"), 2);
    gw.log_with("skipped: circuit open");
    // After the cool-down one probe goes through; it fails, so the breaker re-opens
    // and the very next request skips the deployment again.
    eventually("a half-open probe", || {
        gw.post("/v1/chat/completions", &hello("m"))
            .header("x-switchyard-attempts")
            == Some("2")
    });
    assert_eq!(hits(&mock, "mock:status=500"), 3);
    let r = gw.post("/v1/chat/completions", &hello("m"));
    assert_eq!(r.header("x-switchyard-attempts"), Some("1"));
    assert_eq!(hits(&mock, "mock:status=500"), 3);
}

#[test]
fn every_deployment_open_is_a_503_with_retry_after() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  m: { breaker: { failures: 1, cooldown_ms: 60000 }, targets: [ { provider: anth, model: \"mock:status=502\" } ] }",
    ));
    assert_eq!(gw.post("/v1/messages", &hello("m")).status, 502);
    let r = gw.post("/v1/messages", &hello("m"));
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.text().contains("circuit open"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
}

#[test]
fn retries_back_off_then_move_on() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        r#"  m:
    retries: 2
    backoff: { base_ms: 1, max_ms: 20 }
    targets: [ { provider: anth, model: "mock:status=503" } ]
    fallbacks: [ok]
  ok:
    targets: [ { provider: oai, model: fine } ]"#,
    ));
    let r = gw.post("/v1/chat/completions", &hello("m"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-switchyard-attempts"), Some("4"));
    assert_eq!(hits(&mock, "mock:status=503"), 3, "first try + 2 retries");
    assert_eq!(hits(&mock, "fine"), 1);
}

#[test]
fn retry_after_is_honoured_when_it_fits_and_skipped_when_not() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        r#"  short:
    retries: 1
    backoff: { base_ms: 1, max_ms: 2000 }
    targets: [ { provider: anth, model: "mock:status=429,retry_after_ms=50" } ]
    fallbacks: [ok]
  long:
    retries: 1
    backoff: { base_ms: 1, max_ms: 2000 }
    targets: [ { provider: anth, model: "mock:status=429,retry_after=30" } ]
    fallbacks: [ok]
  ok:
    targets: [ { provider: oai, model: fine } ]"#,
    ));
    let r = gw.post("/v1/chat/completions", &hello("short"));
    assert_eq!(r.header("x-switchyard-attempts"), Some("3"));
    assert_eq!(hits(&mock, "mock:status=429,retry_after_ms=50"), 2);
    // 30 s does not fit backoff.max (2 s): no retry, straight to the fallback.
    let r = gw.post("/v1/chat/completions", &hello("long"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
    assert_eq!(hits(&mock, "mock:status=429,retry_after=30"), 1);
    // And that deployment now cools down for its retry-after (rate-limit breaker).
    let r = gw.post("/v1/chat/completions", &hello("long"));
    assert_eq!(r.header("x-switchyard-attempts"), Some("1"));
    assert_eq!(hits(&mock, "mock:status=429,retry_after=30"), 1);
}

#[test]
fn pin_header_selects_a_target() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  m: { targets: [ { provider: anth, model: a1 }, { provider: oai, model: o1 } ] }",
    ));
    let body = serde_json::to_vec(&hello("m")).unwrap();
    for _ in 0..10 {
        let r = gw.post_raw(
            "/v1/messages",
            body.clone(),
            &[("x-switchyard-target", "oai")],
        );
        assert_eq!(r.header("x-switchyard-provider"), Some("oai"));
    }
    let r = gw.post_raw("/v1/messages", body, &[("x-switchyard-target", "nope")]);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("x-switchyard-target 'nope'"));
}

#[test]
fn health_checks_keep_traffic_off_a_dead_replica() {
    let mock = Mock::start();
    let dead = free_port();
    let yaml = format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
providers:
  replicas:
    type: openai
    base_url: "{base}/v1"
    api_key: local-key-123
    addresses: ["127.0.0.1:{port}", "127.0.0.1:{dead}"]
    health_check: {{ path: /__mock/health, interval_ms: 100, unhealthy_after: 1 }}
models:
  local: {{ targets: [ {{ provider: replicas, model: llama }} ] }}
"#,
        base = mock.base(),
        port = mock.port
    );
    let gw = Gateway::start(&yaml);
    eventually("20 requests in a row served on the first attempt", || {
        (0..20).all(|_| {
            let r = gw.post("/v1/chat/completions", &hello("local"));
            r.status == 200 && r.header("x-switchyard-attempts") == Some("1")
        })
    });
    let ready = client()
        .get(format!("{}/readyz", gw.admin()))
        .send()
        .unwrap();
    assert_eq!(ready.status(), 200);
}

/// #16 defect 5: a replica that dies under steady traffic costs no client request
/// while another is healthy. A refused connect sent nothing, so the next replica
/// gets the request at once (inside the same attempt), and the dead one is skipped
/// until its health check marks it down.
#[test]
fn a_replica_that_dies_costs_no_client_request() {
    let one = Mock::start();
    let two = Mock::start();
    let yaml = format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
providers:
  replicas:
    type: openai
    base_url: "{base}/v1"
    api_key: local-key-123
    addresses: ["127.0.0.1:{a}", "127.0.0.1:{b}"]
    health_check: {{ path: /__mock/health, interval_ms: 300, unhealthy_after: 2 }}
models:
  local: {{ targets: [ {{ provider: replicas, model: llama }} ] }}
"#,
        base = one.base(),
        a = one.port,
        b = two.port
    );
    let gw = Gateway::start(&yaml);
    for _ in 0..20 {
        assert_eq!(gw.post("/v1/chat/completions", &hello("local")).status, 200);
    }
    drop(two);
    let started = Instant::now();
    let mut served = 0;
    // Past the health check's detection time (2 × 300 ms) and well beyond.
    while started.elapsed() < Duration::from_millis(2000) {
        let r = gw.post("/v1/chat/completions", &hello("local"));
        assert_eq!(
            r.status,
            200,
            "request {served} after the kill: {}",
            r.text()
        );
        assert_eq!(r.header("x-switchyard-attempts"), Some("1"));
        served += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(served > 50, "{served}");
    let log = gw.log_text();
    assert!(!log.contains("failed: connect_error"), "{log}");
}
