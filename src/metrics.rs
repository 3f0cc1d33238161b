//! Prometheus metrics, registered in the default registry (the one Pingora's own
//! metrics use). Label values come from closed sets: API names, HTTP status codes
//! the gateway sends, configured provider and key names, and closed outcome labels.
//!
//! Registration `expect`s: it runs once, at start-up (`init`), with constant names,
//! and fails only on a duplicate name, a programming error every test run catches.
#![allow(clippy::expect_used)]

use prometheus::{
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge,
    HistogramVec, IntCounter, IntCounterVec, IntGauge,
};
use std::sync::LazyLock;

pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_requests_total",
        "Client requests by API and response status",
        &["api", "status"]
    )
    .expect("metric registers once")
});

pub static REQUEST_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "switchyard_request_duration_seconds",
        "Client request duration, to the last byte",
        &["api"],
        vec![0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 15.0, 30.0, 60.0, 120.0]
    )
    .expect("metric registers once")
});

pub static ATTEMPTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_upstream_attempts_total",
        "Upstream attempts by provider and outcome",
        &["provider", "outcome"]
    )
    .expect("metric registers once")
});

pub static TOKENS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_tokens_total",
        "Tokens reported by providers",
        &["provider", "kind"]
    )
    .expect("metric registers once")
});

pub static RATELIMITED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_ratelimited_total",
        "Requests turned away by a gateway key's limit (key: configured name)",
        &["key", "limit"]
    )
    .expect("metric registers once")
});

pub static KEY_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_key_requests_total",
        "Requests by gateway key (configured name; `unknown` for a missing or invalid key)",
        &["key"]
    )
    .expect("metric registers once")
});

pub static KEY_TOKENS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_key_tokens_total",
        "Tokens reported by providers, by gateway key (configured name)",
        &["key", "kind"]
    )
    .expect("metric registers once")
});

pub static STATE_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_state_errors_total",
        "Errors and timeouts talking to the shared state store (Redis), by operation",
        &["op"]
    )
    .expect("metric registers once")
});

pub static CACHE_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_cache_requests_total",
        "Chat requests by response-cache outcome (hit, miss, bypass)",
        &["outcome"]
    )
    .expect("metric registers once")
});

pub static CACHE_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "switchyard_cache_bytes",
        "Bytes of answers held by the in-process response cache (bounded by cache.max_bytes)"
    )
    .expect("metric registers once")
});

pub static CACHE_EVICTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "switchyard_cache_evictions_total",
        "Entries the in-process response cache dropped, by reason (size, expired)",
        &["reason"]
    )
    .expect("metric registers once")
});

pub static IN_FLIGHT: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "switchyard_requests_in_flight",
        "Client requests being handled (SIGTERM exits once this is zero)"
    )
    .expect("metric registers once")
});

pub static LOG_LINES_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "switchyard_log_lines_dropped_total",
        "Log lines dropped because the log writer thread fell behind"
    )
    .expect("metric registers once")
});

pub static LOG_WRITE_ERRORS: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "switchyard_log_write_errors_total",
        "Failed writes or reopens of a log file (its lines go to stderr meanwhile)"
    )
    .expect("metric registers once")
});

pub static BODY_LOG_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "switchyard_body_log_dropped_total",
        "Body-log records dropped: the queue was full or the file could not be written"
    )
    .expect("metric registers once")
});

/// Text exposition of every registered metric.
pub fn render() -> Vec<u8> {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let _ = prometheus::TextEncoder::new().encode(&prometheus::gather(), &mut buf);
    buf
}

/// Registers all metrics so they show up (at zero) before the first request.
pub fn init() {
    LazyLock::force(&REQUESTS);
    LazyLock::force(&REQUEST_SECONDS);
    LazyLock::force(&ATTEMPTS);
    LazyLock::force(&TOKENS);
    LazyLock::force(&LOG_LINES_DROPPED);
    LazyLock::force(&LOG_WRITE_ERRORS);
    LazyLock::force(&BODY_LOG_DROPPED);
    LazyLock::force(&IN_FLIGHT);
    LazyLock::force(&RATELIMITED);
    LazyLock::force(&KEY_REQUESTS);
    LazyLock::force(&KEY_TOKENS);
    LazyLock::force(&STATE_ERRORS);
    LazyLock::force(&CACHE_REQUESTS);
    LazyLock::force(&CACHE_BYTES);
    LazyLock::force(&CACHE_EVICTIONS);
}
