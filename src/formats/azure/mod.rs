//! Azure OpenAI (`type: azure`): OpenAI Chat Completions bodies (a pass-through for
//! OpenAI clients, translated with the `openai` module otherwise) at Azure's paths,
//! with Azure's key header.
//!
//! - `api_version: 2024-10-21` (any dated version):
//!   `{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…`; the
//!   target's `model` is the deployment name.
//! - `api_version: v1`: `{base_url}/openai/v1/chat/completions`, the deployment in the
//!   body's `model`.
//! - `api-key: KEY`, or `Authorization: Bearer KEY` with `auth: bearer` (Entra ID).
//!
//! Azure's stream extras (a first chunk with empty `id`, `model` and `choices` that
//! carries `prompt_filter_results`; chunks with `content_filter_results` and no
//! delta) are read by the OpenAI decoder, which skips what carries nothing.

use super::model::{ChatRequest, ChatResponse, Usage};
use super::openai::OpenAi;
use super::provider::{Capabilities, Outgoing, ProviderError, ProviderFormat, Settings};
use super::{ApiFormat, EncodeOptions, TranslateError};
use crate::config::Provider;
use pingora_http::RequestHeader;
use std::borrow::Cow;

/// Azure OpenAI providers (`type: azure`).
pub struct Azure;

fn v1(s: Option<&str>) -> bool {
    s == Some("v1")
}

impl ProviderFormat for Azure {
    const NAME: &'static str = "azure";
    const CAPABILITIES: Capabilities = OpenAi::CAPABILITIES;
    const PASSTHROUGH: Option<ApiFormat> = Some(ApiFormat::OpenAi);
    /// Every resource has its own host.
    const DEFAULT_BASE_URL: Option<&'static str> = None;
    const CATALOG_PROVIDER: &'static str = "azure";
    const SETTINGS: &'static [&'static str] = &["api_version", "auth"];
    type Decoder = super::openai::stream::OpenAiDecoder;

    fn check(s: &Settings<'_>, at: &str, errors: &mut Vec<String>) {
        match s.api_version {
            None => errors.push(format!(
                "{at}.api_version: missing; Azure needs one (e.g. \"2024-10-21\", or \"v1\" for the v1 API)"
            )),
            Some(v) if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') => {
                errors.push(format!("{at}.api_version: '{v}' is not an API version (e.g. \"2024-10-21\" or \"v1\")"))
            }
            Some(_) => {}
        }
        if let Some(a) = s.auth.filter(|a| !matches!(*a, "api-key" | "bearer")) {
            errors.push(format!("{at}.auth: '{a}' is not api-key or bearer"));
        }
    }

    fn base_path(prefix: &str, s: &Settings<'_>) -> String {
        if v1(s.api_version) {
            format!("{prefix}/openai/v1/chat/completions")
        } else {
            format!("{prefix}/openai/deployments/")
        }
    }

    fn auth_value(api_key: &str, s: &Settings<'_>) -> String {
        match s.auth {
            Some("bearer") => format!("Bearer {api_key}"),
            _ => api_key.to_string(),
        }
    }

    fn request_path<'p>(p: &'p Provider, model: &str, _stream: bool) -> Cow<'p, str> {
        let version = p.api_version.as_deref();
        if v1(version) {
            return Cow::Borrowed(&p.path);
        }
        let version = version.unwrap_or_default();
        let mut path = String::with_capacity(p.path.len() + model.len() + version.len() + 32);
        path.push_str(&p.path);
        for b in model.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                path.push(b as char);
            } else {
                path.push_str(&format!("%{b:02X}"));
            }
        }
        path.push_str("/chat/completions?api-version=");
        path.push_str(version);
        Cow::Owned(path)
    }

    fn headers(p: &Provider, _: &Outgoing<'_>, h: &mut RequestHeader) -> pingora_error::Result<()> {
        let name = if p.auth.as_deref() == Some("bearer") {
            "authorization"
        } else {
            "api-key"
        };
        h.insert_header(name, p.auth_value.clone())
    }

    fn encode_request(
        req: &ChatRequest<'_>,
        opts: &EncodeOptions<'_>,
        dropped: &mut Vec<Cow<'_, str>>,
    ) -> Result<Vec<u8>, TranslateError> {
        OpenAi::encode_request(req, opts, dropped)
    }

    fn parse_response(body: &[u8]) -> Result<ChatResponse, TranslateError> {
        OpenAi::parse_response(body)
    }

    fn parse_usage(body: &[u8]) -> Result<Usage, TranslateError> {
        OpenAi::parse_usage(body)
    }

    /// Azure's content filter refuses a prompt with a 400 whose `error.code` is
    /// `content_filter` (`innererror.code`: `ResponsibleAIPolicyViolation`, with the
    /// categories in `innererror.content_filter_result`).
    fn parse_error(body: &[u8]) -> ProviderError {
        #[derive(serde::Deserialize)]
        struct Body<'a> {
            #[serde(borrow)]
            error: Detail<'a>,
        }
        #[derive(serde::Deserialize)]
        struct Detail<'a> {
            #[serde(default, borrow)]
            code: Option<Cow<'a, str>>,
            #[serde(default, borrow)]
            innererror: Option<Inner<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Inner<'a> {
            #[serde(default, borrow)]
            code: Option<Cow<'a, str>>,
        }
        let mut e = OpenAi::parse_error(body);
        e.content_filter = serde_json::from_slice::<Body<'_>>(body).is_ok_and(|b| {
            b.error.code.as_deref() == Some("content_filter")
                || b.error.innererror.and_then(|i| i.code).as_deref()
                    == Some("ResponsibleAIPolicyViolation")
        });
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::stream::StreamTranslator;

    #[test]
    fn the_filter_prelude_and_filter_chunks_carry_nothing() {
        let bytes = include_bytes!("../../../tests/fixtures/azure/stream_filter.sse");
        let mut t = StreamTranslator::new(super::super::Format::Azure, ApiFormat::Anthropic, true);
        let mut out = Vec::new();
        t.feed(bytes, &mut out);
        t.finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(t.status().done, "{text}");
        assert!(
            text.contains(r#""id":"chatcmpl-AzF7tQk2WbLx0Pn5Hj2QeKz7RuF9s""#),
            "the start is the first real chunk: {text}"
        );
        assert_eq!(t.usage().input_tokens, 14);
    }

    #[test]
    fn content_filter_errors_keep_their_message() {
        let body = include_bytes!("../../../tests/fixtures/azure/error_content_filter.json");
        let e = Azure::parse_error(body);
        assert!(e.content_filter);
        assert!(e.message.unwrap().contains("content management policy"));
        let other = br#"{"error":{"code":"DeploymentNotFound","message":"no such deployment"}}"#;
        assert!(!Azure::parse_error(other).content_filter);
        assert!(!Azure::parse_error(b"not json").content_filter);
    }

    #[test]
    fn settings_are_checked() {
        let mut errors = Vec::new();
        Azure::check(&Settings::default(), "providers.az", &mut errors);
        Azure::check(
            &Settings {
                api_version: Some("2024/10"),
                auth: Some("basic"),
                ..Default::default()
            },
            "providers.az",
            &mut errors,
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("providers.az.api_version: missing"));
    }
}
