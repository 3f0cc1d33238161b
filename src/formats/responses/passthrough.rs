//! Responses pass-through (an OpenAI provider with `responses: true`): the provider's
//! Responses bodies and events go to the client unchanged; the gateway reads only
//! what its accounting needs.
//!
//! - A complete response object: its top-level `usage` ([`parse_usage`]).
//! - A stream ([`ResponsesWatch`]): `usage` of the `response` in the final
//!   `response.completed` / `response.incomplete` / `response.failed` event; whether
//!   anything but the opening `response.created` / `response.in_progress` /
//!   `response.queued` came (until then the attempt loop may still fail over);
//!   errors (`error` events, `response.failed`); a stream that ends without a final
//!   event is cut off.

use super::super::model::Usage;
use super::super::sse::{SseEvent, SseParser};
use super::super::stream::StreamStatus;
use super::super::{from_json, TranslateError};
use serde::Deserialize;
use std::borrow::Cow;

/// Responses `usage` (`input_tokens` counts cached tokens, as canonical usage does).
#[derive(Debug, Default, Deserialize)]
struct InUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<InInputDetails>,
    #[serde(default)]
    output_tokens_details: Option<InOutputDetails>,
}

#[derive(Debug, Default, Deserialize)]
struct InInputDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Debug, Default, Deserialize)]
struct InOutputDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

impl InUsage {
    fn into_usage(self) -> Usage {
        Usage {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.input_tokens_details.map_or(0, |d| d.cached_tokens),
            cache_write_tokens: 0,
            reasoning_tokens: self.output_tokens_details.map_or(0, |d| d.reasoning_tokens),
        }
    }
}

#[derive(Deserialize)]
struct InResponse {
    #[serde(default)]
    usage: Option<InUsage>,
    #[serde(default)]
    error: Option<InError>,
}

#[derive(Deserialize)]
struct InError {
    #[serde(default)]
    message: Option<String>,
}

/// The usage of a complete Responses response object.
pub fn parse_usage(body: &[u8]) -> Result<Usage, TranslateError> {
    let r: InResponse = from_json(body)?;
    Ok(r.usage.map(InUsage::into_usage).unwrap_or_default())
}

/// One stream event, read flat.
#[derive(Deserialize)]
struct InEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    response: Option<InResponse>,
    #[serde(default)]
    message: Option<String>,
}

/// Watches a forwarded Responses stream (see the module doc).
#[derive(Debug, Default)]
pub struct ResponsesWatch {
    parser: SseParser,
    events: Vec<SseEvent>,
    status: StreamStatus,
    usage: Usage,
}

impl ResponsesWatch {
    pub fn observe(&mut self, chunk: &[u8]) {
        self.parser.feed(chunk, &mut self.events);
        self.drain();
    }

    /// The provider closed the body.
    pub fn finish(&mut self) {
        self.parser.finish(&mut self.events);
        self.drain();
        if !self.status.done && self.status.error.is_none() {
            self.status.error =
                Some("the provider's stream ended before its response.completed event".into());
        }
    }

    pub fn status(&self) -> &StreamStatus {
        &self.status
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    fn drain(&mut self) {
        for ev in std::mem::take(&mut self.events) {
            self.event(&ev);
        }
    }

    fn event(&mut self, ev: &SseEvent) {
        if ev.data.is_empty() || ev.data == "[DONE]" {
            return;
        }
        let Ok(e) = serde_json::from_str::<InEvent<'_>>(&ev.data) else {
            self.status.unreadable = true;
            self.status.error.get_or_insert_with(|| {
                "the provider sent a stream event that is not a Responses event".into()
            });
            return;
        };
        let error = |s: &mut StreamStatus, m: Option<String>| {
            s.error.get_or_insert_with(|| {
                m.unwrap_or_else(|| "the provider reported an error".into())
            });
        };
        match e.kind.as_ref() {
            "response.created" | "response.in_progress" | "response.queued" => {}
            "response.completed" | "response.incomplete" | "response.failed" => {
                let failed = e.kind == "response.failed";
                if let Some(r) = e.response {
                    if let Some(u) = r.usage {
                        self.usage = u.into_usage();
                    }
                    if failed {
                        error(&mut self.status, r.error.and_then(|e| e.message));
                    }
                } else if failed {
                    error(&mut self.status, None);
                }
                self.status.produced = true;
                self.status.done = !failed;
            }
            "error" => error(&mut self.status, e.message),
            _ => self.status.produced = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = concat!(
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"usage\":null}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"delta\":\"Hi\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",",
        "\"usage\":{\"input_tokens\":12,\"input_tokens_details\":{\"cached_tokens\":4},\"output_tokens\":5,\"output_tokens_details\":{\"reasoning_tokens\":2},\"total_tokens\":17}}}\n\n",
    );

    #[test]
    fn usage_comes_from_the_completed_event_at_every_split() {
        for at in 0..STREAM.len() {
            let mut w = ResponsesWatch::default();
            w.observe(&STREAM.as_bytes()[..at]);
            if at < STREAM.find("response.output_text.delta").unwrap() {
                assert!(!w.status().produced, "split {at}");
            }
            w.observe(&STREAM.as_bytes()[at..]);
            w.finish();
            assert!(w.status().done && w.status().error.is_none(), "split {at}");
            let u = w.usage();
            assert_eq!(
                (
                    u.input_tokens,
                    u.cache_read_tokens,
                    u.output_tokens,
                    u.reasoning_tokens
                ),
                (12, 4, 5, 2)
            );
        }
    }

    #[test]
    fn errors_and_cut_off_streams() {
        let mut w = ResponsesWatch::default();
        w.observe(b"data: {\"type\":\"error\",\"message\":\"boom\"}\n\n");
        assert_eq!(w.status().error.as_deref(), Some("boom"));
        assert!(!w.status().produced);

        let mut w = ResponsesWatch::default();
        w.observe(&STREAM.as_bytes()[..STREAM.find("event: response.completed").unwrap()]);
        w.finish();
        assert!(!w.status().done);
        assert!(w
            .status()
            .error
            .as_deref()
            .unwrap()
            .contains("response.completed"));

        let mut w = ResponsesWatch::default();
        w.observe(b"data: not json\n\n");
        assert!(w.status().unreadable);
    }

    #[test]
    fn plain_usage() {
        let u = parse_usage(br#"{"id":"resp_1","object":"response","usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7}}"#).unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (3, 4));
        assert!(parse_usage(b"[").is_err());
    }
}
