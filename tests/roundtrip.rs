//! Property test (#16): a request translated A → B → A keeps every field the
//! canonical model holds and both formats can express. Requests are generated as
//! client JSON in one format, parsed (C1), encoded to the other format, parsed,
//! encoded back and parsed again (C3); C1 and C3 must be equal.
//!
//! What cannot survive by design is kept out of the generators and named here:
//! OpenAI has no `top_k` or `cache_control`; Anthropic has no `include_usage` (and
//! streams to OpenAI always ask for usage) and needs `max_tokens` (so the generators
//! always set one); unsigned reasoning is not sent to Anthropic.

use proptest::prelude::*;
use serde_json::{json, Value};
use switchyard::formats::model::ChatRequest;
use switchyard::formats::{encode_request, parse_request, ApiFormat, EncodeOptions};

fn opts() -> EncodeOptions<'static> {
    EncodeOptions {
        model: "m",
        default_max_tokens: 1024,
        sampling_params: true,
        preset: None,
        stream_options: true,
    }
}

/// Parse, then normalise what is not part of the comparison.
fn parse(format: ApiFormat, body: &[u8]) -> ChatRequest<'_> {
    let mut r = parse_request(format, body).unwrap_or_else(|e| {
        panic!(
            "{format:?} body does not parse: {e}\n{}",
            String::from_utf8_lossy(body)
        )
    });
    r.body_len = 0;
    r.dropped.clear();
    // Streams sent to OpenAI always ask for usage (the gateway needs it), whatever
    // the client asked; what the client asked is kept apart for its own stream.
    r.include_usage = false;
    r
}

fn encode(format: ApiFormat, r: &ChatRequest<'_>) -> Vec<u8> {
    let mut dropped = Vec::new();
    encode_request(format, r, &opts(), &mut dropped)
        .unwrap_or_else(|e| panic!("encoding to {format:?}: {e}"))
}

fn round_trip(from: ApiFormat, to: ApiFormat, body: &[u8]) -> Result<(), TestCaseError> {
    let c1 = parse(from, body);
    let there = encode(to, &c1);
    let c2 = parse(to, &there);
    let back = encode(from, &c2);
    let c3 = parse(from, &back);
    prop_assert_eq!(
        &c1,
        &c3,
        "\nclient:  {}\nthere:   {}\nback:    {}",
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&there),
        String::from_utf8_lossy(&back)
    );
    Ok(())
}

fn text() -> impl Strategy<Value = String> {
    // Quotes, backslashes, newlines and non-ASCII: what escaping gets wrong.
    proptest::string::string_regex("[a-zA-Z0-9 \"\\\\\n\u{e9}\u{4e2d}\u{1f600}.,]{1,24}").unwrap()
}

fn image() -> impl Strategy<Value = (bool, String)> {
    prop_oneof![
        Just((true, "iVBORw0KGgo=".to_string())),
        "[a-z]{1,8}".prop_map(|p| (false, format!("https://example.com/{p}.png"))),
    ]
}

fn args() -> impl Strategy<Value = String> {
    (0u32..1000, "[a-z]{1,6}").prop_map(|(n, s)| format!("{{\"n\":{n},\"s\":\"{s}\"}}"))
}

/// One exchange: a user turn, the assistant's answer (text and/or tool calls), the
/// tool results.
#[derive(Debug, Clone)]
struct Turn {
    user: String,
    image: Option<(bool, String)>,
    answer: Option<String>,
    calls: Vec<(String, String)>,
    results: Vec<String>,
}

fn turn() -> impl Strategy<Value = Turn> {
    (
        text(),
        proptest::option::of(image()),
        proptest::option::of(text()),
        proptest::collection::vec(
            (prop_oneof![Just("get_weather"), Just("search")], args()),
            0..3,
        ),
        proptest::collection::vec(text(), 3),
    )
        .prop_map(|(user, image, answer, calls, results)| {
            // An assistant turn says something: text, tool calls, or both.
            let answer = if calls.is_empty() && answer.is_none() {
                Some("ok".to_string())
            } else {
                answer
            };
            Turn {
                user,
                image,
                answer,
                calls: calls.into_iter().map(|(n, a)| (n.to_string(), a)).collect(),
                results,
            }
        })
}

#[derive(Debug, Clone)]
struct Common {
    system: Option<String>,
    turns: Vec<Turn>,
    tools: bool,
    choice: u8,
    max_tokens: u32,
    temperature: Option<f64>,
    top_p: Option<f64>,
    stop: Vec<String>,
    stream: bool,
    user: Option<String>,
    /// No parallel tool calls.
    serial: bool,
}

fn common() -> impl Strategy<Value = Common> {
    (
        proptest::option::of(text()),
        proptest::collection::vec(turn(), 1..4),
        any::<bool>(),
        0u8..5,
        1u32..8192,
        proptest::option::of((0u32..=100).prop_map(|t| f64::from(t) / 100.0)),
        proptest::option::of((1u32..=100).prop_map(|t| f64::from(t) / 100.0)),
        proptest::collection::vec("[A-Z]{1,5}", 0..3),
        any::<bool>(),
        (proptest::option::of("[a-z0-9-]{1,12}"), any::<bool>()),
    )
        .prop_map(
            |(
                system,
                turns,
                tools,
                choice,
                max_tokens,
                temperature,
                top_p,
                stop,
                stream,
                (user, serial),
            )| {
                Common {
                    serial,
                    system,
                    turns,
                    tools,
                    choice,
                    max_tokens,
                    temperature,
                    top_p,
                    stop,
                    stream,
                    user,
                }
            },
        )
}

fn schema(name: &str) -> Value {
    json!({"type": "object", "properties": {name: {"type": "string"}}, "required": [name]})
}

fn openai_body(c: &Common) -> Vec<u8> {
    let mut messages = Vec::new();
    if let Some(s) = &c.system {
        messages.push(json!({"role": "system", "content": s}));
    }
    for (t, turn) in c.turns.iter().enumerate() {
        let mut parts = vec![json!({"type": "text", "text": turn.user})];
        if let Some((inline, img)) = &turn.image {
            let url = if *inline {
                format!("data:image/png;base64,{img}")
            } else {
                img.clone()
            };
            parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
        }
        messages.push(json!({"role": "user", "content": parts}));
        let mut a = json!({"role": "assistant", "content": turn.answer});
        if !turn.calls.is_empty() {
            a["tool_calls"] = turn
                .calls
                .iter()
                .enumerate()
                .map(|(i, (name, args))| {
                    json!({"id": format!("call_{t}_{i}"), "type": "function",
                           "function": {"name": name, "arguments": args}})
                })
                .collect();
        }
        messages.push(a);
        for (i, _) in turn.calls.iter().enumerate() {
            messages.push(
                json!({"role": "tool", "tool_call_id": format!("call_{t}_{i}"),
                                 "content": turn.results[i]}),
            );
        }
    }
    let mut b = json!({"model": "m", "messages": messages, "max_tokens": c.max_tokens,
                       "stream": c.stream});
    if c.tools {
        b["tools"] = json!([
            {"type": "function", "function": {"name": "get_weather", "description": "Weather",
             "parameters": schema("city")}},
            {"type": "function", "function": {"name": "search", "parameters": schema("q")}},
        ]);
        b["tool_choice"] = match c.choice {
            0 => Value::Null,
            1 => json!("auto"),
            2 => json!("required"),
            3 => json!("none"),
            _ => json!({"type": "function", "function": {"name": "search"}}),
        };
        // Anthropic says it inside tool_choice, so only with one (not with none).
        if c.serial && matches!(c.choice, 1 | 2 | 4) {
            b["parallel_tool_calls"] = json!(false);
        }
    }
    if let Some(t) = c.temperature {
        b["temperature"] = json!(t);
    }
    if let Some(p) = c.top_p {
        b["top_p"] = json!(p);
    }
    if !c.stop.is_empty() {
        b["stop"] = json!(c.stop);
    }
    if let Some(u) = &c.user {
        b["user"] = json!(u);
    }
    strip_nulls(&mut b);
    serde_json::to_vec(&b).unwrap()
}

fn anthropic_body(c: &Common, top_k: Option<u32>) -> Vec<u8> {
    let mut messages = Vec::new();
    for (t, turn) in c.turns.iter().enumerate() {
        let mut user = Vec::new();
        if t > 0 {
            let prev = &c.turns[t - 1];
            for (i, _) in prev.calls.iter().enumerate() {
                user.push(
                    json!({"type": "tool_result", "tool_use_id": format!("toolu_{}_{i}", t - 1),
                                 "content": prev.results[i]}),
                );
            }
        }
        user.push(json!({"type": "text", "text": turn.user}));
        if let Some((inline, img)) = &turn.image {
            user.push(if *inline {
                json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": img}})
            } else {
                json!({"type": "image", "source": {"type": "url", "url": img}})
            });
        }
        messages.push(json!({"role": "user", "content": user}));
        let mut a = Vec::new();
        if let Some(text) = &turn.answer {
            a.push(json!({"type": "text", "text": text}));
        }
        for (i, (name, args)) in turn.calls.iter().enumerate() {
            let input: Value = serde_json::from_str(args).unwrap();
            a.push(json!({"type": "tool_use", "id": format!("toolu_{t}_{i}"), "name": name, "input": input}));
        }
        messages.push(json!({"role": "assistant", "content": a}));
    }
    let mut b = json!({"model": "m", "messages": messages, "max_tokens": c.max_tokens,
                       "stream": c.stream});
    if let Some(s) = &c.system {
        b["system"] = json!(s);
    }
    if c.tools {
        b["tools"] = json!([
            {"name": "get_weather", "description": "Weather", "input_schema": schema("city")},
            {"name": "search", "input_schema": schema("q")},
        ]);
        b["tool_choice"] = match c.choice {
            0 => Value::Null,
            1 => json!({"type": "auto"}),
            2 => json!({"type": "any"}),
            3 => json!({"type": "none"}),
            _ => json!({"type": "tool", "name": "search"}),
        };
        if c.serial && matches!(c.choice, 1 | 2 | 4) {
            b["tool_choice"]["disable_parallel_tool_use"] = json!(true);
        }
    }
    if let Some(t) = c.temperature {
        b["temperature"] = json!(t);
    }
    if let Some(p) = c.top_p {
        b["top_p"] = json!(p);
    }
    if let Some(k) = top_k {
        b["top_k"] = json!(k);
    }
    if !c.stop.is_empty() {
        b["stop_sequences"] = json!(c.stop);
    }
    if let Some(u) = &c.user {
        b["metadata"] = json!({"user_id": u});
    }
    strip_nulls(&mut b);
    serde_json::to_vec(&b).unwrap()
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn openai_to_anthropic_and_back_keeps_the_request(c in common()) {
        round_trip(ApiFormat::OpenAi, ApiFormat::Anthropic, &openai_body(&c))?;
    }

    #[test]
    fn anthropic_to_openai_and_back_keeps_the_request(c in common()) {
        round_trip(ApiFormat::Anthropic, ApiFormat::OpenAi, &anthropic_body(&c, None))?;
    }
}
