//! Command-line options of `switchyard-load`.

use clap::{Parser, ValueEnum};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// `POST /v1/chat/completions`, OpenAI request shape.
    Openai,
    /// `POST /v1/messages`, Anthropic request shape (with `max_tokens`).
    Anthropic,
    /// `POST /v1/responses`, OpenAI Responses shape (`input` as one string,
    /// `store: true`, so the gateway keeps every response).
    Responses,
}

/// Load driver for Switchyard (or the mock provider, or any other gateway on loopback).
///
/// Closed loop (`--connections N`): N workers, each with one keep-alive connection,
/// send the next request as soon as the previous one finished.
///
/// Open loop (`--rate R`): requests are scheduled every 1/R s whatever happens;
/// latency is measured from the *intended* start, so a slow server cannot hide its
/// queueing (no coordinated omission). `--max-inflight` caps concurrent requests;
/// beyond it, requests wait (and the wait counts in their latency).
///
/// The run is always bounded: `--duration` and/or `--requests`, plus `--max-time`.
#[derive(Parser, Debug, Clone, Serialize)]
#[command(name = "switchyard-load", version)]
pub struct Args {
    /// Base URL, `http://127.0.0.1:PORT` (the API path is appended).
    #[arg(long)]
    pub url: String,
    /// Request shape and path.
    #[arg(long, value_enum, default_value = "openai")]
    pub api: Api,
    /// Override the request path (default: /v1/chat/completions, /v1/messages or
    /// /v1/responses).
    #[arg(long)]
    pub path: Option<String>,
    /// Model string sent in the body. `{events}` and `{delay}` are replaced by
    /// `--events` and `--delay-ms`, e.g. `anth/mock:events={events},delay_ms={delay}`.
    /// Without placeholders the string is sent as is.
    #[arg(long, default_value = "mock:echo")]
    pub model: String,
    /// Request body size: 1k, 16k, 256k, 1m or a byte count (the user message is padded).
    #[arg(long, default_value = "1k")]
    pub body_size: String,
    /// Ask for a streamed (SSE) response.
    #[arg(long)]
    pub stream: bool,
    /// Value for `{events}` in the model string.
    #[arg(long, default_value_t = 200)]
    pub events: u32,
    /// Value for `{delay}` in the model string (ms between streamed events).
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// API key sent as `Authorization: Bearer` (openai, responses) or `x-api-key`
    /// (anthropic).
    #[arg(long)]
    pub api_key: Option<String>,

    /// Closed loop with this many workers, one keep-alive connection each.
    #[arg(long, conflicts_with = "rate")]
    pub connections: Option<usize>,
    /// Open loop: this many requests per second, on a fixed schedule.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop: most requests in flight at once (connections are pooled, LIFO).
    #[arg(long, default_value_t = 1024)]
    pub max_inflight: usize,
    /// Measured seconds (after `--warmup`).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many requests (all kinds, warm-up included).
    #[arg(long)]
    pub requests: Option<u64>,
    /// Seconds of load before measuring starts (results of requests started earlier are
    /// discarded).
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Closed loop: spread the workers' first connections over this many seconds.
    #[arg(long, default_value_t = 0.0)]
    pub ramp: f64,
    /// Per-request time limit in seconds (exceeding it counts as a `timeout` error).
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,
    /// After the measured window ends, seconds in-flight requests may still finish
    /// (afterwards they are cut and counted as `cut_at_end`, not as errors).
    #[arg(long, default_value_t = 10.0)]
    pub grace: f64,
    /// Hard limit on the whole run in seconds, whatever else is set.
    #[arg(long, default_value_t = 3600.0)]
    pub max_time: f64,
    /// Tokio worker threads (1 = current-thread runtime).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Before starting, retry a TCP connect to the URL for up to this many seconds.
    #[arg(long, default_value_t = 0.0)]
    pub wait_ready: f64,
    /// Random seed (request-kind choice in `--mix`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Mixed scenario: each request picks a kind by weight (see the `--mix-*` options).
    /// Model strings: `<prefix>mock:echo` (plain), `<prefix>mock:events=E,delay_ms=D`
    /// (stream, slow, disconnect), `<prefix>mock:status=S` (error).
    #[arg(long)]
    pub mix: bool,
    /// Mixed scenario: prefix for the model strings, e.g. `anth/` or `oai/`.
    #[arg(long, default_value = "")]
    pub model_prefix: String,
    /// Weight of plain (non-streaming) requests.
    #[arg(long, default_value_t = 50)]
    pub mix_plain: u32,
    /// Weight of streamed requests read at full speed.
    #[arg(long, default_value_t = 25)]
    pub mix_stream: u32,
    /// Weight of streamed requests read slowly (own connection, small receive buffer).
    #[arg(long, default_value_t = 10)]
    pub mix_slow: u32,
    /// Weight of streamed requests the client abandons mid-stream.
    #[arg(long, default_value_t = 10)]
    pub mix_disconnect: u32,
    /// Weight of requests whose upstream answers `--error-status`.
    #[arg(long, default_value_t = 5)]
    pub mix_error: u32,
    /// Slow readers sleep this long after each body chunk.
    #[arg(long, default_value_t = 20)]
    pub slow_read_ms: u64,
    /// Slow readers' socket receive buffer in bytes.
    #[arg(long, default_value_t = 4096)]
    pub slow_rcvbuf: u32,
    /// Disconnecting clients drop the connection after this many SSE data events.
    #[arg(long, default_value_t = 5)]
    pub disconnect_after: u32,
    /// Upstream status injected for the error kind.
    #[arg(long, default_value_t = 500)]
    pub error_status: u16,

    /// Watch a process: `PID` or `LABEL=PID` (repeatable). RSS, open fds and CPU time are
    /// sampled from /proc every `--sample-ms`. The driver itself is always watched.
    #[arg(long)]
    pub watch_pid: Vec<String>,
    /// Sampling period for `--watch-pid`, ms.
    #[arg(long, default_value_t = 1000)]
    pub sample_ms: u64,
    /// Write the watch samples as CSV: t_s,label,pid,rss_kb,fds,cpu_s.
    #[arg(long)]
    pub csv_samples: Option<PathBuf>,
    /// Write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the results as a Markdown table.
    #[arg(long)]
    pub md: Option<PathBuf>,
    /// Name of this run in reports.
    #[arg(long, default_value = "run")]
    pub name: String,
    /// Also parse every non-streamed 2xx body fully as JSON (costs driver CPU).
    #[arg(long)]
    pub validate_json: bool,
    /// Make every request's prompt different (16 random hex characters at the start of
    /// the user message, or of `input`), so a response cache misses every time.
    #[arg(long)]
    pub unique_prompts: bool,
    /// Allow a non-loopback target (off: only 127.0.0.0/8 and ::1 are accepted).
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// `1k` → 1024, `256k`, `1m`, or a plain byte count.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = t.strip_suffix("kb").or_else(|| t.strip_suffix('k')) {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix("mb").or_else(|| t.strip_suffix('m')) {
        (n, 1024 * 1024)
    } else {
        (t.as_str(), 1)
    };
    num.trim()
        .parse::<usize>()
        .map(|n| n * mult)
        .map_err(|_| format!("bad size '{s}': use e.g. 1k, 16k, 256k, 1m or a byte count"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1k").unwrap(), 1024);
        assert_eq!(parse_size("256K").unwrap(), 262144);
        assert_eq!(parse_size("1m").unwrap(), 1 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("x").is_err());
    }
}
