//! Switchyard: a high-throughput LLM gateway on Pingora.
//!
//! - [`config`]: the YAML file (or the embedded default) -> validated [`config::Config`].
//! - [`formats`]: wire formats (OpenAI, Anthropic), the canonical model, SSE, streaming.
//! - [`routing`]: model name -> ordered list of upstream candidates.
//! - [`upstream`]: provider peers (resolved off the request path) and one exchange.
//! - [`proxy`]: the Pingora `ProxyHttp` implementation; the request flow is documented there.
//! - [`pipeline`]: the request stages (key, allowlist, limits) and completion taps.
//! - [`state`]: per-key limit state, in process or in Redis.
//! - [`cache`]: the response cache (moka in process, optionally Redis).
//! - [`catalog`]: the model catalog (prices, limits, capabilities; models.dev format).
//! - [`memo`]: signed reasoning kept for OpenAI clients' tool loops to Anthropic.
//! - [`admin`], [`metrics`]: `/healthz`, `/readyz`, `/metrics` on the admin listener.
//! - [`shutdown`]: SIGTERM drains in-flight requests, then exits.
//! - [`logs`], [`logsink`]: access, app and body logs; files, rotation, `switchyard logs`.

// Nothing reachable from network input may panic: library code handles every
// failure (tests are exempt; the few start-up invariants say why they hold).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

pub mod admin;
pub mod app;
pub mod cache;
pub mod catalog;
pub mod config;
pub mod cost;
pub mod formats;
pub mod logs;
pub mod logsink;
pub mod memo;
pub mod metrics;
pub mod pipeline;
pub mod probe;
pub mod proxy;
pub mod responses_store;
pub mod routing;
pub mod shutdown;
pub mod state;
pub mod upstream;
