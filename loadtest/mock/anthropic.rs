//! Anthropic Messages emulation: validation, error bodies, echo replies.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::common::{to_json, EchoCtx, Reply, JSON, SSE};
use crate::options::split_reply;

const ALLOWED_KEYS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "metadata",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
    "service_tier",
    "container",
    "mcp_servers",
    "context_management",
];

/// The `anthropic-version` header check (400 when missing).
pub fn check_version(headers: &http::HeaderMap) -> Result<(), String> {
    if headers.contains_key("anthropic-version") {
        Ok(())
    } else {
        Err("anthropic-version: header is required".into())
    }
}

/// Validates a Messages request body like the real API would (400 on error).
pub fn validate(body: &Map<String, Value>) -> Result<(), String> {
    for key in ["model", "messages", "max_tokens"] {
        if !body.contains_key(key) {
            return Err(format!("{key}: Field required"));
        }
    }
    if !body["model"].is_string() {
        return Err("model: Input should be a valid string".into());
    }
    if !(body["max_tokens"].is_u64() || body["max_tokens"].is_i64()) {
        return Err("max_tokens: Input should be a valid integer".into());
    }
    for key in body.keys() {
        if !ALLOWED_KEYS.contains(&key.as_str()) {
            return Err(format!("{key}: Extra inputs are not permitted"));
        }
    }
    let Some(messages) = body["messages"].as_array() else {
        return Err("messages: Input should be a valid list".into());
    };
    for (i, msg) in messages.iter().enumerate() {
        let Some(obj) = msg.as_object() else {
            return Err(format!(
                "messages.{i}: Input should be a valid dictionary or object to extract fields from"
            ));
        };
        match obj.get("role") {
            Some(Value::String(r)) if r == "user" || r == "assistant" => {}
            None => return Err(format!("messages.{i}.role: Field required")),
            Some(_) => {
                return Err(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                ))
            }
        }
    }
    Ok(())
}

fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorInner<'a>,
}

#[derive(Serialize)]
struct ErrorInner<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// Anthropic-shaped error body.
pub fn error_body(status: u16, message: &str) -> Bytes {
    let env = ErrorEnvelope {
        kind: "error",
        error: ErrorInner {
            kind: error_type(status),
            message,
        },
    };
    Bytes::from(to_json(&env))
}

/// Message used for a simulated `status=NNN` error.
pub fn status_message(status: u16, model: &str) -> String {
    match status {
        400 => "Invalid request (simulated by switchyard-mock).".into(),
        401 => "invalid x-api-key".into(),
        403 => "Your API key does not have permission to use the specified resource.".into(),
        404 => format!("model: {model}"),
        413 => "Request exceeds the maximum allowed number of bytes.".into(),
        429 => "This request would exceed the rate limit for your organization. Please try again later.".into(),
        500 => "Internal server error".into(),
        529 => "Overloaded".into(),
        _ => format!("Simulated error status {status} (switchyard-mock)."),
    }
}

#[derive(Serialize)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
}

impl Usage {
    fn new(input: u64, output: u64) -> Self {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
        }
    }
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<TextBlock<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<()>,
    usage: Usage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: Message<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: TextBlock<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: TextDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopDelta,
        usage: OutputUsage,
    },
    MessageStop,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u64,
}

fn sse(name: &str, event: &Event<'_>) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {}\n\n", to_json(event)))
}

/// The echo reply, as JSON or SSE depending on `ctx.stream`.
pub fn echo(ctx: &EchoCtx<'_>) -> Reply {
    let id = format!("msg_mock{}", ctx.counter);
    if !ctx.stream {
        let msg = Message {
            id: &id,
            kind: "message",
            role: "assistant",
            model: ctx.model,
            content: vec![TextBlock {
                kind: "text",
                text: &ctx.text,
            }],
            stop_reason: Some("end_turn"),
            stop_sequence: None,
            usage: Usage::new(ctx.input_tokens, ctx.output_tokens),
        };
        return Reply {
            content_type: JSON,
            frames: vec![Bytes::from(to_json(&msg))],
            exact: true,
        };
    }

    let pieces = split_reply(&ctx.text, ctx.events);
    let mut frames = Vec::with_capacity(pieces.len() + 7);
    frames.push(sse(
        "message_start",
        &Event::MessageStart {
            message: Message {
                id: &id,
                kind: "message",
                role: "assistant",
                model: ctx.model,
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage: Usage::new(ctx.input_tokens, 1),
            },
        },
    ));
    frames.push(sse(
        "content_block_start",
        &Event::ContentBlockStart {
            index: 0,
            content_block: TextBlock {
                kind: "text",
                text: "",
            },
        },
    ));
    frames.push(Bytes::from_static(
        b"event: ping\ndata: {\"type\": \"ping\"}\n\n",
    ));
    for p in pieces {
        frames.push(sse(
            "content_block_delta",
            &Event::ContentBlockDelta {
                index: 0,
                delta: TextDelta {
                    kind: "text_delta",
                    text: p,
                },
            },
        ));
    }
    frames.push(sse(
        "content_block_stop",
        &Event::ContentBlockStop { index: 0 },
    ));
    frames.push(sse(
        "message_delta",
        &Event::MessageDelta {
            delta: StopDelta {
                stop_reason: "end_turn",
                stop_sequence: None,
            },
            usage: OutputUsage {
                output_tokens: ctx.output_tokens,
            },
        },
    ));
    frames.push(sse("message_stop", &Event::MessageStop));
    Reply {
        content_type: SSE,
        frames,
        exact: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn validation() {
        let ok =
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
        assert!(validate(&obj(ok)).is_ok());
        let e = validate(&obj(
            json!({"model": "m", "max_tokens": 5, "messages": [], "n": 2}),
        ))
        .unwrap_err();
        assert_eq!(e, "n: Extra inputs are not permitted");
        assert_eq!(
            validate(&obj(json!({"model": "m", "messages": []}))).unwrap_err(),
            "max_tokens: Field required"
        );
        assert!(validate(&obj(
            json!({"model": "m", "max_tokens": 1.5, "messages": []})
        ))
        .is_err());
        assert!(validate(&obj(
            json!({"model": "m", "max_tokens": 1, "messages": [{"role": "system"}]})
        ))
        .is_err());
    }

    #[test]
    fn echo_stream_shape() {
        let ctx = EchoCtx {
            model: "claude-x",
            counter: 3,
            created: 1,
            text: "echo: hi there".into(),
            stream: true,
            include_usage: false,
            input_tokens: 10,
            output_tokens: 3,
            events: Some(2),
        };
        let r = echo(&ctx);
        let names: Vec<&str> = r
            .frames
            .iter()
            .map(|f| {
                let s = std::str::from_utf8(f).unwrap();
                s.lines().next().unwrap().strip_prefix("event: ").unwrap()
            })
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let delta = std::str::from_utf8(&r.frames[6]).unwrap();
        let data: Value = serde_json::from_str(delta.lines().nth(1).unwrap()[6..].trim()).unwrap();
        assert_eq!(
            data,
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 3}})
        );
        let stop = std::str::from_utf8(&r.frames[7]).unwrap();
        assert_eq!(
            stop,
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
    }
}
