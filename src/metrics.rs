//! Prometheus metrics, registered in the default registry (the one Pingora's own
//! metrics use). Label values come from closed sets: API names, HTTP status codes
//! the gateway sends, configured provider and key names, and closed outcome labels.
//!
//! Registration `expect`s: it runs once, at start-up (`init`), with constant names,
//! and fails only on a duplicate name, a programming error every test run catches.
#![allow(clippy::expect_used)]

use prometheus::{
    register_counter_vec, register_histogram_vec, register_int_counter, register_int_counter_vec,
    register_int_gauge, CounterVec, HistogramVec, IntCounter, IntCounterVec, IntGauge,
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

pub static RESPONSES_STORED_BYTES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "switchyard_responses_stored_bytes",
        "Bytes of stored /v1/responses responses held in process, keys included \
         (bounded by state.responses_max_bytes; with state.redis only those Redis could not take)"
    )
    .expect("metric registers once")
});

pub static RESPONSES_STORED: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "switchyard_responses_stored",
        "Stored /v1/responses responses held in process"
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

// OpenTelemetry GenAI semantic conventions (gen_ai.* metrics), in Prometheus spelling,
// with the conventions' advised bucket boundaries. Labels: see `pipeline::genai`.

/// Labels of the GenAI request histograms.
pub const GENAI_LABELS: [&str; 5] = [
    "gen_ai_operation_name",
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "gen_ai_response_model",
    "error_type",
];

pub static GENAI_TOKENS: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "gen_ai_client_token_usage",
        "Tokens per request by type (input, output, cached_input, cache_creation_input, reasoning)",
        &[
            "gen_ai_operation_name",
            "gen_ai_provider_name",
            "gen_ai_request_model",
            "gen_ai_response_model",
            "gen_ai_token_type",
        ],
        vec![
            1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0,
            4194304.0, 16777216.0, 67108864.0
        ]
    )
    .expect("metric registers once")
});

pub static GENAI_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "gen_ai_server_request_duration_seconds",
        "Chat request duration, to the last byte",
        &GENAI_LABELS,
        vec![
            0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92
        ]
    )
    .expect("metric registers once")
});

pub static GENAI_TTFT: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "gen_ai_server_time_to_first_token_seconds",
        "Time to the first streamed token sent to the client",
        &GENAI_LABELS,
        vec![
            0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
            10.0
        ]
    )
    .expect("metric registers once")
});

pub static GENAI_TPOT: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "gen_ai_server_time_per_output_token_seconds",
        "Time per output token after the first, of streamed responses",
        &GENAI_LABELS,
        vec![0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5]
    )
    .expect("metric registers once")
});

pub static COST_USD: LazyLock<CounterVec> = LazyLock::new(|| {
    register_counter_vec!(
        "switchyard_cost_usd_total",
        "USD spent at providers, by gateway key, provider and upstream model (configured names)",
        &["key", "provider", "model"]
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
    LazyLock::force(&IN_FLIGHT);
    LazyLock::force(&RATELIMITED);
    LazyLock::force(&KEY_REQUESTS);
    LazyLock::force(&KEY_TOKENS);
    LazyLock::force(&STATE_ERRORS);
    LazyLock::force(&CACHE_REQUESTS);
    LazyLock::force(&CACHE_BYTES);
    LazyLock::force(&CACHE_EVICTIONS);
    LazyLock::force(&RESPONSES_STORED_BYTES);
    LazyLock::force(&RESPONSES_STORED);
    LazyLock::force(&GENAI_TOKENS);
    LazyLock::force(&GENAI_DURATION);
    LazyLock::force(&GENAI_TTFT);
    LazyLock::force(&GENAI_TPOT);
    LazyLock::force(&COST_USD);
    LazyLock::force(&LOG_WRITE_ERRORS);
    LazyLock::force(&BODY_LOG_DROPPED);
}
