//! The request pipeline: ordered stages over one per-request state
//! ([`RequestCtx`]), and taps that see every request's completion.
//!
//! # Stages, in order, and the ctx fields each reads (r) and writes (w)
//!
//! Before the body is read ([`Pipeline::on_head`], so an unauthenticated client
//! cannot make the gateway buffer a large body):
//! 1. [`auth::Authenticate`] — gateway key from `Authorization: Bearer` or
//!    `x-api-key`, SHA-256, compared in constant time with every configured key.
//!    w: `key`. 401 if missing or unknown (when keys are configured).
//!
//! After the body is read and its envelope parsed ([`Pipeline::on_request`]):
//! 2. [`auth::Authenticate`] — the key's `models` allowlist. r: `key`. 403 naming the
//!    model and the key's name.
//! 3. [`admit::Admit`] — rpm, tpm (a reservation: input estimated from the body plus
//!    the request's max output tokens) and concurrency of the key, in process or in
//!    Redis ([`crate::state`]). r: `key`; w: `quota` (the `x-ratelimit-*` headers every
//!    response then carries), `grant` (settled at the end), `limited`. 429 with the
//!    limiter's real `retry-after`; a rejected request takes no quota.
//! 4. (policy, 5. cache: the places the next stages go.)
//!
//! Then the proxy routes and runs the attempt loop ([`crate::proxy`]).
//!
//! # Taps, at the end of every request (Pingora's `logging` phase)
//! - [`admit::Settle`] — settles the grant to the usage the response reported
//!   (streams included; an interrupted one, or one that reported no usage, keeps
//!   its reservation, since what the provider billed is unknown) and ends the
//!   concurrency hold. r: `grant`, `usage`, `usage_complete`.
//! - [`KeyMetrics`] — `switchyard_key_requests_total` / `_key_tokens_total`.
//!
//! Stages and taps are built once from the config: a stage with nothing to do (no
//! key has limits) is not in the list, so it costs nothing per request.

pub mod admit;
pub mod auth;

use crate::config::Config;
use crate::metrics;
use crate::proxy::ctx::RequestCtx;
use crate::proxy::error::GatewayError;
use crate::state::Limiter;
use std::sync::Arc;

/// What the first stages see: the request line and headers.
pub struct Head<'a> {
    pub headers: &'a http::HeaderMap,
}

/// What the later stages see: the whole body and what the envelope said.
pub struct ClientRequest<'a> {
    pub body: &'a [u8],
    /// The `model` as sent (an alias or `provider/model`).
    pub model: &'a str,
    /// `max_tokens` / `max_completion_tokens`, if the client set one.
    pub max_output_tokens: Option<u64>,
}

/// One request stage.
pub enum Stage {
    Authenticate(auth::Authenticate),
    Admit(admit::Admit),
}

impl Stage {
    fn on_head(&self, head: &Head<'_>, ctx: &mut RequestCtx) -> Result<(), GatewayError> {
        match self {
            Stage::Authenticate(s) => s.on_head(head, ctx),
            Stage::Admit(_) => Ok(()),
        }
    }

    async fn on_request(
        &self,
        req: &ClientRequest<'_>,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        match self {
            Stage::Authenticate(s) => s.on_request(req, ctx),
            Stage::Admit(s) => s.on_request(req, ctx).await,
        }
    }
}

/// One completion tap.
pub enum Tap {
    Settle(admit::Settle),
    KeyMetrics(KeyMetrics),
}

impl Tap {
    fn on_complete(&self, ctx: &mut RequestCtx) {
        match self {
            Tap::Settle(t) => t.on_complete(ctx),
            Tap::KeyMetrics(t) => t.on_complete(ctx),
        }
    }
}

pub struct Pipeline {
    stages: Vec<Stage>,
    taps: Vec<Tap>,
}

impl Pipeline {
    pub fn new(config: &Arc<Config>, limiter: &Arc<Limiter>) -> Self {
        let mut stages = vec![Stage::Authenticate(auth::Authenticate::new(config.clone()))];
        let mut taps = Vec::new();
        if config.keys.iter().any(|k| !k.limits.is_empty()) {
            stages.push(Stage::Admit(admit::Admit::new(
                config.clone(),
                limiter.clone(),
            )));
            taps.push(Tap::Settle(admit::Settle::new(limiter.clone())));
        }
        if !config.keys.is_empty() {
            taps.push(Tap::KeyMetrics(KeyMetrics {
                config: config.clone(),
            }));
        }
        Pipeline { stages, taps }
    }

    /// Stages that need only the headers.
    pub fn on_head(&self, head: &Head<'_>, ctx: &mut RequestCtx) -> Result<(), GatewayError> {
        self.stages.iter().try_for_each(|s| s.on_head(head, ctx))
    }

    /// Stages that need the body; the first error answers the request.
    pub async fn on_request(
        &self,
        req: &ClientRequest<'_>,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        for s in &self.stages {
            s.on_request(req, ctx).await?;
        }
        Ok(())
    }

    /// Every tap, once per request, after the response ended.
    pub fn on_complete(&self, ctx: &mut RequestCtx) {
        for t in &self.taps {
            t.on_complete(ctx);
        }
    }
}

/// Requests and settled tokens per gateway key. Labels are configured key names, or
/// `unknown` for a request whose key was missing or wrong.
pub struct KeyMetrics {
    config: Arc<Config>,
}

impl KeyMetrics {
    fn on_complete(&self, ctx: &mut RequestCtx) {
        if ctx.api.is_none() {
            // Health checks and unknown paths are no key's requests.
            return;
        }
        let name = ctx
            .key
            .and_then(|i| self.config.keys.get(i))
            .map_or("unknown", |k| k.name.as_str());
        metrics::KEY_REQUESTS.with_label_values(&[name]).inc();
        if let Some(u) = ctx.usage {
            for (kind, n) in [("input", u.input_tokens), ("output", u.output_tokens)] {
                if n > 0 {
                    metrics::KEY_TOKENS
                        .with_label_values(&[name, kind])
                        .inc_by(n);
                }
            }
        }
    }
}
