//! A minimal incremental SSE scanner: counts data events and notices the end marker
//! (`data: [DONE]` for OpenAI, `event: message_stop` for Anthropic, `event:
//! response.completed` or `response.incomplete` for Responses) and error events
//! (`error`, Responses' `response.failed`).
//! It keeps only the first bytes of the current line (no allocation at all).

const KEEP: usize = 40;

pub struct SseScan {
    line: [u8; KEEP],
    line_len: usize,
    event_has_data: bool,
    /// The stream's end marker was seen.
    pub done: bool,
    /// An error event was seen.
    pub error: bool,
    /// Completed data events so far.
    pub events: u64,
}

impl Default for SseScan {
    fn default() -> Self {
        Self::new()
    }
}

impl SseScan {
    pub fn new() -> Self {
        SseScan {
            line: [0; KEEP],
            line_len: 0,
            event_has_data: false,
            done: false,
            error: false,
            events: 0,
        }
    }

    /// Feeds one chunk; returns how many data events it completed.
    pub fn feed(&mut self, data: &[u8]) -> u32 {
        let mut n = 0;
        for &b in data {
            match b {
                b'\n' => {
                    if self.end_line() {
                        n += 1;
                    }
                }
                b'\r' => {}
                _ => {
                    if self.line_len < KEEP {
                        self.line[self.line_len] = b;
                    }
                    self.line_len += 1;
                }
            }
        }
        self.events += u64::from(n);
        n
    }

    /// Ends the current line; true when it completed a data event.
    fn end_line(&mut self) -> bool {
        if self.line_len == 0 {
            let was = self.event_has_data;
            self.event_has_data = false;
            return was;
        }
        let l = &self.line[..self.line_len.min(KEEP)];
        if let Some(v) = l.strip_prefix(b"data:") {
            self.event_has_data = true;
            let v = v.strip_prefix(b" ").unwrap_or(v);
            if v.starts_with(b"[DONE]") {
                self.done = true;
            } else if v.starts_with(b"{\"error\"") || v.starts_with(b"{\"type\":\"error\"") {
                self.error = true;
            }
        } else if let Some(v) = l.strip_prefix(b"event:") {
            let v = v.strip_prefix(b" ").unwrap_or(v);
            match v {
                b"message_stop" | b"response.completed" | b"response.incomplete" => {
                    self.done = true
                }
                b"error" | b"response.failed" => self.error = true,
                _ => {}
            }
        }
        self.line_len = 0;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_split_anywhere() {
        let s = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n: comment\n\ndata: [DONE]\n\n";
        for cut in 0..s.len() {
            let mut sc = SseScan::new();
            let n = sc.feed(&s[..cut]) + sc.feed(&s[cut..]);
            assert_eq!(n, 3, "cut {cut}");
            assert!(sc.done && !sc.error);
        }
    }

    #[test]
    fn anthropic_stop_and_error() {
        let mut sc = SseScan::new();
        sc.feed(b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n");
        assert!(!sc.done);
        sc.feed(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        assert!(sc.done);
        assert_eq!(sc.events, 2);
        let mut sc = SseScan::new();
        sc.feed(b"event: error\ndata: {\"type\":\"error\",\"error\":{}}\n\n");
        assert!(sc.error);
        let mut sc = SseScan::new();
        sc.feed(b"data: {\"error\":{\"message\":\"x\"}}\n\n");
        assert!(sc.error && !sc.done);
    }

    #[test]
    fn responses_completed_and_failed() {
        let mut sc = SseScan::new();
        sc.feed(b"event: response.created\ndata: {\"type\":\"response.created\"}\n\n");
        sc.feed(b"event: response.output_text.delta\ndata: {\"delta\":\"x\"}\n\n");
        assert!(!sc.done);
        sc.feed(b"event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n");
        assert!(sc.done && !sc.error);
        assert_eq!(sc.events, 3);
        let mut sc = SseScan::new();
        sc.feed(b"event: error\ndata: {\"type\":\"error\"}\n\n");
        sc.feed(b"event: response.failed\ndata: {\"type\":\"response.failed\"}\n\n");
        assert!(sc.error && !sc.done);
    }
}
