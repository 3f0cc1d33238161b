//! OpenAI `chat.completion` objects <-> canonical response.

use super::{finish_reason_str, parse_finish_reason, OpenAiUsage};
use crate::formats::model::{ChatResponse, ContentPart};
use crate::formats::{from_json, TranslateError};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct InResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<InChoice>,
    #[serde(default)]
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct InChoice {
    message: InMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct InMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter, newer vLLM, Ollama spell it `reasoning`.
    #[serde(default)]
    reasoning: Option<serde_json::Value>,
    #[serde(default)]
    tool_calls: Option<Vec<InToolCall>>,
}

#[derive(Deserialize)]
struct InToolCall {
    id: String,
    function: InFunctionCall,
}

#[derive(Deserialize)]
struct InFunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Parses a provider's `chat.completion` (first choice).
pub fn parse(body: &[u8]) -> Result<ChatResponse, TranslateError> {
    let r: InResponse = from_json(body)?;
    let choice = r
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| TranslateError::new("choices", "provider returned no choices"))?;
    let mut content = Vec::new();
    let reasoning = choice
        .message
        .reasoning_content
        .or(match choice.message.reasoning {
            Some(serde_json::Value::String(t)) => Some(t),
            _ => None,
        });
    if let Some(t) = reasoning.filter(|t| !t.is_empty()) {
        content.push(ContentPart::Thinking {
            text: t.into(),
            signature: None,
        });
    }
    if let Some(t) = choice.message.content.filter(|t| !t.is_empty()) {
        content.push(ContentPart::Text {
            text: t.into(),
            cache_control: None,
        });
    }
    for c in choice.message.tool_calls.unwrap_or_default() {
        content.push(ContentPart::ToolCall {
            id: c.id.into(),
            name: c.function.name.into(),
            arguments: c.function.arguments.into(),
        });
    }
    Ok(ChatResponse {
        id: r.id,
        model: r.model,
        content,
        refusal: choice.message.refusal,
        finish_reason: choice.finish_reason.as_deref().map(parse_finish_reason),
        usage: r.usage.map(OpenAiUsage::into_usage).unwrap_or_default(),
    })
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [OutChoice<'a>; 1],
    usage: OpenAiUsage,
}

#[derive(Serialize)]
struct OutChoice<'a> {
    index: u32,
    message: OutMessage<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<OutToolCall<'a>>,
}

#[derive(Serialize)]
struct OutToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: OutFunctionCall<'a>,
}

#[derive(Serialize)]
struct OutFunctionCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Renders a canonical response as an OpenAI `chat.completion`.
pub fn encode(resp: &ChatResponse) -> Vec<u8> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for p in &resp.content {
        match p {
            ContentPart::Text { text: t, .. } => text.push_str(t),
            ContentPart::Thinking { text: t, .. } => reasoning.push_str(t),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => tool_calls.push(OutToolCall {
                id,
                kind: "function",
                function: OutFunctionCall { name, arguments },
            }),
            _ => {}
        }
    }
    let out = OutResponse {
        id: &resp.id,
        object: "chat.completion",
        created: unix_now(),
        model: &resp.model,
        choices: [OutChoice {
            index: 0,
            message: OutMessage {
                role: "assistant",
                content: (!text.is_empty() || tool_calls.is_empty() && resp.refusal.is_none())
                    .then_some(text),
                refusal: resp.refusal.as_deref(),
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls,
            },
            logprobs: None,
            finish_reason: resp.finish_reason.as_ref().map(finish_reason_str),
        }],
        usage: OpenAiUsage::from_usage(&resp.usage),
    };
    serde_json::to_vec(&out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::model::FinishReason;

    #[test]
    fn parse_and_encode_tool_calls() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt",
          "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
            {"id":"call_a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]},
            "finish_reason":"tool_calls"}],
          "usage":{"prompt_tokens":100,"completion_tokens":5,"total_tokens":105,"prompt_tokens_details":{"cached_tokens":60}}}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(r.usage.input_tokens, 100);
        assert_eq!(r.usage.cache_read_tokens, 60);
        let v: serde_json::Value = serde_json::from_slice(&encode(&r)).unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"],
            serde_json::Value::Null
        );
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"x\":1}"
        );
        assert_eq!(v["usage"]["total_tokens"], 105);
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 60);
    }
}
