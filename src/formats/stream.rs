//! Per-response stream translation: provider bytes -> SSE events -> canonical
//! events -> client bytes. One `StreamTranslator` lives for one response; all of its
//! state (tool-call maps, usage so far, what has been opened) is inside it.

use super::anthropic::stream::{AnthropicDecoder, AnthropicEncoder};
use super::model::{StreamEvent, Usage};
use super::openai::stream::{OpenAiDecoder, OpenAiEncoder};
use super::sse::{SseEvent, SseParser};
use super::ApiFormat;

#[derive(Debug)]
enum Decoder {
    OpenAi(OpenAiDecoder),
    Anthropic(AnthropicDecoder),
}

#[derive(Debug)]
enum Encoder {
    OpenAi(OpenAiEncoder),
    Anthropic(AnthropicEncoder),
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
}

#[derive(Debug)]
pub struct StreamTranslator {
    parser: SseParser,
    decoder: Decoder,
    encoder: Encoder,
    events: Vec<SseEvent>,
    canonical: Vec<StreamEvent>,
    status: StreamStatus,
}

impl StreamTranslator {
    /// `include_usage`: OpenAI clients get a usage chunk only if they asked.
    pub fn new(from: ApiFormat, to: ApiFormat, include_usage: bool) -> Self {
        StreamTranslator {
            parser: SseParser::new(),
            decoder: match from {
                ApiFormat::OpenAi => Decoder::OpenAi(OpenAiDecoder::default()),
                ApiFormat::Anthropic => Decoder::Anthropic(AnthropicDecoder::default()),
            },
            encoder: match to {
                ApiFormat::OpenAi => Encoder::OpenAi(OpenAiEncoder::new(include_usage)),
                ApiFormat::Anthropic => Encoder::Anthropic(AnthropicEncoder::new()),
            },
            events: Vec::new(),
            canonical: Vec::new(),
            status: StreamStatus::default(),
        }
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
        match &mut self.decoder {
            Decoder::OpenAi(d) => d.finish(&mut self.canonical),
            Decoder::Anthropic(d) => d.finish(&mut self.canonical),
        }
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
        match &self.encoder {
            Encoder::OpenAi(e) => *e.usage(),
            Encoder::Anthropic(e) => *e.usage(),
        }
    }

    fn drain(&mut self, out: &mut Vec<u8>) {
        for ev in self.events.drain(..) {
            match &mut self.decoder {
                Decoder::OpenAi(d) => d.decode(&ev, &mut self.canonical),
                Decoder::Anthropic(d) => d.decode(&ev, &mut self.canonical),
            }
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
            match &mut self.encoder {
                Encoder::OpenAi(e) => e.encode(&ev, out),
                Encoder::Anthropic(e) => e.encode(&ev, out),
            }
        }
    }
}

/// Same-format streams are forwarded byte for byte; this watches them only to know
/// whether they ended properly and what usage they reported.
#[derive(Debug)]
pub struct StreamObserver {
    inner: StreamTranslator,
    scratch: Vec<u8>,
}

impl StreamObserver {
    pub fn new(format: ApiFormat) -> Self {
        StreamObserver {
            inner: StreamTranslator::new(format, format, true),
            scratch: Vec::new(),
        }
    }

    pub fn observe(&mut self, chunk: &[u8]) {
        self.inner.feed(chunk, &mut self.scratch);
        self.scratch.clear();
    }

    pub fn finish(&mut self) {
        self.inner.finish(&mut self.scratch);
        self.scratch.clear();
    }

    pub fn status(&self) -> &StreamStatus {
        self.inner.status()
    }

    pub fn usage(&self) -> Usage {
        self.inner.usage()
    }
}
