//! A cached answer as bytes (the Redis tier's value, and the size the in-process
//! tier weighs): the canonical response plus when it was stored and for how long.

use crate::formats::model::{ChatResponse, ContentPart, FinishReason, Usage};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Bumped when the layout changes; other versions read as a miss.
const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    v: u8,
    /// Unix time in ms.
    at: u64,
    ttl_ms: u64,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    model: Cow<'a, str>,
    parts: Vec<Part<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refusal: Option<String>,
    finish: FinishReason,
    /// input, output, cache read, cache write, reasoning.
    usage: [u64; 5],
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Part<'a> {
    Text {
        #[serde(borrow)]
        text: Cow<'a, str>,
    },
    ToolCall {
        #[serde(borrow)]
        id: Cow<'a, str>,
        #[serde(borrow)]
        name: Cow<'a, str>,
        #[serde(borrow)]
        arguments: Cow<'a, str>,
    },
    Thinking {
        #[serde(borrow)]
        text: Cow<'a, str>,
        #[serde(default)]
        signature: Option<String>,
    },
}

/// Serialises a complete answer; `None` when it holds parts the cache does not
/// keep (images, redacted thinking) or has no finish reason.
pub fn encode(answer: &ChatResponse, at_ms: u64, ttl_ms: u64) -> Option<Vec<u8>> {
    let parts = answer
        .content
        .iter()
        .map(|p| match p {
            ContentPart::Text { text, .. } => Some(Part::Text {
                text: Cow::Borrowed(text),
            }),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => Some(Part::ToolCall {
                id: Cow::Borrowed(id),
                name: Cow::Borrowed(name),
                arguments: Cow::Borrowed(arguments),
            }),
            ContentPart::Thinking { text, signature } => Some(Part::Thinking {
                text: Cow::Borrowed(text),
                signature: signature.as_ref().map(|s| s.to_string()),
            }),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    let finish = answer.finish_reason.clone()?;
    let u = &answer.usage;
    let stored = Stored {
        v: VERSION,
        at: at_ms,
        ttl_ms,
        id: Cow::Borrowed(&answer.id),
        model: Cow::Borrowed(&answer.model),
        parts,
        refusal: answer.refusal.clone(),
        finish,
        usage: [
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
            u.reasoning_tokens,
        ],
    };
    serde_json::to_vec(&stored).ok()
}

/// The answer, when it was stored (unix ms) and its TTL (ms); `None` for bytes
/// that are not an entry of this version.
pub fn decode(bytes: &[u8]) -> Option<(ChatResponse, u64, u64)> {
    let s: Stored<'_> = serde_json::from_slice(bytes).ok()?;
    if s.v != VERSION {
        return None;
    }
    let content = s
        .parts
        .into_iter()
        .map(|p| match p {
            Part::Text { text } => ContentPart::Text {
                text: Cow::Owned(text.into_owned()),
                cache_control: None,
            },
            Part::ToolCall {
                id,
                name,
                arguments,
            } => ContentPart::ToolCall {
                id: Cow::Owned(id.into_owned()),
                name: Cow::Owned(name.into_owned()),
                arguments: Cow::Owned(arguments.into_owned()),
            },
            Part::Thinking { text, signature } => ContentPart::Thinking {
                text: Cow::Owned(text.into_owned()),
                signature: signature.map(Cow::Owned),
            },
        })
        .collect();
    let finish_reason = Some(s.finish);
    let [input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens] =
        s.usage;
    let answer = ChatResponse {
        id: s.id.into_owned(),
        model: s.model.into_owned(),
        content,
        refusal: s.refusal,
        finish_reason,
        usage: Usage {
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            reasoning_tokens,
        },
    };
    Some((answer, s.at, s.ttl_ms))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> ChatResponse {
        ChatResponse {
            id: "msg_1".into(),
            model: "claude-x".into(),
            content: vec![
                ContentPart::Thinking {
                    text: "hmm \"quoted\"".into(),
                    signature: Some("sig==".into()),
                },
                ContentPart::Text {
                    text: "Hello\nworld é".into(),
                    cache_control: None,
                },
                ContentPart::ToolCall {
                    id: "toolu_1".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"city":"Paris"}"#.into(),
                },
            ],
            refusal: None,
            finish_reason: Some(FinishReason::StopSequence(Some("END".into()))),
            usage: Usage {
                input_tokens: 10,
                output_tokens: 20,
                cache_read_tokens: 3,
                cache_write_tokens: 4,
                reasoning_tokens: 5,
            },
        }
    }

    #[test]
    fn round_trips() {
        let a = sample();
        let bytes = encode(&a, 1234, 5000).unwrap();
        let (b, at, ttl) = decode(&bytes).unwrap();
        assert_eq!((b, at, ttl), (a, 1234, 5000));
    }

    #[test]
    fn what_the_cache_does_not_keep_is_refused() {
        let mut a = sample();
        a.finish_reason = None;
        assert!(encode(&a, 0, 1).is_none());
        let mut a = sample();
        a.content.push(ContentPart::RedactedThinking {
            data: "opaque".into(),
        });
        assert!(encode(&a, 0, 1).is_none());
        assert!(decode(b"{\"v\":99}").is_none());
        assert!(decode(b"garbage").is_none());
    }
}
