//! The access log: one line per request, under the log target `switchyard::access`
//! (filter it like any other target with `RUST_LOG` or `log.level`), as `key=value`
//! text or (`log.format: json`) one JSON object per line.
//!
//! The line is built here and handed straight to the log sink instead of going through
//! `log::info!`: env_logger formats through `fmt::Arguments`, a styled buffer and an
//! ANSI stripper, which cost a measurable share of the gateway's CPU at 10k+ req/s.
//! The text layout stays env_logger's (`[time LEVEL target] ...`) so all lines read
//! alike; JSON lines start with `ts` (milliseconds, UTC), `level` and `target`.
//!
//! Values that come from clients or providers (model names, error text) are quoted and
//! escaped when they contain spaces, `=`, quotes or control characters (JSON: always
//! escaped), so nobody can forge a log line or a field by choosing a model name.

use crate::config::log::LogFormat;
use crate::logs::json;
use crate::logsink;
use std::cell::RefCell;
use std::fmt::{Display, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub const TARGET: &str = "switchyard::access";

static JSON: AtomicBool = AtomicBool::new(false);

/// Sets the format of every line built from now on (start-up, from `log.format`).
pub fn set_format(f: LogFormat) {
    JSON.store(f == LogFormat::Json, Ordering::Relaxed);
}

/// Whether `RUST_LOG` lets access lines through (checked before building one).
pub fn enabled() -> bool {
    log::log_enabled!(target: TARGET, log::Level::Info)
}

/// A line being built; fields are appended in call order.
pub struct Line {
    buf: String,
    json: bool,
    /// Unix second of `stamp`, so the timestamp is formatted once per second per thread.
    second: u64,
    /// `2026-12-02T10:15:30` (no zone: text adds `Z`, JSON `.mmmZ`).
    stamp: String,
}

thread_local! {
    static LINE: RefCell<Line> = const { RefCell::new(Line::empty(false)) };
}

/// Builds one access line with `fill` and writes it.
pub fn write(fill: impl FnOnce(&mut Line)) {
    LINE.with_borrow_mut(|line| {
        line.json = JSON.load(Ordering::Relaxed);
        line.start();
        fill(line);
        line.end();
        logsink::write_lines(line.buf.as_bytes());
    });
}

impl Line {
    const fn empty(json: bool) -> Line {
        Line {
            buf: String::new(),
            json,
            second: u64::MAX,
            stamp: String::new(),
        }
    }

    /// A fresh line builder in `format` (benchmarks and tests; requests reuse one per
    /// thread through [`write`]).
    pub fn new(format: LogFormat) -> Line {
        Line::empty(format == LogFormat::Json)
    }

    /// Builds one line (with its newline) and returns it.
    pub fn build(&mut self, fill: impl FnOnce(&mut Line)) -> &str {
        self.start();
        fill(self);
        self.end();
        &self.buf
    }

    fn start(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs();
        if secs != self.second {
            self.second = secs;
            self.stamp.clear();
            let ts = i64::try_from(secs)
                .ok()
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let _ = write!(self.stamp, "{ts}");
            self.stamp.pop(); // the `Z`
        }
        self.buf.clear();
        if self.json {
            let _ = write!(
                self.buf,
                "{{\"ts\":\"{}.{:03}Z\",\"level\":\"info\",\"target\":\"{TARGET}\"",
                self.stamp,
                now.subsec_millis()
            );
        } else {
            self.buf.push('[');
            self.buf.push_str(&self.stamp);
            self.buf.push_str("Z INFO  ");
            self.buf.push_str(TARGET);
            self.buf.push(']');
        }
    }

    fn end(&mut self) {
        if self.json {
            self.buf.push('}');
        }
        self.buf.push('\n');
    }

    fn name(&mut self, name: &str) {
        if self.json {
            self.buf.push_str(",\"");
            self.buf.push_str(name);
            self.buf.push_str("\":");
        } else {
            self.buf.push(' ');
            self.buf.push_str(name);
            self.buf.push('=');
        }
    }

    /// A number or boolean.
    pub fn field(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.name(name);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// A word the gateway produced or checked, with nothing to escape (request ids,
    /// HTTP methods, fixed words): never quoted in text; a JSON string.
    pub fn word(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.name(name);
        if self.json {
            self.buf.push('"');
            let _ = write!(self.buf, "{value}");
            self.buf.push('"');
        } else {
            let _ = write!(self.buf, "{value}");
        }
        self
    }

    /// A number that may be unknown (`-` in text, `null` in JSON), e.g. `cost_usd`.
    pub fn number(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        self.name(name);
        match value {
            Some(v) => self.buf.push_str(v),
            None if self.json => self.buf.push_str("null"),
            None => self.buf.push('-'),
        }
        self
    }

    /// A value that may come from outside (client, provider): quoted when needed;
    /// `None` is written as `-` (JSON: `null`).
    pub fn text(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        self.name(name);
        match value {
            None if self.json => self.buf.push_str("null"),
            None => self.buf.push('-'),
            Some(v) if self.json => json::push_str(&mut self.buf, v),
            Some(v) if needs_quotes(v) => {
                let _ = write!(self.buf, "{v:?}");
            }
            Some(v) => self.buf.push_str(v),
        }
        self
    }
}

fn needs_quotes(v: &str) -> bool {
    v.is_empty()
        || v == "-"
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\' | '='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fill: impl FnOnce(&mut Line)) -> String {
        Line::new(LogFormat::Text)
            .build(fill)
            .trim_end_matches('\n')
            .to_string()
    }

    fn json_line(fill: impl FnOnce(&mut Line)) -> serde_json::Value {
        let mut l = Line::new(LogFormat::Json);
        let s = l.build(fill);
        assert_eq!(s.matches('\n').count(), 1);
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn layout_matches_env_logger() {
        let s = line(|l| {
            l.field("status", 200).text("model", Some("gpt-4o"));
        });
        let (head, rest) = s.split_once("] ").unwrap();
        assert!(head.starts_with("[20"), "{head}");
        assert!(head.ends_with("Z INFO  switchyard::access"), "{head}");
        assert_eq!(rest, "status=200 model=gpt-4o");
    }

    #[test]
    fn outside_values_cannot_forge_lines_or_fields() {
        let s = line(|l| {
            l.text(
                "model",
                Some("x\n[2026-01-01T00:00:00Z INFO  switchyard::access] status=200"),
            )
            .text("error", Some("a b=c \"q\""))
            .text("provider", None)
            .text("key", Some(""))
            .text("upstream_model", Some("-"));
        });
        assert_eq!(s.lines().count(), 1, "{s}");
        let rest = s.split_once("] ").unwrap().1;
        assert_eq!(
            rest,
            r#"model="x\n[2026-01-01T00:00:00Z INFO  switchyard::access] status=200" error="a b=c \"q\"" provider=- key="" upstream_model="-""#
        );
    }

    #[test]
    fn json_lines_are_json_with_stable_names() {
        let v = json_line(|l| {
            l.word("request_id", "sy-1")
                .field("status", 200)
                .field("stream", true)
                .text("model", Some("x\n\"y\""))
                .text("provider", None)
                .number("cost_usd", Some("0.0012"))
                .number("ttfb_ms", None);
        });
        assert_eq!(v["level"], "info");
        assert_eq!(v["target"], TARGET);
        let ts = v["ts"].as_str().unwrap();
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[19] == b'.',
            "{ts}"
        );
        assert_eq!(v["request_id"], "sy-1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["stream"], true);
        assert_eq!(v["model"], "x\n\"y\"");
        assert!(v["provider"].is_null() && v["ttfb_ms"].is_null());
        assert_eq!(v["cost_usd"], 0.0012);
    }
}
