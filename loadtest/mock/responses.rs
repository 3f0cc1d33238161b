//! OpenAI Responses API emulation (`POST …/responses`): the echo scenario as a
//! response object, or as the event sequence (`response.created` …
//! `response.completed`, each with `sequence_number`), with usage.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::common::{json_type, EchoCtx, Reply, JSON, SSE};
use crate::options::split_reply;

/// Validates a Responses request body like the real API would (400 on error).
pub fn validate(body: &Map<String, Value>) -> Result<(), String> {
    match body.get("model") {
        Some(Value::String(_)) => {}
        None | Some(Value::Null) => return Err("Missing required parameter: 'model'.".into()),
        Some(v) => {
            return Err(format!(
                "Invalid type for 'model': expected a string, but got {} instead.",
                json_type(v)
            ))
        }
    }
    for key in ["messages", "max_tokens", "response_format"] {
        if body.contains_key(key) {
            return Err(format!("Unsupported parameter: '{key}'."));
        }
    }
    match body.get("input") {
        Some(Value::String(_)) | Some(Value::Array(_)) => Ok(()),
        None if body.contains_key("previous_response_id") => Ok(()),
        None => Err("Missing required parameter: 'input'.".into()),
        Some(v) => Err(format!(
            "Invalid type for 'input': expected a string or an array, but got {} instead.",
            json_type(v)
        )),
    }
}

/// Text of the last user input: the string `input`, or the last user message's
/// string content or `input_text` parts.
pub fn last_user_text(body: &Map<String, Value>) -> String {
    match body.get("input") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let Some(msg) = items
                .iter()
                .rev()
                .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            else {
                return String::new();
            };
            match msg.get("content") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter(|p| p.get("type").and_then(Value::as_str) == Some("input_text"))
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect(),
                _ => String::new(),
            }
        }
        _ => String::new(),
    }
}

fn response(ctx: &EchoCtx<'_>, id: &str, status: &str, text: Option<&str>) -> Value {
    let output = match text {
        Some(t) => json!([{
            "type": "message", "id": format!("msg_{id}"), "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": t, "annotations": []}]
        }]),
        None => json!([]),
    };
    let usage = (status == "completed").then(|| {
        json!({
            "input_tokens": ctx.input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": ctx.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": ctx.input_tokens + ctx.output_tokens
        })
    });
    json!({
        "id": format!("resp_{id}"), "object": "response", "created_at": ctx.created,
        "status": status, "model": ctx.model, "output": output, "usage": usage
    })
}

pub fn echo(ctx: &EchoCtx<'_>) -> Reply {
    let id = format!("mock{}", ctx.counter);
    if !ctx.stream {
        return Reply {
            content_type: JSON,
            frames: vec![Bytes::from(
                response(ctx, &id, "completed", Some(&ctx.text)).to_string(),
            )],
            exact: true,
        };
    }
    let mut seq = 0u64;
    let mut frames = Vec::new();
    let mut event = |mut v: Value| {
        let kind = v["type"].as_str().unwrap_or_default().to_string();
        v["sequence_number"] = json!(seq);
        seq += 1;
        frames.push(Bytes::from(format!("event: {kind}\ndata: {v}\n\n")));
    };
    let item_id = format!("msg_{id}");
    event(json!({"type": "response.created", "response": response(ctx, &id, "in_progress", None)}));
    event(
        json!({"type": "response.in_progress", "response": response(ctx, &id, "in_progress", None)}),
    );
    event(
        json!({"type": "response.output_item.added", "output_index": 0,
        "item": {"type": "message", "id": item_id, "status": "in_progress", "role": "assistant", "content": []}}),
    );
    event(
        json!({"type": "response.content_part.added", "item_id": item_id, "output_index": 0, "content_index": 0,
        "part": {"type": "output_text", "text": "", "annotations": []}}),
    );
    for p in split_reply(&ctx.text, ctx.events) {
        event(
            json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0, "content_index": 0, "delta": p}),
        );
    }
    event(
        json!({"type": "response.output_text.done", "item_id": item_id, "output_index": 0, "content_index": 0, "text": ctx.text}),
    );
    event(
        json!({"type": "response.content_part.done", "item_id": item_id, "output_index": 0, "content_index": 0,
        "part": {"type": "output_text", "text": ctx.text, "annotations": []}}),
    );
    event(
        json!({"type": "response.output_item.done", "output_index": 0,
        "item": {"type": "message", "id": item_id, "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": ctx.text, "annotations": []}]}}),
    );
    event(
        json!({"type": "response.completed", "response": response(ctx, &id, "completed", Some(&ctx.text))}),
    );
    Reply {
        content_type: SSE,
        frames,
        exact: false,
    }
}
