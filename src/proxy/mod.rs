//! The gateway's Pingora `ProxyHttp` implementation.
//!
//! # Request flow (Pingora phases in order, and the ctx fields each touches)
//!
//! 1. `new_ctx` — [`RequestCtx`] with the start time.
//! 2. `request_filter` — the whole exchange, then `Ok(true)` ("response sent"):
//!    1. request id: the client's `x-request-id` or a new one (`ctx.request_id`);
//!    2. route by method and path: `POST /v1/chat/completions` (OpenAI),
//!       `POST /v1/messages` (Anthropic), `GET /v1/models`, `GET /healthz` (`ctx.api`);
//!    3. header stages of the [`Pipeline`]: the gateway key (`ctx.key`);
//!    4. read the body whole, up to `limits.max_body_bytes` (413 beyond);
//!    5. parse the envelope (`model`, `stream`) (`ctx.model`, `ctx.stream`);
//!    6. body stages of the [`Pipeline`]: the key's model allowlist, its limits
//!       (`ctx.quota`, `ctx.grant`, `ctx.limited`), the response cache (`ctx.cache`);
//!       any of them may answer instead, a cache hit with the stored answer, rendered
//!       plain or as a stream in the caller's API;
//!    7. candidates: alias targets, then fallback aliases ([`crate::routing`]);
//!    8. attempt loop: per candidate, translate (or rewrite `model` only, same
//!       format), send, and on connect error, timeout, 429, 5xx, or an error event
//!       before the first byte went out, move on (`ctx.attempts`, `ctx.provider`);
//!    9. respond: translate the body, or the SSE stream event by event, flushing each
//!       (`ctx.status`, `ctx.ttfb`, `ctx.usage`, `ctx.usage_complete`, `ctx.client_gone`),
//!       and put the canonical answer together when a tap asked (`ctx.answer`).
//!
//!    Any failure is answered in the caller's API shape ([`GatewayError`]). Every
//!    response, error or success, plain or streamed, carries `x-request-id`, for a
//!    key with rpm/tpm limits the `x-ratelimit-*` headers from `ctx.quota`, and with
//!    the cache on the `x-switchyard-cache*` headers from `ctx.cache`.
//! 3. `logging` — the pipeline's taps (quota settlement, cache fill, key metrics),
//!    then the access log line and metrics from the ctx.
//!
//! `upstream_peer` and the later proxy phases are never reached. The upstream exchange
//! is driven here with Pingora's HTTP/1 client (see [`crate::upstream`]) instead of
//! Pingora's own proxy path, because (checked in 0.9.1) a body read in `request_filter` is forwarded only
//! through a 64 KiB retry buffer, and no phase can move to another upstream on an
//! HTTP status; LLM requests are often megabytes, and fallback on 429/5xx is the point.

pub mod access;
mod attempt;
pub mod ctx;
pub mod error;
mod responses;
pub mod scrub;

use crate::cache::Cache;
use crate::config::{Config, Provider};
use crate::cost::format_usd;
use crate::formats::model::{ChatResponse, ErrorKind};
use crate::formats::{self, ApiFormat, Envelope};
use crate::memo::ThinkingMemo;
use crate::metrics;
use crate::pipeline::cache::{CacheState, Outcome};
use crate::pipeline::{ClientRequest, Flow, Head, Pipeline};
use crate::routing::{RequestFacts, Router};
use crate::state::{reset_text, Limiter, Quota};
use crate::upstream::Upstreams;
use async_trait::async_trait;
use ctx::RequestCtx;
use error::GatewayError;
use log::{info, warn};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType};
use pingora_http::ResponseHeader;
use pingora_proxy::{ProxyHttp, Session};
use scrub::{write_body, Scrubber};
use std::sync::Arc;

pub struct Gateway {
    config: Arc<Config>,
    router: Arc<Router>,
    upstreams: Arc<Upstreams>,
    pipeline: Pipeline,
    /// Signed thinking kept for OpenAI clients' tool loops ([`crate::memo`]).
    memo: Arc<ThinkingMemo>,
    /// Every response body and stream write goes through it (see [`scrub`]).
    scrub: Scrubber,
    /// Stored `/v1/responses` responses ([`crate::responses_store`]).
    responses: Arc<crate::responses_store::ResponseStore>,
}

impl Gateway {
    pub fn new(
        router: Arc<Router>,
        upstreams: Arc<Upstreams>,
        limiter: &Arc<Limiter>,
        cache: Option<&Arc<Cache>>,
    ) -> Self {
        let config = router.config().clone();
        let scrub = Scrubber::new(&config.secrets());
        // Shared through the Redis the limits or the cache use, if any.
        let memo_redis = config.state.redis.as_ref().or(config
            .cache
            .redis
            .as_ref()
            .map(|r| &r.redis));
        let memo = Arc::new(ThinkingMemo::new(memo_redis));
        let pipeline = Pipeline::new(&config, &router, limiter, cache, &memo);
        // In Redis only with `state.redis` (the memo's link is that one then).
        let responses = Arc::new(crate::responses_store::ResponseStore::new(
            config.state.responses_ttl(),
            config.state.responses_max_bytes(),
            config
                .state
                .redis
                .as_ref()
                .and_then(|_| memo.redis_link().cloned()),
        ));
        Gateway {
            config,
            router,
            upstreams,
            pipeline,
            memo,
            scrub,
            responses,
        }
    }

    /// The stored responses, for `/metrics` to publish their figures.
    pub fn responses_store(&self) -> Arc<crate::responses_store::ResponseStore> {
        self.responses.clone()
    }

    /// The thinking memo's Redis link, for the connector service.
    pub fn memo_redis_link(&self) -> Option<Arc<crate::state::redis::RedisLink>> {
        self.memo.redis_link().cloned()
    }

    async fn handle(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        let (method, path) = {
            let req = session.req_header();
            (req.method.clone(), req.uri.path().to_string())
        };
        let api = match (method.as_str(), path.as_str()) {
            ("POST", "/v1/chat/completions") => ApiFormat::OpenAi,
            ("POST", "/v1/messages") => ApiFormat::Anthropic,
            // Boxed: its future stays out of every other request's.
            ("POST", "/v1/responses") => return Box::pin(self.create_response(session, ctx)).await,
            (m @ ("GET" | "DELETE"), p)
                if p.strip_prefix("/v1/responses/")
                    .is_some_and(|id| !id.contains('/')) =>
            {
                let id = &path["/v1/responses/".len()..];
                return Box::pin(self.stored_response(session, ctx, m == "DELETE", id)).await;
            }
            ("GET", "/v1/models") => {
                ctx.api = Some(
                    if session
                        .req_header()
                        .headers
                        .contains_key("anthropic-version")
                    {
                        ApiFormat::Anthropic
                    } else {
                        ApiFormat::OpenAi
                    },
                );
                let head = Head {
                    headers: &session.req_header().headers,
                };
                self.pipeline.on_head(&head, ctx)?;
                let body = self.models_body(ctx.api.unwrap_or(ApiFormat::OpenAi), ctx.key);
                return self.respond_json(session, ctx, 200, body, &[]).await;
            }
            ("GET", "/healthz") => {
                return self
                    .respond_json(session, ctx, 200, b"{\"status\":\"ok\"}".to_vec(), &[])
                    .await;
            }
            _ => return Err(route_error(session, ctx, method.as_str(), &path)),
        };
        ctx.api = Some(api);
        let head = Head {
            headers: &session.req_header().headers,
        };
        self.pipeline.on_head(&head, ctx)?;
        if self.config.providers.is_empty() {
            return Err(GatewayError::new(ErrorKind::Overloaded, error::NO_PROVIDER));
        }
        let body = self.read_body(session).await?;
        let envelope = Envelope::parse(&body)?;
        let model = envelope.model.to_string();
        ctx.stream = envelope.stream.unwrap_or(false);
        ctx.model = Some(model.clone());
        let max_output_tokens = envelope.max_completion_tokens.or(envelope.max_tokens);
        let request = ClientRequest {
            headers: &session.req_header().headers,
            body: &body,
            model: &model,
            max_output_tokens,
        };
        if let Flow::Reply(answer) = self.pipeline.on_request(&request, ctx).await? {
            return self.reply(session, ctx, api, &answer).await;
        }
        let facts = RequestFacts {
            stream: ctx.stream,
            input_tokens: body.len() as u64 / 4,
            max_output_tokens: max_output_tokens
                .unwrap_or(u64::from(self.config.default_max_tokens)),
        };
        let pin = session
            .req_header()
            .headers
            .get("x-switchyard-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let plan = self.router.plan(&model, &facts, pin.as_deref())?;
        self.attempt_loop(session, ctx, api, &body, &model, plan)
            .await
    }

    /// Answers with a complete stored response, plain or as a stream.
    async fn reply(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        api: ApiFormat,
        answer: &ChatResponse,
    ) -> Result<(), GatewayError> {
        if !ctx.stream {
            let body = formats::encode_response(api, answer);
            return self.respond_json(session, ctx, 200, body, &[]).await;
        }
        let include_usage = ctx.cache.as_ref().is_some_and(|c| c.include_usage);
        let events = formats::answer::replay_stream(answer, api, include_usage);
        let sent = async {
            self.start_stream(session, ctx, &[]).await?;
            write_body(session, Some(self.scrub.bytes(events)), true).await
        };
        sent.await.map_err(|e: Box<Error>| {
            ctx.client_gone = true;
            GatewayError::new(
                ErrorKind::Internal,
                format!("writing response: {}", e.etype().as_str()),
            )
        })
    }

    async fn read_body(&self, session: &mut Session) -> Result<Vec<u8>, GatewayError> {
        let limit = self.config.max_body_bytes;
        let too_large = || {
            GatewayError::new(
                ErrorKind::RequestTooLarge,
                format!("request body is larger than limits.max_body_bytes ({limit} bytes)"),
            )
        };
        let declared = session
            .req_header()
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut body = Vec::with_capacity(declared.unwrap_or(0) as usize);
        loop {
            match session.read_request_body().await {
                Ok(Some(chunk)) => {
                    if (body.len() + chunk.len()) as u64 > limit {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(body),
                Err(e) => {
                    return Err(GatewayError::new(
                        ErrorKind::InvalidRequest,
                        format!("could not read the request body: {}", e.etype().as_str()),
                    ))
                }
            }
        }
    }

    fn provider_headers(
        &self,
        ctx: &RequestCtx,
        provider: &Provider,
        dropped: &[std::borrow::Cow<'_, str>],
        upstream_id: Option<String>,
    ) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("x-switchyard-provider", provider.name.clone()),
            ("x-switchyard-attempts", ctx.attempts.to_string()),
        ];
        if !dropped.is_empty() {
            h.push(("x-switchyard-dropped", dropped.join(",")));
        }
        if let Some(id) = upstream_id {
            h.push(("x-switchyard-upstream-request-id", self.scrub.text(&id)));
        }
        h
    }

    async fn respond_json(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        status: u16,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Result<(), GatewayError> {
        // Scrubbed first: `content-length` is the length of what is sent.
        let body = self.scrub.bytes(body);
        let write = async {
            let quota = if ctx.quota.is_some() { 7 } else { 0 };
            let cache = if ctx.cache.is_some() { 3 } else { 0 };
            // No case map: names are lowercase already (see `attempt::upstream_header`).
            let mut resp =
                ResponseHeader::build_no_case(status, Some(5 + quota + cache + extra.len()))?;
            resp.insert_header("content-type", "application/json")?;
            resp.insert_header("content-length", body.len().to_string())?;
            resp.insert_header("x-request-id", ctx.request_id.as_str())?;
            // Known only once the whole answer is in: streams log it instead.
            if let Some(usd) = ctx.cost_usd {
                resp.insert_header("x-switchyard-cost-usd", format_usd(usd))?;
            }
            quota_headers(&mut resp, ctx.quota.as_ref())?;
            cache_headers(&mut resp, ctx.cache.as_ref())?;
            for (k, v) in extra {
                resp.insert_header(k.to_string(), *v)?;
            }
            ctx.status = status;
            ctx.ttfb = Some(ctx.started.elapsed());
            // Header and body leave in one `send` (see `app::DOWNSTREAM_BUFFERS`).
            session.write_response_header(Box::new(resp), false).await?;
            write_body(session, Some(body), true).await
        };
        write.await.map_err(|e: Box<Error>| {
            ctx.client_gone = true;
            GatewayError::new(
                ErrorKind::Internal,
                format!("writing response: {}", e.etype().as_str()),
            )
        })
    }

    async fn respond_error(&self, session: &mut Session, ctx: &mut RequestCtx, e: GatewayError) {
        let api = ctx.api.unwrap_or(ApiFormat::OpenAi);
        let message = self.scrub.text(&e.message);
        if ctx.error.is_none() {
            ctx.error = Some(format!("{:?}", e.kind));
        }
        let body = formats::encode_error(api, e.kind, &message);
        let attempts = ctx.attempts.to_string();
        let mut extra: Vec<(&str, &str)> = Vec::with_capacity(3);
        if let Some(r) = &e.retry_after {
            extra.push(("retry-after", r.as_str()));
        }
        if let Some(allow) = e.allow {
            extra.push(("allow", allow));
        }
        if ctx.attempts > 0 {
            extra.push(("x-switchyard-attempts", attempts.as_str()));
        }
        let _ = self
            .respond_json(session, ctx, e.status, body, &extra)
            .await;
    }

    /// The configured aliases, less those the caller's key may not use.
    fn models_body(&self, api: ApiFormat, key: Option<usize>) -> Vec<u8> {
        let key = key.and_then(|i| self.config.keys.get(i));
        let names: Vec<&String> = self
            .config
            .aliases
            .keys()
            .filter(|a| key.is_none_or(|k| k.allows(a)))
            .collect();
        let v = match api {
            ApiFormat::OpenAi | ApiFormat::Responses => serde_json::json!({
                "object": "list",
                "data": names.iter().map(|n| serde_json::json!({
                    "id": n, "object": "model", "created": 0, "owned_by": "switchyard"
                })).collect::<Vec<_>>()
            }),
            ApiFormat::Anthropic => serde_json::json!({
                "data": names.iter().map(|n| serde_json::json!({
                    "type": "model", "id": n, "display_name": n, "created_at": "1970-01-01T00:00:00Z"
                })).collect::<Vec<_>>(),
                "has_more": false,
                "first_id": names.first(),
                "last_id": names.last(),
            }),
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    /// Never reached: `request_filter` always answers (see the module doc).
    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> pingora_error::Result<Box<HttpPeer>> {
        Error::e_explain(
            ErrorType::InternalError,
            "switchyard answers every request in request_filter",
        )
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora_error::Result<bool> {
        if crate::shutdown::draining() {
            // Close each client connection after its response, so clients reconnect
            // to an instance that stays.
            session.set_keepalive(None);
        }
        ctx.request_id = ctx::request_id(
            session
                .req_header()
                .headers
                .get("x-request-id")
                .map(|v| v.as_bytes()),
        );
        if let Err(e) = self.handle(session, ctx).await {
            if ctx.status == 0 {
                self.respond_error(session, ctx, e).await;
            }
        }
        Ok(true)
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        self.pipeline.on_complete(ctx);
        let api = ctx.api.map_or("none", ApiFormat::as_str);
        let elapsed = ctx.started.elapsed();
        metrics::REQUESTS
            .with_label_values(&[api, &ctx.status.to_string()])
            .inc();
        metrics::REQUEST_SECONDS
            .with_label_values(&[api])
            .observe(elapsed.as_secs_f64());
        let usage = ctx.usage.unwrap_or_default();
        if let Some(p) = &ctx.provider {
            if usage.input_tokens > 0 {
                metrics::TOKENS
                    .with_label_values(&[p, "input"])
                    .inc_by(usage.input_tokens);
            }
            if usage.output_tokens > 0 {
                metrics::TOKENS
                    .with_label_values(&[p, "output"])
                    .inc_by(usage.output_tokens);
            }
        }
        if !access::enabled() {
            return;
        }
        let req = session.req_header();
        access::write(|line| {
            line.word("request_id", &ctx.request_id)
                .word("method", &req.method)
                .text("path", Some(req.uri.path()))
                .field("status", ctx.status)
                .word("api", api)
                .text(
                    "key",
                    ctx.key
                        .and_then(|i| self.config.keys.get(i))
                        .map(|k| k.name.as_str()),
                )
                .text("model", ctx.model.as_deref())
                .text("provider", ctx.provider.as_deref())
                .text("upstream_model", ctx.upstream_model.as_deref())
                .field("stream", ctx.stream)
                .field("attempts", ctx.attempts)
                .field("input_tokens", usage.input_tokens)
                .field("cached_tokens", usage.cache_read_tokens)
                .field("output_tokens", usage.output_tokens)
                .number("cost_usd", ctx.cost_usd.map(format_usd).as_deref())
                .field("ttfb_ms", ctx.ttfb.map_or(0, |d| d.as_millis()))
                .field("duration_ms", elapsed.as_millis())
                .field("client_gone", ctx.client_gone)
                .text("limit", ctx.limited.map(|l| l.as_str()))
                .text("cache", ctx.cache.as_ref().map(|c| c.outcome.as_str()))
                .text("error", ctx.error.as_deref());
        });
    }
}

/// No route for this method and path: 405 with `allow` when the path exists, else
/// 404, in the API the caller speaks (the path, or an `anthropic-version` header).
fn route_error(session: &Session, ctx: &mut RequestCtx, method: &str, path: &str) -> GatewayError {
    let anthropic = path.starts_with("/v1/messages")
        || session
            .req_header()
            .headers
            .contains_key("anthropic-version");
    ctx.api = Some(if anthropic {
        ApiFormat::Anthropic
    } else {
        ApiFormat::OpenAi
    });
    let allowed = match path {
        "/v1/chat/completions" | "/v1/messages" | "/v1/responses" => Some("POST"),
        "/v1/models" | "/healthz" => Some("GET"),
        _ => None,
    };
    match allowed {
        Some(allow) => {
            let mut e = GatewayError::new(
                ErrorKind::MethodNotAllowed,
                format!("{method} is not allowed on {path}; use {allow} {path}"),
            );
            e.allow = Some(allow);
            e
        }
        None => GatewayError::new(
            ErrorKind::RouteNotFound,
            format!(
                "no route for {method} {path}; Switchyard serves POST /v1/chat/completions, \
                 POST /v1/messages, POST /v1/responses (GET and DELETE /v1/responses/{{id}}) \
                 and GET /v1/models"
            ),
        ),
    }
}

/// OpenAI's rate-limit headers for a key with rpm / tpm limits, and what is left of
/// its spend budget.
pub(crate) fn quota_headers(
    resp: &mut ResponseHeader,
    quota: Option<&Quota>,
) -> pingora_error::Result<()> {
    let Some(q) = quota else { return Ok(()) };
    const REQUESTS: [&str; 3] = [
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    ];
    const TOKENS: [&str; 3] = [
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ];
    for (names, r) in [(REQUESTS, &q.requests), (TOKENS, &q.tokens)] {
        if let Some(r) = r {
            resp.insert_header(names[0], r.limit)?;
            resp.insert_header(names[1], r.remaining)?;
            resp.insert_header(names[2], reset_text(r.reset))?;
        }
    }
    if let Some(b) = &q.budget {
        resp.insert_header(
            "x-switchyard-budget-remaining-usd",
            format_usd(b.remaining_nano as f64 / crate::config::keys::NANO_USD),
        )?;
    }
    Ok(())
}

/// `x-switchyard-cache` (hit, miss, bypass), `x-switchyard-cache-key` on hits and
/// misses, `age` (whole seconds) on hits.
pub(crate) fn cache_headers(
    resp: &mut ResponseHeader,
    cache: Option<&CacheState>,
) -> pingora_error::Result<()> {
    let Some(c) = cache else { return Ok(()) };
    resp.insert_header("x-switchyard-cache", c.outcome.as_str())?;
    if let Some(key) = &c.key {
        resp.insert_header("x-switchyard-cache-key", hex::encode(key))?;
    }
    if let Outcome::Hit { age } = c.outcome {
        resp.insert_header("age", age.as_secs().to_string())?;
    }
    Ok(())
}

/// Logs what start-up should say about the config (open gateway, no providers).
pub fn announce(config: &Config) {
    if config.keys.is_empty() {
        warn!("no gateway keys configured: the gateway is OPEN to anyone who can reach {}; add `keys:` to the config (or SWITCHYARD_KEYS) to require one", config.listen);
    }
    if config.providers.is_empty() {
        warn!("{}", error::NO_PROVIDER);
    }
    for p in &config.providers {
        info!(
            "provider '{}': {} at {}://{}:{}{}",
            p.name,
            p.format.name(),
            if p.tls { "https" } else { "http" },
            p.host,
            p.port,
            p.path
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// async_trait copies `request_filter`'s future into a fresh box on every request,
    /// and every in-flight request, streams included, keeps that box to its end: growth
    /// here is memory per stream. It was 26 KB before session 4 (an async `release`,
    /// connectors' futures inline); ~3.9 KB since in release builds with rustc 1.95.
    /// The bound (1.5x) leaves room for compiler differences; un-boxing the fetch in
    /// `attempt` (7.3 KB) breaks it. Debug and release builds measure the same.
    #[test]
    fn the_request_future_stays_small() {
        let config = Config::from_yaml(
            "providers:\n  o: { type: openai, api_key: x, base_url: 'http://127.0.0.1:9' }\n",
            "test",
            &|_: &str| None,
        )
        .unwrap();
        let config = Arc::new(config);
        let gateway = Gateway::new(
            Arc::new(Router::new(
                config.clone(),
                Arc::new(crate::routing::NoPrices),
            )),
            Arc::new(Upstreams::new(&config)),
            &Arc::new(Limiter::new(&config)),
            None,
        );
        let (_client, server) = tokio::io::duplex(64);
        let mut session = Session::new_h1(Box::new(server));
        let mut ctx = RequestCtx::new();
        let size = std::mem::size_of_val(&gateway.handle(&mut session, &mut ctx));
        assert!(
            size <= 6 * 1024,
            "the request future is {size} bytes; box large, rarely used sub-futures \
             (see the comments in proxy/attempt.rs)"
        );
    }
}
