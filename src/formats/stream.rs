//! Per-response stream translation: provider bytes -> SSE events -> canonical
//! events -> client bytes. One `StreamTranslator` lives for one response; all of its
//! state (tool-call maps, usage so far, what has been opened) is inside it.
//!
//! A translator can also assemble the answer it streams (`collect_answer`), for the
//! response cache; see [`super::answer`].

use super::answer::Assembler;
use super::anthropic::stream::AnthropicEncoder;
use super::model::{ChatResponse, StreamEvent, Usage};
use super::openai::stream::OpenAiEncoder;
use super::responses::passthrough::ResponsesWatch;
use super::responses::stream::ResponsesEncoder;
use super::sse::{SseEvent, SseParser};
use super::{AnyDecoder, ApiFormat, Format};

/// The client-side encoder; also used by [`super::answer::replay_stream`], so a
/// replayed answer is rendered by the same code as a live one.
#[derive(Debug)]
pub(super) enum Encoder {
    OpenAi(OpenAiEncoder),
    Anthropic(AnthropicEncoder),
    Responses(Box<ResponsesEncoder>),
}

impl Encoder {
    /// `include_usage`: OpenAI clients get a usage chunk only if they asked.
    pub(super) fn new(to: ApiFormat, include_usage: bool) -> Self {
        match to {
            ApiFormat::OpenAi => Encoder::OpenAi(OpenAiEncoder::new(include_usage)),
            ApiFormat::Anthropic => Encoder::Anthropic(AnthropicEncoder::new()),
            ApiFormat::Responses => Encoder::Responses(Box::default()),
        }
    }

    pub(super) fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<u8>) {
        match self {
            Encoder::OpenAi(e) => e.encode(ev, out),
            Encoder::Anthropic(e) => e.encode(ev, out),
            Encoder::Responses(e) => e.encode(ev, out),
        }
    }

    fn usage(&self) -> Usage {
        match self {
            Encoder::OpenAi(e) => *e.usage(),
            Encoder::Anthropic(e) => *e.usage(),
            Encoder::Responses(e) => *e.usage(),
        }
    }
}

/// What the translator has seen so far, for the attempt loop and accounting.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamStatus {
    /// Any content or end event was produced (the client has something).
    pub produced: bool,
    /// The provider reported an error (`Some` holds it until taken).
    pub error: Option<String>,
    /// The stream ended properly.
    pub done: bool,
    /// The provider sent an event that is not what its format allows (not JSON, not
    /// the expected shape): `error` says which; a pass-through relay must not forward it.
    pub unreadable: bool,
}

#[derive(Debug)]
pub struct StreamTranslator {
    parser: SseParser,
    decoder: AnyDecoder,
    encoder: Encoder,
    events: Vec<SseEvent>,
    canonical: Vec<StreamEvent>,
    status: StreamStatus,
    /// Off (`None`) unless `collect_answer` was called: one test per event.
    answer: Option<Assembler>,
}

impl StreamTranslator {
    /// From a provider's stream in `from` to a client of `to`. `include_usage`: OpenAI
    /// clients get a usage chunk only if they asked.
    pub fn new(from: impl Into<Format>, to: ApiFormat, include_usage: bool) -> Self {
        StreamTranslator {
            parser: SseParser::new(),
            decoder: AnyDecoder::new(from.into()),
            encoder: Encoder::new(to, include_usage),
            events: Vec::new(),
            canonical: Vec::new(),
            status: StreamStatus::default(),
            answer: None,
        }
    }

    /// Also assembles the complete answer from the events this translator renders.
    /// Call it before the first `feed`: events already rendered are not kept, and an
    /// answer without its start is never returned.
    pub fn collect_answer(&mut self) {
        self.answer.get_or_insert_with(Assembler::default);
    }

    /// A Responses client's response id, creation time and echoed request fields
    /// (other clients' encoders have none).
    pub fn set_responses_meta(&mut self, meta: super::responses::Meta) {
        if let Encoder::Responses(e) = &mut self.encoder {
            e.set_meta(meta);
        }
    }

    /// The assembled answer, once the stream ended properly; `None` when not
    /// collecting, not finished, or failed. Collection stops either way.
    pub fn take_answer(&mut self) -> Option<ChatResponse> {
        self.answer.take()?.finish()
    }

    /// Translates the next provider chunk, appending client bytes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.parser.feed(chunk, &mut self.events);
        self.drain(out);
    }

    /// The provider body ended; flushes and closes the client stream properly (with an
    /// error event if the provider stopped early).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.parser.finish(&mut self.events);
        self.drain(out);
        self.decoder.finish(&mut self.canonical);
        self.render(out);
    }

    /// Ends the client stream with an error event (timeouts, dropped provider).
    pub fn abort(&mut self, kind: super::model::ErrorKind, message: &str, out: &mut Vec<u8>) {
        if self.status.done || self.status.error.is_some() {
            return;
        }
        self.canonical.push(StreamEvent::Error {
            kind,
            message: message.to_string(),
        });
        self.render(out);
    }

    pub fn status(&self) -> &StreamStatus {
        &self.status
    }

    pub fn usage(&self) -> Usage {
        self.encoder.usage()
    }

    /// Bytes of an event still waiting for its end.
    pub fn pending(&self) -> usize {
        self.parser.pending()
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        for ev in self.events.drain(..) {
            self.decoder.decode(&ev, &mut self.canonical);
            self.status.unreadable |= self.decoder.unreadable();
        }
        self.render(out);
    }

    fn render(&mut self, out: &mut Vec<u8>) {
        for ev in self.canonical.drain(..) {
            match &ev {
                StreamEvent::Start { .. } | StreamEvent::Usage(_) => {}
                StreamEvent::Error { message, .. } => {
                    if self.status.error.is_none() {
                        self.status.error = Some(message.clone());
                    }
                }
                StreamEvent::Done => {
                    self.status.produced = true;
                    self.status.done = true;
                }
                _ => self.status.produced = true,
            }
            if let Some(a) = &mut self.answer {
                a.push(&ev);
            }
            self.encoder.encode(&ev, out);
        }
    }
}

/// Same-format streams are forwarded byte for byte; this watches them only to know
/// whether they ended properly and what usage they reported.
#[derive(Debug)]
pub struct StreamObserver {
    inner: Watched,
    scratch: Vec<u8>,
}

// The large variant is the common one (every same-format stream): boxing it would
// cost an allocation per stream; the rare Responses watch is boxed instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Watched {
    /// Decoded into canonical events by the provider format's decoder.
    Format(StreamTranslator),
    /// A Responses stream (pass-through to an OpenAI provider with `responses: true`):
    /// only its status and usage are read, no answer is assembled.
    Responses(Box<ResponsesWatch>),
}

impl StreamObserver {
    /// Watches a stream of a provider in `format` forwarded to clients of `api`.
    pub fn new(format: impl Into<Format>, api: ApiFormat) -> Self {
        StreamObserver {
            inner: Watched::Format(StreamTranslator::new(format, api, true)),
            scratch: Vec::new(),
        }
    }

    /// Watches a Responses API stream forwarded to a Responses client.
    pub fn responses() -> Self {
        StreamObserver {
            inner: Watched::Responses(Box::default()),
            scratch: Vec::new(),
        }
    }

    pub fn observe(&mut self, chunk: &[u8]) {
        match &mut self.inner {
            Watched::Format(t) => {
                t.feed(chunk, &mut self.scratch);
                self.scratch.clear();
            }
            Watched::Responses(w) => w.observe(chunk),
        }
    }

    pub fn finish(&mut self) {
        match &mut self.inner {
            Watched::Format(t) => {
                t.finish(&mut self.scratch);
                self.scratch.clear();
            }
            Watched::Responses(w) => w.finish(),
        }
    }

    pub fn status(&self) -> &StreamStatus {
        match &self.inner {
            Watched::Format(t) => t.status(),
            Watched::Responses(w) => w.status(),
        }
    }

    pub fn usage(&self) -> Usage {
        match &self.inner {
            Watched::Format(t) => t.usage(),
            Watched::Responses(w) => w.usage(),
        }
    }

    /// See [`StreamTranslator::collect_answer`]; a Responses stream assembles none.
    pub fn collect_answer(&mut self) {
        if let Watched::Format(t) = &mut self.inner {
            t.collect_answer();
        }
    }

    /// See [`StreamTranslator::take_answer`].
    pub fn take_answer(&mut self) -> Option<ChatResponse> {
        match &mut self.inner {
            Watched::Format(t) => t.take_answer(),
            Watched::Responses(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Golden fixtures replayed with every possible two-way chunk split: the output
    //! must not depend on where the provider's bytes were cut.
    use super::*;

    const FIXTURES: &[(Format, &[u8])] = &[
        (
            Format::Anthropic,
            include_bytes!("../../tests/fixtures/anthropic/stream_text.sse"),
        ),
        (
            Format::Anthropic,
            include_bytes!("../../tests/fixtures/anthropic/stream_tools_parallel.sse"),
        ),
        (
            Format::Anthropic,
            include_bytes!("../../tests/fixtures/anthropic/stream_thinking.sse"),
        ),
        (
            Format::Anthropic,
            include_bytes!("../../tests/fixtures/anthropic/stream_error_midstream.sse"),
        ),
        (
            Format::Anthropic,
            include_bytes!("../../tests/fixtures/anthropic/stream_max_tokens.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/openai/stream_text.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/openai/stream_tools_parallel.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/openai/stream_refusal.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/presets/groq_stream_x_groq.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/presets/xai_stream_usage.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/presets/deepseek_stream_reasoning.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/presets/vllm_stream_reasoning.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/presets/mistral_stream_tools.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/presets/ollama_stream_tools.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/presets/openrouter_stream_text.sse"),
        ),
        (
            Format::OpenAi,
            include_bytes!("../../tests/fixtures/presets/openrouter_stream_error.sse"),
        ),
        (
            Format::Gemini,
            include_bytes!("../../tests/fixtures/gemini/stream_text.sse"),
        ),
        (
            Format::Gemini,
            include_bytes!("../../tests/fixtures/gemini/stream_tools_parallel.sse"),
        ),
        (
            Format::Gemini,
            include_bytes!("../../tests/fixtures/gemini/stream_safety.sse"),
        ),
        (
            Format::Gemini,
            include_bytes!("../../tests/fixtures/gemini/stream_error_midstream.sse"),
        ),
    ];

    fn translate(from: Format, to: ApiFormat, chunks: &[&[u8]]) -> (Vec<u8>, Usage) {
        let mut t = StreamTranslator::new(from, to, true);
        let mut out = Vec::new();
        for c in chunks {
            t.feed(c, &mut out);
        }
        t.finish(&mut out);
        (out, t.usage())
    }

    /// Replaces the per-run `created` timestamp so outputs compare.
    fn normalise(out: &[u8]) -> String {
        let s = String::from_utf8_lossy(out).into_owned();
        let mut r = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(i) = rest.find("\"created\":") {
            r.push_str(&rest[..i + 10]);
            rest = rest[i + 10..].trim_start_matches(|c: char| c.is_ascii_digit());
            r.push('0');
        }
        r.push_str(rest);
        r
    }

    #[test]
    fn every_split_gives_the_same_output() {
        for (from, bytes) in FIXTURES {
            for to in [ApiFormat::OpenAi, ApiFormat::Anthropic] {
                let (whole, usage) = translate(*from, to, &[bytes]);
                assert!(!whole.is_empty());
                for i in 0..=bytes.len() {
                    let (a, b) = bytes.split_at(i);
                    let (split, u) = translate(*from, to, &[a, b]);
                    assert_eq!(
                        normalise(&split),
                        normalise(&whole),
                        "{from:?}->{to:?} split at {i}"
                    );
                    assert_eq!(u, usage);
                }
            }
        }
    }

    #[test]
    fn fixture_usage_keeps_totals() {
        let (_, u) = translate(Format::Anthropic, ApiFormat::OpenAi, &[FIXTURES[0].1]);
        assert_eq!(
            (
                u.input_tokens,
                u.cache_read_tokens,
                u.cache_write_tokens,
                u.output_tokens
            ),
            (1500, 1024, 200, 27)
        );
        let (_, u) = translate(Format::OpenAi, ApiFormat::Anthropic, &[FIXTURES[5].1]);
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.output_tokens),
            (1320, 1024, 7)
        );
        // Gemini: cumulative totals, the last chunk's; output counts the thoughts.
        let (_, u) = translate(Format::Gemini, ApiFormat::Anthropic, &[FIXTURES[16].1]);
        assert_eq!(
            (
                u.input_tokens,
                u.cache_read_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (1320, 1024, 19, 12)
        );
    }

    /// The canonical events of an OpenAI-format fixture.
    fn decoded(bytes: &[u8]) -> Vec<StreamEvent> {
        let (mut parser, mut events) = (SseParser::new(), Vec::new());
        parser.feed(bytes, &mut events);
        parser.finish(&mut events);
        let mut d = super::super::openai::stream::OpenAiDecoder::default();
        let mut out = Vec::new();
        for ev in &events {
            d.decode(ev, &mut out);
        }
        d.finish(&mut out);
        out
    }

    fn usage_of(events: &[StreamEvent]) -> Usage {
        let mut u = Usage::default();
        for e in events {
            if let StreamEvent::Usage(x) = e {
                u.merge(x);
            }
        }
        u
    }

    #[test]
    fn preset_fixtures_decode_their_quirks() {
        // Groq: usage only under `x_groq`.
        let ev = decoded(FIXTURES[8].1);
        assert_eq!(
            (usage_of(&ev).input_tokens, usage_of(&ev).output_tokens),
            (23, 8)
        );
        assert_eq!(ev.last(), Some(&StreamEvent::Done));
        // xAI: usage before the last chunk.
        let u = usage_of(&decoded(FIXTURES[9].1));
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens, u.output_tokens),
            (32, 6, 8)
        );
        // DeepSeek `reasoning_content`, vLLM `reasoning`: thinking.
        for (i, text) in [
            (10, "27 * 453 = 10800 + 1431 = 12231."),
            (11, "Paris is the capital."),
        ] {
            let thinking: String = decoded(FIXTURES[i].1)
                .iter()
                .filter_map(|e| match e {
                    StreamEvent::ThinkingDelta(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(thinking, text);
        }
        assert_eq!(usage_of(&decoded(FIXTURES[10].1)).reasoning_tokens, 30);
        // Ollama: two calls without `index` are two calls.
        let starts: Vec<(usize, String)> = decoded(FIXTURES[13].1)
            .into_iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallStart { index, id, .. } => Some((index, id)),
                _ => None,
            })
            .collect();
        assert_eq!(
            starts,
            [
                (0, "call_k3p9x2ab".to_string()),
                (1, "call_7hq1m0zd".to_string())
            ]
        );
        // OpenRouter: comments are nothing; an `error` event is an error.
        let ev = decoded(FIXTURES[14].1);
        assert_eq!(ev.last(), Some(&StreamEvent::Done));
        let ev = decoded(FIXTURES[15].1);
        assert!(matches!(
            ev.last(),
            Some(StreamEvent::Error { message, .. }) if message == "Provider disconnected unexpectedly"
        ));
    }

    #[test]
    fn engines_that_number_every_call_zero_get_one_index_per_call() {
        let stream = concat!(
            "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}\n\n",
            "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}}]}}]}\n\n",
            "data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        );
        let ev = decoded(stream.as_bytes());
        let idx: Vec<usize> = ev
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCallStart { index, .. }
                | StreamEvent::ToolCallArgs { index, .. } => Some(*index),
                _ => None,
            })
            .collect();
        assert_eq!(idx, [0, 0, 1, 1], "{ev:?}");
    }

    #[test]
    fn observer_sees_truncation() {
        let bytes = FIXTURES[0].1;
        let mut o = StreamObserver::new(ApiFormat::Anthropic, ApiFormat::Anthropic);
        o.observe(&bytes[..bytes.len() / 2]);
        o.finish();
        assert!(o.status().error.is_some() && !o.status().done);
        let mut o = StreamObserver::new(ApiFormat::Anthropic, ApiFormat::Anthropic);
        o.observe(bytes);
        o.finish();
        assert!(o.status().done && o.status().error.is_none());
    }
}
