//! OpenAI Responses API clients (`/v1/responses`) through a running gateway, to an
//! Anthropic and an OpenAI Chat Completions provider on the mock: request shapes the
//! official SDK sends (tests/fixtures/responses), plain and streamed answers, tool
//! loops, stored conversations (in process and across two gateways sharing Redis),
//! and the errors.

mod common;
use common::*;
use serde_json::{json, Value};

const KEY_A: &str = "gw-team-a-0123456789";
const KEY_B: &str = "gw-team-b-0123456789";

/// Both providers, two keys, an alias whose only target fails, falling back to one
/// that works.
fn config(mock: &Mock, state: &str) -> String {
    two_provider_config(
        mock,
        "  flaky: { targets: [ { provider: anth, model: \"mock:status=500\" } ], fallbacks: [ok] }\n  ok: { targets: [ { provider: oai, model: gpt-x } ] }",
    )
    .replace(
        "providers:",
        &format!(
            "keys:\n  - {{ name: team-a, key: \"{KEY_A}\" }}\n  - {{ name: team-b, key: \"{KEY_B}\" }}\n{state}providers:"
        ),
    )
}

fn setup() -> (Mock, Gateway) {
    let mock = Mock::start();
    let gw = Gateway::start(&config(&mock, ""));
    (mock, gw)
}

/// The two provider formats, by a model of each.
const PROVIDERS: [&str; 2] = ["anth/claude-x", "oai/gpt-x"];

fn post(gw: &Gateway, key: &str, body: &Value) -> Reply {
    gw.post_raw(
        "/v1/responses",
        serde_json::to_vec(body).unwrap(),
        &[("authorization", &format!("Bearer {key}"))],
    )
}

fn get(gw: &Gateway, key: &str, id: &str, delete: bool) -> Reply {
    let url = format!("{}/v1/responses/{id}", gw.base());
    let req = if delete {
        client().delete(url)
    } else {
        client().get(url)
    };
    req.header("authorization", format!("Bearer {key}"))
        .send()
        .unwrap()
        .into()
}

/// A request fixture with its model set.
fn shape(name: &str, model: &str) -> Value {
    let mut v: Value = serde_json::from_slice(&fixture(&format!("responses/{name}"))).unwrap();
    v["model"] = json!(model);
    v
}

fn output_text(v: &Value) -> String {
    v["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap())
        .filter(|c| c["type"] == "output_text")
        .filter_map(|c| c["text"].as_str())
        .collect()
}

#[test]
fn text_to_each_provider() {
    let (mock, gw) = setup();
    for model in PROVIDERS {
        let r = post(&gw, KEY_A, &shape("text.json", model));
        assert_eq!(r.status, 200, "{model}: {}", r.text());
        let v = r.json();
        assert!(v["id"].as_str().unwrap().starts_with("resp_"), "{v}");
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed");
        assert!(v["created_at"].as_u64().unwrap() > 1_700_000_000);
        assert_eq!(v["instructions"], "You are a terse geography tutor.");
        assert_eq!(v["metadata"], json!({"session": "geo-42"}));
        assert_eq!(output_text(&v), "echo: What is the capital of France?");
        let msg = &v["output"][0];
        assert_eq!(msg["role"], "assistant");
        assert!(msg["id"].as_str().unwrap().starts_with("msg_"));
        let u = &v["usage"];
        assert_eq!(
            u["total_tokens"],
            u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap()
        );
        assert!(u["input_tokens_details"]["cached_tokens"].is_u64());
        assert!(u["output_tokens_details"]["reasoning_tokens"].is_u64());
        let sent = mock.last_body();
        if model.starts_with("anth") {
            assert_eq!(
                sent["system"][0]["text"],
                "You are a terse geography tutor."
            );
            assert_eq!(sent["max_tokens"], 256);
            assert_eq!(sent["messages"][0]["role"], "user");
        } else {
            assert_eq!(sent["messages"][0]["role"], "system");
            assert_eq!(sent["max_completion_tokens"], 256);
            assert_eq!(sent["top_p"], 0.9);
        }
        assert!(sent
            .get("metadata")
            .is_none_or(|m| m.get("session").is_none()));
    }
}

#[test]
fn usage_with_cached_tokens() {
    let (_mock, gw) = setup();
    let v = post(
        &gw,
        KEY_A,
        &shape("text.json", "anth/mock:fixture=anthropic/message_text.json"),
    )
    .json();
    // Anthropic: input 276 + cache write 200 + cache read 1024.
    assert_eq!(v["usage"]["input_tokens"], 1500);
    assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 1024);
    assert_eq!(v["usage"]["output_tokens"], 27);
    assert_eq!(v["usage"]["total_tokens"], 1527);
    assert_eq!(output_text(&v), TEXT_PARIS);
    let v = post(
        &gw,
        KEY_A,
        &shape("text.json", "oai/mock:fixture=openai/chat_text.json"),
    )
    .json();
    assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 1024);
}

#[test]
fn parallel_calls_then_the_tool_loop() {
    let (mock, gw) = setup();
    for model in [
        "anth/mock:fixture=anthropic/message_tools_parallel.json",
        "oai/mock:fixture=openai/chat_tools_parallel.json",
    ] {
        let v = post(&gw, KEY_A, &shape("tools_loop.json", model)).json();
        let calls: Vec<&Value> = v["output"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["type"] == "function_call")
            .collect();
        assert_eq!(calls.len(), 2, "{v}");
        for c in &calls {
            assert!(c["id"].as_str().unwrap().starts_with("fc_"));
            assert!(!c["call_id"].as_str().unwrap().is_empty());
            assert_eq!(c["name"], "get_weather");
            assert_eq!(c["status"], "completed");
        }
        let args: Value = serde_json::from_str(calls[1]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"location": "Tokyo"}));
    }
    // The calls and their outputs, as the provider gets them.
    for model in PROVIDERS {
        let r = post(&gw, KEY_A, &shape("tools_loop.json", model));
        assert_eq!(r.status, 200, "{}", r.text());
        let sent = mock.last_body();
        if model.starts_with("anth") {
            let m = sent["messages"].as_array().unwrap();
            assert_eq!(m.len(), 3);
            assert_eq!(m[1]["content"][0]["type"], "tool_use");
            assert_eq!(m[1]["content"][1]["id"], "call_tokyo");
            assert_eq!(m[2]["content"][0]["type"], "tool_result");
            assert_eq!(m[2]["content"][1]["tool_use_id"], "call_tokyo");
            assert_eq!(sent["tools"][0]["name"], "get_weather");
            assert!(sent["tools"][0]["input_schema"]["properties"]["location"].is_object());
        } else {
            let m = sent["messages"].as_array().unwrap();
            assert_eq!(m[1]["tool_calls"].as_array().unwrap().len(), 2);
            assert_eq!(m[2]["role"], "tool");
            assert_eq!(m[3]["tool_call_id"], "call_tokyo");
            assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
            assert_eq!(sent["tool_choice"], "auto");
            assert_eq!(sent["parallel_tool_calls"], true);
        }
    }
}

#[test]
fn images_and_reasoning_effort() {
    let (mock, gw) = setup();
    for model in PROVIDERS {
        assert_eq!(post(&gw, KEY_A, &shape("image.json", model)).status, 200);
        let sent = mock.last_body();
        let parts = &sent["messages"][0]["content"];
        if model.starts_with("anth") {
            assert_eq!(parts[1]["source"]["type"], "base64");
            assert_eq!(parts[1]["source"]["media_type"], "image/png");
            assert_eq!(parts[2]["source"]["type"], "url");
        } else {
            assert_eq!(
                parts[1]["image_url"]["url"],
                "data:image/png;base64,iVBORw0KGgo="
            );
            assert_eq!(parts[2]["image_url"]["url"], "https://example.com/cat.jpg");
        }
        assert_eq!(
            post(&gw, KEY_A, &shape("reasoning.json", model)).status,
            200
        );
        let sent = mock.last_body();
        if model.starts_with("anth") {
            assert_eq!(sent["thinking"]["type"], "enabled");
            assert!(sent["thinking"]["budget_tokens"].as_u64().unwrap() >= 16384);
            assert_eq!(sent["system"][0]["text"], "Think step by step.");
        } else {
            assert_eq!(sent["reasoning_effort"], "high");
        }
    }
    // Thinking comes back as a reasoning item with its summary and signature.
    let v = post(
        &gw,
        KEY_A,
        &shape(
            "reasoning.json",
            "anth/mock:fixture=anthropic/message_thinking.json",
        ),
    )
    .json();
    let rs = &v["output"][0];
    assert_eq!(rs["type"], "reasoning");
    assert!(rs["summary"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("The user wants 27 * 453."));
    assert!(rs["encrypted_content"].is_string());
    assert_eq!(output_text(&v), "27 \u{d7} 453 = **12,231**");
}

/// The SDK's stream helper: rebuilds the response from the events, checking order.
fn accumulate(r: &Reply) -> (Vec<String>, Value) {
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let mut names = Vec::new();
    let mut snap = Value::Null;
    for (i, e) in r.events().iter().enumerate() {
        let v: Value = serde_json::from_str(&e.data).unwrap();
        let name = e.event.clone().unwrap();
        assert_eq!(v["type"], name.as_str());
        assert_eq!(v["sequence_number"], i, "{name}");
        match name.as_str() {
            "response.created" => snap = v["response"].clone(),
            "response.output_item.added" => snap["output"]
                .as_array_mut()
                .unwrap()
                .push(v["item"].clone()),
            "response.content_part.added" => {
                let o = v["output_index"].as_u64().unwrap() as usize;
                snap["output"][o]["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(v["part"].clone());
            }
            "response.output_text.delta" => {
                let o = v["output_index"].as_u64().unwrap() as usize;
                let t = &mut snap["output"][o]["content"][0]["text"];
                *t = json!(format!(
                    "{}{}",
                    t.as_str().unwrap(),
                    v["delta"].as_str().unwrap()
                ));
            }
            "response.function_call_arguments.delta" => {
                let o = v["output_index"].as_u64().unwrap() as usize;
                let t = &mut snap["output"][o]["arguments"];
                *t = json!(format!(
                    "{}{}",
                    t.as_str().unwrap(),
                    v["delta"].as_str().unwrap()
                ));
            }
            "response.output_item.done" => {
                let o = v["output_index"].as_u64().unwrap() as usize;
                snap["output"][o] = v["item"].clone();
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                snap = v["response"].clone()
            }
            _ => {}
        }
        names.push(name);
    }
    (names, snap)
}

#[test]
fn streamed_event_order_and_accumulation() {
    let (_mock, gw) = setup();
    for model in PROVIDERS {
        let r = post(&gw, KEY_A, &shape("stream.json", model));
        assert_eq!(r.status, 200, "{}", r.text());
        let (names, resp) = accumulate(&r);
        assert_eq!(
            names[..4],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added"
            ]
        );
        assert!(
            names
                .iter()
                .filter(|n| *n == "response.output_text.delta")
                .count()
                > 1
        );
        assert_eq!(
            names[names.len() - 4..],
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(output_text(&resp), "echo: Tell me a short story");
        assert_eq!(resp["status"], "completed");
        assert!(resp["usage"]["output_tokens"].as_u64().unwrap() > 0);
    }
    // Parallel tool calls, streamed.
    let r = post(
        &gw,
        KEY_A,
        &shape(
            "stream.json",
            "anth/mock:fixture=anthropic/stream_tools_parallel.sse",
        ),
    );
    let (names, resp) = accumulate(&r);
    let calls: Vec<&Value> = resp["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "function_call")
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        names
            .iter()
            .filter(|n| *n == "response.function_call_arguments.done")
            .count(),
        2
    );
    let args: Value = serde_json::from_str(calls[1]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["location"].is_string());
    // Cut by max tokens: incomplete.
    let r = post(
        &gw,
        KEY_A,
        &shape(
            "stream.json",
            "anth/mock:fixture=anthropic/stream_max_tokens.sse",
        ),
    );
    let (names, resp) = accumulate(&r);
    assert_eq!(names.last().unwrap(), "response.incomplete");
    assert_eq!(resp["incomplete_details"]["reason"], "max_output_tokens");
}

#[test]
fn error_midstream_is_an_error_event() {
    let (_mock, gw) = setup();
    let r = post(
        &gw,
        KEY_A,
        &shape(
            "stream.json",
            "anth/mock:fixture=anthropic/stream_error_midstream.sse",
        ),
    );
    let (names, resp) = accumulate(&r);
    let n = names.len();
    assert_eq!(names[n - 2], "error");
    assert_eq!(names[n - 1], "response.failed");
    assert_eq!(resp["status"], "failed");
    assert!(resp["error"]["message"].is_string());
}

#[test]
fn previous_response_id_continues_and_store_false_does_not_keep() {
    let (mock, gw) = setup();
    for model in PROVIDERS {
        let first = post(
            &gw,
            KEY_A,
            &json!({"model": model, "input": "My name is Ada.", "instructions": "Be brief."}),
        )
        .json();
        let id = first["id"].as_str().unwrap();
        // The stored object is what the client got.
        let got = get(&gw, KEY_A, id, false);
        assert_eq!(got.status, 200);
        assert_eq!(got.json(), first);
        let second = post(
            &gw,
            KEY_A,
            &json!({"model": model, "input": "What is my name?", "previous_response_id": id, "stream": true}),
        );
        assert_eq!(second.status, 200, "{}", second.text());
        let (_, resp) = accumulate(&second);
        assert_eq!(resp["previous_response_id"], id);
        let sent = mock.last_body();
        let m = sent["messages"].as_array().unwrap();
        let texts = sent.to_string();
        assert!(texts.contains("My name is Ada."), "{sent}");
        assert!(texts.contains("echo: My name is Ada."), "{sent}");
        assert!(texts.contains("What is my name?"));
        // Instructions are not carried over.
        assert!(!texts.contains("Be brief."));
        assert_eq!(m.last().unwrap()["role"], "user");
        // A third turn continues the streamed one.
        let second_id = resp["id"].as_str().unwrap();
        let third = post(
            &gw,
            KEY_A,
            &json!({"model": model, "input": "And again?", "previous_response_id": second_id}),
        );
        assert_eq!(third.status, 200, "{}", third.text());
        assert!(mock
            .last_body()
            .to_string()
            .contains("echo: What is my name?"));

        let r = post(
            &gw,
            KEY_A,
            &json!({"model": model, "input": "Forget this.", "store": false}),
        );
        let id = r.json()["id"].as_str().unwrap().to_string();
        assert_eq!(r.json()["store"], false);
        let r = post(
            &gw,
            KEY_A,
            &json!({"model": model, "input": "x", "previous_response_id": id}),
        );
        assert_eq!(r.status, 404, "{}", r.text());
    }
}

/// `state.responses_max_bytes` bounds what is kept in process: far more than fits
/// goes in, the gauges stay within the bound, the newest response still continues
/// and the oldest is gone (the least recently used go first).
#[test]
fn stored_responses_stay_within_responses_max_bytes() {
    const BOUND: f64 = 1_048_576.0;
    let mock = Mock::start();
    let gw = Gateway::start(&config(&mock, "state: { responses_max_bytes: 1048576 }\n"));
    // Each stored response holds its 64 KiB input and the echo of it (in the response
    // object and again in the conversation): about 200 KiB, so about five fit, and
    // thirty are six times the bound.
    let pad = "lorem ipsum ".repeat(64 * 1024 / 12);
    let mut ids = Vec::new();
    for i in 0..30 {
        let input = format!("turn {i:03} {pad}");
        let r = post(&gw, KEY_A, &json!({"model": "oai/gpt-x", "input": input}));
        assert_eq!(r.status, 200, "{}", r.text());
        ids.push(r.json()["id"].as_str().unwrap().to_string());
        let bytes = gw
            .metric_value("switchyard_responses_stored_bytes")
            .unwrap();
        assert!(bytes <= BOUND, "after {i}: {bytes} bytes stored");
    }
    let bytes = gw
        .metric_value("switchyard_responses_stored_bytes")
        .unwrap();
    let entries = gw.metric_value("switchyard_responses_stored").unwrap();
    assert!(
        bytes > BOUND / 2.0,
        "the store should be full: {bytes} bytes"
    );
    assert!((2.0..=8.0).contains(&entries), "{entries} entries");

    let newest = ids.last().unwrap();
    let r = post(
        &gw,
        KEY_A,
        &json!({"model": "oai/gpt-x", "input": "Which turn was that?", "previous_response_id": newest}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let sent = mock.last_body().to_string();
    assert!(
        sent.contains("echo: turn 029 lorem"),
        "the newest conversation was not sent"
    );
    assert!(sent.contains("Which turn was that?"));

    let oldest = &ids[0];
    let r = post(
        &gw,
        KEY_A,
        &json!({"model": "oai/gpt-x", "input": "And the first?", "previous_response_id": oldest}),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains(oldest.as_str()), "{}", r.text());
    assert_eq!(get(&gw, KEY_A, oldest, false).status, 404);
    let bytes = gw
        .metric_value("switchyard_responses_stored_bytes")
        .unwrap();
    assert!(
        bytes <= BOUND,
        "after the continuation: {bytes} bytes stored"
    );
}

#[test]
fn unknown_and_other_keys_ids_are_404_naming_the_id() {
    let (_mock, gw) = setup();
    let r = post(
        &gw,
        KEY_A,
        &json!({"model": "oai/gpt-x", "input": "x", "previous_response_id": "resp_nope"}),
    );
    assert_eq!(r.status, 404);
    let e = &r.json()["error"];
    assert_eq!(e["type"], "invalid_request_error");
    assert_eq!(e["code"], "response_not_found");
    assert!(e["message"].as_str().unwrap().contains("'resp_nope'"));

    let id = post(
        &gw,
        KEY_A,
        &json!({"model": "oai/gpt-x", "input": "secret"}),
    )
    .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = post(
        &gw,
        KEY_B,
        &json!({"model": "oai/gpt-x", "input": "x", "previous_response_id": id}),
    );
    assert_eq!(r.status, 404);
    assert_eq!(get(&gw, KEY_B, &id, false).status, 404);
    assert_eq!(get(&gw, KEY_B, &id, true).status, 404);
    assert_eq!(get(&gw, KEY_A, &id, false).status, 200);
    let d = get(&gw, KEY_A, &id, true);
    assert_eq!(d.status, 200);
    assert_eq!(
        d.json(),
        json!({"id": id, "object": "response", "deleted": true})
    );
    assert_eq!(get(&gw, KEY_A, &id, false).status, 404);
    assert_eq!(get(&gw, KEY_A, "../etc", false).status, 404);
    // Without a key: 401, in OpenAI's shape.
    let r = gw.post_raw("/v1/responses", b"{}".to_vec(), &[]);
    assert_eq!(r.status, 401);
    assert!(r.json()["error"]["message"].is_string());
    // Malformed: 400 naming the field.
    let r = post(&gw, KEY_A, &json!({"model": "oai/gpt-x"}));
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("input"));
}

#[test]
fn fallback_from_a_failing_provider() {
    let (_mock, gw) = setup();
    for stream in [false, true] {
        let r = post(
            &gw,
            KEY_A,
            &json!({"model": "flaky", "input": "hello", "stream": stream}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("x-switchyard-provider"), Some("oai"));
        if !stream {
            // Later requests may skip the failed target (its breaker is open).
            let attempts: u32 = r.header("x-switchyard-attempts").unwrap().parse().unwrap();
            assert!(attempts >= 2, "{attempts}");
        }
        let resp = if stream { accumulate(&r).1 } else { r.json() };
        assert_eq!(output_text(&resp), "echo: hello");
    }
}

#[test]
fn text_format_reaches_anthropic_structured_outputs_and_json_mode_is_dropped() {
    let (mock, gw) = setup();
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
    let r = post(
        &gw,
        KEY_A,
        &json!({"model": "anth/claude-x", "input": "x",
                "text": {"format": {"type": "json_schema", "name": "n", "schema": schema}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("x-switchyard-dropped").is_none());
    let sent = mock.last_body();
    assert_eq!(
        sent["output_config"],
        json!({"format": {"type": "json_schema", "schema": schema}})
    );
    // Anthropic has no schema-less JSON mode.
    let r = post(
        &gw,
        KEY_A,
        &json!({"model": "anth/claude-x", "input": "x", "text": {"format": {"type": "json_object"}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-switchyard-dropped"), Some("text.format"));
    assert!(mock.last_body().get("output_config").is_none());
}

#[test]
fn previous_response_id_across_two_gateways_sharing_redis() {
    let redis = Redis::start();
    let mock = Mock::start();
    // A loaded test machine can be slow to answer; the default 100 ms is for production.
    let state = format!(
        "state:\n  redis: {{ url: \"{}\", timeout_ms: 2000 }}\n",
        redis.url()
    );
    let a = Gateway::start(&config(&mock, &state));
    let b = Gateway::start(&config(&mock, &state));
    // Both connect to Redis in the background: until then a response is kept in
    // process only, where the other gateway cannot see it.
    for gw in [&a, &b] {
        gw.log_with("thinking memo: Redis at");
    }
    for model in PROVIDERS {
        let first = post(&a, KEY_A, &json!({"model": model, "input": "Remember 7."}));
        assert_eq!(first.status, 200, "{}", first.text());
        let id = first.json()["id"].as_str().unwrap().to_string();
        let r = post(
            &b,
            KEY_A,
            &json!({"model": model, "input": "Which number?", "previous_response_id": id}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(mock.last_body().to_string().contains("echo: Remember 7."));
        assert_eq!(get(&b, KEY_A, &id, false).json(), first.json());
        assert_eq!(get(&b, KEY_B, &id, false).status, 404);
        assert_eq!(get(&b, KEY_A, &id, true).status, 200);
        assert_eq!(get(&a, KEY_A, &id, false).status, 404);
    }
}

/// A TCP relay in front of Redis that, while closed, holds the write of a stored
/// response (a `SET` carrying a `resp_…` id) until it is opened again: a test can
/// then see what the client got while the gateway's store was in flight.
struct StoreGate {
    port: u16,
    state: std::sync::Arc<(std::sync::Mutex<(bool, bool)>, std::sync::Condvar)>,
}

impl StoreGate {
    fn start(redis: &Redis) -> StoreGate {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind(("127.0.0.1", free_port())).unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = redis.port;
        // (closed, holding)
        let state = std::sync::Arc::new((
            std::sync::Mutex::new((false, false)),
            std::sync::Condvar::new(),
        ));
        let shared = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = std::net::TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let (mut back_from, mut back_to) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || std::io::copy(&mut back_from, &mut back_to));
                let (mut from, mut to, gate) = (client, server, shared.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        let chunk = &buf[..n];
                        let is_store = |c: &[u8]| {
                            c.windows(7).any(|w| w == b"\r\nSET\r\n")
                                && c.windows(5).any(|w| w == b"resp_")
                        };
                        let (lock, cv) = &*gate;
                        let mut g = lock.lock().unwrap();
                        if g.0 && is_store(chunk) {
                            g.1 = true;
                            cv.notify_all();
                            while g.0 {
                                g = cv.wait(g).unwrap();
                            }
                        }
                        drop(g);
                        if to.write_all(chunk).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        StoreGate { port, state }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn set_closed(&self, closed: bool) {
        let (lock, cv) = &*self.state;
        *lock.lock().unwrap() = (closed, false);
        cv.notify_all();
    }

    /// Whether a store write arrived (and is held) within 20 s.
    fn wait_held(&self) -> bool {
        let (lock, cv) = &*self.state;
        let g = lock.lock().unwrap();
        let (g, _) = cv
            .wait_timeout_while(g, std::time::Duration::from_secs(20), |g| !g.1)
            .unwrap();
        g.1
    }
}

/// A client that has its answer can continue it at once on another instance: the
/// gateway stores the response before the client gets the last byte (plain: the
/// body; streamed: `response.completed`). Redis writes are held at a gate to make
/// the order visible: the answer must not arrive while its store is held.
#[test]
fn the_answer_arrives_only_after_it_is_stored() {
    let redis = Redis::start();
    let gate = StoreGate::start(&redis);
    let mock = Mock::start();
    let state = |url: String| format!("state:\n  redis: {{ url: \"{url}\", timeout_ms: 20000 }}\n");
    let a = Gateway::start(&config(&mock, &state(gate.url())));
    let b = Gateway::start(&config(&mock, &state(redis.url())));
    for gw in [&a, &b] {
        gw.log_with("thinking memo: Redis at");
    }
    for model in PROVIDERS {
        for stream in [false, true] {
            gate.set_closed(true);
            let (tx, rx) = std::sync::mpsc::channel();
            let base = a.base();
            let body = json!({"model": model, "input": "Remember 7.", "stream": stream});
            std::thread::spawn(move || {
                let r: Reply = client()
                    .post(format!("{base}/v1/responses"))
                    .header("authorization", format!("Bearer {KEY_A}"))
                    .body(serde_json::to_vec(&body).unwrap())
                    .send()
                    .unwrap()
                    .into();
                let _ = tx.send(r);
            });
            assert!(
                gate.wait_held(),
                "{model} stream={stream}: no store reached Redis"
            );
            // Time for a wrongly ordered gateway to deliver (none is needed otherwise).
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert!(
                rx.try_recv().is_err(),
                "{model} stream={stream}: the client had its answer before it was stored"
            );
            gate.set_closed(false);
            let first = rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap();
            assert_eq!(first.status, 200, "{}", first.text());
            let id = match stream {
                false => first.json()["id"].as_str().unwrap().to_string(),
                true => {
                    let (names, snap) = accumulate(&first);
                    assert_eq!(names.last().map(String::as_str), Some("response.completed"));
                    snap["id"].as_str().unwrap().to_string()
                }
            };
            let r = post(
                &b,
                KEY_A,
                &json!({"model": model, "input": "Which number?", "previous_response_id": id}),
            );
            assert_eq!(r.status, 200, "{model} stream={stream}: {}", r.text());
            assert!(mock.last_body().to_string().contains("echo: Remember 7."));
        }
    }
}
