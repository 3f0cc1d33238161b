//! Canonical response -> a Responses `response` object.
//!
//! The output is a list of items: `reasoning` (summary text; a signed thinking
//! block's signature as `encrypted_content`, so it can come back), `message` (one
//! `output_text` part, and a `refusal` part when the model refused), and
//! `function_call` (`call_id` is the provider's tool call id). The same items, as
//! written, are valid input items: a stored conversation is the request's input
//! followed by them.

use super::{Meta, ResponsesUsage};
use crate::formats::model::{ChatResponse, ContentPart, FinishReason, Usage};
use serde::Serialize;
use std::borrow::Cow;

/// One output item, as the encoders build it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item<'a> {
    Message {
        text: Cow<'a, str>,
        refusal: Option<Cow<'a, str>>,
    },
    Reasoning {
        text: Cow<'a, str>,
        signature: Option<Cow<'a, str>>,
    },
    Call {
        call_id: Cow<'a, str>,
        name: Cow<'a, str>,
        arguments: Cow<'a, str>,
    },
}

/// The id of output item `index`: a type prefix, then the response's own suffix.
pub(crate) fn item_id(item: &Item<'_>, meta: &Meta, index: usize) -> String {
    let prefix = match item {
        Item::Message { .. } => "msg",
        Item::Reasoning { .. } => "rs",
        Item::Call { .. } => "fc",
    };
    format!("{prefix}_{}{index:02x}", meta.suffix())
}

/// The items of a complete answer: consecutive text joins one message.
pub(crate) fn items(resp: &ChatResponse) -> Vec<Item<'_>> {
    let mut out: Vec<Item<'_>> = Vec::with_capacity(resp.content.len() + 1);
    for p in &resp.content {
        match p {
            ContentPart::Text { text, .. } => match out.last_mut() {
                Some(Item::Message { text: t, .. }) => t.to_mut().push_str(text),
                _ if text.is_empty() => {}
                _ => out.push(Item::Message {
                    text: Cow::Borrowed(text),
                    refusal: None,
                }),
            },
            ContentPart::Thinking { text, signature } => out.push(Item::Reasoning {
                text: Cow::Borrowed(text),
                signature: signature.as_deref().map(Cow::Borrowed),
            }),
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => out.push(Item::Call {
                call_id: Cow::Borrowed(id),
                name: Cow::Borrowed(name),
                arguments: Cow::Borrowed(arguments),
            }),
            _ => {}
        }
    }
    if let Some(r) = &resp.refusal {
        match out
            .iter_mut()
            .rev()
            .find(|i| matches!(i, Item::Message { .. }))
        {
            Some(Item::Message { refusal, .. }) => *refusal = Some(Cow::Borrowed(r)),
            _ => out.push(Item::Message {
                text: Cow::Borrowed(""),
                refusal: Some(Cow::Borrowed(r)),
            }),
        }
    }
    out
}

// === wire types ===

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutItem<'a> {
    Message {
        id: &'a str,
        status: &'static str,
        role: &'static str,
        content: Vec<OutPart<'a>>,
    },
    Reasoning {
        id: &'a str,
        summary: Vec<SummaryText<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<&'a str>,
    },
    FunctionCall {
        id: &'a str,
        status: &'static str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutPart<'a> {
    OutputText {
        text: &'a str,
        annotations: [(); 0],
        logprobs: [(); 0],
    },
    Refusal {
        refusal: &'a str,
    },
}

impl<'a> OutPart<'a> {
    pub(crate) fn text(text: &'a str) -> Self {
        OutPart::OutputText {
            text,
            annotations: [],
            logprobs: [],
        }
    }
}

#[derive(Serialize)]
pub(crate) struct SummaryText<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub text: &'a str,
}

impl<'a> SummaryText<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        SummaryText {
            kind: "summary_text",
            text,
        }
    }
}

impl Item<'_> {
    /// The wire form; `done` is false for the `in_progress` item of a stream's
    /// `output_item.added` (no content yet).
    pub(crate) fn wire<'s>(&'s self, id: &'s str, done: bool) -> OutItem<'s> {
        let status = if done { "completed" } else { "in_progress" };
        match self {
            Item::Message { text, refusal } => {
                let mut content = Vec::new();
                if done {
                    if !text.is_empty() || refusal.is_none() {
                        content.push(OutPart::text(text));
                    }
                    if let Some(r) = refusal {
                        content.push(OutPart::Refusal { refusal: r });
                    }
                }
                OutItem::Message {
                    id,
                    status,
                    role: "assistant",
                    content,
                }
            }
            Item::Reasoning { text, signature } => OutItem::Reasoning {
                id,
                summary: if done && !text.is_empty() {
                    vec![SummaryText::new(text)]
                } else {
                    Vec::new()
                },
                encrypted_content: signature.as_deref().filter(|_| done),
            },
            Item::Call {
                call_id,
                name,
                arguments,
            } => OutItem::FunctionCall {
                id,
                status,
                call_id,
                name,
                arguments: if done { arguments } else { "" },
            },
        }
    }
}

/// Where a response stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    InProgress,
    Completed,
    Incomplete(&'static str),
    Failed,
}

impl Status {
    pub(crate) fn of(finish: Option<&FinishReason>) -> Self {
        match finish {
            Some(FinishReason::Length) => Status::Incomplete("max_output_tokens"),
            Some(FinishReason::ContentFilter) => Status::Incomplete("content_filter"),
            _ => Status::Completed,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Incomplete(_) => "incomplete",
            Status::Failed => "failed",
        }
    }
}

#[derive(Serialize)]
struct OutObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    error: Option<OutError<'a>>,
    incomplete_details: Option<Incomplete>,
    model: &'a str,
    output: &'a [OutItem<'a>],
    usage: Option<ResponsesUsage>,
}

#[derive(Serialize)]
pub(crate) struct OutError<'a> {
    pub code: &'a str,
    pub message: &'a str,
}

#[derive(Serialize)]
struct Incomplete {
    reason: &'static str,
}

/// A `response` object: `items` with their ids, `usage` unless still in progress,
/// `error` when failed; the echoed request fields from `meta`.
pub(crate) fn object(
    meta: &Meta,
    model: &str,
    status: Status,
    output: &[OutItem<'_>],
    usage: Option<&Usage>,
    error: Option<OutError<'_>>,
) -> Vec<u8> {
    let o = OutObject {
        id: &meta.id,
        object: "response",
        created_at: meta.created_at,
        status: status.as_str(),
        error,
        incomplete_details: match status {
            Status::Incomplete(reason) => Some(Incomplete { reason }),
            _ => None,
        },
        model,
        output,
        usage: usage.map(ResponsesUsage::from_usage),
    };
    let mut out = serde_json::to_vec(&o).unwrap_or_default();
    if out.pop() == Some(b'}') {
        out.extend_from_slice(meta.echo.as_bytes());
        out.push(b'}');
    }
    out
}

/// Renders a complete answer as a `response` object.
pub fn encode(resp: &ChatResponse, meta: &Meta) -> Vec<u8> {
    let status = Status::of(resp.finish_reason.as_ref());
    with_wire_items(resp, meta, |wire| {
        object(meta, &resp.model, status, wire, Some(&resp.usage), None)
    })
}

/// The answer's output items with their ids, in wire form, handed to `f`.
fn with_wire_items<R>(resp: &ChatResponse, meta: &Meta, f: impl FnOnce(&[OutItem<'_>]) -> R) -> R {
    let items = items(resp);
    let ids: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, it)| item_id(it, meta, i))
        .collect();
    let wire: Vec<OutItem<'_>> = items
        .iter()
        .zip(&ids)
        .map(|(it, id)| it.wire(id, true))
        .collect();
    f(&wire)
}

/// The answer's output items as a JSON array: what the next turn's input continues
/// from.
pub fn output_items(resp: &ChatResponse, meta: &Meta) -> String {
    with_wire_items(resp, meta, |wire| {
        serde_json::to_string(wire).unwrap_or_else(|_| "[]".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::openai;

    fn meta() -> Meta {
        Meta {
            id: "resp_abc".into(),
            created_at: 7,
            echo: super::super::request::DEFAULT_ECHO.into(),
        }
    }

    #[test]
    fn tool_calls_and_usage() {
        let r = openai::response::parse(include_bytes!(
            "../../../tests/fixtures/openai/chat_tools_parallel.json"
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&encode(&r, &meta())).unwrap();
        assert_eq!(v["id"], "resp_abc");
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["created_at"], 7);
        assert_eq!(v["tool_choice"], "auto");
        let out = v["output"].as_array().unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["type"], "function_call");
        assert_eq!(out[0]["id"], "fc_abc00");
        let ContentPart::ToolCall { id, .. } = &r.content[1] else {
            panic!("a tool call")
        };
        assert_eq!(out[1]["call_id"], id.as_ref());
        assert_eq!(
            v["usage"]["total_tokens"],
            r.usage.input_tokens + r.usage.output_tokens
        );
        // The output items parse as the next request's input.
        let items = output_items(&r, &meta());
        let body = format!(r#"{{"model":"m","input":{items}}}"#);
        let req = super::super::request::parse(body.as_bytes()).unwrap();
        assert_eq!(req.messages[0].content.len(), 2);
    }

    #[test]
    fn truncated_is_incomplete() {
        let r = openai::response::parse(include_bytes!(
            "../../../tests/fixtures/openai/chat_length.json"
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&encode(&r, &meta())).unwrap();
        assert_eq!(v["status"], "incomplete");
        assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    }
}
