//! OpenAI Responses API as a client API (`POST /v1/responses`).
//!
//! - `request`: Responses bodies (`input` items, `instructions`, flat function tools)
//!   -> canonical [`ChatRequest`]; the envelope the proxy reads first ([`Prepared`]),
//!   and the rewrite that puts a stored conversation in front of `input`
//!   (`previous_response_id`).
//! - `response`: canonical [`ChatResponse`] -> a `response` object, and its output
//!   as input items (what a stored conversation is made of).
//! - `stream`: canonical stream events -> the Responses event sequence, each event
//!   with its `sequence_number`.
//! - `passthrough`: the usage and stream status of Responses bodies an OpenAI
//!   provider with `responses: true` gives, forwarded unchanged.
//!
//! A response's own identity (its `resp_…` id, `created_at`, and the request fields a
//! response object echoes) is not in the canonical answer: the proxy makes one
//! [`Meta`] per request and hands it to the encoders.
//!
//! [`ChatRequest`]: super::model::ChatRequest
//! [`ChatResponse`]: super::model::ChatResponse
//! [`Prepared`]: request::Prepared

pub mod passthrough;
pub mod request;
pub mod response;
pub mod stream;

use super::model::Usage;
use serde::Serialize;

/// What a response object says besides the answer: its id, when it was made, and the
/// request fields it echoes.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    /// `resp_` and 48 hex digits, as OpenAI's.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Object members echoing the request (`,"instructions":…,"tools":…`), each
    /// starting with a comma; spliced in before the object's closing brace.
    pub echo: String,
}

impl Default for Meta {
    fn default() -> Self {
        Self::new()
    }
}

impl Meta {
    /// A fresh id, now, and the defaults of every echoed field.
    pub fn new() -> Self {
        Meta {
            id: new_id(),
            created_at: super::openai::response::unix_now(),
            echo: request::DEFAULT_ECHO.to_string(),
        }
    }

    /// The id without its `resp_` prefix, which output item ids are made from.
    pub(crate) fn suffix(&self) -> &str {
        self.id.strip_prefix("resp_").unwrap_or(&self.id)
    }
}

/// `resp_` and 48 random hex digits.
pub fn new_id() -> String {
    format!(
        "resp_{:016x}{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

/// Whether `id` has the shape of an id this gateway gives out (a cheap check before
/// any store lookup; anything else is simply not found).
pub fn plausible_id(id: &str) -> bool {
    id.len() <= 128
        && id.starts_with("resp_")
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Responses `usage`.
#[derive(Debug, Serialize)]
pub struct ResponsesUsage {
    pub input_tokens: u64,
    pub input_tokens_details: InputTokensDetails,
    pub output_tokens: u64,
    pub output_tokens_details: OutputTokensDetails,
    pub total_tokens: u64,
}

#[derive(Debug, Serialize)]
pub struct InputTokensDetails {
    pub cached_tokens: u64,
}

#[derive(Debug, Serialize)]
pub struct OutputTokensDetails {
    pub reasoning_tokens: u64,
}

impl ResponsesUsage {
    /// Canonical `input_tokens` already counts cached tokens, as Responses' does.
    pub fn from_usage(u: &Usage) -> Self {
        ResponsesUsage {
            input_tokens: u.input_tokens,
            input_tokens_details: InputTokensDetails {
                cached_tokens: u.cache_read_tokens,
            },
            output_tokens: u.output_tokens,
            output_tokens_details: OutputTokensDetails {
                reasoning_tokens: u.reasoning_tokens,
            },
            total_tokens: u.total(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fresh_and_recognised() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 48);
        assert!(plausible_id(&a));
        assert!(!plausible_id("msg_1"));
        assert!(!plausible_id("resp_../x"));
        assert_eq!(Meta::new().suffix().len(), 48);
    }
}
