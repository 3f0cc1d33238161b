//! Anthropic Messages streams: decoding provider events into canonical stream
//! events, and encoding canonical events as the full Anthropic event sequence
//! (`message_start`, `content_block_start/delta/stop`, `message_delta`, `message_stop`).

use super::response::input_object;
use super::{parse_error, parse_stop_reason, stop_reason_str, AnthropicUsage};
use crate::formats::model::{ErrorKind, FinishReason, RawJson, StreamEvent, Usage};
use crate::formats::sse::{write_event, write_json_event, SseEvent};
use serde::{Deserialize, Serialize};

// === decoding (provider -> canonical) ===

/// One stream event, read flat (no tagged-enum buffering per event).
#[derive(Deserialize)]
struct InEvent {
    #[serde(rename = "type")]
    kind: InEventKind,
    #[serde(default)]
    message: Option<InMessage>,
    #[serde(default)]
    index: usize,
    #[serde(default)]
    content_block: Option<InBlockStart>,
    #[serde(default)]
    delta: Option<InDelta>,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum InEventKind {
    MessageStart,
    ContentBlockStart,
    ContentBlockDelta,
    ContentBlockStop,
    MessageDelta,
    MessageStop,
    Ping,
    Error,
    /// Event types added later are skipped, as Anthropic's versioning policy asks.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct InMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: Option<AnthropicUsage>,
}

#[derive(Deserialize)]
struct InBlockStart {
    #[serde(rename = "type")]
    kind: InBlockKind,
    #[serde(default)]
    text: String,
    #[serde(default)]
    thinking: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    input: Option<RawJson>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum InBlockKind {
    Text,
    ToolUse,
    Thinking,
    #[serde(other)]
    Other,
}

/// `content_block_delta.delta` and `message_delta.delta` share this shape.
#[derive(Deserialize)]
struct InDelta {
    #[serde(rename = "type", default)]
    kind: Option<InDeltaKind>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    partial_json: String,
    #[serde(default)]
    thinking: String,
    #[serde(default)]
    signature: String,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum InDeltaKind {
    TextDelta,
    InputJsonDelta,
    ThinkingDelta,
    SignatureDelta,
    #[serde(other)]
    Other,
}

/// Per-stream state for decoding an Anthropic provider stream.
#[derive(Debug, Default)]
pub struct AnthropicDecoder {
    /// Content block index -> tool-call ordinal, for routing `input_json_delta`.
    tool_blocks: Vec<(usize, usize)>,
    tools: usize,
    done: bool,
    /// An event was not JSON of the expected shape (the provider broke the
    /// protocol, as opposed to reporting an error).
    pub unreadable: bool,
}

impl AnthropicDecoder {
    pub fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        let parsed: InEvent = match serde_json::from_str(&ev.data) {
            Ok(e) => e,
            Err(e) => {
                self.done = true;
                self.unreadable = true;
                out.push(StreamEvent::Error {
                    kind: ErrorKind::Upstream,
                    message: format!("provider sent an unreadable stream event: {e}"),
                });
                return;
            }
        };
        let index = parsed.index;
        match parsed.kind {
            InEventKind::MessageStart => {
                let message = parsed.message.unwrap_or(InMessage {
                    id: String::new(),
                    model: String::new(),
                    usage: None,
                });
                out.push(StreamEvent::Start {
                    id: message.id,
                    model: message.model,
                });
                if let Some(u) = message.usage {
                    out.push(StreamEvent::Usage(u.into_usage()));
                }
            }
            InEventKind::ContentBlockStart => {
                let Some(block) = parsed.content_block else {
                    return;
                };
                match block.kind {
                    InBlockKind::Text if !block.text.is_empty() => {
                        out.push(StreamEvent::TextDelta(block.text))
                    }
                    InBlockKind::Thinking if !block.thinking.is_empty() => {
                        out.push(StreamEvent::ThinkingDelta(block.thinking))
                    }
                    InBlockKind::ToolUse => {
                        let ordinal = self.tools;
                        self.tools += 1;
                        self.tool_blocks.push((index, ordinal));
                        out.push(StreamEvent::ToolCallStart {
                            index: ordinal,
                            id: block.id,
                            name: block.name,
                        });
                        if let Some(i) = block.input.filter(|i| i.get().trim() != "{}") {
                            out.push(StreamEvent::ToolCallArgs {
                                index: ordinal,
                                delta: i.get().to_string(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            InEventKind::ContentBlockDelta => {
                let Some(delta) = parsed.delta else { return };
                match delta.kind {
                    Some(InDeltaKind::TextDelta) => out.push(StreamEvent::TextDelta(delta.text)),
                    Some(InDeltaKind::ThinkingDelta) => {
                        out.push(StreamEvent::ThinkingDelta(delta.thinking))
                    }
                    Some(InDeltaKind::SignatureDelta) => {
                        out.push(StreamEvent::SignatureDelta(delta.signature))
                    }
                    Some(InDeltaKind::InputJsonDelta) => {
                        if let Some(&(_, ordinal)) =
                            self.tool_blocks.iter().find(|(b, _)| *b == index)
                        {
                            out.push(StreamEvent::ToolCallArgs {
                                index: ordinal,
                                delta: delta.partial_json,
                            });
                        }
                    }
                    Some(InDeltaKind::Other) | None => {}
                }
            }
            InEventKind::MessageDelta => {
                if let Some(u) = parsed.usage {
                    out.push(StreamEvent::Usage(u.into_usage()));
                }
                if let Some(d) = parsed.delta {
                    if let Some(r) = d.stop_reason {
                        out.push(StreamEvent::Finish(parse_stop_reason(&r, d.stop_sequence)));
                    }
                }
            }
            InEventKind::MessageStop => {
                self.done = true;
                out.push(StreamEvent::Done);
            }
            InEventKind::Error => {
                let (kind, message) = parse_error(&ev.data)
                    .unwrap_or((ErrorKind::Upstream, "provider stream error".into()));
                self.done = true;
                out.push(StreamEvent::Error { kind, message });
            }
            InEventKind::ContentBlockStop | InEventKind::Ping | InEventKind::Other => {}
        }
    }

    /// The provider closed the body; without `message_stop` the stream was cut short.
    pub fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.done {
            self.done = true;
            out.push(StreamEvent::Error {
                kind: ErrorKind::Upstream,
                message: "the provider closed the stream before it finished".into(),
            });
        }
    }
}

impl crate::formats::provider::StreamDecoder for AnthropicDecoder {
    fn decode(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) {
        AnthropicDecoder::decode(self, ev, out)
    }
    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        AnthropicDecoder::finish(self, out)
    }
    fn unreadable(&self) -> bool {
        self.unreadable
    }
}

// === encoding (canonical -> client) ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool_use block, by tool-call ordinal.
    Tool(usize),
}

/// Per-stream state for rendering canonical events as Anthropic events. Blocks are
/// opened on demand and closed when the next kind starts; `message_delta` waits for
/// the end so that usage sent after the finish reason (OpenAI's order) is included.
///
/// Anthropic streams one block at a time (start, deltas, stop), while OpenAI may
/// interleave the argument deltas of parallel tool calls (index 0, 1, 0, 1). So a tool
/// call that starts while another is open is held, with its arguments, and sent as a
/// whole block once the open one can be closed (by text, thinking or the end).
#[derive(Debug, Default)]
pub struct AnthropicEncoder {
    id: String,
    model: String,
    started: bool,
    ended: bool,
    /// The open block and its index.
    open: Option<(Block, usize)>,
    next_index: usize,
    /// Tool ordinal -> block index, for argument deltas.
    tool_index: Vec<(usize, usize)>,
    /// Tool calls started while another tool block was open, in order.
    held: Vec<HeldTool>,
    usage: Usage,
    finish: Option<FinishReason>,
}

/// A tool call waiting for the open tool block to close.
#[derive(Debug)]
struct HeldTool {
    ordinal: usize,
    id: String,
    name: String,
    arguments: String,
}

#[derive(Serialize)]
struct MessageStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: StartMessage<'a>,
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<()>,
    stop_sequence: Option<()>,
    usage: AnthropicUsage,
}

#[derive(Serialize)]
struct BlockStart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    content_block: super::response::OutBlock<'a>,
}

#[derive(Serialize)]
struct BlockStop {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
}

#[derive(Serialize)]
struct BlockDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    delta: OutDelta<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(clippy::enum_variant_names)] // the variant names are Anthropic's type tags
enum OutDelta<'a> {
    TextDelta { text: &'a str },
    InputJsonDelta { partial_json: &'a str },
    ThinkingDelta { thinking: &'a str },
    SignatureDelta { signature: &'a str },
}

#[derive(Serialize)]
struct MessageDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    delta: MessageDeltaBody<'a>,
    usage: AnthropicUsage,
}

#[derive(Serialize)]
struct MessageDeltaBody<'a> {
    stop_reason: &'static str,
    stop_sequence: Option<&'a str>,
}

fn emit<T: Serialize>(out: &mut Vec<u8>, name: &str, value: &T) {
    write_json_event(out, Some(name), value);
}

impl AnthropicEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut usage = AnthropicUsage::from_usage(&self.usage);
        usage.output_tokens = usage.output_tokens.max(1);
        emit(
            out,
            "message_start",
            &MessageStart {
                kind: "message_start",
                message: StartMessage {
                    id: &self.id,
                    kind: "message",
                    role: "assistant",
                    model: &self.model,
                    content: [],
                    stop_reason: None,
                    stop_sequence: None,
                    usage,
                },
            },
        );
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open.take() {
            emit(
                out,
                "content_block_stop",
                &BlockStop {
                    kind: "content_block_stop",
                    index,
                },
            );
        }
    }

    /// Makes `block` the open block, starting it if needed; returns its index.
    fn open_block(
        &mut self,
        block: Block,
        start: super::response::OutBlock<'_>,
        out: &mut Vec<u8>,
    ) -> usize {
        if let Some((b, i)) = self.open {
            if b == block {
                return i;
            }
        }
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((block, index));
        emit(
            out,
            "content_block_start",
            &BlockStart {
                kind: "content_block_start",
                index,
                content_block: start,
            },
        );
        index
    }

    /// Closes the open block and sends each held tool call as a whole block (the last
    /// stays open).
    fn release_held(&mut self, out: &mut Vec<u8>) {
        use super::response::OutBlock;
        for t in std::mem::take(&mut self.held) {
            self.close_block(out);
            let start = OutBlock::ToolUse {
                id: &t.id,
                name: &t.name,
                input: input_object("{}"),
            };
            let i = self.open_block(Block::Tool(t.ordinal), start, out);
            self.tool_index.push((t.ordinal, i));
            if !t.arguments.is_empty() {
                Self::delta(
                    out,
                    i,
                    OutDelta::InputJsonDelta {
                        partial_json: &t.arguments,
                    },
                );
            }
        }
    }

    fn delta(out: &mut Vec<u8>, index: usize, delta: OutDelta<'_>) {
        emit(
            out,
            "content_block_delta",
            &BlockDelta {
                kind: "content_block_delta",
                index,
                delta,
            },
        );
    }

    pub fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<u8>) {
        use super::response::OutBlock;
        if self.ended {
            return;
        }
        match ev {
            StreamEvent::Start { id, model } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
            }
            StreamEvent::Usage(u) => self.usage.merge(u),
            _ => {}
        }
        // `message_start` carries the input usage, which Anthropic sources send right
        // after the start; open the message on the first content or end event instead.
        if matches!(
            ev,
            StreamEvent::TextDelta(_)
                | StreamEvent::ThinkingDelta(_)
                | StreamEvent::Finish(_)
                | StreamEvent::Error { .. }
                | StreamEvent::Done
        ) {
            self.release_held(out);
        }
        match ev {
            StreamEvent::Start { .. } | StreamEvent::Usage(_) => {}
            StreamEvent::TextDelta(t) => {
                self.ensure_started(out);
                let i = self.open_block(Block::Text, OutBlock::Text { text: "" }, out);
                Self::delta(out, i, OutDelta::TextDelta { text: t });
            }
            StreamEvent::ThinkingDelta(t) => {
                self.ensure_started(out);
                let start = OutBlock::Thinking {
                    thinking: "",
                    signature: "",
                };
                let i = self.open_block(Block::Thinking, start, out);
                Self::delta(out, i, OutDelta::ThinkingDelta { thinking: t });
            }
            StreamEvent::SignatureDelta(s) => {
                if let Some((Block::Thinking, i)) = self.open {
                    Self::delta(out, i, OutDelta::SignatureDelta { signature: s });
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.ensure_started(out);
                if matches!(self.open, Some((Block::Tool(_), _))) {
                    self.held.push(HeldTool {
                        ordinal: *index,
                        id: id.clone(),
                        name: name.clone(),
                        arguments: String::new(),
                    });
                    return;
                }
                let start = OutBlock::ToolUse {
                    id,
                    name,
                    input: input_object("{}"),
                };
                // Always a new block, even if the same ordinal repeats.
                self.close_block(out);
                let i = self.open_block(Block::Tool(*index), start, out);
                self.tool_index.push((*index, i));
            }
            StreamEvent::ToolCallArgs { index, delta } => {
                self.ensure_started(out);
                if let Some(t) = self.held.iter_mut().rev().find(|t| t.ordinal == *index) {
                    t.arguments.push_str(delta);
                    return;
                }
                // Deltas for a tool whose block is closed (a tool call that went on
                // after text or thinking began) keep their own index; Anthropic clients
                // accumulate by index.
                if let Some(&(_, i)) = self.tool_index.iter().find(|(t, _)| t == index) {
                    Self::delta(
                        out,
                        i,
                        OutDelta::InputJsonDelta {
                            partial_json: delta,
                        },
                    );
                }
            }
            StreamEvent::Finish(reason) => {
                self.ensure_started(out);
                self.close_block(out);
                self.finish = Some(reason.clone());
            }
            StreamEvent::Error { kind, message } => {
                self.ensure_started(out);
                self.close_block(out);
                let body = super::encode_error(*kind, message);
                write_event(out, Some("error"), &String::from_utf8_lossy(&body));
                self.ended = true;
            }
            StreamEvent::Done => {
                self.ensure_started(out);
                self.close_block(out);
                let finish = self.finish.take().unwrap_or(FinishReason::Stop);
                let stop_sequence = match &finish {
                    FinishReason::StopSequence(s) => s.as_deref(),
                    _ => None,
                };
                emit(
                    out,
                    "message_delta",
                    &MessageDelta {
                        kind: "message_delta",
                        delta: MessageDeltaBody {
                            stop_reason: stop_reason_str(&finish),
                            stop_sequence,
                        },
                        usage: AnthropicUsage::from_usage(&self.usage),
                    },
                );
                emit(
                    out,
                    "message_stop",
                    &serde_json::json!({"type": "message_stop"}),
                );
                self.ended = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::sse::SseParser;

    fn events(bytes: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(bytes, &mut out);
        p.finish(&mut out);
        out
    }

    #[test]
    fn encoder_emits_full_sequence_for_parallel_tools() {
        let mut e = AnthropicEncoder::new();
        let mut out = Vec::new();
        for ev in [
            StreamEvent::Start {
                id: "chatcmpl-1".into(),
                model: "gpt".into(),
            },
            StreamEvent::TextDelta("Checking".into()),
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_a".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                delta: "{\"x\":".into(),
            },
            StreamEvent::ToolCallArgs {
                index: 0,
                delta: "1}".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_b".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallArgs {
                index: 1,
                delta: "{}".into(),
            },
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Usage(Usage {
                input_tokens: 10,
                output_tokens: 4,
                ..Default::default()
            }),
            StreamEvent::Done,
        ] {
            e.encode(&ev, &mut out);
        }
        let evs = events(&out);
        let names: Vec<&str> = evs.iter().map(|e| e.event.as_deref().unwrap()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(evs[4].data.contains(r#""index":1"#) && evs[4].data.contains("call_a"));
        assert!(evs[11].data.contains(r#""stop_reason":"tool_use""#));
        assert!(evs[11].data.contains(r#""input_tokens":10"#));
        assert!(evs[11].data.contains(r#""output_tokens":4"#));
    }

    /// Every interleaving of two parallel tool calls' argument deltas (OpenAI allows
    /// 0, 1, 0, 1): each delta lands inside its own block, between its start and stop,
    /// one block open at a time, and each tool's input is whole.
    #[test]
    fn interleaved_tool_deltas_stay_inside_their_block() {
        let a = ["{\"ci", "ty\":\"Pa", "ris\"}"];
        let b = ["{\"ci", "ty\":\"To", "kyo\"}"];
        for mask in (0u32..64).filter(|m| m.count_ones() == 3) {
            let mut evs = vec![
                StreamEvent::Start {
                    id: "chatcmpl-1".into(),
                    model: "gpt".into(),
                },
                StreamEvent::ToolCallStart {
                    index: 0,
                    id: "call_a".into(),
                    name: "weather".into(),
                },
            ];
            let (mut ai, mut bi) = (0, 0);
            for slot in 0..6 {
                if mask & (1 << slot) != 0 {
                    evs.push(StreamEvent::ToolCallArgs {
                        index: 0,
                        delta: a[ai].into(),
                    });
                    ai += 1;
                } else {
                    if bi == 0 {
                        evs.push(StreamEvent::ToolCallStart {
                            index: 1,
                            id: "call_b".into(),
                            name: "weather".into(),
                        });
                    }
                    evs.push(StreamEvent::ToolCallArgs {
                        index: 1,
                        delta: b[bi].into(),
                    });
                    bi += 1;
                }
            }
            evs.extend([
                StreamEvent::Finish(FinishReason::ToolCalls),
                StreamEvent::Done,
            ]);
            let mut e = AnthropicEncoder::new();
            let mut out = Vec::new();
            for ev in &evs {
                e.encode(ev, &mut out);
            }
            let mut open: Option<u64> = None;
            let mut inputs: Vec<(String, String)> = Vec::new();
            for ev in events(&out) {
                let v: serde_json::Value = serde_json::from_str(&ev.data).unwrap();
                let index = v["index"].as_u64();
                match ev.event.as_deref().unwrap() {
                    "content_block_start" => {
                        assert_eq!(open, None, "mask {mask:06b}: two blocks open");
                        open = index;
                        let id = v["content_block"]["id"].as_str().unwrap().to_string();
                        inputs.push((id, String::new()));
                    }
                    "content_block_delta" => {
                        assert_eq!(index, open, "mask {mask:06b}: delta outside its block");
                        let j = v["delta"]["partial_json"].as_str().unwrap();
                        inputs.last_mut().unwrap().1.push_str(j);
                    }
                    "content_block_stop" => {
                        assert_eq!(index, open, "mask {mask:06b}");
                        open = None;
                    }
                    _ => {}
                }
            }
            assert_eq!(open, None);
            assert_eq!(
                inputs,
                [
                    ("call_a".to_string(), a.concat()),
                    ("call_b".to_string(), b.concat())
                ],
                "mask {mask:06b}"
            );
        }
    }

    #[test]
    fn decoder_maps_blocks_usage_and_stop() {
        let src = b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"usage\":{\"input_tokens\":5,\"cache_read_input_tokens\":10,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":7}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let mut d = AnthropicDecoder::default();
        let mut out = Vec::new();
        for ev in events(src) {
            d.decode(&ev, &mut out);
        }
        assert_eq!(
            out[1],
            StreamEvent::Usage(Usage {
                input_tokens: 15,
                output_tokens: 1,
                cache_read_tokens: 10,
                ..Default::default()
            })
        );
        assert_eq!(
            out[2],
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_1".into(),
                name: "f".into()
            }
        );
        assert_eq!(out[5], StreamEvent::Finish(FinishReason::ToolCalls));
        assert_eq!(out[6], StreamEvent::Done);
    }
}
