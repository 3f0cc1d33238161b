//! Incremental Server-Sent Events parser and writer.
//!
//! Upstream bodies arrive in chunks cut at arbitrary bytes (TCP segments, TLS records,
//! proxies). The parser keeps the unfinished tail between `feed` calls and emits an
//! event only when its terminating blank line has arrived, following the WHATWG rules:
//! lines end in `\n`, `\r\n` or `\r`; `data:` lines are joined with `\n`; comment lines
//! (`:`) and `id:`/`retry:` are ignored.

/// One dispatched SSE event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if any (Anthropic names every event; OpenAI names none).
    pub event: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk; complete events are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.buf.is_empty() {
            // Usual case: lines are read from the chunk itself; only an unfinished
            // tail is copied.
            let used = self.lines(chunk, out);
            self.buf.extend_from_slice(&chunk[used..]);
        } else {
            self.buf.extend_from_slice(chunk);
            let buf = std::mem::take(&mut self.buf);
            let used = self.lines(&buf, out);
            self.buf = buf;
            self.buf.drain(..used);
        }
    }

    /// Handles every complete line in `buf`; returns how many bytes were used.
    fn lines(&mut self, buf: &[u8], out: &mut Vec<SseEvent>) -> usize {
        let mut pos = 0;
        while let Some(rel) = memchr::memchr2(b'\n', b'\r', &buf[pos..]) {
            let end = pos + rel;
            let next = if buf[end] == b'\r' {
                match buf.get(end + 1) {
                    // A trailing `\r` may be the first half of `\r\n`: wait for more.
                    None => break,
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                }
            } else {
                end + 1
            };
            self.line(&buf[pos..end], out);
            pos = next;
        }
        pos
    }

    /// Ends the stream: a final event without its blank line is still dispatched.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let line = rest.strip_suffix(b"\r").unwrap_or(&rest);
            self.line(line, out);
        }
        self.dispatch(out);
    }

    /// Bytes held back waiting for the rest of a line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        // Valid UTF-8 (the norm) is checked by the fast validator, not the lossy one.
        let value = match std::str::from_utf8(value) {
            Ok(v) => std::borrow::Cow::Borrowed(v),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data {
            out.push(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        self.event = None;
        self.has_data = false;
    }
}

/// Appends one event in wire form. `data` must not contain newlines (compact JSON).
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, data: &str) {
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// Appends one event whose data is `value` as JSON, serialized in place (JSON text
/// has no raw newlines, so it is always a single `data:` line).
pub fn write_json_event<T: serde::Serialize>(out: &mut Vec<u8>, event: Option<&str>, value: &T) {
    let start = out.len();
    if let Some(name) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut *out, value).is_err() {
        // Only a failing `Serialize` impl gets here: write nothing rather than half.
        out.truncate(start);
        return;
    }
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, &mut out);
        }
        p.finish(&mut out);
        out
    }

    const SAMPLE: &[u8] = b"event: message_start\ndata: {\"a\":1}\n\n: keep-alive\n\nevent: ping\r\ndata: {}\r\n\r\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n";

    fn expected() -> Vec<SseEvent> {
        vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":1}".into(),
            },
            SseEvent {
                event: Some("ping".into()),
                data: "{}".into(),
            },
            SseEvent {
                event: None,
                data: "line1\nline2".into(),
            },
            SseEvent {
                event: None,
                data: "[DONE]".into(),
            },
        ]
    }

    #[test]
    fn whole_input() {
        assert_eq!(parse_all(&[SAMPLE]), expected());
    }

    #[test]
    fn every_two_way_split() {
        for i in 0..=SAMPLE.len() {
            let (a, b) = SAMPLE.split_at(i);
            assert_eq!(parse_all(&[a, b]), expected(), "split at {i}");
        }
    }

    #[test]
    fn byte_by_byte() {
        let chunks: Vec<&[u8]> = SAMPLE.chunks(1).collect();
        assert_eq!(parse_all(&chunks), expected());
    }

    #[test]
    fn bare_cr_line_endings_and_utf8_split() {
        let text = "data: h\u{e9}llo \u{1f600}\r\r";
        let bytes = text.as_bytes();
        for i in 0..=bytes.len() {
            let (a, b) = bytes.split_at(i);
            let got = parse_all(&[a, b]);
            assert_eq!(got.len(), 1, "split at {i}");
            assert_eq!(got[0].data, "h\u{e9}llo \u{1f600}");
        }
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let got = parse_all(&[b"data: a\xffb\n\n"]);
        assert_eq!(got[0].data, "a\u{fffd}b");
    }

    #[test]
    fn unterminated_last_event_is_dispatched_at_finish() {
        let got = parse_all(&[b"data: tail"]);
        assert_eq!(got[0].data, "tail");
    }

    #[test]
    fn writer_round_trips() {
        let mut buf = Vec::new();
        write_event(&mut buf, Some("ping"), "{}");
        write_event(&mut buf, None, "[DONE]");
        let got = parse_all(&[&buf]);
        assert_eq!(got[0].event.as_deref(), Some("ping"));
        assert_eq!(got[1].data, "[DONE]");
    }
}
