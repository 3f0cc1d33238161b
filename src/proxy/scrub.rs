//! The one way response bytes leave the gateway: every body and every stream write is
//! a [`Scrubbed`], and the only way to make one is [`Scrubber::bytes`], which replaces
//! each configured secret (provider keys, gateway keys, the Redis password) with
//! `[redacted]`. Providers echo keys in error text, mid-stream included, so nothing
//! from outside is trusted to be clean.
//!
//! Streams are written in whole SSE events (see `attempt::complete_events`), so a
//! secret is never split across two writes where a per-write search would miss it.

use bytes::Bytes;
use memchr::memmem::Finder;
use pingora_proxy::Session;

const REDACTED: &[u8] = b"[redacted]";

pub struct Scrubber {
    finders: Vec<Finder<'static>>,
}

/// Response bytes that went through [`Scrubber::bytes`].
pub struct Scrubbed(Bytes);

impl Scrubbed {
    /// Private: the bytes come out only in [`write_body`] (and this module's tests).
    fn into_bytes(self) -> Bytes {
        self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The other place scrubbed bytes go: a body-log line ([`crate::logs::body`]).
    pub fn into_log_line(self) -> Vec<u8> {
        self.0.into()
    }
}

/// Writes response body bytes to the client: the only caller of Pingora's
/// `write_response_body` in the gateway.
pub async fn write_body(
    session: &mut Session,
    data: Option<Scrubbed>,
    end: bool,
) -> pingora_error::Result<()> {
    session
        .write_response_body(data.map(Scrubbed::into_bytes), end)
        .await
}

impl Scrubber {
    pub fn new(secrets: &[String]) -> Self {
        Scrubber {
            finders: secrets
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| Finder::new(s.as_bytes()).into_owned())
                .collect(),
        }
    }

    /// `data` with every secret replaced; no copy when there is none (the usual case).
    pub fn bytes(&self, mut data: Vec<u8>) -> Scrubbed {
        for f in &self.finders {
            if f.find(&data).is_none() {
                continue;
            }
            let needle = f.needle().len();
            let mut out = Vec::with_capacity(data.len());
            let mut rest = &data[..];
            while let Some(i) = f.find(rest) {
                out.extend_from_slice(&rest[..i]);
                out.extend_from_slice(REDACTED);
                rest = &rest[i + needle..];
            }
            out.extend_from_slice(rest);
            data = out;
        }
        Scrubbed(Bytes::from(data))
    }

    /// The same for text (error messages, header values from a provider).
    pub fn text(&self, text: &str) -> String {
        let out = self.bytes(text.as_bytes().to_vec()).into_bytes();
        // Replacing valid UTF-8 runs with ASCII keeps it valid.
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_occurrence_of_every_secret_goes() {
        let s = Scrubber::new(&["sk-123456".into(), "gw-key-0001".into()]);
        let out = s.bytes(b"a sk-123456 b gw-key-0001 c sk-123456".to_vec());
        assert_eq!(
            &out.into_bytes()[..],
            b"a [redacted] b [redacted] c [redacted]"
        );
        assert_eq!(s.text("clean"), "clean");
    }
}
