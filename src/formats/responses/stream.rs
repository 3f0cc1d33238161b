//! Canonical stream events -> the Responses event sequence.
//!
//! `response.created` and `response.in_progress` open the stream; each output item
//! is opened (`response.output_item.added`, for a message also
//! `response.content_part.added`), filled (`response.output_text.delta`,
//! `response.reasoning_summary_text.delta`, `response.function_call_arguments.delta`)
//! and closed (the matching `.done` events, then `response.output_item.done`) before
//! the next one opens; `response.completed` (or `response.incomplete` when the
//! output was cut by `max_output_tokens` or a content filter) ends it with the whole
//! response object. A failure is an `error` event followed by `response.failed`.
//! Every event carries `sequence_number`, counting from 0; `output_index` counts
//! items, as in the final object's `output`, so the SDKs' accumulators rebuild it.

use super::response::{item_id, object, Item, OutError, OutItem, OutPart, Status, SummaryText};
use super::Meta;
use crate::formats::model::{ErrorKind, FinishReason, StreamEvent, Usage};
use crate::formats::sse::{write_event, write_json_event};
use serde::Serialize;
use std::borrow::Cow;

/// Per-stream state for rendering canonical events as Responses events.
#[derive(Debug, Default)]
pub struct ResponsesEncoder {
    meta: Meta,
    model: String,
    /// Every output item so far, and its id.
    items: Vec<(Item<'static>, String)>,
    /// The item being streamed.
    open: Option<usize>,
    /// The open reasoning item has its summary part.
    summary_open: bool,
    /// Canonical tool-call index -> item index.
    tools: Vec<(usize, usize)>,
    usage: Usage,
    finish: Option<FinishReason>,
    seq: u64,
    started: bool,
    ended: bool,
}

/// One event: `{"type": name, ...body, "sequence_number": n}`.
#[derive(Serialize)]
struct Ev<'a, T> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    body: T,
    sequence_number: u64,
}

#[derive(Serialize)]
struct ItemEv<'a> {
    output_index: usize,
    item: OutItem<'a>,
}

#[derive(Serialize)]
struct PartEv<'a, P> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    part: P,
}

#[derive(Serialize)]
struct SummaryPartEv<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    part: SummaryText<'a>,
}

#[derive(Serialize)]
struct TextEv<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct SummaryTextEv<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct ArgsEv<'a> {
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a str>,
}

#[derive(Serialize)]
struct ErrorEv<'a> {
    code: &'a str,
    message: &'a str,
    param: Option<()>,
}

fn emit<T: Serialize>(seq: &mut u64, out: &mut Vec<u8>, name: &str, body: T) {
    write_json_event(
        out,
        Some(name),
        &Ev {
            kind: name,
            body,
            sequence_number: *seq,
        },
    );
    *seq += 1;
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Reasoning,
}

impl ResponsesEncoder {
    pub fn new(meta: Meta) -> Self {
        ResponsesEncoder {
            meta,
            ..Default::default()
        }
    }

    /// Replaces the response's identity (before the first event).
    pub fn set_meta(&mut self, meta: Meta) {
        self.meta = meta;
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// A `response.*` lifecycle event carrying the whole object.
    fn lifecycle(
        &mut self,
        out: &mut Vec<u8>,
        name: &str,
        status: Status,
        error: Option<OutError>,
    ) {
        let ids_items: Vec<OutItem<'_>> = self
            .items
            .iter()
            .map(|(it, id)| it.wire(id, true))
            .collect();
        let usage = (status != Status::InProgress).then_some(&self.usage);
        let obj = object(&self.meta, &self.model, status, &ids_items, usage, error);
        let mut data = String::with_capacity(obj.len() + 64);
        data.push_str("{\"type\":\"");
        data.push_str(name);
        data.push_str("\",\"response\":");
        data.push_str(&String::from_utf8_lossy(&obj));
        data.push_str(",\"sequence_number\":");
        data.push_str(&self.seq.to_string());
        data.push('}');
        self.seq += 1;
        write_event(out, Some(name), &data);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            self.lifecycle(out, "response.created", Status::InProgress, None);
            self.lifecycle(out, "response.in_progress", Status::InProgress, None);
        }
    }

    /// Opens a new item (closing the open one) and announces it.
    fn push(&mut self, item: Item<'static>, out: &mut Vec<u8>) -> usize {
        self.close(out);
        let i = self.items.len();
        let id = item_id(&item, &self.meta, i);
        self.items.push((item, id));
        self.open = Some(i);
        let (item, id) = &self.items[i];
        emit(
            &mut self.seq,
            out,
            "response.output_item.added",
            ItemEv {
                output_index: i,
                item: item.wire(id, false),
            },
        );
        if matches!(item, Item::Message { .. }) {
            emit(
                &mut self.seq,
                out,
                "response.content_part.added",
                PartEv {
                    item_id: id,
                    output_index: i,
                    content_index: 0,
                    part: OutPart::text(""),
                },
            );
        }
        i
    }

    /// The open item of `kind`, opened if need be. Reasoning after a signature is a
    /// new item (a signature ends a thinking block).
    fn open_kind(&mut self, kind: Kind, out: &mut Vec<u8>) -> usize {
        if let Some(i) = self.open {
            match (&self.items[i].0, kind) {
                (Item::Message { .. }, Kind::Message) => return i,
                (
                    Item::Reasoning {
                        signature: None, ..
                    },
                    Kind::Reasoning,
                ) => return i,
                _ => {}
            }
        }
        let item = match kind {
            Kind::Message => Item::Message {
                text: Cow::Owned(String::new()),
                refusal: None,
            },
            Kind::Reasoning => Item::Reasoning {
                text: Cow::Owned(String::new()),
                signature: None,
            },
        };
        self.push(item, out)
    }

    /// Closes the open item with its `.done` events.
    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(i) = self.open.take() else { return };
        let summary_open = std::mem::take(&mut self.summary_open);
        let (item, id) = &self.items[i];
        let seq = &mut self.seq;
        match item {
            Item::Message { text, .. } => {
                emit(
                    seq,
                    out,
                    "response.output_text.done",
                    TextEv {
                        item_id: id,
                        output_index: i,
                        content_index: 0,
                        delta: None,
                        text: Some(text),
                        logprobs: [],
                    },
                );
                emit(
                    seq,
                    out,
                    "response.content_part.done",
                    PartEv {
                        item_id: id,
                        output_index: i,
                        content_index: 0,
                        part: OutPart::text(text),
                    },
                );
            }
            Item::Reasoning { text, .. } => {
                if summary_open {
                    emit(
                        seq,
                        out,
                        "response.reasoning_summary_text.done",
                        SummaryTextEv {
                            item_id: id,
                            output_index: i,
                            summary_index: 0,
                            delta: None,
                            text: Some(text),
                        },
                    );
                    emit(
                        seq,
                        out,
                        "response.reasoning_summary_part.done",
                        SummaryPartEv {
                            item_id: id,
                            output_index: i,
                            summary_index: 0,
                            part: SummaryText::new(text),
                        },
                    );
                }
            }
            Item::Call {
                name, arguments, ..
            } => emit(
                seq,
                out,
                "response.function_call_arguments.done",
                ArgsEv {
                    item_id: id,
                    output_index: i,
                    delta: None,
                    name: Some(name),
                    arguments: Some(arguments),
                },
            ),
        }
        emit(
            seq,
            out,
            "response.output_item.done",
            ItemEv {
                output_index: i,
                item: item.wire(id, true),
            },
        );
    }

    pub fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        match ev {
            StreamEvent::Start { model, .. } => {
                self.model.clone_from(model);
                self.ensure_started(out);
            }
            StreamEvent::TextDelta(t) => {
                self.ensure_started(out);
                if t.is_empty() {
                    return;
                }
                let i = self.open_kind(Kind::Message, out);
                let (item, id) = &mut self.items[i];
                if let Item::Message { text, .. } = item {
                    text.to_mut().push_str(t);
                }
                emit(
                    &mut self.seq,
                    out,
                    "response.output_text.delta",
                    TextEv {
                        item_id: id,
                        output_index: i,
                        content_index: 0,
                        delta: Some(t),
                        text: None,
                        logprobs: [],
                    },
                );
            }
            StreamEvent::ThinkingDelta(t) => {
                self.ensure_started(out);
                let i = self.open_kind(Kind::Reasoning, out);
                if t.is_empty() {
                    return;
                }
                let first = !std::mem::replace(&mut self.summary_open, true);
                let (item, id) = &mut self.items[i];
                if let Item::Reasoning { text, .. } = item {
                    text.to_mut().push_str(t);
                }
                if first {
                    emit(
                        &mut self.seq,
                        out,
                        "response.reasoning_summary_part.added",
                        SummaryPartEv {
                            item_id: id,
                            output_index: i,
                            summary_index: 0,
                            part: SummaryText::new(""),
                        },
                    );
                }
                emit(
                    &mut self.seq,
                    out,
                    "response.reasoning_summary_text.delta",
                    SummaryTextEv {
                        item_id: id,
                        output_index: i,
                        summary_index: 0,
                        delta: Some(t),
                        text: None,
                    },
                );
            }
            StreamEvent::SignatureDelta(s) => {
                self.ensure_started(out);
                let i = match self.open {
                    Some(i) if matches!(self.items[i].0, Item::Reasoning { .. }) => i,
                    _ => self.push(
                        Item::Reasoning {
                            text: Cow::Owned(String::new()),
                            signature: None,
                        },
                        out,
                    ),
                };
                if let Item::Reasoning { signature, .. } = &mut self.items[i].0 {
                    signature
                        .get_or_insert_with(|| Cow::Owned(String::new()))
                        .to_mut()
                        .push_str(s);
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.ensure_started(out);
                let i = self.push(
                    Item::Call {
                        call_id: Cow::Owned(id.clone()),
                        name: Cow::Owned(name.clone()),
                        arguments: Cow::Owned(String::new()),
                    },
                    out,
                );
                self.tools.push((*index, i));
            }
            StreamEvent::ToolCallArgs { index, delta } => {
                let Some(&(_, i)) = self.tools.iter().find(|(t, _)| t == index) else {
                    return;
                };
                let (item, id) = &mut self.items[i];
                if let Item::Call { arguments, .. } = item {
                    arguments.to_mut().push_str(delta);
                }
                emit(
                    &mut self.seq,
                    out,
                    "response.function_call_arguments.delta",
                    ArgsEv {
                        item_id: id,
                        output_index: i,
                        delta: Some(delta),
                        name: None,
                        arguments: None,
                    },
                );
            }
            StreamEvent::Usage(u) => self.usage.merge(u),
            StreamEvent::Finish(r) => self.finish = Some(r.clone()),
            StreamEvent::Error { kind, message } => {
                self.ensure_started(out);
                let code = error_code(*kind);
                emit(
                    &mut self.seq,
                    out,
                    "error",
                    ErrorEv {
                        code,
                        message,
                        param: None,
                    },
                );
                self.lifecycle(
                    out,
                    "response.failed",
                    Status::Failed,
                    Some(OutError { code, message }),
                );
                self.ended = true;
            }
            StreamEvent::Done => {
                self.ensure_started(out);
                self.close(out);
                let status = Status::of(self.finish.as_ref());
                let name = match status {
                    Status::Incomplete(_) => "response.incomplete",
                    _ => "response.completed",
                };
                self.lifecycle(out, name, status, None);
                self.ended = true;
            }
        }
    }
}

/// The `code` of an `error` event: OpenAI's error code, or its type.
fn error_code(kind: ErrorKind) -> &'static str {
    let (t, code) = crate::formats::openai::error_type(kind);
    code.unwrap_or(t)
}

/// Renders a complete answer as the event sequence a live stream of it gives.
pub fn replay(resp: &crate::formats::model::ChatResponse, meta: &Meta) -> Vec<u8> {
    let mut e = ResponsesEncoder::new(meta.clone());
    let mut out = Vec::with_capacity(2048);
    crate::formats::answer::replay_events(resp, |ev| e.encode(&ev, &mut out));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::sse::SseParser;
    use crate::formats::stream::StreamTranslator;
    use crate::formats::ApiFormat;
    use serde_json::Value;

    fn translate(from: ApiFormat, bytes: &[u8]) -> Vec<(String, Value)> {
        let mut t = StreamTranslator::new(from, ApiFormat::Responses, true);
        t.set_responses_meta(Meta {
            id: "resp_x".into(),
            created_at: 1,
            echo: super::super::request::DEFAULT_ECHO.into(),
        });
        let mut out = Vec::new();
        t.feed(bytes, &mut out);
        t.finish(&mut out);
        let mut p = SseParser::new();
        let mut evs = Vec::new();
        p.feed(&out, &mut evs);
        p.finish(&mut evs);
        evs.into_iter()
            .map(|e| {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                assert_eq!(e.event.as_deref(), v["type"].as_str());
                (e.event.unwrap(), v)
            })
            .collect()
    }

    /// What the SDK's stream helper does with the events: the final snapshot.
    fn accumulate(evs: &[(String, Value)]) -> Value {
        let mut snap = Value::Null;
        for (i, (name, v)) in evs.iter().enumerate() {
            assert_eq!(v["sequence_number"], i, "{name}");
            match name.as_str() {
                "response.created" => snap = v["response"].clone(),
                "response.output_item.added" => {
                    let out = snap["output"].as_array_mut().unwrap();
                    assert_eq!(v["output_index"], out.len());
                    out.push(v["item"].clone());
                }
                "response.content_part.added" => {
                    let idx = v["output_index"].as_u64().unwrap() as usize;
                    snap["output"][idx]["content"]
                        .as_array_mut()
                        .unwrap()
                        .push(v["part"].clone());
                }
                "response.output_text.delta" => {
                    let idx = v["output_index"].as_u64().unwrap() as usize;
                    let c = &mut snap["output"][idx]["content"][0]["text"];
                    *c = Value::from(format!(
                        "{}{}",
                        c.as_str().unwrap(),
                        v["delta"].as_str().unwrap()
                    ));
                }
                "response.function_call_arguments.delta" => {
                    let idx = v["output_index"].as_u64().unwrap() as usize;
                    let c = &mut snap["output"][idx]["arguments"];
                    *c = Value::from(format!(
                        "{}{}",
                        c.as_str().unwrap(),
                        v["delta"].as_str().unwrap()
                    ));
                }
                "response.output_item.done" => {
                    let idx = v["output_index"].as_u64().unwrap() as usize;
                    let mut acc = snap["output"][idx].clone();
                    acc["status"] = v["item"]["status"].clone();
                    if v["item"]["type"] == "reasoning" {
                        acc = v["item"].clone();
                    }
                    assert_eq!(acc, v["item"], "accumulated item {idx}");
                    snap["output"][idx] = v["item"].clone();
                }
                "response.completed" | "response.incomplete" => {
                    assert_eq!(snap["output"], v["response"]["output"]);
                    return v["response"].clone();
                }
                _ => {}
            }
        }
        panic!("no final event")
    }

    #[test]
    fn text_stream_event_order_and_usage() {
        let evs = translate(
            ApiFormat::Anthropic,
            include_bytes!("../../../tests/fixtures/anthropic/stream_text.sse"),
        );
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            &names[..4],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added"
            ]
        );
        assert_eq!(
            &names[names.len() - 4..],
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let r = accumulate(&evs);
        assert_eq!(r["id"], "resp_x");
        assert_eq!(r["status"], "completed");
        assert_eq!(r["usage"]["input_tokens"], 1500);
        assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 1024);
        assert_eq!(r["usage"]["total_tokens"], 1527);
        assert_eq!(evs[0].1["response"]["status"], "in_progress");
        assert_eq!(evs[0].1["response"]["usage"], Value::Null);
    }

    #[test]
    fn parallel_tools_thinking_and_truncation_accumulate() {
        for (from, bytes) in [
            (
                ApiFormat::Anthropic,
                &include_bytes!("../../../tests/fixtures/anthropic/stream_tools_parallel.sse")[..],
            ),
            (
                ApiFormat::OpenAi,
                include_bytes!("../../../tests/fixtures/openai/stream_tools_parallel.sse"),
            ),
            (
                ApiFormat::Anthropic,
                include_bytes!("../../../tests/fixtures/anthropic/stream_thinking.sse"),
            ),
            (
                ApiFormat::Anthropic,
                include_bytes!("../../../tests/fixtures/anthropic/stream_max_tokens.sse"),
            ),
        ] {
            let evs = translate(from, bytes);
            let r = accumulate(&evs);
            let calls = r["output"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| i["type"] == "function_call")
                .count();
            let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names
                    .iter()
                    .filter(|n| **n == "response.function_call_arguments.done")
                    .count(),
                calls
            );
            if names.contains(&"response.incomplete") {
                assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
            }
        }
    }

    #[test]
    fn error_midstream_is_an_error_event_then_failed() {
        let evs = translate(
            ApiFormat::Anthropic,
            include_bytes!("../../../tests/fixtures/anthropic/stream_error_midstream.sse"),
        );
        let n = evs.len();
        assert_eq!(evs[n - 2].0, "error");
        assert!(evs[n - 2].1["message"].is_string());
        assert_eq!(evs[n - 1].0, "response.failed");
        assert_eq!(evs[n - 1].1["response"]["status"], "failed");
    }
}
