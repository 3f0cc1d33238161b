//! OpenAI Chat Completions wire format.
//!
//! - `request`: `POST /v1/chat/completions` bodies <-> canonical [`ChatRequest`].
//! - `response`: `chat.completion` objects <-> canonical [`ChatResponse`].
//! - `stream`: `chat.completion.chunk` SSE decoding and encoding.
//!
//! [`ChatRequest`]: super::model::ChatRequest
//! [`ChatResponse`]: super::model::ChatResponse

pub mod preset;
pub mod request;
pub mod response;
pub mod stream;

use super::model::{ChatRequest, ChatResponse, ErrorKind, FinishReason};
use super::provider::{Capabilities, Outgoing, ProviderError, ProviderFormat, Settings};
use super::{ApiFormat, EncodeOptions, TranslateError};
use crate::config::Provider;
use pingora_http::RequestHeader;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// OpenAI Chat Completions providers (`type: openai`): OpenAI itself and every
/// OpenAI-compatible service or engine.
pub struct OpenAi;

impl ProviderFormat for OpenAi {
    const NAME: &'static str = "openai";
    const CAPABILITIES: Capabilities = Capabilities {
        text: true,
        system: true,
        tools: true,
        parallel_tools: true,
        tool_choice: true,
        images: true,
        image_urls: true,
        streaming: true,
        reasoning: true,
        stop_sequences: true,
        usage_cache_read: true,
        usage_cache_write: false,
        usage_reasoning: true,
    };
    const PASSTHROUGH: Option<ApiFormat> = Some(ApiFormat::OpenAi);
    const DEFAULT_BASE_URL: Option<&'static str> = Some("https://api.openai.com/v1");
    const CATALOG_PROVIDER: &'static str = "openai";
    const SETTINGS: &'static [&'static str] = &["responses"];
    type Decoder = stream::OpenAiDecoder;

    fn base_path(prefix: &str, _: &Settings<'_>) -> String {
        format!("{prefix}/chat/completions")
    }

    fn auth_value(api_key: &str, _: &Settings<'_>) -> String {
        format!("Bearer {api_key}")
    }

    fn headers(p: &Provider, _: &Outgoing<'_>, h: &mut RequestHeader) -> pingora_error::Result<()> {
        // Self-hosted presets (vLLM, Ollama) run without a key.
        if p.api_key.is_empty() {
            return Ok(());
        }
        h.insert_header("authorization", p.auth_value.clone())
    }

    fn encode_request(
        req: &ChatRequest<'_>,
        opts: &EncodeOptions<'_>,
        dropped: &mut Vec<Cow<'_, str>>,
    ) -> Result<Vec<u8>, TranslateError> {
        request::encode(req, opts, dropped)
    }

    fn parse_response(body: &[u8]) -> Result<ChatResponse, TranslateError> {
        response::parse(body)
    }

    fn parse_usage(body: &[u8]) -> Result<super::model::Usage, TranslateError> {
        Ok(super::from_json::<super::WithUsage<OpenAiUsage>>(body)?
            .usage
            .map(OpenAiUsage::into_usage)
            .unwrap_or_default())
    }

    fn parse_error(body: &[u8]) -> ProviderError {
        ProviderError {
            message: error_message(body),
            ..Default::default()
        }
    }
}

/// `finish_reason` as OpenAI spells it.
pub fn finish_reason_str(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop | FinishReason::StopSequence(_) => "stop",
        FinishReason::Length => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
        // Reasons OpenAI clients do not know (Anthropic `pause_turn`) end the turn.
        FinishReason::Other(_) => "stop",
    }
}

pub fn parse_finish_reason(s: &str) -> FinishReason {
    match s {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// OpenAI `usage`, in and out.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct OpenAiUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl OpenAiUsage {
    pub fn into_usage(self) -> super::model::Usage {
        super::model::Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cache_read_tokens: self.prompt_tokens_details.map_or(0, |d| d.cached_tokens),
            cache_write_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .map_or(0, |d| d.reasoning_tokens),
        }
    }

    pub fn from_usage(u: &super::model::Usage) -> Self {
        OpenAiUsage {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.total(),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: u.cache_read_tokens,
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: u.reasoning_tokens,
            }),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// OpenAI's `error.type` and `error.code` for a kind.
pub fn error_type(kind: ErrorKind) -> (&'static str, Option<&'static str>) {
    match kind {
        ErrorKind::InvalidRequest => ("invalid_request_error", None),
        ErrorKind::Authentication => ("authentication_error", Some("invalid_api_key")),
        ErrorKind::Permission => ("permission_error", None),
        ErrorKind::NotFound => ("invalid_request_error", Some("model_not_found")),
        ErrorKind::RouteNotFound => ("invalid_request_error", Some("unknown_url")),
        ErrorKind::ResponseNotFound => ("invalid_request_error", Some("response_not_found")),
        ErrorKind::MethodNotAllowed => ("invalid_request_error", Some("method_not_allowed")),
        ErrorKind::RequestTooLarge => ("invalid_request_error", Some("request_too_large")),
        ErrorKind::ContentFilter => ("invalid_request_error", Some("content_filter")),
        ErrorKind::RateLimited => ("rate_limit_error", Some("rate_limit_exceeded")),
        ErrorKind::OverBudget => ("insufficient_quota", Some("insufficient_quota")),
        ErrorKind::Overloaded => ("server_error", Some("overloaded")),
        ErrorKind::Timeout => ("server_error", Some("timeout")),
        ErrorKind::Upstream => ("server_error", Some("upstream_error")),
        ErrorKind::Internal => ("server_error", None),
    }
}

/// `{"error":{"message","type","param","code"}}`.
pub fn encode_error(kind: ErrorKind, message: &str) -> Vec<u8> {
    let (t, code) = error_type(kind);
    serde_json::to_vec(&ErrorBody {
        error: ErrorDetail {
            message,
            kind: t,
            param: None,
            code,
        },
    })
    .unwrap_or_default()
}

/// An error body of the OpenAI family: OpenAI's `{"error": {"message"}}`, or the
/// top-level `message` of vLLM and Mistral (`{"object": "error", "message": ...}`,
/// where Mistral's is an object of validation details), or FastAPI's `detail`.
#[derive(Deserialize)]
struct InError<'a> {
    #[serde(default)]
    error: Option<InErrorDetail>,
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
    #[serde(default, borrow)]
    detail: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct InErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

/// The message of an OpenAI-family error body (see [`InError`]); a structured one as
/// its JSON text.
pub fn error_message(body: &[u8]) -> Option<String> {
    let e = serde_json::from_slice::<InError>(body).ok()?;
    if let Some(m) = e.error.and_then(|d| d.message) {
        return Some(m);
    }
    let raw = e.message.or(e.detail)?;
    serde_json::from_str::<String>(raw.get())
        .ok()
        .or_else(|| Some(raw.get().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shape() {
        let body = encode_error(ErrorKind::NotFound, "model 'x' not found");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["message"], "model 'x' not found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(error_message(&body).as_deref(), Some("model 'x' not found"));
    }

    #[test]
    fn compatible_servers_error_shapes() {
        // vLLM: a top-level string.
        let vllm = br#"{"object":"error","message":"[{'type': 'extra_forbidden', 'loc': ('body', 'stream_options'), 'msg': 'Extra inputs are not permitted'}]","type":"BadRequestError","param":null,"code":400}"#;
        let m = error_message(vllm).unwrap();
        assert!(m.starts_with("[{'type': 'extra_forbidden'"), "{m}");
        assert!(preset::rejects_stream_options(400, Some(&m)));
        // Mistral: a top-level object of validation details.
        let mistral = br#"{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","stream_options"],"msg":"Extra inputs are not permitted"}]},"type":"invalid_request_error","param":null,"code":null}"#;
        let m = error_message(mistral).unwrap();
        assert!(preset::rejects_stream_options(422, Some(&m)), "{m}");
        // FastAPI's default.
        let fastapi =
            br#"{"detail":[{"loc":["body","stream_options"],"msg":"extra fields not permitted"}]}"#;
        assert!(error_message(fastapi).unwrap().contains("stream_options"));
        assert_eq!(error_message(b"not json"), None);
    }
}
