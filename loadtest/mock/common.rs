//! Pieces shared by the OpenAI and Anthropic emulations.

use bytes::Bytes;
use serde_json::Value;

pub const JSON: &str = "application/json";
pub const SSE: &str = "text/event-stream";

/// A successful reply body, before faults and delays are applied.
pub struct Reply {
    pub content_type: &'static str,
    pub frames: Vec<Bytes>,
    /// Send with `content-length` (true for JSON) rather than chunked.
    pub exact: bool,
}

/// Inputs of the echo scenario.
pub struct EchoCtx<'a> {
    pub model: &'a str,
    pub counter: u64,
    pub created: u64,
    /// Full reply text (`"echo: " + last user text`).
    pub text: String,
    pub stream: bool,
    pub include_usage: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Streamed text pieces (concatenate to `text`).
    pub events: Option<usize>,
}

/// Text of the last `user` message: string content, or the concatenation of the `text`
/// fields of `{"type":"text"}` parts/blocks. Empty if there is none.
pub fn last_user_text(messages: &[Value]) -> String {
    let Some(msg) = messages
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
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Serializes `value` to a JSON string (infallible for the mock's own types).
pub fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serializable")
}

/// Short human name for a JSON value's type, for error messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_text_from_string_and_parts() {
        let msgs = json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": [
                {"type": "text", "text": "a"},
                {"type": "image_url", "image_url": {"url": "x"}},
                {"type": "text", "text": "b"}
            ]},
            {"role": "tool", "content": "result"}
        ]);
        assert_eq!(last_user_text(msgs.as_array().unwrap()), "ab");
        let msgs = json!([{"role": "assistant", "content": "x"}]);
        assert_eq!(last_user_text(msgs.as_array().unwrap()), "");
    }
}
