//! OpenAI and Anthropic clients -> a Gemini provider (`type: gemini`), through a
//! running gateway, against the mock's Gemini API and recorded Gemini payloads
//! (tests/fixtures/gemini).

mod common;
use common::*;
use serde_json::{json, Value};

const GEMINI_KEY: &str = "AIza-test-gemini-SECRET-0003";

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start_with(&["--api-key", GEMINI_KEY]);
    let gw = Gateway::start(&format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
providers:
  gem: {{ type: gemini, base_url: "{base}", api_key: "{GEMINI_KEY}" }}
models:
  flash: {{ targets: [ {{ provider: gem, model: gemini-2.5-flash }} ] }}
  pro3: {{ targets: [ {{ provider: gem, model: gemini-3-pro-preview }} ] }}
"#,
        base = mock.base()
    ));
    (mock, gw)
}

fn openai(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "What is the capital of France?"}]})
}

fn anthropic(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 100, "stream": stream, "messages": [{"role": "user", "content": "What is the capital of France?"}]})
}

fn weather_tool_openai() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}])
}

#[test]
fn openai_client_plain_and_streamed_echo() {
    let (mock, gw) = setup();
    let r = gw.post("/v1/chat/completions", &openai("flash", false));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "echo: What is the capital of France?"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["model"], "gemini-2.5-flash");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert_eq!(r.header("x-switchyard-provider"), Some("gem"));
    let sent = &mock.requests()[0];
    assert_eq!(
        sent["path"],
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(sent["headers"]["x-goog-api-key"], GEMINI_KEY);
    assert!(sent["headers"].get("authorization").is_none());
    let body: Value = serde_json::from_str(sent["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        body["contents"][0],
        json!({"role": "user", "parts": [{"text": "What is the capital of France?"}]})
    );

    let mut ask = openai("flash", true);
    ask["stream_options"] = json!({"include_usage": true});
    let r = gw.post("/v1/chat/completions", &ask);
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.data();
    assert_eq!(
        openai_stream_text(&data),
        "echo: What is the capital of France?"
    );
    assert_eq!(data.last().unwrap(), "[DONE]");
    let usage = &data[data.len() - 2]["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
    assert_eq!(
        mock.requests().last().unwrap()["path"],
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
}

#[test]
fn anthropic_client_plain_and_streamed_fixtures() {
    let (_mock, gw) = setup();
    let v = gw
        .post(
            "/v1/messages",
            &anthropic("gem/mock:fixture=gemini/generate_text.json", false),
        )
        .json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["text"], TEXT_PARIS);
    assert_eq!(v["stop_reason"], "end_turn");
    // Gemini's prompt count includes the 1024 cached tokens; Anthropic's excludes them.
    assert_eq!(v["usage"]["input_tokens"], 476);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 1024);
    assert_eq!(v["usage"]["output_tokens"], 104, "candidates + thoughts");

    for split in ["", ",split=7"] {
        let r = gw.post(
            "/v1/messages",
            &anthropic(
                &format!("gem/mock:fixture=gemini/stream_text.sse{split}"),
                true,
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let data = r.data();
        assert_eq!(
            anthropic_stream_text(&data),
            "The capital of France is Paris."
        );
        let names: Vec<String> = r.events().iter().filter_map(|e| e.event.clone()).collect();
        assert_eq!(names.first().map(String::as_str), Some("message_start"));
        assert_eq!(names.last().map(String::as_str), Some("message_stop"));
        let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
        assert_eq!(delta["delta"]["stop_reason"], "end_turn");
        assert_eq!(delta["usage"]["output_tokens"], 19);
    }
}

#[test]
fn parallel_tool_calls_get_ids_and_tool_results_go_back_by_name() {
    let (mock, gw) = setup();
    let v = gw
        .post(
            "/v1/chat/completions",
            &json!({"model": "gem/mock:fixture=gemini/generate_tools_parallel.json", "messages": [{"role": "user", "content": "Weather in Paris and Tokyo?"}], "tools": weather_tool_openai()}),
        )
        .json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    let id0 = calls[0]["id"].as_str().unwrap();
    assert!(id0.starts_with("call_") && id0 != calls[1]["id"]);
    assert_eq!(calls[1]["function"]["arguments"], r#"{"location":"Tokyo"}"#);

    // Streamed, from an Anthropic client: thinking (summary + signature), then the calls.
    let r = gw.post(
        "/v1/messages",
        &json!({"model": "gem/mock:fixture=gemini/stream_tools_parallel.sse", "max_tokens": 100, "stream": true,
                "messages": [{"role": "user", "content": "Weather?"}],
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let data = r.data();
    let starts: Vec<&Value> = data
        .iter()
        .filter(|d| d["type"] == "content_block_start")
        .map(|d| &d["content_block"])
        .collect();
    assert_eq!(starts[0]["type"], "thinking");
    assert_eq!(starts[1]["type"], "tool_use");
    assert_eq!(starts[2]["type"], "tool_use");
    let sig = data
        .iter()
        .find(|d| d["delta"]["type"] == "signature_delta")
        .unwrap();
    assert!(sig["delta"]["signature"]
        .as_str()
        .unwrap()
        .starts_with("gemini:CiIB"));
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    // The tool results: function names from the earlier turn, images inline.
    mock.clear();
    let r = gw.post(
        "/v1/chat/completions",
        &json!({"model": "flash", "tools": weather_tool_openai(), "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather where this photo was taken?"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_x", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_x", "content": "18C and sunny"}
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    assert_eq!(
        sent["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}})
    );
    assert_eq!(
        sent["contents"][1]["parts"][0]["functionCall"],
        json!({"name": "get_weather", "args": {"location": "Paris"}})
    );
    assert_eq!(
        sent["contents"][2]["parts"][0],
        json!({"functionResponse": {"name": "get_weather", "response": {"result": "18C and sunny"}}})
    );
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );
}

/// A Gemini 3 tool loop: the call's thought signature must come back with it.
#[test]
fn thought_signatures_survive_the_tool_loop_from_both_clients() {
    let (mock, gw) = setup();
    // OpenAI client: it cannot carry the signature; the gateway keeps it (crate::memo).
    let first = gw.post(
        "/v1/chat/completions",
        &json!({"model": "pro3", "tools": weather_tool_openai(), "messages": [{"role": "user", "content": "Weather in Paris?"}]}),
    );
    assert_eq!(first.status, 200, "{}", first.text());
    let msg = first.json()["choices"][0]["message"].clone();
    let call = &msg["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let sig = format!("mock-sig-{}", mock.requests().len());
    let id = call["id"].as_str().unwrap().to_string();
    let second = gw.post(
        "/v1/chat/completions",
        &json!({"model": "pro3", "tools": weather_tool_openai(), "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": id, "content": "18C"}
        ]}),
    );
    assert_eq!(second.status, 200, "{}", second.text());
    assert_eq!(second.json()["choices"][0]["message"]["content"], "echo: ");
    let sent = mock.last_body();
    assert_eq!(
        sent["contents"][1]["parts"][0]["thoughtSignature"],
        sig.as_str()
    );
    assert_eq!(
        sent["contents"][2]["parts"][0]["functionResponse"]["name"],
        "get_weather"
    );

    // Anthropic client, streamed: the signature rides in a thinking block it sends back.
    let tools = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let r = gw.post(
        "/v1/messages",
        &json!({"model": "pro3", "max_tokens": 100, "stream": true, "tools": tools, "messages": [{"role": "user", "content": "Weather in Tokyo?"}]}),
    );
    let sig = format!("mock-sig-{}", mock.requests().len());
    let data = r.data();
    let signature = data
        .iter()
        .find(|d| d["delta"]["type"] == "signature_delta")
        .unwrap()["delta"]["signature"]
        .clone();
    assert_eq!(signature, format!("gemini:{sig}").as_str());
    let tool = data
        .iter()
        .find(|d| d["content_block"]["type"] == "tool_use")
        .unwrap()["content_block"]
        .clone();
    let r = gw.post(
        "/v1/messages",
        &json!({"model": "pro3", "max_tokens": 100, "tools": tools, "messages": [
            {"role": "user", "content": "Weather in Tokyo?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "", "signature": signature},
                {"type": "tool_use", "id": tool["id"], "name": "get_weather", "input": {"echo": "echo: Weather in Tokyo?"}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool["id"], "content": "25C"}]}
        ]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    assert_eq!(
        sent["contents"][1]["parts"][0]["thoughtSignature"],
        sig.as_str()
    );
}

#[test]
fn blocked_prompts_safety_stops_and_errors() {
    let (_mock, gw) = setup();
    let v = gw
        .post(
            "/v1/chat/completions",
            &openai("gem/mock:fixture=gemini/generate_blocked.json", false),
        )
        .json();
    assert_eq!(v["choices"][0]["finish_reason"], "content_filter");
    assert!(v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("PROHIBITED_CONTENT"));
    let v = gw
        .post(
            "/v1/messages",
            &anthropic("gem/mock:fixture=gemini/generate_safety.json", false),
        )
        .json();
    assert_eq!(v["stop_reason"], "refusal");
    let r = gw.post(
        "/v1/chat/completions",
        &openai("gem/mock:fixture=gemini/stream_safety.sse", true),
    );
    let data = r.data();
    assert!(
        data.iter()
            .any(|d| d["choices"][0]["finish_reason"] == "content_filter"),
        "{}",
        r.text()
    );

    // 429 with RetryInfo in the body (no header): retry-after for the client.
    let r = gw.post(
        "/v1/chat/completions",
        &openai("gem/mock:status=429,retry_delay=12", false),
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("12"));
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("exceeded your current quota"));
    let r = gw.post("/v1/messages", &anthropic("gem/mock:status=400", false));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");

    // An error event after content: the client's stream ends with an error event.
    let r = gw.post(
        "/v1/messages",
        &anthropic("gem/mock:fixture=gemini/stream_error_midstream.sse", true),
    );
    let events = r.events();
    assert_eq!(
        events.last().unwrap().event.as_deref(),
        Some("error"),
        "{}",
        r.text()
    );
    assert!(events.last().unwrap().data.contains("overloaded"));
}

#[test]
fn wrong_key_is_the_gateways_problem_not_the_clients() {
    let mock = Mock::start_with(&["--api-key", "another-key"]);
    let gw = Gateway::start(&format!(
        "listen: \"{{listen}}\"\nadmin_listen: \"{{admin}}\"\nproviders:\n  gem: {{ type: gemini, base_url: \"{}\", api_key: \"{GEMINI_KEY}\" }}\n",
        mock.base()
    ));
    let r = gw.post(
        "/v1/chat/completions",
        &openai("gem/gemini-2.5-flash", false),
    );
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(!r.text().contains(GEMINI_KEY));
}

#[test]
fn fallback_from_gemini_to_anthropic() {
    let mock = Mock::start();
    let gw = Gateway::start(&format!(
        r#"
listen: "{{listen}}"
admin_listen: "{{admin}}"
providers:
  gem: {{ type: gemini, base_url: "{base}", api_key: "{GEMINI_KEY}" }}
  anth: {{ type: anthropic, base_url: "{base}", api_key: "{ANTHROPIC_KEY}" }}
models:
  smart:
    targets: [ {{ provider: gem, model: "mock:status=503" }} ]
    fallbacks: [claude]
  claude: {{ targets: [ {{ provider: anth, model: claude-x }} ] }}
"#,
        base = mock.base()
    ));
    for stream in [false, true] {
        let r = gw.post("/v1/chat/completions", &openai("smart", stream));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-switchyard-provider"), Some("anth"));
        assert_eq!(r.header("x-switchyard-attempts"), Some("2"));
    }
}

#[test]
fn embedded_default_routes_gemini_names_with_either_key_variable() {
    let mock = Mock::start_with(&["--api-key", GEMINI_KEY]);
    for var in ["GEMINI_API_KEY", "GOOGLE_API_KEY"] {
        let gw = Gateway::start_default(&[
            (var, GEMINI_KEY.to_string()),
            ("GEMINI_BASE_URL", mock.base()),
        ]);
        let r = gw.post("/v1/messages", &anthropic("gemini-2.5-flash", false));
        assert_eq!(r.status, 200, "{var}: {}", r.text());
        assert_eq!(r.header("x-switchyard-provider"), Some("gemini"));
        assert_eq!(
            mock.requests().last().unwrap()["path"],
            "/v1beta/models/gemini-2.5-flash:generateContent"
        );
    }
}
