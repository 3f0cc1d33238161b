//! Requests of several MiB (long contexts, images) are translated and forwarded
//! whole, including on a fallback attempt: far above Pingora's 64 KiB retry buffer.

mod common;
use common::*;
use serde_json::{json, Value};

/// A ~6 MiB OpenAI request: a long document plus a large inline image.
fn big_request(model: &str) -> (Value, usize, usize) {
    let doc: String = (0..150_000)
        .map(|i| format!("line {i:06} of the contract. "))
        .collect::<String>()
        + "THE-END";
    let image = "A".repeat(1_500_000) + "QQ==";
    let body = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "Summarise."},
            {"role": "user", "content": [
                {"type": "text", "text": doc},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{image}")}}
            ]}
        ]
    });
    (body, doc.len(), image.len())
}

#[test]
fn multi_mib_request_translates_and_survives_a_fallback() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  big: { targets: [ { provider: oai, model: \"mock:status=500\" } ], fallbacks: [big2] }\n  big2: { targets: [ { provider: anth, model: claude-big } ] }",
    ));
    let (body, doc_len, image_len) = big_request("big");
    let raw = serde_json::to_vec(&body).unwrap();
    assert!(raw.len() > 5 * 1024 * 1024, "{} bytes", raw.len());
    let r = gw.post_raw("/v1/chat/completions", raw.clone(), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
    let reqs = mock.requests();
    // First attempt: same format, forwarded whole with the model rewritten.
    assert_eq!(
        reqs[0]["body_len"].as_u64().unwrap() as usize,
        raw.len() - "big".len() + "mock:status=500".len()
    );
    // Second attempt: translated to Anthropic, every byte of text and image present.
    let sent: Value = serde_json::from_str(reqs[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["model"], "claude-big");
    let content = &sent["messages"][0]["content"];
    let text = content[0]["text"].as_str().unwrap();
    assert_eq!(text.len(), doc_len);
    assert!(text.ends_with("THE-END"));
    assert_eq!(
        content[1]["source"]["data"].as_str().unwrap().len(),
        image_len
    );
    assert_eq!(
        reqs[1]["body_len"].as_u64().unwrap() as usize,
        reqs[1]["body"].as_str().unwrap().len()
    );
    // And the reply made it back translated.
    assert_eq!(r.json()["object"], "chat.completion");
}

#[test]
fn multi_mib_anthropic_request_to_openai_provider() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  g: { targets: [ { provider: oai, model: \"mock:events=4\" } ] }",
    ));
    let doc = "word ".repeat(1_200_000);
    let body = json!({"model": "g", "max_tokens": 10, "stream": true,
        "messages": [{"role": "user", "content": [{"type": "text", "text": doc}]}]});
    let r = gw.post("/v1/messages", &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.data().last().unwrap()["type"], "message_stop");
    let sent = mock.last_body();
    assert_eq!(
        sent["messages"][0]["content"].as_str().unwrap().len(),
        doc.len()
    );
}
