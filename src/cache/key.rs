//! The cache key: SHA-256 of the canonical request.
//!
//! The client's JSON is parsed into a tree whose objects keep their members sorted
//! by name (serde_json's `Map` is a `BTreeMap` here; a test holds it to that) and
//! written back compactly, so member order and whitespace do not change the key.
//! Fields that do not change the answer (`stream`, `stream_options`, `user`,
//! `metadata`) are left out; `model` is replaced by the resolved name. The client
//! API, the `anthropic-beta` header (forwarded, so it can change the answer), the
//! `x-switchyard-target` pin and, with `scope: key`, the gateway key's name are
//! hashed in front of it, each ended by a NUL so no two inputs run together.

use crate::formats::ApiFormat;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bumped when what is hashed changes, so old Redis entries stop matching.
const VERSION: &[u8] = b"switchyard-cache-1\0";

/// What the key is made of besides the body.
#[derive(Debug, Clone, Copy)]
pub struct KeyParts<'a> {
    pub api: ApiFormat,
    /// The alias (or `provider/model`) the request resolved to.
    pub model: &'a str,
    /// The gateway key's name under `scope: key`.
    pub tenant: Option<&'a str>,
    pub anthropic_beta: Option<&'a str>,
    pub pin: Option<&'a str>,
}

/// A request the cache can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed {
    pub key: [u8; 32],
    /// OpenAI `stream_options.include_usage`, for replaying a stream.
    pub include_usage: bool,
}

/// Why a request is not cached.
pub type Uncacheable = &'static str;

/// The key of a client request, or why it cannot be cached: asking for several
/// choices (`n` > 1) or log probabilities wants what a stored single answer does
/// not hold.
pub fn request_key(parts: &KeyParts<'_>, body: &[u8]) -> Result<Keyed, Uncacheable> {
    let Ok(Value::Object(mut req)) = serde_json::from_slice::<Value>(body) else {
        return Err("not a JSON object");
    };
    if req.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        return Err("n > 1");
    }
    if req.get("logprobs").and_then(Value::as_bool) == Some(true) {
        return Err("logprobs");
    }
    let include_usage = req
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for field in ["stream", "stream_options", "user", "metadata"] {
        req.remove(field);
    }
    req.insert("model".into(), Value::String(parts.model.to_string()));
    let mut h = Hasher(Sha256::new());
    h.0.update(VERSION);
    for part in [
        parts.api.as_str(),
        parts.tenant.unwrap_or(""),
        parts.anthropic_beta.unwrap_or(""),
        parts.pin.unwrap_or(""),
    ] {
        h.0.update(part.as_bytes());
        h.0.update([0]);
    }
    serde_json::to_writer(&mut h, &req).map_err(|_| "not serialisable")?;
    Ok(Keyed {
        key: h.0.finalize().into(),
        include_usage,
    })
}

/// Feeds serde_json's output straight into the digest (no buffer).
struct Hasher(Sha256);

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTS: KeyParts<'static> = KeyParts {
        api: ApiFormat::OpenAi,
        model: "fast",
        tenant: Some("team-a"),
        anthropic_beta: None,
        pin: None,
    };

    fn key(parts: &KeyParts<'_>, body: &str) -> [u8; 32] {
        request_key(parts, body.as_bytes()).unwrap().key
    }

    #[test]
    fn order_whitespace_and_answer_neutral_fields_do_not_change_the_key() {
        let a = key(
            &PARTS,
            r#"{"model":"fast","messages":[{"role":"user","content":"hi"}],"temperature":0.5}"#,
        );
        let b = key(
            &PARTS,
            r#"{ "temperature" : 0.50, "stream": true, "stream_options": {"include_usage": true},
                 "user": "u1", "metadata": {"x": 1},
                 "messages": [ { "content": "hi", "role": "user" } ], "model": "fast" }"#,
        );
        assert_eq!(a, b);
    }

    #[test]
    fn what_changes_the_answer_changes_the_key() {
        let base = r#"{"model":"fast","messages":[{"role":"user","content":"hi"}]}"#;
        let k = key(&PARTS, base);
        for other in [
            r#"{"model":"fast","messages":[{"role":"user","content":"hi!"}]}"#,
            r#"{"model":"fast","messages":[{"role":"user","content":"hi"}],"temperature":1}"#,
            r#"{"model":"fast","messages":[{"role":"user","content":"hi"}],"seed":7}"#,
            r#"{"model":"fast","messages":[{"role":"user","content":"hi"}],"tools":[]}"#,
        ] {
            assert_ne!(key(&PARTS, other), k, "{other}");
        }
        for parts in [
            KeyParts {
                api: ApiFormat::Anthropic,
                ..PARTS
            },
            KeyParts {
                model: "smart",
                ..PARTS
            },
            KeyParts {
                tenant: Some("team-b"),
                ..PARTS
            },
            KeyParts {
                tenant: None,
                ..PARTS
            },
            KeyParts {
                anthropic_beta: Some("x"),
                ..PARTS
            },
            KeyParts {
                pin: Some("openai"),
                ..PARTS
            },
        ] {
            assert_ne!(key(&parts, base), k, "{parts:?}");
        }
        // Parts do not run together: tenant "a" + beta "" is not tenant "" + beta "a".
        let t = KeyParts {
            tenant: Some("a"),
            ..PARTS
        };
        let b = KeyParts {
            tenant: Some(""),
            anthropic_beta: Some("a"),
            ..PARTS
        };
        assert_ne!(key(&t, base), key(&b, base));
    }

    #[test]
    fn the_sent_model_is_replaced_by_the_resolved_one() {
        let a = key(&PARTS, r#"{"model":"x","messages":[]}"#);
        let b = key(&PARTS, r#"{"model":"y","messages":[]}"#);
        assert_eq!(a, b);
    }

    #[test]
    fn several_choices_and_logprobs_are_not_cached() {
        let r = |b: &str| request_key(&PARTS, b.as_bytes());
        assert_eq!(r(r#"{"model":"m","messages":[],"n":2}"#), Err("n > 1"));
        assert_eq!(
            r(r#"{"model":"m","messages":[],"logprobs":true}"#),
            Err("logprobs")
        );
        assert!(r(r#"{"model":"m","messages":[],"n":1,"logprobs":false}"#).is_ok());
        assert!(
            r(r#"{"model":"m","messages":[],"stream_options":{"include_usage":true}}"#)
                .unwrap()
                .include_usage
        );
    }
}
