//! Timeouts (first byte, idle gap, total) in streaming and non-streaming paths, and
//! client disconnects cancelling the upstream request.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::Read;
use std::time::{Duration, Instant};

fn setup(mock: &Mock, models: &str) -> Gateway {
    Gateway::start(&two_provider_config(mock, models))
}

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 50, "stream": stream,
        "messages": [{"role": "user", "content": "a b c d e f g h i j"}]})
}

#[test]
fn stalled_stream_ends_cleanly_in_the_callers_format() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        "  m: { timeouts: { idle_ms: 300 }, targets: [ { provider: oai, model: \"mock:events=10,stall_after=4\" } ] }",
    );
    // Anthropic client, OpenAI provider (translated).
    let r = gw.post("/v1/messages", &ask("m", true));
    assert_eq!(r.status, 200);
    let events = r.events();
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"), "{events:?}");
    assert!(last.data.contains("stalled"), "{}", last.data);
    assert!(anthropic_stream_text(&r.data()).starts_with("echo:"));
    // OpenAI client, OpenAI provider (pass-through).
    let r = gw.post("/v1/chat/completions", &ask("m", true));
    let data = r.data();
    assert!(data.last().unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("stalled"));
    assert!(!data.contains(&json!("[DONE]")));
}

#[test]
fn total_timeout_bounds_a_long_stream() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        "  m: { timeouts: { total_ms: 400 }, targets: [ { provider: anth, model: \"mock:events=100,delay_ms=50\" } ] }",
    );
    let r = gw.post("/v1/chat/completions", &ask("m", true));
    let data = r.data();
    let msg = data.last().unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(msg.contains("total timeout"), "{msg}");
}

#[test]
fn first_byte_timeout_fails_over_when_not_streaming_and_streaming() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:first_byte_delay_ms=3000\", timeouts: { first_byte_ms: 200 } } ], fallbacks: [n] }\n  n: { targets: [ { provider: oai, model: ok } ] }",
    );
    for stream in [false, true] {
        let r = gw.post("/v1/chat/completions", &ask("m", stream));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
    }
    gw.log_with("failed: timeout");
    // With nowhere to go, a timeout is a 504.
    let gw2 = setup(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:first_byte_delay_ms=3000\", timeouts: { first_byte_ms: 200 } } ] }",
    );
    let r = gw2.post("/v1/messages", &ask("m", false));
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["error"]["type"], "timeout_error");
}

fn open_bodies(mock: &Mock) -> i64 {
    let v: Value = client()
        .get(format!("{}/__mock/stats", mock.base()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["open_bodies"].as_i64().unwrap()
}

#[test]
fn client_disconnect_cancels_the_upstream_stream() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:events=200,delay_ms=50\" } ] }",
    );
    let mut resp = client()
        .post(format!("{}/v1/chat/completions", gw.base()))
        .json(&ask("m", true))
        .send()
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(resp.read(&mut buf).unwrap() > 0);
    assert_eq!(open_bodies(&mock), 1, "the upstream stream is running");
    drop(resp);
    // A 200-event stream at 50 ms would run 10 s; the gateway must drop it now.
    let end = Instant::now() + Duration::from_secs(5);
    while open_bodies(&mock) > 0 {
        assert!(
            Instant::now() < end,
            "upstream stream still open after the client left"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    gw.log_with("client_gone=true");
}

#[test]
fn client_disconnect_while_waiting_for_a_slow_answer() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:first_byte_delay_ms=8000\" } ] }",
    );
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    assert!(c
        .post(format!("{}/v1/messages", gw.base()))
        .json(&ask("m", false))
        .send()
        .is_err());
    let end = Instant::now() + Duration::from_secs(5);
    while !gw.log_text().contains("client_gone=true") {
        assert!(
            Instant::now() < end,
            "gateway did not notice the client leaving:\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
