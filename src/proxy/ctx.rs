//! Per-request state (`ProxyHttp::CTX`). Filled in by `request_filter` as the request
//! moves through its steps and pipeline stages (`crate::pipeline` lists which stage
//! writes what), read by `logging` for the taps, the access log and metrics.

use crate::config::Price;
use crate::formats::model::{ChatResponse, Usage};
use crate::formats::ApiFormat;
use crate::pipeline::cache::CacheState;
use crate::state::{Grant, LimitKind, Quota};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RequestCtx {
    /// Set first; echoed as `x-request-id` on every response.
    pub request_id: String,
    pub started: Instant,
    /// Client API, once the path is known.
    pub api: Option<ApiFormat>,
    /// The gateway key used, by index into `Config::keys` (its name is what logs show).
    pub key: Option<usize>,
    /// The key's limit state after admission, sent as `x-ratelimit-*` headers.
    pub quota: Option<Quota>,
    /// The admitted request's hold on its key's limits, settled in `logging`.
    pub grant: Option<Grant>,
    /// The limit that turned the request away.
    pub limited: Option<LimitKind>,
    /// What the response cache did (`x-switchyard-cache*` headers, the access log).
    pub cache: Option<CacheState>,
    /// A tap needs the complete answer: the attempt loop assembles it into `answer`.
    pub collect_answer: bool,
    /// An Anthropic answer to an OpenAI client that may carry signed thinking with
    /// tool calls: kept for the next turn ([`crate::memo`]).
    pub remember_thinking: bool,
    /// The complete answer (a stream's events put together), when collected and the
    /// response ended properly.
    pub answer: Option<ChatResponse>,
    /// A Responses-API request's response id, creation time and echoed fields, for
    /// the encoders (`crate::proxy::responses`).
    pub responses: Option<Box<crate::formats::responses::Meta>>,
    /// A Responses request to keep once its answer is complete: the attempt loop
    /// stores it before the client gets the last byte, so a continuation sent at once
    /// (to any instance) finds it.
    pub(super) responses_store: Option<Box<super::responses::PendingStore>>,
    /// A Responses request whose `previous_response_id` the gateway did not store:
    /// only a Responses pass-through provider (`responses: true`), which may hold it,
    /// is tried.
    pub provider_state: bool,
    /// The client's body as the body log keeps it (`log.bodies`).
    pub body_log: Option<crate::pipeline::bodylog::Captured>,
    /// The `model` the client asked for.
    pub model: Option<String>,
    pub stream: bool,
    /// Provider and upstream model that served the response.
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    /// The serving target's price (config or catalog), for `cost_usd`.
    pub price: Option<Price>,
    /// Upstream attempts made (0 when the request never left the gateway).
    pub attempts: u32,
    /// Status sent to the client.
    pub status: u16,
    /// Time to the first response byte sent to the client.
    pub ttfb: Option<Duration>,
    pub usage: Option<Usage>,
    /// `usage` is the provider's final figure (the response ended properly).
    pub usage_complete: bool,
    /// What the request cost in USD at its target's prices (`None`: no price known, or
    /// no provider answered).
    pub cost_usd: Option<f64>,
    /// Short reason for a failure (bounded vocabulary plus context), for the log.
    pub error: Option<String>,
    /// The client went away mid-response.
    pub client_gone: bool,
    /// Counts this request in flight until the context is dropped (see `shutdown`).
    _in_flight: crate::shutdown::InFlight,
}

impl RequestCtx {
    pub fn new() -> Self {
        RequestCtx {
            request_id: String::new(),
            started: Instant::now(),
            api: None,
            key: None,
            quota: None,
            grant: None,
            limited: None,
            cache: None,
            collect_answer: false,
            responses_store: None,
            remember_thinking: false,
            answer: None,
            responses: None,
            provider_state: false,
            body_log: None,
            model: None,
            stream: false,
            provider: None,
            upstream_model: None,
            price: None,
            attempts: 0,
            status: 0,
            ttfb: None,
            usage: None,
            usage_complete: false,
            cost_usd: None,
            error: None,
            client_gone: false,
            _in_flight: crate::shutdown::InFlight::start(),
        }
    }
}

impl RequestCtx {
    /// The provider's usage for this response, and what it cost at `price`.
    /// No usage at all (an OpenAI pass-through stream without `include_usage`) is an
    /// unknown cost, not a free request.
    pub fn record_usage(&mut self, usage: Usage) {
        self.cost_usd = self
            .price
            .filter(|_| usage.total() > 0)
            .map(|p| crate::cost::usd(&usage, &p));
        self.usage = Some(usage);
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);
static SEED: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| fastrand::u32(..));

/// The client's `x-request-id` when it is short and plain, else a fresh one.
pub fn request_id(client: Option<&[u8]>) -> String {
    if let Some(v) = client {
        let ok = !v.is_empty()
            && v.len() <= 128
            && v.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b));
        if ok {
            return String::from_utf8_lossy(v).into_owned();
        }
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("sy-{:08x}-{n:x}", *SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert_eq!(request_id(Some(b"abc-123")), "abc-123");
        let a = request_id(Some(b"bad id\n"));
        let b = request_id(None);
        assert!(a.starts_with("sy-") && b.starts_with("sy-") && a != b);
    }
}
