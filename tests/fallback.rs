//! Fallback: a target that fails before any byte reached the client (connect
//! refused, timeout, 5xx, 429, immediate stream error) hands over to the next target,
//! then to the `fallbacks` aliases, translating again for each provider's format.

mod common;
use common::*;
use serde_json::json;

fn setup(mock: &Mock, models: &str) -> Gateway {
    let closed = free_port();
    let yaml = two_provider_config(mock, models).replace(
        "providers:",
        &format!(
            "providers:\n  dead: {{ type: openai, base_url: \"http://127.0.0.1:{closed}/v1\", api_key: dead-key-123, timeouts: {{ connect_ms: 2000 }} }}\n  slow: {{ type: anthropic, base_url: \"{}\", api_key: slow-key-123, timeouts: {{ first_byte_ms: 300 }} }}",
            mock.base()
        ),
    );
    Gateway::start(&yaml)
}

fn hello(model: &str, stream: bool) -> serde_json::Value {
    json!({"model": model, "stream": stream, "max_tokens": 50, "messages": [{"role": "user", "content": "hello fallback"}]})
}

#[test]
fn targets_then_fallback_aliases_in_order_across_formats() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        r#"  main:
    targets:
      - { provider: dead, model: gpt-dead }
    fallbacks: [second, third]
  second:
    targets: [ { provider: anth, model: "mock:status=503" } ]
  third:
    targets: [ { provider: oai, model: gpt-ok } ]"#,
    );
    for stream in [false, true] {
        mock.clear();
        let r = gw.post("/v1/messages", &hello("main", stream));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-switchyard-provider"), Some("oai"));
        assert_eq!(r.header("x-switchyard-attempts"), Some("3"));
        let text = if stream {
            anthropic_stream_text(&r.data())
        } else {
            r.json()["content"][0]["text"].as_str().unwrap().to_string()
        };
        assert_eq!(text, "echo: hello fallback");
        // The 503 target got an Anthropic body, the last one an OpenAI body.
        let reqs = mock.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0]["path"], "/v1/messages");
        assert_eq!(reqs[1]["path"], "/v1/chat/completions");
        let body: serde_json::Value =
            serde_json::from_str(reqs[1]["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["model"], "gpt-ok");
        assert_eq!(body["messages"][0]["content"], "hello fallback");
    }
    gw.log_with("provider=dead model=gpt-dead failed: connect_error");
    gw.log_with("failed: status_5xx");
}

#[test]
fn rate_limit_and_timeout_move_on() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        r#"  m:
    targets: [ { provider: slow, model: "mock:first_byte_delay_ms=3000" } ]
    fallbacks: [n]
  n:
    targets: [ { provider: anth, model: "mock:status=429,retry_after=2" } ]
    fallbacks: [o]
  o:
    targets: [ { provider: anth, model: claude-ok } ]"#,
    );
    let r = gw.post("/v1/chat/completions", &hello("m", false));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-switchyard-attempts"), Some("3"));
    gw.log_with("failed: timeout");
    gw.log_with("failed: rate_limited");
}

#[test]
fn invalid_request_is_not_retried() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:status=400\" }, { provider: oai, model: ok } ] }",
    );
    // Weighted order is random: try until the 400 target comes first.
    for _ in 0..50 {
        mock.clear();
        let r = gw.post("/v1/chat/completions", &hello("m", false));
        if r.status == 400 {
            assert_eq!(r.header("x-switchyard-attempts"), Some("1"));
            assert_eq!(mock.requests().len(), 1, "the next target was not tried");
            return;
        }
        assert_eq!(r.status, 200);
    }
    panic!("the 400 target never came first in 50 requests");
}

#[test]
fn stream_error_before_any_content_falls_over() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:fixture=anthropic/stream_error_immediate.sse\" } ], fallbacks: [n] }\n  n: { targets: [ { provider: oai, model: ok } ] }",
    );
    let r = gw.post("/v1/chat/completions", &hello("m", true));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
    assert_eq!(openai_stream_text(&r.data()), "echo: hello fallback");
}

#[test]
fn all_failed_reports_the_last_error() {
    let mock = Mock::start();
    let gw = setup(&mock, "  m: { targets: [ { provider: dead, model: a }, { provider: anth, model: \"mock:status=500\" } ] }");
    let r = gw.post("/v1/messages", &hello("m", false));
    assert!(r.status == 502, "{}", r.text());
    assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.starts_with("all 2 attempts failed; last: provider '"),
        "{msg}"
    );
}
