//! Google Gemini API (`generateContent`, `streamGenerateContent?alt=sse`).
//!
//! - `request`: canonical request -> `GenerateContentRequest` (Gemini is never a
//!   client API here, so only this direction).
//! - `stream`: `GenerateContentResponse` chunks -> canonical events. A complete
//!   response is the same object as one stream chunk, so `response` decodes it with
//!   the stream decoder and assembles the events ([`super::answer::Assembler`]): a
//!   plain and a streamed answer cannot disagree.
//!
//! Gemini specifics this module owns:
//! - The model is in the path (`/v1beta/models/{model}:generateContent`), the key in
//!   `x-goog-api-key`.
//! - Function calls arrive whole (no argument deltas) and without ids: ids are minted
//!   from the response id and the call's position (`call_` + 24 hex digits), so the
//!   same answer gets the same ids plain, streamed or replayed. Tool results go back
//!   as `functionResponse` parts, which need the function's *name*: it is looked up
//!   from the earlier assistant turn that made the call.
//! - A function call carries a `thoughtSignature` (Gemini 3 rejects a replayed call
//!   without one). Canonically it is a signed thinking part with no text in front of
//!   the call, its signature tagged `gemini:` ([`super::model::tagged_signature`]), so
//!   Anthropic clients carry it back in their thinking blocks, OpenAI clients through
//!   the thinking memo (`crate::memo`), and no other provider is sent it.
//! - Tool-call turns end with `STOP`: the reason becomes `tool_calls` when a call was
//!   made. Unknown `finishReason` values are kept (`Other`), the safety family
//!   (`SAFETY`, `RECITATION`, `PROHIBITED_CONTENT`, ...) is a content filter.
//! - A prompt blocked before generation (`promptFeedback.blockReason`, no candidates)
//!   is a content-filter answer, not an error.
//! - `usageMetadata` totals are cumulative in every chunk (the last one wins, which is
//!   what [`super::model::Usage::merge`] does); the prompt count includes cached
//!   tokens; output is candidates plus thoughts.

pub mod request;
pub mod response;
pub mod stream;

use super::model::{ChatRequest, ChatResponse, ErrorKind, FinishReason, Usage};
use super::provider::{Capabilities, Outgoing, ProviderError, ProviderFormat, Settings};
use super::{ApiFormat, EncodeOptions, TranslateError};
use crate::config::Provider;
use pingora_http::RequestHeader;
use serde::Deserialize;
use std::borrow::Cow;
use std::time::Duration;

/// The tag of Gemini signatures in the canonical model.
pub const SIGNATURE_TAG: &str = "gemini";

/// Google Gemini providers (`type: gemini`).
pub struct Gemini;

impl ProviderFormat for Gemini {
    const NAME: &'static str = "gemini";
    const CAPABILITIES: Capabilities = Capabilities {
        text: true,
        system: true,
        tools: true,
        parallel_tools: true,
        tool_choice: true,
        images: true,
        // `fileData` takes uploaded-file URIs only, not web URLs.
        image_urls: false,
        streaming: true,
        reasoning: true,
        stop_sequences: true,
        usage_cache_read: true,
        usage_cache_write: false,
        usage_reasoning: true,
    };
    const PASSTHROUGH: Option<ApiFormat> = None;
    const DEFAULT_BASE_URL: Option<&'static str> =
        Some("https://generativelanguage.googleapis.com");
    const CATALOG_PROVIDER: &'static str = "google";
    const SETTINGS: &'static [&'static str] = &[];
    type Decoder = stream::GeminiDecoder;

    fn base_path(prefix: &str, _: &Settings<'_>) -> String {
        format!("{prefix}/v1beta/models/")
    }

    fn auth_value(api_key: &str, _: &Settings<'_>) -> String {
        api_key.to_string()
    }

    fn request_path<'p>(p: &'p Provider, model: &str, stream: bool) -> Cow<'p, str> {
        let mut path = String::with_capacity(p.path.len() + model.len() + 32);
        path.push_str(&p.path);
        push_model_segment(&mut path, model);
        path.push_str(if stream {
            ":streamGenerateContent?alt=sse"
        } else {
            ":generateContent"
        });
        Cow::Owned(path)
    }

    fn headers(p: &Provider, _: &Outgoing<'_>, h: &mut RequestHeader) -> pingora_error::Result<()> {
        h.insert_header("x-goog-api-key", p.auth_value.clone())
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
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct WithUsage {
            #[serde(default)]
            usage_metadata: Option<GeminiUsage>,
        }
        Ok(super::from_json::<WithUsage>(body)?
            .usage_metadata
            .map(GeminiUsage::into_usage)
            .unwrap_or_default())
    }

    /// Gemini signs function calls whenever it thinks, which its current models do
    /// by default.
    fn signed_tool_turns(_req: &ChatRequest<'_>) -> bool {
        true
    }

    fn parse_error(body: &[u8]) -> ProviderError {
        match serde_json::from_slice::<InErrorBody>(body) {
            Ok(e) => ProviderError {
                message: e.error.message,
                retry_after: e.error.details.iter().find_map(|d| {
                    d.kind
                        .ends_with("google.rpc.RetryInfo")
                        .then(|| d.retry_delay.as_deref().and_then(parse_duration))
                        .flatten()
                }),
                ..Default::default()
            },
            Err(_) => ProviderError::default(),
        }
    }
}

/// The model's path segment: a leading `models/` (as Google's own SDKs write names)
/// is dropped, and anything that is not a plain path character is percent-encoded.
fn push_model_segment(path: &mut String, model: &str) {
    let model = model.strip_prefix("models/").unwrap_or(model);
    for b in model.bytes() {
        let plain = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b':' | b'@' | b'=' | b',' | b'+'
            );
        if plain {
            path.push(b as char);
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
}

/// A protobuf JSON duration: `"37s"`, `"1.5s"`.
fn parse_duration(s: &str) -> Option<Duration> {
    let secs: f64 = s.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// `usageMetadata`.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeminiUsage {
    /// Every prompt token, cached ones included.
    #[serde(default)]
    pub prompt_token_count: u64,
    #[serde(default)]
    pub candidates_token_count: u64,
    #[serde(default)]
    pub cached_content_token_count: u64,
    #[serde(default)]
    pub thoughts_token_count: u64,
    /// Prompt tokens of built-in tool results (search, code execution).
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
}

impl GeminiUsage {
    pub fn into_usage(self) -> Usage {
        Usage {
            input_tokens: self.prompt_token_count + self.tool_use_prompt_token_count,
            output_tokens: self.candidates_token_count + self.thoughts_token_count,
            cache_read_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

/// `finishReason`, read leniently: Gemini adds values over time.
pub fn parse_finish_reason(s: &str, made_tool_calls: bool) -> FinishReason {
    match s {
        "STOP" if made_tool_calls => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// `error.status` (a google.rpc code name) as an error kind.
pub fn error_kind(status: &str) -> ErrorKind {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorKind::InvalidRequest,
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::Permission,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => ErrorKind::Upstream,
    }
}

/// `{"error": {"code", "message", "status", "details"}}`.
#[derive(Deserialize)]
pub(crate) struct InErrorBody {
    pub error: InError,
}

#[derive(Deserialize)]
pub(crate) struct InError {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub details: Vec<InErrorDetail>,
}

#[derive(Deserialize)]
pub(crate) struct InErrorDetail {
    #[serde(rename = "@type", default)]
    pub kind: String,
    #[serde(rename = "retryDelay", default)]
    pub retry_delay: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_becomes_retry_after() {
        let body = br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}"#;
        let e = Gemini::parse_error(body);
        assert_eq!(e.retry_after, Some(Duration::from_secs(37)));
        assert!(e
            .message
            .unwrap()
            .starts_with("Resource has been exhausted"));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(Gemini::parse_error(b"<html>"), ProviderError::default());
        let recorded = include_bytes!("../../../tests/fixtures/gemini/error_429.json");
        assert_eq!(
            Gemini::parse_error(recorded).retry_after,
            Some(Duration::from_secs(37))
        );
    }

    #[test]
    fn finish_reasons_are_lenient() {
        assert_eq!(parse_finish_reason("STOP", true), FinishReason::ToolCalls);
        assert_eq!(parse_finish_reason("STOP", false), FinishReason::Stop);
        assert_eq!(
            parse_finish_reason("PROHIBITED_CONTENT", false),
            FinishReason::ContentFilter
        );
        assert_eq!(
            parse_finish_reason("SOMETHING_NEW", false),
            FinishReason::Other("SOMETHING_NEW".into())
        );
    }

    #[test]
    fn model_segment_is_escaped() {
        let mut p = String::new();
        push_model_segment(&mut p, "models/gemini-2.5-flash");
        assert_eq!(p, "gemini-2.5-flash");
        let mut p = String::new();
        push_model_segment(&mut p, "mock:fixture=gemini/x.sse,split=3");
        assert_eq!(p, "mock:fixture=gemini%2Fx.sse,split=3");
    }

    #[test]
    fn usage_counts_cached_and_thoughts() {
        let u = GeminiUsage {
            prompt_token_count: 1500,
            candidates_token_count: 20,
            cached_content_token_count: 1024,
            thoughts_token_count: 80,
            tool_use_prompt_token_count: 0,
        }
        .into_usage();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cache_read_tokens,
                u.reasoning_tokens
            ),
            (1500, 100, 1024, 80)
        );
    }
}
