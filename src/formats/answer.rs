//! A streamed answer as one complete response, and a complete response as a stream:
//! what the response cache stores and serves.
//!
//! - [`Assembler`] builds the [`ChatResponse`] a stream of canonical events amounts
//!   to; [`StreamTranslator::collect_answer`] feeds one with every event it renders.
//! - [`replay_stream`] renders a stored response as the SSE bytes a client of a
//!   format expects, through the same encoders a live stream goes through.
//! - [`replayable`] says whether the stream model can carry a response at all.
//!
//! Refusals. An OpenAI stream sends a refusal as `delta.refusal`; the decoder turns
//! it into text deltas and reports `content_filter` instead of `stop`. Text cut off
//! by a content filter reads the same, and so does Anthropic's `refusal` stop
//! reason, so the canonical events cannot tell a refusal message from answer text.
//! The assembler keeps it as text with [`FinishReason::ContentFilter`] and leaves
//! [`ChatResponse::refusal`] empty, the shape `anthropic::response::parse` gives a
//! refusal: re-rendered, OpenAI clients get the text as `content` with
//! `finish_reason: "content_filter"`, Anthropic clients get `stop_reason: "refusal"`.
//! A stored response whose `refusal` is set (a non-streamed OpenAI body) replays the
//! same way, as text then `content_filter`, as `anthropic::response::encode` does.
//!
//! [`StreamTranslator::collect_answer`]: super::stream::StreamTranslator::collect_answer

use super::model::{ChatResponse, ContentPart, FinishReason, StreamEvent, Usage};
use super::stream::Encoder;
use super::ApiFormat;
use std::borrow::Cow;

/// Builds a complete response from canonical stream events, in order.
#[derive(Debug, Default)]
pub struct Assembler {
    id: String,
    model: String,
    content: Vec<ContentPart<'static>>,
    /// Tool-call index -> position in `content`: parallel calls' deltas interleave.
    tools: Vec<(usize, usize)>,
    usage: Usage,
    finish_reason: Option<FinishReason>,
    started: bool,
    failed: bool,
    done: bool,
}

impl Assembler {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, ev: &StreamEvent) {
        // Nothing after the end belongs to the answer (the encoders drop it too).
        if self.done || self.failed {
            return;
        }
        match ev {
            StreamEvent::Start { id, model } => {
                self.started = true;
                self.id.clone_from(id);
                self.model.clone_from(model);
            }
            StreamEvent::TextDelta(t) => match self.content.last_mut() {
                Some(ContentPart::Text { text, .. }) => text.to_mut().push_str(t),
                _ if t.is_empty() => {}
                _ => self.content.push(ContentPart::Text {
                    text: Cow::Owned(t.clone()),
                    cache_control: None,
                }),
            },
            StreamEvent::ThinkingDelta(t) => match self.content.last_mut() {
                // A signature ends an Anthropic thinking block: more thinking is a new
                // block, and merging would break both signatures.
                Some(ContentPart::Thinking {
                    text,
                    signature: None,
                }) => text.to_mut().push_str(t),
                _ if t.is_empty() => {}
                _ => self.content.push(ContentPart::Thinking {
                    text: Cow::Owned(t.clone()),
                    signature: None,
                }),
            },
            StreamEvent::SignatureDelta(s) => match self.content.last_mut() {
                Some(ContentPart::Thinking {
                    signature: Some(sig),
                    ..
                }) => sig.to_mut().push_str(s),
                Some(ContentPart::Thinking { signature, .. }) => {
                    *signature = Some(Cow::Owned(s.clone()))
                }
                _ if s.is_empty() => {}
                // Signed thinking whose text was omitted: the signature still has to
                // go back to Anthropic.
                _ => self.content.push(ContentPart::Thinking {
                    text: Cow::Borrowed(""),
                    signature: Some(Cow::Owned(s.clone())),
                }),
            },
            StreamEvent::ToolCallStart { index, id, name } => {
                self.tools.push((*index, self.content.len()));
                self.content.push(ContentPart::ToolCall {
                    id: Cow::Owned(id.clone()),
                    name: Cow::Owned(name.clone()),
                    arguments: Cow::Borrowed(""),
                });
            }
            StreamEvent::ToolCallArgs { index, delta } => {
                // The latest call with this index, should one repeat.
                let pos = self.tools.iter().rev().find(|(i, _)| i == index);
                match pos.and_then(|&(_, p)| self.content.get_mut(p)) {
                    Some(ContentPart::ToolCall { arguments, .. }) => {
                        arguments.to_mut().push_str(delta)
                    }
                    // Arguments of a call that never started: the answer is not whole.
                    _ => self.failed = true,
                }
            }
            StreamEvent::Usage(u) => self.usage.merge(u),
            StreamEvent::Finish(r) => self.finish_reason = Some(r.clone()),
            StreamEvent::Error { .. } => self.failed = true,
            StreamEvent::Done => self.done = true,
        }
    }

    /// The answer, if the stream started, finished with a reason and ended properly.
    pub fn finish(self) -> Option<ChatResponse> {
        if !self.started || !self.done || self.failed {
            return None;
        }
        Some(ChatResponse {
            id: self.id,
            model: self.model,
            content: self.content,
            refusal: None,
            finish_reason: Some(self.finish_reason?),
            usage: self.usage,
        })
    }
}

/// Whether [`replay_stream`] renders all of `resp`. Redacted thinking, images and
/// tool results have no stream event; a cache should not store such answers.
pub fn replayable(resp: &ChatResponse) -> bool {
    resp.content.iter().all(|p| match p {
        ContentPart::Text { .. } | ContentPart::Thinking { .. } | ContentPart::ToolCall { .. } => {
            true
        }
        ContentPart::Image(_)
        | ContentPart::ToolResult { .. }
        | ContentPart::RedactedThinking { .. } => false,
    })
}

/// Renders a complete response as the SSE stream a client of `to` expects, through
/// the encoder a live stream to that client uses (`include_usage` as there).
pub fn replay_stream(resp: &ChatResponse, to: ApiFormat, include_usage: bool) -> Vec<u8> {
    let strings: usize = resp.content.iter().map(part_len).sum();
    // Each part is one or two events of envelope around its strings.
    let mut out = Vec::with_capacity(1024 + strings + strings / 8 + 320 * resp.content.len());
    let mut encoder = Encoder::new(to, include_usage);
    replay_events(resp, |ev| encoder.encode(&ev, &mut out));
    out
}

fn part_len(p: &ContentPart<'_>) -> usize {
    match p {
        ContentPart::Text { text, .. } => text.len(),
        ContentPart::Thinking { text, signature } => {
            text.len() + signature.as_deref().map_or(0, str::len)
        }
        ContentPart::ToolCall {
            id,
            name,
            arguments,
        } => id.len() + name.len() + arguments.len(),
        _ => 0,
    }
}

/// The canonical events a stream of `resp` consists of, one delta per part.
pub(crate) fn replay_events(resp: &ChatResponse, mut emit: impl FnMut(StreamEvent)) {
    emit(StreamEvent::Start {
        id: resp.id.clone(),
        model: resp.model.clone(),
    });
    // Input usage right after the start, as Anthropic providers send it: it goes into
    // `message_start`, where clients that read only `output_tokens` from
    // `message_delta` take the input counts from.
    emit(StreamEvent::Usage(Usage {
        output_tokens: 0,
        reasoning_tokens: 0,
        ..resp.usage
    }));
    let mut tools = 0;
    for part in &resp.content {
        match part {
            ContentPart::Text { text, .. } if !text.is_empty() => {
                emit(StreamEvent::TextDelta(text.to_string()))
            }
            ContentPart::Thinking { text, signature } => {
                // Even an empty delta opens the block the signature belongs to.
                if !text.is_empty() || signature.is_some() {
                    emit(StreamEvent::ThinkingDelta(text.to_string()));
                }
                if let Some(s) = signature {
                    emit(StreamEvent::SignatureDelta(s.to_string()));
                }
            }
            ContentPart::ToolCall {
                id,
                name,
                arguments,
            } => {
                emit(StreamEvent::ToolCallStart {
                    index: tools,
                    id: id.to_string(),
                    name: name.to_string(),
                });
                if !arguments.is_empty() {
                    emit(StreamEvent::ToolCallArgs {
                        index: tools,
                        delta: arguments.to_string(),
                    });
                }
                tools += 1;
            }
            // Empty text, and what `replayable` rejects.
            _ => {}
        }
    }
    let mut finish = resp.finish_reason.clone();
    if let Some(r) = &resp.refusal {
        emit(StreamEvent::TextDelta(r.clone()));
        finish = Some(FinishReason::ContentFilter);
    }
    emit(StreamEvent::Usage(resp.usage));
    if let Some(f) = finish {
        emit(StreamEvent::Finish(f));
    }
    emit(StreamEvent::Done);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::sse::{SseEvent, SseParser};
    use crate::formats::stream::{StreamObserver, StreamTranslator};
    use crate::formats::{anthropic, openai};

    const A_TEXT: &[u8] = include_bytes!("../../tests/fixtures/anthropic/stream_text.sse");
    const A_TOOLS: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic/stream_tools_parallel.sse");
    const A_THINKING: &[u8] = include_bytes!("../../tests/fixtures/anthropic/stream_thinking.sse");
    const A_MAX_TOKENS: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic/stream_max_tokens.sse");
    const A_ERROR: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic/stream_error_midstream.sse");
    const A_KEY_ECHO: &[u8] =
        include_bytes!("../../tests/fixtures/anthropic/stream_error_key_echo.sse");
    const O_TEXT: &[u8] = include_bytes!("../../tests/fixtures/openai/stream_text.sse");
    const O_TOOLS: &[u8] = include_bytes!("../../tests/fixtures/openai/stream_tools_parallel.sse");
    const O_REFUSAL: &[u8] = include_bytes!("../../tests/fixtures/openai/stream_refusal.sse");
    const O_KEY_ECHO: &[u8] =
        include_bytes!("../../tests/fixtures/openai/stream_error_key_echo.sse");

    const CLAUDE: &str = "claude-sonnet-4-5-20250929";

    fn text(t: &str) -> ContentPart<'static> {
        ContentPart::Text {
            text: Cow::Owned(t.into()),
            cache_control: None,
        }
    }

    fn tool(id: &str, name: &str, arguments: &str) -> ContentPart<'static> {
        ContentPart::ToolCall {
            id: Cow::Owned(id.into()),
            name: Cow::Owned(name.into()),
            arguments: Cow::Owned(arguments.into()),
        }
    }

    fn usage(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_write_tokens: cache_write,
            reasoning_tokens: 0,
        }
    }

    /// Every stream fixture that ends properly, with the answer it amounts to: the
    /// parsed non-streamed fixture where one has the same content, else the facts
    /// from `tests/fixtures/README.md`.
    fn good() -> Vec<(&'static str, ApiFormat, &'static [u8], ChatResponse)> {
        let anthropic_json = |body: &[u8], id: &str| ChatResponse {
            id: id.into(),
            ..anthropic::response::parse(body).unwrap()
        };
        vec![
            (
                "anthropic text",
                ApiFormat::Anthropic,
                A_TEXT,
                anthropic_json(
                    include_bytes!("../../tests/fixtures/anthropic/message_text.json"),
                    "msg_01HnK7yZqfV3rWx8Ls2TcB4d",
                ),
            ),
            (
                "anthropic thinking",
                ApiFormat::Anthropic,
                A_THINKING,
                anthropic_json(
                    include_bytes!("../../tests/fixtures/anthropic/message_thinking.json"),
                    "msg_01Vd3nQx7LzKp2WcR9yTbE5m",
                ),
            ),
            (
                // Same text, reason and usage as OpenAI's non-streamed truncation.
                "anthropic max_tokens",
                ApiFormat::Anthropic,
                A_MAX_TOKENS,
                ChatResponse {
                    id: "msg_01Tn2mLq9RcW5xZp8YkBv4Hd".into(),
                    model: CLAUDE.into(),
                    ..openai::response::parse(include_bytes!(
                        "../../tests/fixtures/openai/chat_length.json"
                    ))
                    .unwrap()
                },
            ),
            (
                "anthropic tools_parallel",
                ApiFormat::Anthropic,
                A_TOOLS,
                ChatResponse {
                    id: "msg_01Rt5bWq8KdN3mYc7XpL2vHs".into(),
                    model: CLAUDE.into(),
                    content: vec![
                        text("I'll check the current weather in both cities for you."),
                        tool(
                            "toolu_01JpX4eRw9sTk2LmQb7vNc3Z",
                            "get_weather",
                            r#"{"location": "Paris"}"#,
                        ),
                        tool(
                            "toolu_01Fy8cHn2WqZr5TbXk0mVd6P",
                            "get_weather",
                            r#"{"location": "Tokyo"}"#,
                        ),
                    ],
                    refusal: None,
                    finish_reason: Some(FinishReason::ToolCalls),
                    usage: usage(712, 118, 0, 0),
                },
            ),
            (
                "openai text",
                ApiFormat::OpenAi,
                O_TEXT,
                ChatResponse {
                    id: "chatcmpl-CAqm8Ty3WbLx0Pn5Hj2QeKz7RuF9s".into(),
                    model: "gpt-4.1-2025-04-14".into(),
                    content: vec![text("The capital of France is Paris.")],
                    refusal: None,
                    finish_reason: Some(FinishReason::Stop),
                    usage: usage(1320, 7, 1024, 0),
                },
            ),
            (
                "openai tools_parallel",
                ApiFormat::OpenAi,
                O_TOOLS,
                ChatResponse {
                    id: "chatcmpl-CAqmV4dKx9NcR1sYb6ZtG3wLp0Ej8".into(),
                    model: "gpt-4.1-2025-04-14".into(),
                    content: vec![
                        tool(
                            "call_Xc4pT9wLmZ2rB7nKv5yQ1hDs",
                            "get_weather",
                            r#"{"location": "Paris"}"#,
                        ),
                        tool(
                            "call_Rk8eN3uYa6Hq0JtF2bWz9mCv",
                            "get_weather",
                            r#"{"location": "Tokyo"}"#,
                        ),
                    ],
                    refusal: None,
                    finish_reason: Some(FinishReason::ToolCalls),
                    usage: usage(86, 47, 0, 0),
                },
            ),
            (
                // See the module doc: a streamed refusal stays text.
                "openai refusal",
                ApiFormat::OpenAi,
                O_REFUSAL,
                ChatResponse {
                    id: "chatcmpl-CAqn2LhWq7Ys5Dk0Tz3VbN8cXr1Fm".into(),
                    model: "gpt-4o-2024-08-06".into(),
                    content: vec![text("I'm sorry, I can't assist with that request.")],
                    refusal: None,
                    finish_reason: Some(FinishReason::ContentFilter),
                    usage: usage(31, 11, 0, 0),
                },
            ),
        ]
    }

    fn fixture(name: &str) -> (ApiFormat, &'static [u8], ChatResponse) {
        let (_, from, bytes, answer) = good().into_iter().find(|f| f.0 == name).unwrap();
        (from, bytes, answer)
    }

    fn assemble(from: ApiFormat, chunks: &[&[u8]]) -> Option<ChatResponse> {
        let mut t = StreamTranslator::new(from, from, true);
        t.collect_answer();
        let mut out = Vec::new();
        for c in chunks {
            t.feed(c, &mut out);
        }
        t.finish(&mut out);
        t.take_answer()
    }

    fn assemble_events(events: &[StreamEvent]) -> Option<ChatResponse> {
        let mut a = Assembler::new();
        for ev in events {
            a.push(ev);
        }
        a.finish()
    }

    fn sse_events(bytes: &[u8]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(bytes, &mut out);
        p.finish(&mut out);
        out
    }

    /// What survives a trip through `to`'s wire format: OpenAI has no thinking
    /// signatures, cache-write counts or named stop sequences; Anthropic no
    /// reasoning-token count.
    fn carried(to: ApiFormat, mut r: ChatResponse) -> ChatResponse {
        match to {
            ApiFormat::OpenAi => {
                for p in &mut r.content {
                    if let ContentPart::Thinking { signature, .. } = p {
                        *signature = None;
                    }
                }
                r.usage.cache_write_tokens = 0;
                if let Some(FinishReason::StopSequence(_)) = r.finish_reason {
                    r.finish_reason = Some(FinishReason::Stop);
                }
            }
            ApiFormat::Anthropic => r.usage.reasoning_tokens = 0,
            // Not a provider format: nothing decodes it back.
            ApiFormat::Responses => {}
        }
        r
    }

    #[test]
    fn fixtures_assemble_into_their_answers() {
        for (name, from, bytes, want) in good() {
            assert_eq!(assemble(from, &[bytes]), Some(want), "{name}");
        }
    }

    #[test]
    fn every_split_gives_the_same_answer() {
        for (name, from, bytes, want) in good() {
            for i in 0..=bytes.len() {
                let (a, b) = bytes.split_at(i);
                assert_eq!(
                    assemble(from, &[a, b]).as_ref(),
                    Some(&want),
                    "{name} split at {i}"
                );
            }
        }
    }

    #[test]
    fn errors_and_truncation_give_none() {
        assert_eq!(assemble(ApiFormat::Anthropic, &[A_ERROR]), None);
        assert_eq!(assemble(ApiFormat::Anthropic, &[A_KEY_ECHO]), None);
        assert_eq!(assemble(ApiFormat::OpenAi, &[O_KEY_ECHO]), None);
        for (name, from, bytes, _) in good() {
            let half = &bytes[..bytes.len() / 2];
            assert_eq!(assemble(from, &[half]), None, "{name} cut in half");
        }
    }

    #[test]
    fn nothing_unless_collecting_from_the_start() {
        let mut out = Vec::new();
        let mut t = StreamTranslator::new(ApiFormat::Anthropic, ApiFormat::OpenAi, true);
        t.feed(A_TEXT, &mut out);
        t.finish(&mut out);
        assert_eq!(t.take_answer(), None);

        // Enabled after the start was rendered: the answer would lack its beginning.
        let (a, b) = A_TEXT.split_at(A_TEXT.len() / 2);
        let mut t = StreamTranslator::new(ApiFormat::Anthropic, ApiFormat::OpenAi, true);
        t.feed(a, &mut out);
        t.collect_answer();
        t.feed(b, &mut out);
        t.finish(&mut out);
        assert_eq!(t.take_answer(), None);
    }

    #[test]
    fn observer_collects_the_answer() {
        let (from, bytes, want) = fixture("anthropic tools_parallel");
        let mut o = StreamObserver::new(from, from);
        o.collect_answer();
        o.observe(bytes);
        o.finish();
        assert!(o.status().done);
        assert_eq!(o.take_answer(), Some(want));
        assert_eq!(o.take_answer(), None, "taken once");
    }

    #[test]
    fn refusal_stays_text_with_content_filter() {
        let (from, bytes, _) = fixture("openai refusal");
        let r = assemble(from, &[bytes]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&openai::response::encode(&r)).unwrap();
        let choice = &v["choices"][0];
        assert_eq!(
            choice["message"]["content"],
            "I'm sorry, I can't assist with that request."
        );
        assert_eq!(choice["finish_reason"], "content_filter");
        let v: serde_json::Value =
            serde_json::from_slice(&anthropic::response::encode(&r)).unwrap();
        assert_eq!(v["stop_reason"], "refusal");

        // A stored non-streamed refusal replays the same way.
        let stored = ChatResponse {
            content: Vec::new(),
            refusal: Some("I'm sorry, I can't assist with that request.".into()),
            finish_reason: Some(FinishReason::Stop),
            ..r.clone()
        };
        let replayed = replay_stream(&stored, ApiFormat::OpenAi, true);
        assert_eq!(assemble(ApiFormat::OpenAi, &[&replayed]), Some(r));
    }

    #[test]
    fn replay_round_trips_through_the_decoders() {
        for (name, _, _, answer) in good() {
            for to in [ApiFormat::OpenAi, ApiFormat::Anthropic] {
                let bytes = replay_stream(&answer, to, true);
                assert_eq!(
                    assemble(to, &[&bytes]),
                    Some(carried(to, answer.clone())),
                    "{name} replayed to {to:?}"
                );
            }
        }
    }

    #[test]
    fn replay_events_assemble_back_exactly() {
        for (name, _, _, answer) in good() {
            let mut events = Vec::new();
            replay_events(&answer, |ev| events.push(ev));
            assert_eq!(assemble_events(&events), Some(answer), "{name}");
        }
    }

    #[test]
    fn interleaved_tool_calls_assemble_by_index() {
        let start = |index: usize, id: &str| StreamEvent::ToolCallStart {
            index,
            id: id.into(),
            name: "get_weather".into(),
        };
        let args = |index: usize, delta: &str| StreamEvent::ToolCallArgs {
            index,
            delta: delta.into(),
        };
        let mut events = vec![
            StreamEvent::Start {
                id: "c1".into(),
                model: "m".into(),
            },
            start(0, "call_a"),
            start(1, "call_b"),
            args(0, r#"{"location""#),
            args(1, r#"{"location""#),
            args(0, r#": "Paris"}"#),
            args(1, r#": "Tokyo"}"#),
            StreamEvent::Finish(FinishReason::ToolCalls),
            StreamEvent::Done,
        ];
        let r = assemble_events(&events).unwrap();
        assert_eq!(
            r.content,
            [
                tool("call_a", "get_weather", r#"{"location": "Paris"}"#),
                tool("call_b", "get_weather", r#"{"location": "Tokyo"}"#),
            ]
        );
        // Arguments for a call that never started: not a whole answer.
        events.insert(7, args(2, "{}"));
        assert_eq!(assemble_events(&events), None);
    }

    #[test]
    fn thinking_blocks_split_at_signatures() {
        let r = assemble_events(&[
            StreamEvent::Start {
                id: "m".into(),
                model: "c".into(),
            },
            StreamEvent::ThinkingDelta("a".into()),
            StreamEvent::ThinkingDelta("b".into()),
            StreamEvent::SignatureDelta("s1".into()),
            StreamEvent::ThinkingDelta("c".into()),
            StreamEvent::SignatureDelta("s2".into()),
            StreamEvent::TextDelta("x".into()),
            StreamEvent::SignatureDelta("s3".into()),
            // The Anthropic encoder's `message_start` says at least one output token.
            StreamEvent::Usage(usage(10, 5, 0, 0)),
            StreamEvent::Finish(FinishReason::Stop),
            StreamEvent::Done,
        ])
        .unwrap();
        let thinking = |t: &str, s: &str| ContentPart::Thinking {
            text: Cow::Owned(t.into()),
            signature: Some(Cow::Owned(s.into())),
        };
        assert_eq!(
            r.content,
            [
                thinking("ab", "s1"),
                thinking("c", "s2"),
                text("x"),
                thinking("", "s3")
            ]
        );
        // Only Anthropic has thinking blocks; OpenAI reasoning is one text.
        let bytes = replay_stream(&r, ApiFormat::Anthropic, true);
        assert_eq!(assemble(ApiFormat::Anthropic, &[&bytes]), Some(r));
    }

    #[test]
    fn openai_replay_usage_chunk_only_when_asked() {
        let (_, _, answer) = fixture("openai text");
        for include_usage in [false, true] {
            let bytes = replay_stream(&answer, ApiFormat::OpenAi, include_usage);
            assert!(bytes.ends_with(b"data: [DONE]\n\n"));
            let events = sse_events(&bytes);
            let with_usage: Vec<usize> = (0..events.len())
                .filter(|&i| events[i].data.contains(r#""usage":"#))
                .collect();
            if include_usage {
                assert_eq!(with_usage, [events.len() - 2]);
                let v: serde_json::Value =
                    serde_json::from_str(&events[events.len() - 2].data).unwrap();
                assert_eq!(v["usage"]["prompt_tokens"], 1320);
                assert_eq!(v["usage"]["completion_tokens"], 7);
            } else {
                assert!(with_usage.is_empty());
            }
        }
    }

    #[test]
    fn anthropic_replay_is_the_full_event_sequence() {
        let (_, _, answer) = fixture("anthropic tools_parallel");
        let events = sse_events(&replay_stream(&answer, ApiFormat::Anthropic, true));
        let names: Vec<&str> = events.iter().filter_map(|e| e.event.as_deref()).collect();
        let block = [
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
        ];
        let mut want = vec!["message_start"];
        for _ in 0..3 {
            want.extend(block);
        }
        want.extend(["message_delta", "message_stop"]);
        assert_eq!(names, want);
        // The input usage is in `message_start`, where Anthropic puts it.
        let v: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
        assert_eq!(v["message"]["usage"]["input_tokens"], 712);
        assert_eq!(v["message"]["id"], "msg_01Rt5bWq8KdN3mYc7XpL2vHs");
    }

    #[test]
    fn parts_without_stream_events_are_not_replayable() {
        let (_, _, mut answer) = fixture("anthropic thinking");
        assert!(replayable(&answer));
        answer.content.push(ContentPart::RedactedThinking {
            data: Cow::Borrowed("opaque"),
        });
        assert!(!replayable(&answer));
    }
}
