//! OpenAI `chat.completion.chunk` streams: decoding provider chunks into canonical
//! stream events, and encoding canonical events as chunks for OpenAI clients.

use super::response::unix_now;
use super::{finish_reason_str, parse_finish_reason, OpenAiUsage};
use crate::formats::model::{ErrorKind, FinishReason, StreamEvent, Usage};
use crate::formats::sse::{write_event, write_json_event, SseEvent};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

// === decoding (provider -> canonical) ===

/// Every chunk repeats `id` and `model`; they are borrowed (only the first is kept).
#[derive(Deserialize)]
struct InChunk<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    choices: Vec<InChoice>,
    #[serde(default)]
    usage: Option<OpenAiUsage>,
    /// Groq puts the usage here, in the chunk with the finish reason.
    #[serde(default)]
    x_groq: Option<XGroq>,
    #[serde(default)]
    error: Option<InError>,
}

#[derive(Deserialize)]
struct XGroq {
    #[serde(default)]
    usage: Option<OpenAiUsage>,
}

#[derive(Deserialize)]
struct InError {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct InChoice {
    #[serde(default)]
    delta: Option<InDelta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct InDelta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
    /// DeepSeek, vLLM before 0.10, most engines.
    #[serde(default)]
    reasoning_content: Option<String>,
    /// OpenRouter, newer vLLM, Ollama. Only a string is reasoning text.
    #[serde(default)]
    reasoning: Option<MaybeText>,
    #[serde(default)]
    tool_calls: Option<Vec<InToolCallDelta>>,
}

/// A string, or anything else (ignored) where a provider might put an object.
#[derive(Deserialize)]
#[serde(untagged)]
enum MaybeText {
    Text(String),
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct InToolCallDelta {
    /// Ollama before 0.4.7 sends none; some engines send 0 for every call.
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<InFunctionDelta>,
}

#[derive(Deserialize)]
struct InFunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// One streamed tool call: the provider's index and id for it, and the canonical
/// index it was given.
#[derive(Debug)]
struct ToolSlot {
    upstream: Option<usize>,
    id: String,
    index: usize,
}

/// Per-stream state for decoding an OpenAI provider stream.
#[derive(Debug, Default)]
pub struct OpenAiDecoder {
    started: bool,
    finished: bool,
    done: bool,
    /// The model refused: a plain `stop` then means a refusal (Anthropic `refusal`).
    refused: bool,
    /// Tool calls that have had their start event.
    tools: Vec<ToolSlot>,
    /// An event was not JSON of the expected shape (the provider broke the
    /// protocol, as opposed to reporting an error).
    pub unreadable: bool,
}

impl OpenAiDecoder {
    pub fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        if ev.data == "[DONE]" {
            self.done = true;
            out.push(StreamEvent::Done);
            return;
        }
        let chunk: InChunk = match serde_json::from_str(&ev.data) {
            Ok(c) => c,
            Err(e) => {
                out.push(StreamEvent::Error {
                    kind: ErrorKind::Upstream,
                    message: format!("provider sent an unreadable stream chunk: {e}"),
                });
                self.unreadable = true;
                self.done = true;
                return;
            }
        };
        if let Some(err) = chunk.error {
            out.push(StreamEvent::Error {
                kind: ErrorKind::Upstream,
                message: err.message,
            });
            self.done = true;
            return;
        }
        // Azure opens with a chunk that has no id, model or choices, only its prompt
        // filter results: the response starts with the next one.
        if !self.started && chunk.id.is_empty() && chunk.choices.is_empty() && chunk.usage.is_none()
        {
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.id.into_owned(),
                model: chunk.model.into_owned(),
            });
        }
        for choice in chunk.choices {
            let delta = choice.delta.unwrap_or_default();
            let reasoning = delta.reasoning_content.or(match delta.reasoning {
                Some(MaybeText::Text(t)) => Some(t),
                _ => None,
            });
            if let Some(r) = reasoning.filter(|s| !s.is_empty()) {
                out.push(StreamEvent::ThinkingDelta(r));
            }
            if let Some(t) = delta.content.filter(|s| !s.is_empty()) {
                out.push(StreamEvent::TextDelta(t));
            }
            if let Some(t) = delta.refusal.filter(|s| !s.is_empty()) {
                self.refused = true;
                out.push(StreamEvent::TextDelta(t));
            }
            for call in delta.tool_calls.unwrap_or_default() {
                let (name, args) = match call.function {
                    Some(f) => (f.name, f.arguments),
                    None => (None, None),
                };
                let id = call.id.filter(|i| !i.is_empty());
                let index = match self.slot(call.index, id.as_deref()) {
                    Some(i) => i,
                    None => {
                        let index = self.new_index(call.index);
                        self.tools.push(ToolSlot {
                            upstream: call.index,
                            id: id.clone().unwrap_or_default(),
                            index,
                        });
                        out.push(StreamEvent::ToolCallStart {
                            index,
                            id: id.unwrap_or_default(),
                            name: name.unwrap_or_default(),
                        });
                        index
                    }
                };
                if let Some(a) = args.filter(|a| !a.is_empty()) {
                    out.push(StreamEvent::ToolCallArgs { index, delta: a });
                }
            }
            if let Some(r) = choice.finish_reason {
                self.finished = true;
                let reason = match parse_finish_reason(&r) {
                    FinishReason::Stop if self.refused => FinishReason::ContentFilter,
                    other => other,
                };
                out.push(StreamEvent::Finish(reason));
            }
        }
        // xAI sends it in the chunk before the last, Groq under `x_groq`: wherever it
        // is, it is the usage.
        if let Some(u) = chunk.usage.or(chunk.x_groq.and_then(|x| x.usage)) {
            out.push(StreamEvent::Usage(u.into_usage()));
        }
    }

    /// The canonical index of a tool call already started that this delta continues,
    /// if any. With an index: the call the provider gave it, unless the delta brings a
    /// different id (an engine that numbers every call 0). Without one (Ollama): the
    /// call with this id, or, with no id, the last call.
    fn slot(&self, upstream: Option<usize>, id: Option<&str>) -> Option<usize> {
        match upstream {
            Some(i) => self
                .tools
                .iter()
                .rev()
                .find(|t| t.upstream == Some(i))
                .filter(|t| id.is_none_or(|id| t.id.is_empty() || t.id == id))
                .map(|t| t.index),
            None => match id {
                Some(id) => self.tools.iter().find(|t| t.id == id).map(|t| t.index),
                None => self.tools.last().map(|t| t.index),
            },
        }
    }

    /// The canonical index of a new tool call: the provider's when it is free, else
    /// the next one.
    fn new_index(&self, upstream: Option<usize>) -> usize {
        match upstream {
            Some(i) if !self.tools.iter().any(|t| t.index == i) => i,
            _ => self.tools.iter().map(|t| t.index + 1).max().unwrap_or(0),
        }
    }

    /// The provider closed the body. Servers that omit `[DONE]` after a finish reason
    /// still count as complete; anything else was cut short.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
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
}

impl crate::formats::provider::StreamDecoder for OpenAiDecoder {
    fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        OpenAiDecoder::decode(self, ev, out)
    }
    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        OpenAiDecoder::finish(self, out)
    }
    fn unreadable(&self) -> bool {
        self.unreadable
    }
}

// === encoding (canonical -> client) ===

#[derive(Serialize)]
struct OutChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [OutChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<OpenAiUsage>,
}

#[derive(Serialize)]
struct OutChoice<'a> {
    index: u32,
    delta: OutDelta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct OutDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[OutToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct OutToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: OutFunctionDelta<'a>,
}

#[derive(Serialize)]
struct OutFunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// Per-stream state for rendering canonical events as OpenAI chunks: the role goes in
/// the first chunk, tool calls carry id and name on their first delta, then the finish
/// reason, the usage chunk (if the client asked), and `[DONE]`.
#[derive(Debug)]
pub struct OpenAiEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    finish_sent: bool,
    ended: bool,
    usage: Usage,
}

impl OpenAiEncoder {
    pub fn new(include_usage: bool) -> Self {
        OpenAiEncoder {
            id: String::new(),
            model: String::new(),
            created: unix_now(),
            include_usage,
            started: false,
            finish_sent: false,
            ended: false,
            usage: Usage::default(),
        }
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: OutDelta<'_>, finish: Option<&str>) {
        let c = OutChunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: &[OutChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
            usage: None,
        };
        write_json_event(out, None, &c);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            let delta = OutDelta {
                role: Some("assistant"),
                content: Some(""),
                ..Default::default()
            };
            self.chunk(out, delta, None);
        }
    }

    pub fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match ev {
            StreamEvent::Start { id, model } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.ensure_started(out);
            }
            StreamEvent::TextDelta(t) => {
                self.ensure_started(out);
                let delta = OutDelta {
                    content: Some(t),
                    ..Default::default()
                };
                self.chunk(out, delta, None);
            }
            // An empty one only opens a block for a signature, which OpenAI has not.
            StreamEvent::ThinkingDelta(t) if t.is_empty() => {}
            StreamEvent::ThinkingDelta(t) => {
                self.ensure_started(out);
                let delta = OutDelta {
                    reasoning_content: Some(t),
                    ..Default::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::SignatureDelta(_) => {}
            StreamEvent::ToolCallStart { index, id, name } => {
                self.ensure_started(out);
                let delta = OutDelta {
                    tool_calls: Some([OutToolCallDelta {
                        index: *index,
                        id: Some(id),
                        kind: Some("function"),
                        function: OutFunctionDelta {
                            name: Some(name),
                            arguments: "",
                        },
                    }]),
                    ..Default::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::ToolCallArgs { index, delta: args } => {
                self.ensure_started(out);
                let delta = OutDelta {
                    tool_calls: Some([OutToolCallDelta {
                        index: *index,
                        id: None,
                        kind: None,
                        function: OutFunctionDelta {
                            name: None,
                            arguments: args,
                        },
                    }]),
                    ..Default::default()
                };
                self.chunk(out, delta, None);
            }
            StreamEvent::Usage(u) => self.usage.merge(u),
            StreamEvent::Finish(reason) => {
                self.ensure_started(out);
                if !self.finish_sent {
                    self.finish_sent = true;
                    self.chunk(out, OutDelta::default(), Some(finish_reason_str(reason)));
                }
            }
            StreamEvent::Error { kind, message } => {
                // OpenAI reports mid-stream failures as a data line with an `error`
                // object; its SDKs raise on it. Nothing may follow.
                write_event(
                    out,
                    None,
                    &String::from_utf8_lossy(&super::encode_error(*kind, message)),
                );
                self.ended = true;
            }
            StreamEvent::Done => {
                self.ensure_started(out);
                if !self.finish_sent {
                    self.finish_sent = true;
                    self.chunk(out, OutDelta::default(), Some("stop"));
                }
                if self.include_usage {
                    let c = OutChunk {
                        id: &self.id,
                        object: "chat.completion.chunk",
                        created: self.created,
                        model: &self.model,
                        choices: &[],
                        usage: Some(OpenAiUsage::from_usage(&self.usage)),
                    };
                    write_json_event(out, None, &c);
                }
                write_event(out, None, "[DONE]");
                self.ended = true;
            }
        }
    }
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
    fn decodes_tool_calls_and_usage() {
        let mut d = OpenAiDecoder::default();
        let mut out = Vec::new();
        d.decode(&ev(r#"{"id":"c1","model":"g","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#), &mut out);
        d.decode(&ev(r#"{"id":"c1","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#), &mut out);
        d.decode(&ev(r#"{"id":"c1","model":"g","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]}"#), &mut out);
        d.decode(&ev(r#"{"id":"c1","model":"g","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#), &mut out);
        d.decode(&ev(r#"{"id":"c1","model":"g","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#), &mut out);
        d.decode(&ev("[DONE]"), &mut out);
        assert_eq!(
            out,
            vec![
                StreamEvent::Start {
                    id: "c1".into(),
                    model: "g".into()
                },
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "call_1".into(),
                    name: "f".into()
                },
                StreamEvent::ToolCallArgs {
                    index: 0,
                    delta: "{\"a\"".into()
                },
                StreamEvent::Finish(FinishReason::ToolCalls),
                StreamEvent::Usage(Usage {
                    input_tokens: 9,
                    output_tokens: 3,
                    ..Default::default()
                }),
                StreamEvent::Done,
            ]
        );
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let mut d = OpenAiDecoder::default();
        let mut out = Vec::new();
        d.decode(
            &ev(r#"{"id":"c","model":"g","choices":[{"index":0,"delta":{"content":"hi"}}]}"#),
            &mut out,
        );
        d.finish(&mut out);
        assert!(matches!(out.last(), Some(StreamEvent::Error { .. })));
    }

    #[test]
    fn encoder_orders_role_finish_usage_done() {
        let mut e = OpenAiEncoder::new(true);
        let mut out = Vec::new();
        for ev in [
            StreamEvent::Start {
                id: "m1".into(),
                model: "claude".into(),
            },
            StreamEvent::TextDelta("Hi".into()),
            StreamEvent::Usage(Usage {
                input_tokens: 5,
                ..Default::default()
            }),
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::Usage(Usage {
                output_tokens: 2,
                ..Default::default()
            }),
            StreamEvent::Done,
        ] {
            e.encode(&ev, &mut out);
        }
        let text = String::from_utf8(out).unwrap();
        let datas: Vec<&str> = text
            .split("\n\n")
            .filter(|s| !s.is_empty())
            .map(|s| s.strip_prefix("data: ").unwrap())
            .collect();
        assert_eq!(datas.len(), 5);
        assert!(datas[0].contains(r#""role":"assistant""#));
        assert!(datas[1].contains(r#""content":"Hi""#));
        assert!(datas[2].contains(r#""finish_reason":"stop""#));
        assert!(datas[3].contains(r#""total_tokens":7"#));
        assert_eq!(datas[4], "[DONE]");
    }
}
