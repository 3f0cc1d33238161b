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
//! 0. [`bodylog::Capture`] — with `log.bodies.enabled`, first, so a request another
//!    stage turns away is logged too: keeps the body (up to `max_bytes`). w:
//!    `body_log`, `collect_answer`.
//! 2. [`auth::Authenticate`] — the key's `models` allowlist. r: `key`. 403 naming the
//!    model and the key's name.
//! 3. [`admit::Admit`] — rpm, tpm (a reservation: input estimated from the body plus
//!    the request's max output tokens), concurrency and spend budget (a reservation of
//!    the worst case at the dearest price the model may reach) of the key, in process
//!    or in Redis ([`crate::state`]). r: `key`; w: `quota` (the `x-ratelimit-*` headers every
//!    response then carries), `grant` (settled at the end), `limited`. 429 with the
//!    limiter's real `retry-after`; a rejected request takes no quota.
//! 4. [`cache::Lookup`] — the response cache ([`crate::cache`]), when any model has
//!    it on: the key of the canonical request, then moka, then Redis. A hit answers
//!    the request ([`Flow::Reply`]: the proxy renders the stored answer, plain or as
//!    a stream, in the caller's API). r: `key`, `api`; w: `cache` (the
//!    `x-switchyard-cache*` headers), `collect_answer` on a miss that will be stored,
//!    and on a hit `usage`.
//!
//! Then the proxy routes and runs the attempt loop ([`crate::proxy`]), which fills
//! `answer` when `collect_answer` asks for it.
//!
//! # Taps, at the end of every request (Pingora's `logging` phase)
//! - [`bodylog::Write`] — queues the body-log record (redacted and written by the
//!   body log's own thread). r: `body_log`, `answer` (cloned: the cache fill takes
//!   it), and the figures the access log shows.
//! - [`admit::Settle`] — settles the grant to the usage and cost the response
//!   reported (streams included; an interrupted one, or one that reported no usage,
//!   keeps its reservation, since what the provider billed is unknown) and ends the
//!   concurrency hold. r: `grant`, `usage`, `usage_complete`, `cost_usd`.
//! - [`RememberThinking`] — keeps the signed thinking of an Anthropic answer with
//!   tool calls that went to an OpenAI client ([`crate::memo`]). r: `remember_thinking`,
//!   `answer`, `key`.
//! - [`cache::Fill`] — stores `answer` under the looked-up key when the response was
//!   a complete success. r: `cache`, `answer`, `status`, `usage_complete`,
//!   `client_gone`.
//! - [`KeyMetrics`] — `switchyard_key_requests_total` / `_key_tokens_total` (a cache
//!   hit used no provider tokens).
//! - [`genai::GenAiMetrics`] — the OpenTelemetry GenAI histograms (duration, time to
//!   first token, time per output token, tokens by type) and
//!   `switchyard_cost_usd_total`, labelled with configured names only. r: `model`,
//!   `provider`, `upstream_model`, `status`, `ttfb`, `usage`, `cost_usd`, `key`.
//!
//! Stages and taps are built once from the config: a stage with nothing to do (no
//! key has limits) is not in the list, so it costs nothing per request.

pub mod admit;
pub mod auth;
pub mod bodylog;
pub mod cache;
pub mod genai;

use crate::cache::Cache;
use crate::config::Config;
use crate::formats::model::ChatResponse;
use crate::memo::ThinkingMemo;
use crate::metrics;
use crate::proxy::ctx::RequestCtx;
use crate::proxy::error::GatewayError;
use crate::routing::Router;
use crate::state::Limiter;
use std::sync::Arc;

/// What the first stages see: the request line and headers.
pub struct Head<'a> {
    pub headers: &'a http::HeaderMap,
}

/// What the later stages see: the whole body and what the envelope said.
pub struct ClientRequest<'a> {
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    /// The `model` as sent (an alias or `provider/model`).
    pub model: &'a str,
    /// `max_tokens` / `max_completion_tokens`, if the client set one.
    pub max_output_tokens: Option<u64>,
}

/// What a body stage decided.
#[derive(Debug)]
pub enum Flow {
    /// On to the next stage (after the last: routing).
    Next,
    /// Answer with this complete response (a cache hit).
    Reply(Arc<ChatResponse>),
}

/// One request stage.
pub enum Stage {
    BodyLog(bodylog::Capture),
    Authenticate(auth::Authenticate),
    Admit(admit::Admit),
    Cache(cache::Lookup),
}

impl Stage {
    fn on_head(&self, head: &Head<'_>, ctx: &mut RequestCtx) -> Result<(), GatewayError> {
        match self {
            Stage::Authenticate(s) => s.on_head(head, ctx),
            Stage::BodyLog(_) | Stage::Admit(_) | Stage::Cache(_) => Ok(()),
        }
    }

    async fn on_request(
        &self,
        req: &ClientRequest<'_>,
        ctx: &mut RequestCtx,
    ) -> Result<Flow, GatewayError> {
        match self {
            Stage::BodyLog(s) => {
                s.on_request(req, ctx);
                Ok(Flow::Next)
            }
            Stage::Authenticate(s) => s.on_request(req, ctx).map(|()| Flow::Next),
            Stage::Admit(s) => s.on_request(req, ctx).await.map(|()| Flow::Next),
            Stage::Cache(s) => s.on_request(req, ctx).await,
        }
    }
}

/// One completion tap.
pub enum Tap {
    BodyLog(bodylog::Write),
    Settle(admit::Settle),
    RememberThinking(RememberThinking),
    CacheFill(cache::Fill),
    KeyMetrics(KeyMetrics),
    GenAiMetrics(genai::GenAiMetrics),
}

impl Tap {
    fn on_complete(&self, ctx: &mut RequestCtx) {
        match self {
            Tap::BodyLog(t) => t.on_complete(ctx),
            Tap::Settle(t) => t.on_complete(ctx),
            Tap::RememberThinking(t) => t.on_complete(ctx),
            Tap::CacheFill(t) => t.on_complete(ctx),
            Tap::KeyMetrics(t) => t.on_complete(ctx),
            Tap::GenAiMetrics(t) => t.on_complete(ctx),
        }
    }
}

pub struct Pipeline {
    stages: Vec<Stage>,
    taps: Vec<Tap>,
}

impl Pipeline {
    pub fn new(
        config: &Arc<Config>,
        router: &Arc<Router>,
        limiter: &Arc<Limiter>,
        cache: Option<&Arc<Cache>>,
        memo: &Arc<ThinkingMemo>,
    ) -> Self {
        let mut stages = Vec::new();
        let mut taps = Vec::new();
        if let Some(b) = &config.log.bodies {
            stages.push(Stage::BodyLog(bodylog::Capture::new(b.max_bytes)));
            taps.push(Tap::BodyLog(bodylog::Write::new(config.clone())));
        }
        stages.push(Stage::Authenticate(auth::Authenticate::new(config.clone())));
        if config.keys.iter().any(|k| !k.limits.is_empty()) {
            stages.push(Stage::Admit(admit::Admit::new(
                config.clone(),
                limiter.clone(),
                router.clone(),
            )));
            taps.push(Tap::Settle(admit::Settle::new(
                config.clone(),
                limiter.clone(),
            )));
        }
        taps.push(Tap::RememberThinking(RememberThinking {
            config: config.clone(),
            memo: memo.clone(),
        }));
        if let Some(cache) = cache {
            stages.push(Stage::Cache(cache::Lookup::new(
                config.clone(),
                cache.clone(),
            )));
            taps.push(Tap::CacheFill(cache::Fill::new(cache.clone())));
        }
        if !config.keys.is_empty() {
            taps.push(Tap::KeyMetrics(KeyMetrics {
                config: config.clone(),
            }));
        }
        taps.push(Tap::GenAiMetrics(genai::GenAiMetrics::new(config.clone())));
        Pipeline { stages, taps }
    }

    /// Stages that need only the headers.
    pub fn on_head(&self, head: &Head<'_>, ctx: &mut RequestCtx) -> Result<(), GatewayError> {
        self.stages.iter().try_for_each(|s| s.on_head(head, ctx))
    }

    /// Stages that need the body; the first error or reply answers the request.
    pub async fn on_request(
        &self,
        req: &ClientRequest<'_>,
        ctx: &mut RequestCtx,
    ) -> Result<Flow, GatewayError> {
        for s in &self.stages {
            if let Flow::Reply(r) = s.on_request(req, ctx).await? {
                return Ok(Flow::Reply(r));
            }
        }
        Ok(Flow::Next)
    }

    /// Every tap, once per request, after the response ended.
    pub fn on_complete(&self, ctx: &mut RequestCtx) {
        for t in &self.taps {
            t.on_complete(ctx);
        }
    }
}

/// Tap: the signed thinking of a complete answer, kept for the client's next turn.
pub struct RememberThinking {
    config: Arc<Config>,
    memo: Arc<ThinkingMemo>,
}

impl RememberThinking {
    fn on_complete(&self, ctx: &mut RequestCtx) {
        if !ctx.remember_thinking || ctx.status != 200 || !ctx.usage_complete {
            return;
        }
        if let Some(answer) = &ctx.answer {
            self.memo.remember(tenant(&self.config, ctx.key), answer);
        }
    }
}

/// The gateway key's name, which scopes per-key state ("" on an open gateway).
pub fn tenant(config: &Config, key: Option<usize>) -> &str {
    key.and_then(|i| config.keys.get(i))
        .map_or("", |k| k.name.as_str())
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
        if ctx.provider.is_none() {
            // Answered by the gateway (an error, a cache hit): no provider tokens.
            return;
        }
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
