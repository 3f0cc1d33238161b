//! No configured secret reaches a client, mid-stream included: a provider's error
//! event that echoes its API key is scrubbed on every client/provider pairing, whether
//! the stream is translated or passed through, wherever the provider's bytes are cut.

mod common;
use common::*;
use serde_json::json;

const MODELS: &str = "  m: { targets: [ { provider: oai, model: gpt-x } ] }";

fn stream(gw: &Gateway, api: &str, model: &str) -> Reply {
    let body = serde_json::to_vec(&json!({
        "model": model, "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "hi"}]
    }))
    .unwrap();
    match api {
        "openai" => gw.post_raw("/v1/chat/completions", body, &[]),
        _ => gw.post_raw("/v1/messages", body, &[("anthropic-version", "2023-06-01")]),
    }
}

#[test]
fn provider_error_events_that_echo_keys_are_scrubbed_on_every_path() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(&mock, MODELS));
    for (api, provider, fixture) in [
        ("openai", "oai", "openai/stream_error_key_echo.sse"), // pass-through
        ("openai", "anth", "anthropic/stream_error_key_echo.sse"), // translated
        ("anthropic", "anth", "anthropic/stream_error_key_echo.sse"), // pass-through
        ("anthropic", "oai", "openai/stream_error_key_echo.sse"), // translated
    ] {
        // Whole events, then 7-byte frames, so a key is cut across provider writes.
        for split in ["", ",split=7", ",split=3"] {
            let model = format!("{provider}/mock:fixture={fixture}{split}");
            let r = stream(&gw, api, &model);
            let what = format!("{api} client, {model}");
            assert_eq!(r.status, 200, "{what}: {}", r.text());
            let text = r.text();
            assert!(text.contains("Hello"), "{what}: {text}");
            assert!(
                !text.contains(OPENAI_KEY) && !text.contains(ANTHROPIC_KEY),
                "{what}: a key reached the client: {text}"
            );
            assert!(text.contains("[redacted]"), "{what}: {text}");
            // Events stay whole and parse.
            for d in r.data() {
                assert!(d.is_object() || d == "[DONE]", "{what}: {d}");
            }
        }
    }
    assert!(!gw.log_text().contains(OPENAI_KEY) && !gw.log_text().contains(ANTHROPIC_KEY));
}

/// A plain answer that echoes a key is scrubbed, and its `content-length` is the
/// length of the scrubbed body (it was the provider's, so the client waited for bytes
/// that never came).
#[test]
fn a_plain_answer_that_echoes_a_key_is_scrubbed_and_framed_right() {
    let mock = Mock::start();
    let gw = Gateway::start(&two_provider_config(&mock, MODELS));
    for (path, model) in [
        ("/v1/chat/completions", "oai/echo"), // pass-through
        ("/v1/messages", "oai/echo"),         // translated
    ] {
        let r = gw.post_raw(
            path,
            serde_json::to_vec(&json!({
                "model": model, "max_tokens": 50,
                "messages": [{"role": "user", "content": format!("say {OPENAI_KEY}")}]
            }))
            .unwrap(),
            &[("anthropic-version", "2023-06-01")],
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let text = r.text();
        assert!(
            !text.contains(OPENAI_KEY) && text.contains("[redacted]"),
            "{text}"
        );
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
    }
}
