//! Errors the gateway answers with, rendered in the caller's own API shape.

use crate::formats::model::ErrorKind;
use crate::formats::TranslateError;
use crate::routing::RouteError;
use crate::upstream::AttemptError;

/// A response the gateway sends instead of a provider's.
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub status: u16,
    pub kind: ErrorKind,
    pub message: String,
    pub retry_after: Option<String>,
    /// The `allow` header of a 405.
    pub allow: Option<&'static str>,
}

pub const NO_PROVIDER: &str = "no provider is configured: export OPENAI_API_KEY, \
ANTHROPIC_API_KEY and/or GEMINI_API_KEY and restart, or run `switchyard -c FILE` with a providers section \
(see conf/switchyard.yaml)";

impl GatewayError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayError {
            status: kind.status(),
            kind,
            message: message.into(),
            retry_after: None,
            allow: None,
        }
    }

    /// The final answer after the attempt loop gave up on `err` from `provider`.
    pub fn from_attempt(provider: &str, model: &str, err: &AttemptError, attempts: u32) -> Self {
        let prefix = if attempts > 1 {
            format!("all {attempts} attempts failed; last: ")
        } else {
            String::new()
        };
        let mut e = match err {
            AttemptError::Connect(m) => GatewayError::new(
                ErrorKind::Upstream,
                format!("provider '{provider}' is unreachable ({m})"),
            ),
            AttemptError::Timeout(m) => GatewayError::new(
                ErrorKind::Timeout,
                format!("provider '{provider}' timed out ({m})"),
            ),
            AttemptError::Protocol(m) => GatewayError::new(
                ErrorKind::Upstream,
                format!("provider '{provider}' sent an unusable response ({m})"),
            ),
            AttemptError::ContentFilter { message } => GatewayError::new(
                ErrorKind::ContentFilter,
                format!(
                    "provider '{provider}' refused the request: its content filter flagged the prompt{}",
                    message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                ),
            ),
            AttemptError::Status {
                status,
                message,
                retry_after,
            } => {
                let detail = message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                let mut e = match *status {
                    400 | 413 | 422 => GatewayError {
                        status: if *status == 413 { 413 } else { 400 },
                        kind: ErrorKind::from_status(*status),
                        message: format!("provider '{provider}' rejected the request{detail}"),
                        retry_after: None,
                        allow: None,
                    },
                    // The provider's own message may quote part of the key: not echoed.
                    401 | 403 => GatewayError::new(
                        ErrorKind::Upstream,
                        format!(
                            "provider '{provider}' rejected the gateway's credentials ({status}); \
                             check providers.{provider}.api_key"
                        ),
                    ),
                    404 => GatewayError::new(
                        ErrorKind::Upstream,
                        format!(
                            "provider '{provider}' does not serve model '{model}' (404){detail}"
                        ),
                    ),
                    429 => GatewayError::new(
                        ErrorKind::RateLimited,
                        format!("provider '{provider}' is rate limiting requests{detail}"),
                    ),
                    503 | 529 => GatewayError::new(
                        ErrorKind::Overloaded,
                        format!("provider '{provider}' is overloaded ({status}){detail}"),
                    ),
                    s => GatewayError::new(
                        ErrorKind::Upstream,
                        format!("provider '{provider}' returned {s}{detail}"),
                    ),
                };
                // Whole seconds, rounded up, as `retry-after` wants.
                e.retry_after = retry_after
                    .filter(|_| *status == 429)
                    .map(|d| d.as_secs_f64().ceil().max(1.0).to_string());
                e
            }
        };
        e.message.insert_str(0, &prefix);
        e
    }
}

impl From<TranslateError> for GatewayError {
    fn from(e: TranslateError) -> Self {
        GatewayError::new(ErrorKind::InvalidRequest, e.to_string())
    }
}

impl From<RouteError> for GatewayError {
    fn from(e: RouteError) -> Self {
        match e {
            RouteError::NoProviders => GatewayError::new(ErrorKind::Overloaded, NO_PROVIDER),
            RouteError::PinMatchesNothing { pin, model } => GatewayError::new(
                ErrorKind::InvalidRequest,
                format!("x-switchyard-target '{pin}' matches no target of model '{model}'; use a provider name or provider/model from its targets"),
            ),
            RouteError::UnknownModel { model, known } => {
                let hint = if known.is_empty() {
                    "use a configured alias, `provider/model`, or a claude-*/gpt-*/gemini-* name with the embedded default".to_string()
                } else {
                    format!("configured models: {}", known.join(", "))
                };
                GatewayError::new(
                    ErrorKind::NotFound,
                    format!("model '{model}' is not configured; {hint}"),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_by_failure() {
        let e = GatewayError::from_attempt(
            "a",
            "m",
            &AttemptError::Status {
                status: 429,
                message: Some("slow".into()),
                retry_after: Some(std::time::Duration::from_millis(2500)),
            },
            2,
        );
        assert_eq!((e.status, e.retry_after.as_deref()), (429, Some("3")));
        assert!(e.message.contains("rate limiting"));
        assert!(e
            .message
            .starts_with("all 2 attempts failed; last: provider 'a'"));
        let e = GatewayError::from_attempt("a", "m", &AttemptError::Timeout("t".into()), 1);
        assert_eq!(e.status, 504);
        let e = GatewayError::from_attempt(
            "a",
            "m",
            &AttemptError::Status {
                status: 401,
                message: Some("Incorrect API key provided: sk-abc".into()),
                retry_after: None,
            },
            1,
        );
        assert_eq!(e.status, 502);
        assert!(!e.message.contains("sk-abc"));
    }
}
