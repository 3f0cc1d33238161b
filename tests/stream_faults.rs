//! Broken provider output (#16 defects 2 and 3): a non-JSON event or bytes that are
//! not UTF-8, in a stream after content or in a whole body. Whatever the path
//! (pass-through or translated), the client gets only what its SDK can decode: a
//! stream that ends with an error event in its own format, or a 502 in its shape.

mod common;

use common::*;

fn gateway(mock: &Mock) -> Gateway {
    let models = r#"
  o-garbage: { targets: [ { provider: oai, model: "mock:fixture=faults/openai_stream_garbage_midstream.sse" } ] }
  o-utf8: { targets: [ { provider: oai, model: "mock:fixture=faults/openai_stream_invalid_utf8.sse" } ] }
  a-garbage: { targets: [ { provider: anth, model: "mock:fixture=faults/anthropic_stream_garbage_midstream.sse" } ] }
  a-utf8: { targets: [ { provider: anth, model: "mock:fixture=faults/anthropic_stream_invalid_utf8.sse" } ] }
  o-body-utf8: { targets: [ { provider: oai, model: "mock:fixture=faults/openai_chat_invalid_utf8.json" } ] }
  a-body-utf8: { targets: [ { provider: anth, model: "mock:fixture=faults/anthropic_message_invalid_utf8.json" } ] }
"#;
    Gateway::start(&two_provider_config(mock, models))
}

fn send(gw: &Gateway, anthropic_client: bool, model: &str, stream: bool) -> Reply {
    let body = serde_json::json!({
        "model": model, "max_tokens": 100, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}],
    });
    let path = if anthropic_client {
        "/v1/messages"
    } else {
        "/v1/chat/completions"
    };
    let h: &[(&str, &str)] = if anthropic_client {
        &[("anthropic-version", "2023-06-01")]
    } else {
        &[]
    };
    gw.post_raw(path, serde_json::to_vec(&body).unwrap(), h)
}

/// What an SDK's stream reader needs: UTF-8, every data line JSON (or `[DONE]`),
/// and an end it recognises as an error, after the content that came first.
fn assert_stream_ends_with_error(r: &Reply, anthropic_client: bool, what: &str) {
    assert_eq!(r.status, 200, "{what}: content was sent before the fault");
    let text = std::str::from_utf8(&r.body)
        .unwrap_or_else(|e| panic!("{what}: the client got bytes that are not UTF-8: {e}"));
    assert!(!text.contains("<html>"), "{what}: garbage relayed:\n{text}");
    let events = r.events();
    for e in &events {
        if e.data != "[DONE]" {
            serde_json::from_str::<serde_json::Value>(&e.data).unwrap_or_else(|err| {
                panic!("{what}: a data line is not JSON ({err}): {}", e.data)
            });
        }
    }
    let last = events.last().expect("events");
    let v: serde_json::Value = serde_json::from_str(&last.data).unwrap();
    if anthropic_client {
        assert_eq!(last.event.as_deref(), Some("error"), "{what}:\n{text}");
        assert_eq!(v["type"], "error", "{what}");
        assert!(
            !text.contains("message_stop"),
            "{what}: a cut answer looked complete"
        );
    } else {
        assert!(v["error"]["message"].is_string(), "{what}:\n{text}");
        assert!(
            !text.contains("[DONE]"),
            "{what}: a cut answer looked complete"
        );
    }
    let content = if anthropic_client {
        anthropic_stream_text(&r.data())
    } else {
        openai_stream_text(&r.data())
    };
    assert!(
        !content.is_empty(),
        "{what}: the content before the fault was kept"
    );
}

#[test]
fn broken_streams_end_with_an_error_event_on_every_path() {
    let mock = Mock::start();
    let gw = gateway(&mock);
    for model in ["o-garbage", "o-utf8", "a-garbage", "a-utf8"] {
        for anthropic_client in [false, true] {
            let r = send(&gw, anthropic_client, model, true);
            let what = format!(
                "{model} to an {} client",
                if anthropic_client {
                    "Anthropic"
                } else {
                    "OpenAI"
                }
            );
            let translated = model.starts_with('a') != anthropic_client;
            if translated && model.ends_with("utf8") {
                // Translation re-encodes the text: the bad bytes become U+FFFD and the
                // answer is otherwise whole.
                let text = std::str::from_utf8(&r.body).expect("UTF-8");
                assert!(text.contains('\u{fffd}'), "{what}:\n{text}");
                assert!(
                    text.contains("message_stop") || text.contains("[DONE]"),
                    "{what}:\n{text}"
                );
                continue;
            }
            assert_stream_ends_with_error(&r, anthropic_client, &what);
        }
    }
    let log = gw.log_with("unusable_stream");
    assert!(log.contains("error=unusable_stream"), "{log}");
}

#[test]
fn a_body_that_is_not_utf8_is_a_502_in_the_callers_shape() {
    let mock = Mock::start();
    let gw = gateway(&mock);
    for (model, anthropic_client) in [
        ("o-body-utf8", false),
        ("a-body-utf8", true),
        ("o-body-utf8", true),
        ("a-body-utf8", false),
    ] {
        let r = send(&gw, anthropic_client, model, false);
        assert_eq!(r.status, 502, "{model}: {}", r.text());
        let v = r.json();
        if anthropic_client {
            assert_eq!(v["type"], "error", "{model}");
        } else {
            assert!(v["error"]["message"].is_string(), "{model}");
        }
        assert!(
            r.text().contains("unreadable") || r.text().contains("unusable"),
            "{}",
            r.text()
        );
    }
}

/// A provider that starts an event and never ends it does not grow the gateway's
/// buffer without bound: past 8 MiB the stream ends with an error event, on every path.
#[test]
fn an_event_that_never_ends_is_cut_off() {
    let mock = Mock::start();
    let models = r#"
  o-endless: { targets: [ { provider: oai, model: "mock:fixture=openai/stream_text.sse,oversize_after=3" } ] }
  a-endless: { targets: [ { provider: anth, model: "mock:fixture=anthropic/stream_text.sse,oversize_after=4" } ] }
"#;
    let gw = Gateway::start(&two_provider_config(&mock, models));
    for model in ["o-endless", "a-endless"] {
        for anthropic_client in [false, true] {
            let r = send(&gw, anthropic_client, model, true);
            let what = format!("{model}, Anthropic client: {anthropic_client}");
            assert!(
                r.body.len() < 1024 * 1024,
                "{what}: the 9 MiB event was relayed"
            );
            assert_stream_ends_with_error(&r, anthropic_client, &what);
            assert!(
                r.text().contains("longer than 8 MiB"),
                "{what}: {}",
                r.text()
            );
        }
    }
}
