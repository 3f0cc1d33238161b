//! Anthropic `message` objects <-> canonical response.

use super::{parse_stop_reason, stop_reason_str, AnthropicUsage};
use crate::formats::model::{ChatResponse, ContentPart, FinishReason, RawJson};
use crate::formats::{from_json, TranslateError};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
struct InResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<InBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
    #[serde(default)]
    usage: AnthropicUsage,
}

/// A content block, read flat (no tagged-enum buffering).
#[derive(Deserialize)]
struct InBlock {
    #[serde(rename = "type")]
    kind: InBlockKind,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    input: Option<RawJson>,
    #[serde(default)]
    thinking: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum InBlockKind {
    Text,
    ToolUse,
    Thinking,
    RedactedThinking,
    /// Server tool blocks and future types: nothing an OpenAI client can show.
    #[serde(other)]
    Other,
}

/// Parses a provider's `message` object.
pub fn parse(body: &[u8]) -> Result<ChatResponse, TranslateError> {
    let r: InResponse = from_json(body)?;
    let content = r
        .content
        .into_iter()
        .filter_map(|b| match b.kind {
            InBlockKind::Text => Some(ContentPart::Text {
                text: b.text.unwrap_or_default().into(),
                cache_control: None,
            }),
            InBlockKind::ToolUse => Some(ContentPart::ToolCall {
                id: b.id.unwrap_or_default().into(),
                name: b.name.unwrap_or_default().into(),
                arguments: b
                    .input
                    .map_or_else(|| "{}".to_string(), |i| i.get().to_string())
                    .into(),
            }),
            InBlockKind::Thinking => Some(ContentPart::Thinking {
                text: b.thinking.unwrap_or_default().into(),
                signature: b.signature.map(Into::into),
            }),
            InBlockKind::RedactedThinking => Some(ContentPart::RedactedThinking {
                data: b.data.unwrap_or_default().into(),
            }),
            InBlockKind::Other => None,
        })
        .collect();
    Ok(ChatResponse {
        id: r.id,
        model: r.model,
        content,
        refusal: None,
        finish_reason: r
            .stop_reason
            .as_deref()
            .map(|s| parse_stop_reason(s, r.stop_sequence.clone())),
        usage: r.usage.into_usage(),
    })
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    usage: AnthropicUsage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutBlock<'a> {
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    Text {
        text: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Cow<'a, RawValue>,
    },
}

/// Tool arguments (JSON text) as Anthropic's input object. Models occasionally emit
/// invalid argument text; it is kept under `_raw_arguments` instead of failing the
/// whole response or conversation. Valid arguments are borrowed, not copied.
pub(crate) fn input_object(arguments: &str) -> Cow<'_, RawValue> {
    let trimmed = arguments.trim();
    if trimmed.starts_with('{') {
        if let Ok(v) = serde_json::from_str::<&RawValue>(trimmed) {
            return Cow::Borrowed(v);
        }
    }
    let v = if trimmed.is_empty() {
        "{}".to_string()
    } else {
        serde_json::json!({ "_raw_arguments": arguments }).to_string()
    };
    Cow::Owned(RawValue::from_string(v).unwrap_or_default())
}

/// Renders a canonical response as an Anthropic `message`.
pub fn encode(resp: &ChatResponse) -> Vec<u8> {
    let mut content = Vec::with_capacity(resp.content.len() + 1);
    for p in &resp.content {
        match p {
            ContentPart::Thinking { text, signature } => content.push(OutBlock::Thinking {
                thinking: text,
                signature: signature.as_deref().unwrap_or(""),
            }),
            ContentPart::RedactedThinking { data } => {
                content.push(OutBlock::RedactedThinking { data })
            }
            ContentPart::Text { text, .. } => content.push(OutBlock::Text { text }),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => content.push(OutBlock::ToolUse {
                id,
                name,
                input: input_object(arguments),
            }),
            _ => {}
        }
    }
    let mut finish = resp.finish_reason.clone();
    if let Some(r) = &resp.refusal {
        content.push(OutBlock::Text { text: r });
        finish = Some(FinishReason::ContentFilter);
    }
    let stop_sequence = match &finish {
        Some(FinishReason::StopSequence(s)) => s.as_deref(),
        _ => None,
    };
    let out = OutResponse {
        id: &resp.id,
        kind: "message",
        role: "assistant",
        model: &resp.model,
        content,
        stop_reason: finish.as_ref().map(stop_reason_str),
        stop_sequence,
        usage: AnthropicUsage::from_usage(&resp.usage),
    };
    serde_json::to_vec(&out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_use_and_cache_usage_round_trip() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude",
          "content":[{"type":"text","text":"Let me check."},
                     {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}},
                     {"type":"server_tool_use","id":"s","name":"web_search","input":{}}],
          "stop_reason":"tool_use","stop_sequence":null,
          "usage":{"input_tokens":276,"output_tokens":40,"cache_creation_input_tokens":200,"cache_read_input_tokens":1024}}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.content.len(), 2);
        assert_eq!(r.usage.input_tokens, 1500);
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
        let v: serde_json::Value = serde_json::from_slice(&encode(&r)).unwrap();
        assert_eq!(v["content"][1]["input"]["location"], "Paris");
        assert_eq!(v["usage"]["input_tokens"], 276);
        assert_eq!(v["usage"]["cache_read_input_tokens"], 1024);
        assert_eq!(v["stop_reason"], "tool_use");
    }
}
