//! OpenAI Chat Completions client -> Anthropic provider, through a running gateway,
//! replaying recorded Anthropic payloads (tests/fixtures/anthropic).

mod common;
use common::*;
use serde_json::{json, Value};

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start_with(&["--api-key", ANTHROPIC_KEY]);
    let gw = Gateway::start(&two_provider_config(
        &mock,
        "  claude: { targets: [ { provider: anth, model: claude-x } ] }",
    ));
    (mock, gw)
}

fn ask(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": "What is the capital of France?"}]
    })
}

#[test]
fn plain_text_with_cached_usage() {
    let (_mock, gw) = setup();
    let r = gw.post(
        "/v1/chat/completions",
        &ask("anth/mock:fixture=anthropic/message_text.json", false),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["id"], "msg_01XFDUDYJgAACzvnptvVoYEL");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], TEXT_PARIS);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // Anthropic: input 276 + cache write 200 + cache read 1024 = OpenAI prompt 1500.
    assert_eq!(v["usage"]["prompt_tokens"], 1500);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 1024);
    assert_eq!(v["usage"]["completion_tokens"], 27);
    assert_eq!(v["usage"]["total_tokens"], 1527);
    assert_eq!(r.header("x-switchyard-provider"), Some("anth"));
    assert!(r.header("x-request-id").is_some());
}

#[test]
fn parallel_tool_calls_and_stop_reasons() {
    let (_mock, gw) = setup();
    let v = gw
        .post(
            "/v1/chat/completions",
            &ask(
                "anth/mock:fixture=anthropic/message_tools_parallel.json",
                false,
            ),
        )
        .json();
    let msg = &v["choices"][0]["message"];
    assert_eq!(
        msg["content"],
        "I'll check the current weather in both cities for you."
    );
    let calls = msg["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["id"], "toolu_01A09q90qw90lq917835lq9G");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[1]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"location": "Tokyo"}));
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");

    let v = gw
        .post(
            "/v1/chat/completions",
            &ask(
                "anth/mock:fixture=anthropic/message_stop_sequence.json",
                false,
            ),
        )
        .json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    let v = gw
        .post(
            "/v1/chat/completions",
            &ask("anth/mock:fixture=anthropic/message_thinking.json", false),
        )
        .json();
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["content"], "27 \u{d7} 453 = **12,231**");
    assert!(msg["reasoning_content"]
        .as_str()
        .unwrap()
        .starts_with("The user wants 27 * 453."));
}

#[test]
fn request_is_translated_exactly() {
    let (mock, gw) = setup();
    let body = json!({
        "model": "claude",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in these?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"location\": \"Tokyo\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "25C"}]},
            {"role": "user", "content": "Thanks"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}],
        "tool_choice": "required",
        "parallel_tool_calls": false,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END", "STOP"],
        "user": "user-42",
        "seed": 7
    });
    let r = gw.post("/v1/chat/completions", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-switchyard-dropped"), Some("seed"));
    let sent = mock.last_body();
    assert_eq!(sent["model"], "claude-x");
    assert_eq!(sent["max_tokens"], 4096, "default max_tokens filled in");
    assert_eq!(
        sent["system"],
        json!([{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Use tools."}])
    );
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    assert_eq!(
        msgs[0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        msgs[0]["content"][2]["source"],
        json!({"type": "url", "url": "https://example.com/cat.jpg"})
    );
    assert_eq!(msgs[1]["role"], "assistant");
    assert_eq!(
        msgs[1]["content"][0],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}})
    );
    assert_eq!(msgs[1]["content"][1]["input"], json!({"location": "Tokyo"}));
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(
        msgs[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "18C"}]})
    );
    assert_eq!(msgs[2]["content"][1]["tool_use_id"], "call_2");
    assert_eq!(
        msgs[2]["content"][2],
        json!({"type": "text", "text": "Thanks"})
    );
    assert_eq!(
        sent["tools"][0]["input_schema"]["properties"]["location"]["type"],
        "string"
    );
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(sent["temperature"], 0.5);
    assert_eq!(sent["top_p"], 0.9);
    assert_eq!(sent["stop_sequences"], json!(["END", "STOP"]));
    assert_eq!(sent["metadata"], json!({"user_id": "user-42"}));
    assert!(sent.get("seed").is_none() && sent.get("user").is_none() && sent.get("stop").is_none());
    // The provider got the provider's key, not anything from the client.
    let req = mock.requests().pop().unwrap();
    assert_eq!(req["headers"]["x-api-key"], ANTHROPIC_KEY);
    assert_eq!(req["headers"]["anthropic-version"], "2023-06-01");
    assert_eq!(req["path"], "/v1/messages");
}

#[test]
fn reasoning_effort_and_max_tokens() {
    let (mock, gw) = setup();
    let body = json!({"model": "claude", "max_completion_tokens": 20000, "reasoning_effort": "medium",
        "messages": [{"role": "user", "content": "think"}]});
    assert_eq!(gw.post("/v1/chat/completions", &body).status, 200);
    let sent = mock.last_body();
    assert_eq!(sent["max_tokens"], 20000);
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );
}

#[test]
fn streamed_text_split_at_awkward_bytes() {
    let (_mock, gw) = setup();
    for split in [1, 3, 7, 64] {
        let mut body = ask(
            &format!("anth/mock:fixture=anthropic/stream_text.sse,split={split}"),
            true,
        );
        body["stream_options"] = json!({"include_usage": true});
        let r = gw.post("/v1/chat/completions", &body);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        assert!(r.header("content-length").is_none());
        let data = r.data();
        assert_eq!(
            data[0]["choices"][0]["delta"]["role"], "assistant",
            "role first (split {split})"
        );
        assert_eq!(data[0]["object"], "chat.completion.chunk");
        assert_eq!(openai_stream_text(&data), TEXT_PARIS, "split {split}");
        let n = data.len();
        assert_eq!(data[n - 1], json!("[DONE]"));
        assert_eq!(data[n - 3]["choices"][0]["finish_reason"], "stop");
        let usage = &data[n - 2]["usage"];
        assert_eq!(data[n - 2]["choices"], json!([]));
        assert_eq!(usage["prompt_tokens"], 1500);
        assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 1024);
        assert_eq!(usage["completion_tokens"], 27);
    }
}

#[test]
fn usage_chunk_only_when_asked() {
    let (_mock, gw) = setup();
    let data = gw
        .post(
            "/v1/chat/completions",
            &ask("anth/mock:fixture=anthropic/stream_text.sse", true),
        )
        .data();
    assert!(data.iter().all(|d| d.get("usage").is_none()), "{data:?}");
    assert_eq!(data.last().unwrap(), &json!("[DONE]"));
}

#[test]
fn streamed_parallel_tool_calls() {
    let (_mock, gw) = setup();
    for split in [2, 5, 13] {
        let data = gw
            .post(
                "/v1/chat/completions",
                &ask(
                    &format!("anth/mock:fixture=anthropic/stream_tools_parallel.sse,split={split}"),
                    true,
                ),
            )
            .data();
        assert_eq!(
            openai_stream_text(&data),
            "I'll check the current weather in both cities for you."
        );
        let mut ids = Vec::new();
        let mut args = [String::new(), String::new()];
        for d in &data {
            if let Some(calls) = d["choices"][0]["delta"]["tool_calls"].as_array() {
                for c in calls {
                    let i = c["index"].as_u64().unwrap() as usize;
                    if let Some(id) = c["id"].as_str() {
                        assert_eq!(
                            c["function"]["name"], "get_weather",
                            "name on the first delta"
                        );
                        assert_eq!(c["type"], "function");
                        ids.push((i, id.to_string()));
                    }
                    args[i].push_str(c["function"]["arguments"].as_str().unwrap_or(""));
                }
            }
        }
        assert_eq!(
            ids,
            vec![
                (0, "toolu_01JpX4eRw9sTk2LmQb7vNc3Z".to_string()),
                (1, "toolu_01Fy8cHn2WqZr5TbXk0mVd6P".to_string())
            ]
        );
        assert_eq!(
            serde_json::from_str::<Value>(&args[0]).unwrap(),
            json!({"location": "Paris"})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&args[1]).unwrap(),
            json!({"location": "Tokyo"})
        );
        let finish: Vec<&Value> = data
            .iter()
            .map(|d| &d["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finish, vec![&json!("tool_calls")]);
    }
}

#[test]
fn streamed_thinking_max_tokens_and_midstream_error() {
    let (_mock, gw) = setup();
    let data = gw
        .post(
            "/v1/chat/completions",
            &ask(
                "anth/mock:fixture=anthropic/stream_thinking.sse,split=9",
                true,
            ),
        )
        .data();
    let reasoning: String = data
        .iter()
        .filter_map(|d| d["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert!(
        reasoning.ends_with("13590 - 1359 = 12231. Correct."),
        "{reasoning}"
    );
    assert_eq!(openai_stream_text(&data), "27 \u{d7} 453 = **12,231**");

    let data = gw
        .post(
            "/v1/chat/completions",
            &ask("anth/mock:fixture=anthropic/stream_max_tokens.sse", true),
        )
        .data();
    let finish: Vec<&Value> = data
        .iter()
        .map(|d| &d["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, vec![&json!("length")]);

    // Content already went out, so the error is reported in-stream, OpenAI style.
    let r = gw.post(
        "/v1/chat/completions",
        &ask(
            "anth/mock:fixture=anthropic/stream_error_midstream.sse",
            true,
        ),
    );
    assert_eq!(r.status, 200);
    let data = r.data();
    assert_eq!(
        openai_stream_text(&data),
        "Once upon a time, in a small village by the sea,"
    );
    let last = data.last().unwrap();
    assert_eq!(last["error"]["message"], "Overloaded");
    assert!(!data.contains(&json!("[DONE]")));
}

/// #16 defect 7: an OpenAI client in a tool loop with reasoning on, against an
/// Anthropic provider. The client gets the reasoning without its signature and sends
/// back only the tool calls; Anthropic requires the signed thinking block in front
/// of them. The gateway keeps it under the tool call's id and puts it back, turn
/// after turn, for the same gateway key only.
#[test]
fn a_three_turn_tool_loop_with_thinking_keeps_the_signed_blocks() {
    let mock = Mock::start_with(&["--api-key", ANTHROPIC_KEY]);
    let yaml = two_provider_config(
        &mock,
        "  claude: { targets: [ { provider: anth, model: \"mock:fixture=anthropic/message_thinking_tools.json\" } ] }",
    )
    .replace(
        "providers:",
        "keys: [ { name: a, key: key-a-0123456789 }, { name: b, key: key-b-0123456789 } ]\nproviders:",
    );
    let gw = Gateway::start(&yaml);
    let fixture: Value =
        serde_json::from_slice(&fixture("anthropic/message_thinking_tools.json")).unwrap();
    let signed = fixture["content"][0].clone();
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]);
    let send = |key: &str, messages: &Value, stream: bool| {
        let body = json!({"model": "claude", "reasoning_effort": "low", "tools": tools,
                          "messages": messages, "stream": stream});
        let auth = format!("Bearer {key}");
        gw.post_raw(
            "/v1/chat/completions",
            serde_json::to_vec(&body).unwrap(),
            &[("authorization", auth.as_str())],
        )
    };
    let mut messages = json!([{"role": "user", "content": "Weather in Paris, twice?"}]);
    for turn in 0..3 {
        let r = send("key-a-0123456789", &messages, false);
        assert_eq!(r.status, 200, "turn {turn}: {}", r.text());
        let msg = r.json()["choices"][0]["message"].clone();
        let call = msg["tool_calls"][0].clone();
        assert_eq!(call["id"], "toolu_01ThkLoopWeatherParis9");
        assert!(msg["reasoning_content"].is_string(), "{msg}");
        let sent = mock.last_body();
        // Every earlier assistant turn went upstream with its signed thinking first.
        let assistants: Vec<&Value> = sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "assistant")
            .collect();
        assert_eq!(assistants.len(), turn, "turn {turn}: {sent}");
        for a in assistants {
            assert_eq!(a["content"][0], signed, "turn {turn}: {a}");
            assert_eq!(a["content"][1]["type"], "tool_use", "turn {turn}: {a}");
        }
        // The client echoes what an OpenAI SDK keeps: tool calls, maybe the reasoning
        // text (unsigned), and the tool result.
        let mut echoed = json!({"role": "assistant", "content": null, "tool_calls": [call]});
        if turn == 1 {
            echoed["reasoning_content"] = msg["reasoning_content"].clone();
        }
        messages.as_array_mut().unwrap().push(echoed);
        messages.as_array_mut().unwrap().push(json!({"role": "tool",
            "tool_call_id": "toolu_01ThkLoopWeatherParis9", "content": "18°C"}));
    }
    // Another key sending the same tool call ids gets nothing back.
    let r = send("key-b-0123456789", &messages, false);
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    for a in sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "assistant")
    {
        assert_ne!(a["content"][0]["type"], "thinking", "{a}");
    }
}

/// The kept thinking is shared through Redis (`state.redis`): a tool loop whose next
/// turn reaches another instance still sends the signed block upstream.
#[test]
fn the_next_turn_on_another_instance_gets_the_thinking_through_redis() {
    let redis = Redis::start();
    let mock = Mock::start_with(&["--api-key", ANTHROPIC_KEY]);
    let yaml = two_provider_config(
        &mock,
        "  claude: { targets: [ { provider: anth, model: \"mock:fixture=anthropic/message_thinking_tools.json\" } ] }",
    )
    .replace(
        "providers:",
        &format!("state: {{ redis: {{ url: \"{}\" }} }}\nproviders:", redis.url()),
    );
    let one = Gateway::start(&yaml);
    let two = Gateway::start(&yaml);
    let fixture: Value =
        serde_json::from_slice(&fixture("anthropic/message_thinking_tools.json")).unwrap();
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}}}}]);
    let ask = |gw: &Gateway, messages: &Value| {
        gw.post(
            "/v1/chat/completions",
            &json!({"model": "claude", "reasoning_effort": "low", "tools": tools,
                    "messages": messages}),
        )
    };
    let mut messages = json!([{"role": "user", "content": "Weather in Paris?"}]);
    let r = ask(&one, &messages);
    assert_eq!(r.status, 200, "{}", r.text());
    let call = r.json()["choices"][0]["message"]["tool_calls"][0].clone();
    messages.as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": null, "tool_calls": [call]}),
        json!({"role": "tool", "tool_call_id": call["id"], "content": "18°C"}),
    ]);
    // The write to Redis is sent after the first response: wait until it landed,
    // then the other instance (which never saw the first turn) gets it on its first try.
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("switchyard:think:*")
            .query(&mut conn)
            .unwrap();
        if !keys.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the memo never reached Redis"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let r = ask(&two, &messages);
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body();
    assert_eq!(
        sent["messages"][1]["content"][0], fixture["content"][0],
        "{sent}"
    );
}
