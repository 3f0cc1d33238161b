//! Anthropic Messages client -> OpenAI provider, through a running gateway,
//! replaying recorded OpenAI payloads (tests/fixtures/openai).

mod common;
use common::*;
use serde_json::{json, Value};

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start_with(&["--api-key", OPENAI_KEY]);
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  gpt: { targets: [ { provider: oai, model: gpt-x } ] }",
    ));
    (mock, gw)
}

fn ask(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 1024,
        "stream": stream,
        "messages": [{"role": "user", "content": "What is the capital of France?"}]
    })
}

#[test]
fn plain_text_with_cached_usage() {
    let (_mock, gw) = setup();
    let r = gw.post(
        "/v1/messages",
        &ask("oai/mock:fixture=openai/chat_text.json", false),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["content"], json!([{"type": "text", "text": TEXT_PARIS}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    // OpenAI prompt 1500 includes 1024 cached: Anthropic input excludes them.
    assert_eq!(v["usage"]["input_tokens"], 476);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 1024);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(v["usage"]["output_tokens"], 24);
}

#[test]
fn parallel_tool_calls_and_length() {
    let (_mock, gw) = setup();
    let v = gw
        .post(
            "/v1/messages",
            &ask("oai/mock:fixture=openai/chat_tools_parallel.json", false),
        )
        .json();
    let content = v["content"].as_array().unwrap();
    assert_eq!(content.len(), 2, "{v}");
    assert_eq!(
        content[0],
        json!({"type": "tool_use", "id": "call_Vq8nK2dXbR4mT7pLzW1yHs3F", "name": "get_weather", "input": {"location": "Paris"}})
    );
    assert_eq!(content[1]["input"], json!({"location": "Tokyo"}));
    assert_eq!(v["stop_reason"], "tool_use");

    let v = gw
        .post(
            "/v1/messages",
            &ask("oai/mock:fixture=openai/chat_length.json", false),
        )
        .json();
    assert_eq!(v["stop_reason"], "max_tokens");
}

#[test]
fn request_is_translated_exactly() {
    let (mock, gw) = setup();
    let body = json!({
        "model": "gpt",
        "max_tokens": 500,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"location": "Tokyo"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "boom"}], "is_error": true},
                {"type": "text", "text": "And now?"}
            ]}
        ],
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}}],
        "tool_choice": {"type": "tool", "name": "get_weather"},
        "stop_sequences": ["END"],
        "temperature": 0.2,
        "top_k": 40,
        "metadata": {"user_id": "user-7"},
        "thinking": {"type": "enabled", "budget_tokens": 2048}
    });
    let r = gw.post("/v1/messages", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-switchyard-dropped"), Some("top_k"));
    let sent = mock.last_body();
    assert_eq!(sent["model"], "gpt-x");
    assert_eq!(sent["max_completion_tokens"], 500);
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(
        msgs[0],
        json!({"role": "system", "content": "You are terse."})
    );
    assert_eq!(msgs[1]["role"], "user");
    assert_eq!(
        msgs[1]["content"][1],
        json!({"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}})
    );
    assert_eq!(msgs[2]["role"], "assistant");
    assert_eq!(msgs[2]["content"], "Checking.");
    assert_eq!(
        msgs[2]["tool_calls"][1],
        json!({"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Tokyo\"}"}})
    );
    assert_eq!(
        msgs[3],
        json!({"role": "tool", "content": "18C", "tool_call_id": "toolu_1"})
    );
    assert_eq!(
        msgs[4],
        json!({"role": "tool", "content": "Error: boom", "tool_call_id": "toolu_2"})
    );
    assert_eq!(msgs[5], json!({"role": "user", "content": "And now?"}));
    assert_eq!(msgs.len(), 6);
    assert_eq!(
        sent["tools"][0],
        json!({"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}})
    );
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    assert_eq!(sent["stop"], json!(["END"]));
    assert_eq!(sent["temperature"], 0.2);
    assert_eq!(sent["user"], "user-7");
    assert_eq!(sent["reasoning_effort"], "low");
    for anthropic_only in [
        "top_k",
        "system",
        "stop_sequences",
        "metadata",
        "thinking",
        "max_tokens",
    ] {
        assert!(
            sent.get(anthropic_only).is_none(),
            "{anthropic_only} leaked upstream"
        );
    }
    let req = mock.requests().pop().unwrap();
    assert_eq!(
        req["headers"]["authorization"],
        format!("Bearer {OPENAI_KEY}")
    );
    assert_eq!(req["path"], "/v1/chat/completions");
}

fn event_names(r: &Reply) -> Vec<String> {
    r.events()
        .iter()
        .map(|e| e.event.clone().unwrap_or_default())
        .collect()
}

#[test]
fn streamed_text_full_event_sequence() {
    let (mock, gw) = setup();
    for split in [1, 4, 11, 100] {
        let r = gw.post(
            "/v1/messages",
            &ask(
                &format!("oai/mock:fixture=openai/stream_text.sse,split={split}"),
                true,
            ),
        );
        assert_eq!(r.status, 200);
        assert!(r.header("content-length").is_none());
        assert_eq!(
            event_names(&r),
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ],
            "split {split}"
        );
        let data = r.data();
        assert_eq!(
            data[0]["message"]["id"],
            "chatcmpl-CAqm8Ty3WbLx0Pn5Hj2QeKz7RuF9s"
        );
        assert_eq!(
            data[1]["content_block"],
            json!({"type": "text", "text": ""})
        );
        assert_eq!(
            anthropic_stream_text(&data),
            "The capital of France is Paris."
        );
        let delta = &data[9];
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["output_tokens"], 7);
        assert_eq!(delta["usage"]["input_tokens"], 1320 - 1024);
        assert_eq!(delta["usage"]["cache_read_input_tokens"], 1024);
    }
    // The gateway asked the OpenAI provider for a usage chunk.
    assert_eq!(
        mock.last_body()["stream_options"],
        json!({"include_usage": true})
    );
}

#[test]
fn streamed_parallel_tool_calls() {
    let (_mock, gw) = setup();
    for split in [3, 8] {
        let r = gw.post(
            "/v1/messages",
            &ask(
                &format!("oai/mock:fixture=openai/stream_tools_parallel.sse,split={split}"),
                true,
            ),
        );
        let data = r.data();
        let starts: Vec<&Value> = data
            .iter()
            .filter(|d| d["type"] == "content_block_start")
            .collect();
        assert_eq!(starts.len(), 2);
        assert_eq!(starts[0]["index"], 0);
        assert_eq!(
            starts[0]["content_block"],
            json!({"type": "tool_use", "id": "call_Xc4pT9wLmZ2rB7nKv5yQ1hDs", "name": "get_weather", "input": {}})
        );
        assert_eq!(
            starts[1]["content_block"]["id"],
            "call_Rk8eN3uYa6Hq0JtF2bWz9mCv"
        );
        for (i, want) in [(0, "Paris"), (1, "Tokyo")] {
            let json_text: String = data
                .iter()
                .filter(|d| d["index"] == i && d["delta"]["type"] == "input_json_delta")
                .map(|d| d["delta"]["partial_json"].as_str().unwrap())
                .collect();
            assert_eq!(
                serde_json::from_str::<Value>(&json_text).unwrap(),
                json!({"location": want})
            );
        }
        let stops = data
            .iter()
            .filter(|d| d["type"] == "content_block_stop")
            .count();
        assert_eq!(stops, 2);
        let md = data.iter().find(|d| d["type"] == "message_delta").unwrap();
        assert_eq!(md["delta"]["stop_reason"], "tool_use");
        assert_eq!(data.last().unwrap()["type"], "message_stop");
    }
}

#[test]
fn streamed_refusal() {
    let (_mock, gw) = setup();
    let data = gw
        .post(
            "/v1/messages",
            &ask("oai/mock:fixture=openai/stream_refusal.sse,split=6", true),
        )
        .data();
    assert_eq!(
        anthropic_stream_text(&data),
        "I'm sorry, I can't assist with that request."
    );
    let md = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(md["delta"]["stop_reason"], "refusal");
}

#[test]
fn provider_dropping_mid_stream_ends_the_stream_with_an_error_event() {
    let (_mock, gw) = setup();
    let r = gw.post(
        "/v1/messages",
        &ask("oai/mock:fixture=openai/stream_text.sse,drop_after=4", true),
    );
    assert_eq!(r.status, 200);
    let names = event_names(&r);
    assert_eq!(names.last().map(String::as_str), Some("error"), "{names:?}");
    assert!(!names.contains(&"message_stop".to_string()));
    let data = r.data();
    assert_eq!(data.last().unwrap()["type"], "error");
}
