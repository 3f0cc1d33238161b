//! Anthropic Messages wire format.
//!
//! - `request`: `POST /v1/messages` bodies <-> canonical request.
//! - `response`: `message` objects <-> canonical response.
//! - `stream`: the `message_start` ... `message_stop` event sequence.

pub mod request;
pub mod response;
pub mod stream;

use super::model::{ChatRequest, ChatResponse, ErrorKind, FinishReason, Usage};
use super::provider::{Capabilities, Outgoing, ProviderError, ProviderFormat, Settings};
use super::{ApiFormat, EncodeOptions, TranslateError};
use crate::config::Provider;
use pingora_http::RequestHeader;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Anthropic Messages providers (`type: anthropic`).
pub struct Anthropic;

impl ProviderFormat for Anthropic {
    const NAME: &'static str = "anthropic";
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
        usage_cache_write: true,
        usage_reasoning: false,
    };
    const PASSTHROUGH: Option<ApiFormat> = Some(ApiFormat::Anthropic);
    const DEFAULT_BASE_URL: Option<&'static str> = Some("https://api.anthropic.com");
    const CATALOG_PROVIDER: &'static str = "anthropic";
    const SETTINGS: &'static [&'static str] = &["anthropic_version"];
    type Decoder = stream::AnthropicDecoder;

    fn base_path(prefix: &str, _: &Settings<'_>) -> String {
        format!("{prefix}/v1/messages")
    }

    fn auth_value(api_key: &str, _: &Settings<'_>) -> String {
        api_key.to_string()
    }

    fn headers(
        p: &Provider,
        out: &Outgoing<'_>,
        h: &mut RequestHeader,
    ) -> pingora_error::Result<()> {
        h.insert_header("x-api-key", p.auth_value.clone())?;
        h.insert_header("anthropic-version", p.anthropic_version.as_str())?;
        if let Some(b) = out.anthropic_beta {
            h.insert_header("anthropic-beta", b)?;
        }
        Ok(())
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

    fn parse_usage(body: &[u8]) -> Result<Usage, TranslateError> {
        Ok(super::from_json::<super::WithUsage<AnthropicUsage>>(body)?
            .usage
            .map(AnthropicUsage::into_usage)
            .unwrap_or_default())
    }

    fn parse_error(body: &[u8]) -> ProviderError {
        ProviderError {
            message: error_message(body),
            ..Default::default()
        }
    }

    /// Anthropic wants the thinking of a tool-call turn back only while thinking is on.
    fn signed_tool_turns(req: &ChatRequest<'_>) -> bool {
        matches!(
            req.reasoning,
            Some(super::model::Reasoning::Effort(_) | super::model::Reasoning::BudgetTokens(_))
        )
    }
}

/// `stop_reason` as Anthropic spells it.
pub fn stop_reason_str(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "end_turn",
        FinishReason::StopSequence(_) => "stop_sequence",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
        // Reasons Anthropic clients do not know end the turn.
        FinishReason::Other(_) => "end_turn",
    }
}

pub fn parse_stop_reason(s: &str, stop_sequence: Option<String>) -> FinishReason {
    match s {
        "end_turn" => FinishReason::Stop,
        "stop_sequence" => FinishReason::StopSequence(stop_sequence),
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// Anthropic `usage`. `input_tokens` here excludes cache reads and writes.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AnthropicUsage {
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub cache_creation_input_tokens: u64,
    #[serde(default)]
    pub cache_read_input_tokens: u64,
}

impl AnthropicUsage {
    pub fn into_usage(self) -> Usage {
        Usage {
            input_tokens: self.input_tokens
                + self.cache_read_input_tokens
                + self.cache_creation_input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_input_tokens,
            cache_write_tokens: self.cache_creation_input_tokens,
            reasoning_tokens: 0,
        }
    }

    pub fn from_usage(u: &Usage) -> Self {
        AnthropicUsage {
            input_tokens: u
                .input_tokens
                .saturating_sub(u.cache_read_tokens + u.cache_write_tokens),
            output_tokens: u.output_tokens,
            cache_creation_input_tokens: u.cache_write_tokens,
            cache_read_input_tokens: u.cache_read_tokens,
        }
    }
}

/// Anthropic's `error.type` for a kind.
pub fn error_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::Permission => "permission_error",
        ErrorKind::NotFound | ErrorKind::RouteNotFound | ErrorKind::ResponseNotFound => {
            "not_found_error"
        }
        ErrorKind::MethodNotAllowed | ErrorKind::ContentFilter => "invalid_request_error",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::RateLimited | ErrorKind::OverBudget => "rate_limit_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Upstream | ErrorKind::Internal => "api_error",
    }
}

pub fn error_kind(t: &str) -> ErrorKind {
    match t {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" => ErrorKind::RateLimited,
        "overloaded_error" => ErrorKind::Overloaded,
        "timeout_error" => ErrorKind::Timeout,
        _ => ErrorKind::Upstream,
    }
}

#[derive(Serialize, Deserialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(borrow)]
    error: ErrorDetail<'a>,
}

#[derive(Serialize, Deserialize)]
struct ErrorDetail<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    message: std::borrow::Cow<'a, str>,
}

/// `{"type":"error","error":{"type","message"}}`.
pub fn encode_error(kind: ErrorKind, message: &str) -> Vec<u8> {
    serde_json::to_vec(&ErrorBody {
        kind: "error",
        error: ErrorDetail {
            kind: error_type(kind).into(),
            message: message.into(),
        },
    })
    .unwrap_or_default()
}

/// The `error.message` of an Anthropic error body.
pub fn error_message(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|e| e.error.message.into_owned())
}

/// The error kind and message of an Anthropic error body (stream `error` events too).
pub fn parse_error(data: &str) -> Option<(ErrorKind, String)> {
    serde_json::from_str::<ErrorBody>(data)
        .ok()
        .map(|e| (error_kind(&e.error.kind), e.error.message.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_totals_stay_equal() {
        let a = AnthropicUsage {
            input_tokens: 276,
            output_tokens: 50,
            cache_creation_input_tokens: 200,
            cache_read_input_tokens: 1024,
        };
        let u = a.into_usage();
        assert_eq!(u.input_tokens, 1500);
        let back = AnthropicUsage::from_usage(&u);
        assert_eq!(back.input_tokens, 276);
        assert_eq!(back.cache_read_input_tokens, 1024);
        assert_eq!(back.cache_creation_input_tokens, 200);
    }

    #[test]
    fn error_shape() {
        let body = encode_error(ErrorKind::RateLimited, "slow down");
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#
        );
        assert_eq!(error_message(&body).as_deref(), Some("slow down"));
    }

    #[test]
    fn stop_reasons_both_ways() {
        for (s, r) in [
            ("end_turn", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("refusal", FinishReason::ContentFilter),
        ] {
            assert_eq!(parse_stop_reason(s, None), r);
            assert_eq!(stop_reason_str(&r), s);
        }
        assert_eq!(
            parse_stop_reason("stop_sequence", Some("END".into())),
            FinishReason::StopSequence(Some("END".into()))
        );
    }
}
