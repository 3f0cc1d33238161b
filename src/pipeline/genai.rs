//! Tap: OpenTelemetry GenAI metrics (`gen_ai_*`, Prometheus spelling) and the spend
//! counter, once per chat request.
//!
//! Label values come only from the config: `gen_ai_request_model` is a configured
//! alias, `gen_ai_response_model` a configured target's upstream model, the provider
//! a configured provider name, the key a configured key name. Anything else (a
//! client's made-up `provider/model`) is `_OTHER`, so clients cannot grow the
//! registry. `error_type` is a closed set: the error kind of the status sent, or
//! `stream_error` / `client_gone` for a stream that started and did not finish.

use crate::config::Config;
use crate::formats::model::ErrorKind;
use crate::metrics;
use crate::proxy::ctx::RequestCtx;
use std::collections::HashSet;
use std::sync::Arc;

/// The label of anything not configured (the OTel spelling for "other").
pub const OTHER: &str = "_OTHER";

pub struct GenAiMetrics {
    config: Arc<Config>,
    /// Upstream models of alias targets.
    target_models: HashSet<String>,
}

impl GenAiMetrics {
    pub fn new(config: Arc<Config>) -> Self {
        let target_models = config
            .aliases
            .values()
            .flat_map(|a| a.targets.iter().map(|t| t.model.clone()))
            .collect();
        GenAiMetrics {
            config,
            target_models,
        }
    }

    pub fn on_complete(&self, ctx: &mut RequestCtx) {
        let Some(model) = ctx.model.as_deref() else {
            // Not a chat request (health check, /v1/models, an unknown path).
            return;
        };
        let request_model = if self.config.aliases.contains_key(model) {
            model
        } else {
            OTHER
        };
        let response_model = match ctx.upstream_model.as_deref() {
            Some(m) if self.target_models.contains(m) => m,
            Some(_) => OTHER,
            None => "",
        };
        // Configured names only: the proxy sets it from `Config::providers`.
        let provider = ctx.provider.as_deref().unwrap_or("");
        let error_type = if ctx.status != 200 {
            ErrorKind::from_status(ctx.status).label()
        } else if ctx.client_gone {
            "client_gone"
        } else if ctx.error.is_some() {
            "stream_error"
        } else {
            ""
        };
        let labels = ["chat", provider, request_model, response_model, error_type];
        let elapsed = ctx.started.elapsed();
        metrics::GENAI_DURATION
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
        if ctx.stream && ctx.status == 200 {
            if let Some(ttft) = ctx.ttfb {
                metrics::GENAI_TTFT
                    .with_label_values(&labels)
                    .observe(ttft.as_secs_f64());
                let output = ctx.usage.map_or(0, |u| u.output_tokens);
                if output > 1 {
                    let per_token =
                        elapsed.saturating_sub(ttft).as_secs_f64() / (output - 1) as f64;
                    metrics::GENAI_TPOT
                        .with_label_values(&labels)
                        .observe(per_token);
                }
            }
        }
        if ctx.provider.is_none() {
            // No provider served it (an error, a cache hit): no tokens, no spend.
            return;
        }
        if let Some(u) = ctx.usage {
            let uncached = u
                .input_tokens
                .saturating_sub(u.cache_read_tokens + u.cache_write_tokens);
            for (kind, n) in [
                ("input", uncached),
                ("cached_input", u.cache_read_tokens),
                ("cache_creation_input", u.cache_write_tokens),
                ("output", u.output_tokens),
                ("reasoning", u.reasoning_tokens),
            ] {
                if n > 0 {
                    metrics::GENAI_TOKENS
                        .with_label_values(&["chat", provider, request_model, response_model, kind])
                        .observe(n as f64);
                }
            }
        }
        if let Some(usd) = ctx.cost_usd.filter(|c| *c > 0.0) {
            let key = super::tenant(&self.config, ctx.key);
            let model = if response_model.is_empty() {
                OTHER
            } else {
                response_model
            };
            metrics::COST_USD
                .with_label_values(&[key, provider, model])
                .inc_by(usd);
        }
    }
}
