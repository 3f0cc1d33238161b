//! HTTP/1 provider connections are kept alive and reused: a run of requests of every
//! kind (pass-through, translated, streamed, a provider error) goes over one
//! connection when they do not overlap.

mod common;
use common::*;
use serde_json::json;

#[test]
fn sequential_requests_reuse_one_provider_connection() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  m: { targets: [ { provider: anth, model: \"mock:fixture=anthropic/stream_text.sse\" } ] }",
    ));
    let stats = MockStats::new(&mock);
    assert_eq!(stats.connections(), 0);

    let chat = |model: &str, stream: bool| {
        json!({"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "What is the capital of France?"}]})
    };
    // Translated, plain.
    let r = gw.post("/v1/chat/completions", &chat("anth/mock:echo", false));
    assert_eq!(r.status, 200, "{}", r.text());
    // Pass-through, plain.
    let r = gw.post(
        "/v1/messages",
        &json!({"model": "anth/mock:echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Translated stream, read to its end.
    let text = client()
        .post(format!("{}/v1/chat/completions", gw.base()))
        .json(&chat("m", true))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    // A provider error: its body is read, so the connection stays usable.
    let r = gw.post("/v1/chat/completions", &chat("anth/mock:status=400", false));
    assert_eq!(r.status, 400, "{}", r.text());
    let r = gw.post("/v1/chat/completions", &chat("anth/mock:echo", false));
    assert_eq!(r.status, 200, "{}", r.text());

    assert_eq!(
        stats.connections(),
        1,
        "each request should reuse the first connection"
    );
    assert_eq!(mock.requests().len(), 5);
}
