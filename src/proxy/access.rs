//! The access log: one `key=value` line per request, under the log target
//! `switchyard::access` (filter it like any other target with `RUST_LOG`).
//!
//! The line is built here and handed straight to the log sink instead of going through
//! `log::info!`: env_logger formats through `fmt::Arguments`, a styled buffer and an
//! ANSI stripper, which cost a measurable share of the gateway's CPU at 10k+ req/s.
//! The layout stays env_logger's (`[time LEVEL target] ...`) so all lines read alike.
//!
//! Values that come from clients or providers (model names, error text) are quoted and
//! escaped when they contain spaces, `=`, quotes or control characters, so nobody can
//! forge a log line or a field by choosing a model name.

use crate::logsink;
use std::cell::RefCell;
use std::fmt::{Display, Write};
use std::time::{SystemTime, UNIX_EPOCH};

pub const TARGET: &str = "switchyard::access";

/// Whether `RUST_LOG` lets access lines through (checked before building one).
pub fn enabled() -> bool {
    log::log_enabled!(target: TARGET, log::Level::Info)
}

/// A line being built; fields are appended in call order.
pub struct Line {
    buf: String,
    /// Unix second of `stamp`, so the timestamp is formatted once per second per thread.
    second: u64,
    stamp: String,
}

thread_local! {
    static LINE: RefCell<Line> = const {
        RefCell::new(Line { buf: String::new(), second: u64::MAX, stamp: String::new() })
    };
}

/// Builds one access line with `fill` and writes it.
pub fn write(fill: impl FnOnce(&mut Line)) {
    LINE.with_borrow_mut(|line| {
        line.start();
        fill(line);
        line.buf.push('\n');
        logsink::write_lines(line.buf.as_bytes());
    });
}

impl Line {
    fn start(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now != self.second {
            self.second = now;
            self.stamp.clear();
            let ts = i64::try_from(now)
                .ok()
                .and_then(|s| jiff::Timestamp::from_second(s).ok())
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            let _ = write!(self.stamp, "{ts}");
        }
        self.buf.clear();
        self.buf.push('[');
        self.buf.push_str(&self.stamp);
        self.buf.push_str(" INFO  ");
        self.buf.push_str(TARGET);
        self.buf.push(']');
    }

    /// A value the gateway produced (numbers, booleans, ids, fixed words).
    pub fn field(&mut self, name: &str, value: impl Display) -> &mut Self {
        let _ = write!(self.buf, " {name}={value}");
        self
    }

    /// A value that may come from outside (client, provider): quoted when needed;
    /// `None` is written as `-`.
    pub fn text(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        self.buf.push(' ');
        self.buf.push_str(name);
        self.buf.push('=');
        match value {
            None => self.buf.push('-'),
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
        let mut l = Line {
            buf: String::new(),
            second: u64::MAX,
            stamp: String::new(),
        };
        l.start();
        fill(&mut l);
        l.buf
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
}
