//! Same format on both sides: only `model` is rewritten; bodies and streams are
//! relayed byte for byte.

mod common;
use common::*;
use serde_json::json;

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  claude: { targets: [ { provider: anth, model: claude-upstream } ] }\n  gpt: { targets: [ { provider: oai, model: gpt-upstream } ] }",
    ));
    (mock, gw)
}

#[test]
fn request_body_is_untouched_except_model() {
    let (mock, gw) = setup();
    // Unusual spacing, key order, unknown fields and escapes must all survive.
    let sent = br#"{"messages":[{"role":"user","content":"caf\u00e9 \"quoted\""}],  "model" : "gpt", "temperature":0.70,"x_vendor_field":{"a":[1, 2]},"stream":false}"#;
    let r = gw.post_raw("/v1/chat/completions", sent.to_vec(), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    let got = mock.requests().pop().unwrap();
    assert_eq!(
        got["body"].as_str().unwrap(),
        r#"{"messages":[{"role":"user","content":"caf\u00e9 \"quoted\""}],"model":"gpt-upstream","temperature":0.70,"x_vendor_field":{"a":[1, 2]},"stream":false}"#
    );
    assert!(r.header("x-switchyard-dropped").is_none());

    let sent = br#"{"model":"claude","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"service_tier":"auto"}"#;
    assert_eq!(gw.post_raw("/v1/messages", sent.to_vec(), &[]).status, 200);
    let got = mock.requests().pop().unwrap();
    assert_eq!(
        got["body"].as_str().unwrap(),
        r#"{"model":"claude-upstream","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"service_tier":"auto"}"#
    );
}

#[test]
fn responses_are_relayed_byte_for_byte() {
    let (_mock, gw) = setup();
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "oai/mock:fixture=openai/chat_text.json", "messages": []}),
    );
    assert_eq!(r.body, fixture("openai/chat_text.json"));
    let r = gw.post("/v1/messages", &json!({"model": "anth/mock:fixture=anthropic/message_text.json", "max_tokens": 5, "messages": []}));
    assert_eq!(r.body, fixture("anthropic/message_text.json"));
}

#[test]
fn streams_are_relayed_byte_for_byte() {
    let (_mock, gw) = setup();
    for split in [1, 9, 4096] {
        let r = gw.post(
            "/v1/chat/completions",
            &json!({"model": format!("oai/mock:fixture=openai/stream_tools_parallel.sse,split={split}"), "stream": true, "messages": []}),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            fixture("openai/stream_tools_parallel.sse"),
            "split {split}"
        );
        let r = gw.post(
            "/v1/messages",
            &json!({"model": format!("anth/mock:fixture=anthropic/stream_text.sse,split={split}"), "max_tokens": 5, "stream": true, "messages": []}),
        );
        assert_eq!(
            r.body,
            fixture("anthropic/stream_text.sse"),
            "split {split}"
        );
    }
}

#[test]
fn passthrough_stream_cut_short_gets_an_error_event_in_the_callers_format() {
    let (_mock, gw) = setup();
    let r = gw.post(
        "/v1/messages",
        &json!({"model": "anth/mock:fixture=anthropic/stream_text.sse,drop_after=5", "max_tokens": 5, "stream": true, "messages": []}),
    );
    let events = r.events();
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    assert!(last.data.contains("before it finished"), "{}", last.data);
}

#[test]
fn events_are_flushed_as_they_arrive() {
    use std::io::Read;
    let (_mock, gw) = setup();
    // The mock sends three events and then stalls for a minute: the client must see
    // them now, not when the stream ends.
    let mut resp = client()
        .post(format!("{}/v1/messages", gw.base()))
        .json(
            &json!({"model": "oai/mock:events=6,stall_after=3", "max_tokens": 5, "stream": true,
            "messages": [{"role": "user", "content": "one two three four five six"}]}),
        )
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("text_delta") {
        let n = resp
            .read(&mut buf)
            .expect("first events arrive before the stream ends");
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("event: message_start"));
}

#[test]
fn informational_responses_before_the_answer_are_skipped() {
    use std::io::{BufRead, BufReader, Read, Write};
    // A provider that sends 103 Early Hints before its answer (HTTP/1.1 allows any
    // number of 1xx responses first).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = fixture("openai/chat_text.json");
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut len = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let mut conn = conn;
        write!(
            conn,
            "HTTP/1.1 103 Early Hints\r\nlink: </x>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        )
        .unwrap();
        conn.write_all(&answer).unwrap();
        conn.flush().unwrap();
        body
    });
    let gw = Gateway::start(&format!(
        "listen: \"{{listen}}\"\nadmin_listen: \"{{admin}}\"\nproviders:\n  oai: {{ type: openai, base_url: \"http://127.0.0.1:{port}/v1\", api_key: \"{OPENAI_KEY}\" }}\nmodels:\n  gpt: {{ targets: [ {{ provider: oai, model: gpt-up }} ] }}\n"
    ));
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, fixture("openai/chat_text.json"));
    let sent = server.join().unwrap();
    assert!(String::from_utf8(sent).unwrap().contains("\"gpt-up\""));
}
