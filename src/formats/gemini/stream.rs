//! Gemini `GenerateContentResponse` chunks -> canonical stream events. Every SSE
//! `data:` line is a whole response object; the stream ends when the body does (no
//! terminator event), after a chunk with a `finishReason`.

use super::{error_kind, parse_finish_reason, GeminiUsage, SIGNATURE_TAG};
use crate::formats::model::{tagged_signature, ErrorKind, FinishReason, RawJson, StreamEvent};
use crate::formats::provider::StreamDecoder;
use crate::formats::sse::SseEvent;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InResponse {
    #[serde(default)]
    pub candidates: Vec<InCandidate>,
    #[serde(default)]
    pub prompt_feedback: Option<InPromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<GeminiUsage>,
    #[serde(default)]
    pub model_version: String,
    #[serde(default)]
    pub response_id: String,
    /// Set instead of everything else when the provider fails mid-stream.
    #[serde(default)]
    pub error: Option<super::InError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InCandidate {
    #[serde(default)]
    pub content: Option<InContent>,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct InContent {
    #[serde(default)]
    pub parts: Vec<InPart>,
}

/// One part, read flat; parts of kinds a client cannot be shown (inline media,
/// executable code) have none of these fields and are skipped.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InPart {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thought: bool,
    #[serde(default)]
    pub thought_signature: Option<String>,
    #[serde(default)]
    pub function_call: Option<InFunctionCall>,
}

#[derive(Deserialize)]
pub(super) struct InFunctionCall {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub args: Option<RawJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InPromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

/// Per-stream state for decoding a Gemini stream.
#[derive(Debug, Default)]
pub struct GeminiDecoder {
    started: bool,
    /// The response id, the seed of minted tool-call ids.
    response_id: String,
    tools: usize,
    finished: bool,
    done: bool,
    pub unreadable: bool,
}

impl GeminiDecoder {
    /// Decodes one response object (a stream chunk, or a whole plain response).
    pub(super) fn chunk(&mut self, r: InResponse, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            self.response_id.clone_from(&r.response_id);
            out.push(StreamEvent::Start {
                id: r.response_id,
                model: r.model_version,
            });
        }
        if let Some(u) = r.usage_metadata {
            out.push(StreamEvent::Usage(u.into_usage()));
        }
        let Some(candidate) = r.candidates.into_iter().next() else {
            if let Some(reason) = r.prompt_feedback.and_then(|f| f.block_reason) {
                self.finished = true;
                out.push(StreamEvent::TextDelta(format!(
                    "The prompt was blocked by the provider's safety filters ({reason})."
                )));
                out.push(StreamEvent::Finish(FinishReason::ContentFilter));
            }
            return;
        };
        for part in candidate.content.map(|c| c.parts).unwrap_or_default() {
            if let Some(call) = part.function_call {
                let index = self.tools;
                self.tools += 1;
                if let Some(sig) = part.thought_signature.filter(|s| !s.is_empty()) {
                    // A signed, empty thinking part in front of the call (module doc).
                    out.push(StreamEvent::ThinkingDelta(String::new()));
                    out.push(StreamEvent::SignatureDelta(tagged_signature(
                        SIGNATURE_TAG,
                        &sig,
                    )));
                }
                let id = match call.id.filter(|i| !i.is_empty()) {
                    Some(id) => id,
                    None => mint_id(&self.response_id, index),
                };
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id,
                    name: call.name,
                });
                let args = call
                    .args
                    .map_or_else(|| "{}".to_string(), |a| compact(a.get()));
                out.push(StreamEvent::ToolCallArgs { index, delta: args });
                continue;
            }
            // Signatures on text parts are optional to send back; only those of
            // function calls are required, and only they are carried.
            match part.text {
                Some(t) if t.is_empty() => {}
                Some(t) if part.thought => out.push(StreamEvent::ThinkingDelta(t)),
                Some(t) => out.push(StreamEvent::TextDelta(t)),
                None => {}
            }
        }
        if let Some(reason) = candidate.finish_reason {
            self.finished = true;
            out.push(StreamEvent::Finish(parse_finish_reason(
                &reason,
                self.tools > 0,
            )));
        }
    }

    pub(super) fn ended(&self) -> bool {
        self.finished
    }
}

impl StreamDecoder for GeminiDecoder {
    fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        match serde_json::from_str::<InResponse>(&ev.data) {
            Ok(InResponse { error: Some(e), .. }) => {
                self.done = true;
                out.push(StreamEvent::Error {
                    kind: e.status.as_deref().map_or(ErrorKind::Upstream, error_kind),
                    message: e.message.unwrap_or_else(|| "provider stream error".into()),
                });
            }
            Ok(r) => self.chunk(r, out),
            Err(e) => {
                self.done = true;
                self.unreadable = true;
                out.push(StreamEvent::Error {
                    kind: ErrorKind::Upstream,
                    message: format!("provider sent an unreadable stream event: {e}"),
                });
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.done = true;
        if self.finished {
            out.push(StreamEvent::Done);
        } else {
            out.push(StreamEvent::Error {
                kind: ErrorKind::Upstream,
                message: "the provider closed the stream before it finished".into(),
            });
        }
    }

    fn unreadable(&self) -> bool {
        self.unreadable
    }
}

/// JSON text without the whitespace between tokens (complete responses are
/// pretty-printed; clients expect arguments as OpenAI sends them).
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A stable id for the `index`th call of a response: the same for a plain, a
/// streamed and a replayed copy of the answer. FNV-1a, twice with different bases,
/// over the response id and the index; random when the response has no id.
fn mint_id(response_id: &str, index: usize) -> String {
    fn fnv(seed: u64, bytes: &[u8]) -> u64 {
        bytes.iter().fold(seed, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }
    let (a, b) = if response_id.is_empty() {
        (fastrand::u64(..), fastrand::u64(..))
    } else {
        let key = format!("{response_id}#{index}");
        (
            fnv(0xcbf2_9ce4_8422_2325, key.as_bytes()),
            fnv(0x6c62_272e_07bb_0142, key.as_bytes()),
        )
    };
    format!("call_{a:016x}{:08x}", b >> 32)
}

/// Usage of a stream chunk alone (tests).
#[cfg(test)]
fn usage_of(events: &[StreamEvent]) -> crate::formats::model::Usage {
    let mut u = crate::formats::model::Usage::default();
    for e in events {
        if let StreamEvent::Usage(x) = e {
            u.merge(x);
        }
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.into(),
        }
    }

    #[test]
    fn arguments_are_compacted_outside_strings() {
        assert_eq!(
            compact("{\n  \"a b\": \"x \\\" y\",\n  \"c\": [1, 2]\n}"),
            r#"{"a b":"x \" y","c":[1,2]}"#
        );
    }

    #[test]
    fn ids_are_stable_per_response_and_position() {
        assert_eq!(mint_id("r1", 0), mint_id("r1", 0));
        assert_ne!(mint_id("r1", 0), mint_id("r1", 1));
        assert_ne!(mint_id("r1", 0), mint_id("r2", 0));
        assert_eq!(mint_id("r1", 0).len(), 29);
        assert_ne!(mint_id("", 0), mint_id("", 0));
    }

    #[test]
    fn a_call_with_a_signature_and_the_end() {
        let mut d = GeminiDecoder::default();
        let mut out = Vec::new();
        d.decode(&ev(r#"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"location":"Paris"}},"thoughtSignature":"c2ln"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":3},"modelVersion":"gemini-3-pro","responseId":"r1"}"#), &mut out);
        d.finish(&mut out);
        assert_eq!(
            out,
            vec![
                StreamEvent::Start {
                    id: "r1".into(),
                    model: "gemini-3-pro".into()
                },
                StreamEvent::Usage(crate::formats::model::Usage {
                    input_tokens: 10,
                    output_tokens: 8,
                    reasoning_tokens: 3,
                    ..Default::default()
                }),
                StreamEvent::ThinkingDelta(String::new()),
                StreamEvent::SignatureDelta("gemini:c2ln".into()),
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: mint_id("r1", 0),
                    name: "get_weather".into()
                },
                StreamEvent::ToolCallArgs {
                    index: 0,
                    delta: r#"{"location":"Paris"}"#.into()
                },
                StreamEvent::Finish(FinishReason::ToolCalls),
                StreamEvent::Done,
            ]
        );
        assert_eq!(usage_of(&out).output_tokens, 8);
    }

    #[test]
    fn errors_cut_offs_and_garbage() {
        let mut d = GeminiDecoder::default();
        let mut out = Vec::new();
        d.decode(
            &ev(r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}],"responseId":"r"}"#),
            &mut out,
        );
        d.finish(&mut out);
        assert!(matches!(out.last(), Some(StreamEvent::Error { .. })));

        let mut d = GeminiDecoder::default();
        let mut out = Vec::new();
        d.decode(&ev(r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#), &mut out);
        assert_eq!(
            out,
            vec![StreamEvent::Error {
                kind: ErrorKind::Overloaded,
                message: "The model is overloaded.".into()
            }]
        );
        assert!(!d.unreadable);

        let mut d = GeminiDecoder::default();
        d.decode(&ev("<html>"), &mut Vec::new());
        assert!(d.unreadable);
    }
}
