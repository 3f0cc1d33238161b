//! Providers with `http2: true`: requests share multiplexed HTTP/2 connections (h2c to
//! the mock), streams included, and one failing or abandoned stream leaves the shared
//! connection and its other streams alone.

mod common;
use common::*;
use serde_json::{json, Value};
use std::io::Read;
use std::time::{Duration, Instant};

fn setup(mock: &Mock, models: &str) -> Gateway {
    let yaml = two_provider_config(mock, models).replace(
        "api_key: \"",
        "http2: true, http2_max_streams: 64, api_key: \"",
    );
    assert_eq!(yaml.matches("http2: true").count(), 2, "{yaml}");
    Gateway::start(&yaml)
}

fn ask(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "What is the capital of France?"}]})
}

#[test]
fn a_burst_of_translated_streams_shares_a_connection() {
    let mock = Mock::start();
    let gw = setup(&mock, "  m: { targets: [ { provider: anth, model: \"mock:fixture=anthropic/stream_text.sse,delay_ms=20\" } ] }");
    let stats = MockStats::new(&mock);
    assert_eq!(stats.connections(), 0);

    const STREAMS: usize = 24;
    let threads: Vec<_> = (0..STREAMS)
        .map(|_| {
            let base = gw.base();
            std::thread::spawn(move || {
                client()
                    .post(format!("{base}/v1/chat/completions"))
                    .json(&ask("m", true))
                    .send()
                    .unwrap()
                    .text()
                    .unwrap()
            })
        })
        .collect();
    for t in threads {
        let text = t.join().unwrap();
        let data: Vec<Value> = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap_or(Value::String(d.into())))
            .collect();
        assert_eq!(openai_stream_text(&data), TEXT_PARIS, "{text}");
        assert_eq!(data.last().unwrap(), &json!("[DONE]"));
        let usage = &data[data.len() - 2]["usage"];
        assert_eq!(usage["completion_tokens"], 27, "{text}");
    }

    // Over HTTP/1 the 24 overlapping streams would need 24 connections. A burst on a
    // cold start waits for the first connection instead of each opening one.
    let opened = stats.connections();
    assert!(
        opened <= 4,
        "{opened} new provider connections for {STREAMS} streams"
    );
    let reqs = mock.requests();
    let provider_reqs: Vec<&Value> = reqs
        .iter()
        .filter(|r| r["path"] == "/v1/messages")
        .collect();
    assert_eq!(provider_reqs.len(), STREAMS);
    for r in provider_reqs {
        assert_eq!(r["version"], "HTTP/2.0", "{r}");
        assert_eq!(r["headers"]["x-api-key"], ANTHROPIC_KEY);
    }
}

#[test]
fn pass_through_and_a_multi_mib_body_over_http2() {
    let mock = Mock::start();
    let gw = setup(&mock, "  gpt: { targets: [ { provider: oai, model: gpt-up } ] }\n  claude: { targets: [ { provider: anth, model: claude-up } ] }");
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "oai/mock:fixture=openai/chat_text.json", "messages": []}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, fixture("openai/chat_text.json"));

    // Far larger than HTTP/2's 64 KiB initial window: flow control must carry it whole.
    let doc = "word ".repeat(600_000) + "THE-END";
    let body = json!({"model": "claude", "messages": [{"role": "user", "content": doc}]});
    let r = gw.post("/v1/chat/completions", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = mock.last_body();
    assert_eq!(got["model"], "claude-up");
    let content = &got["messages"][0]["content"];
    let text = content.as_str().or(content[0]["text"].as_str());
    assert_eq!(text, Some(doc.as_str()));
    assert_eq!(mock.requests().last().unwrap()["version"], "HTTP/2.0");
}

#[test]
fn a_broken_stream_does_not_break_the_shared_connection() {
    let mock = Mock::start();
    let gw = setup(&mock, "  ok: { targets: [ { provider: oai, model: \"mock:fixture=openai/stream_text.sse\" } ] }\n  broken: { targets: [ { provider: oai, model: \"mock:fixture=openai/stream_text.sse,drop_after=4\" } ] }");
    let r = gw.post("/v1/messages", &json!({"model": "ok", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]}));
    assert_eq!(r.status, 200, "{}", r.text());
    let stats = MockStats::new(&mock);
    let before = stats.connections();

    // The provider resets one stream mid-way. Over HTTP/2 a reset may overtake the
    // frames before it (RFC 9113 lets the receiver drop them), so the client gets either
    // the partial stream ending in an error event, or a 502 if nothing had been relayed.
    let r = gw.post("/v1/messages", &json!({"model": "broken", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]}));
    if r.status == 200 {
        let events = r.events();
        let last = events.last().unwrap();
        assert_eq!(last.event.as_deref(), Some("error"), "{events:?}");
        assert!(!events
            .iter()
            .any(|e| e.event.as_deref() == Some("message_stop")));
    } else {
        assert_eq!(r.status, 502, "{}", r.text());
        assert_eq!(r.json()["error"]["type"], "api_error");
    }

    // ...and the next requests still go over the same connection.
    for _ in 0..3 {
        let r = gw.post("/v1/messages", &json!({"model": "ok", "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "hi"}]}));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.events().last().unwrap().event.as_deref(),
            Some("message_stop")
        );
    }
    assert_eq!(stats.connections(), before, "no new connection was needed");
}

#[test]
fn client_disconnect_resets_only_its_upstream_stream() {
    let mock = Mock::start();
    let gw = setup(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:events=200,delay_ms=50\" } ] }",
    );
    let stats = MockStats::new(&mock);
    let start = |gw: &Gateway| {
        client()
            .post(format!("{}/v1/chat/completions", gw.base()))
            .json(&ask("m", true))
            .send()
            .unwrap()
    };
    let mut kept = start(&gw);
    let mut left = start(&gw);
    let mut buf = [0u8; 256];
    assert!(kept.read(&mut buf).unwrap() > 0);
    assert!(left.read(&mut buf).unwrap() > 0);
    assert_eq!(stats.open_bodies(), 2);
    drop(left);
    // The abandoned stream is reset at once (it would run 10 s); the other goes on.
    let end = Instant::now() + Duration::from_secs(5);
    while stats.open_bodies() > 1 {
        assert!(Instant::now() < end, "abandoned upstream stream still open");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        kept.read(&mut buf).unwrap() > 0,
        "the other stream still flows"
    );
    assert_eq!(stats.open_bodies(), 1);
}
