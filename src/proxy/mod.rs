//! The gateway's Pingora `ProxyHttp` implementation.
//!
//! # Request flow (Pingora phases in order, and the ctx fields each touches)
//!
//! 1. `new_ctx` — [`RequestCtx`] with the start time.
//! 2. `request_filter` — the whole exchange, then `Ok(true)` ("response sent"):
//!    1. request id: the client's `x-request-id` or a new one (`ctx.request_id`);
//!    2. route by method and path: `POST /v1/chat/completions` (OpenAI),
//!       `POST /v1/messages` (Anthropic), `GET /v1/models`, `GET /healthz` (`ctx.api`);
//!    3. gateway key from `Authorization: Bearer` or `x-api-key` (`ctx.key_name`);
//!    4. read the body whole, up to `limits.max_body_bytes` (413 beyond);
//!    5. parse the envelope (`model`, `stream`) (`ctx.model`, `ctx.stream`);
//!    6. candidates: alias targets, then fallback aliases ([`crate::routing`]);
//!    7. attempt loop: per candidate, translate (or rewrite `model` only, same
//!       format), send, and on connect error, timeout, 429, 5xx, or an error event
//!       before the first byte went out, move on (`ctx.attempts`, `ctx.provider`);
//!    8. respond: translate the body, or the SSE stream event by event, flushing each
//!       (`ctx.status`, `ctx.ttfb`, `ctx.usage`, `ctx.client_gone`).
//!
//!    Any failure is answered in the caller's API shape ([`GatewayError`]).
//! 3. `logging` — access log line and metrics from the ctx.
//!
//! `upstream_peer` and the later proxy phases are never reached. The upstream exchange
//! is driven here with Pingora's pooled connector instead of Pingora's own proxy
//! path, because (checked in 0.9.1) a body read in `request_filter` is forwarded only
//! through a 64 KiB retry buffer, and no phase can move to another upstream on an
//! HTTP status; LLM requests are often megabytes, and fallback on 429/5xx is the point.

pub mod ctx;
pub mod error;

use crate::config::{Config, Provider};
use crate::formats::model::{ChatRequest, ErrorKind};
use crate::formats::stream::{StreamObserver, StreamTranslator};
use crate::formats::{self, ApiFormat, EncodeOptions, Envelope};
use crate::metrics;
use crate::routing::{self, Candidate};
use crate::upstream::{AttemptError, Exchange, Upstreams};
use async_trait::async_trait;
use bytes::Bytes;
use ctx::RequestCtx;
use error::{redact, GatewayError};
use log::{debug, info, warn};
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{ProxyHttp, Session};
use std::sync::Arc;

/// Largest non-streaming provider response the gateway will buffer.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Largest provider error body read (the message is all that is kept).
const MAX_ERROR_BODY: usize = 64 * 1024;

pub struct Gateway {
    config: Arc<Config>,
    upstreams: Arc<Upstreams>,
    secrets: Vec<String>,
}

/// What went wrong in a streaming attempt.
enum StreamEnd {
    /// Nothing reached the client: the next candidate may be tried.
    BeforeFirstByte(AttemptError),
    /// The response was delivered (completely, or ended with an error event).
    Delivered,
}

impl Gateway {
    pub fn new(config: Arc<Config>, upstreams: Arc<Upstreams>) -> Self {
        let secrets = config.secrets();
        Gateway {
            config,
            upstreams,
            secrets,
        }
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
                self.authenticate(session, ctx)?;
                let body = self.models_body(ctx.api.unwrap_or(ApiFormat::OpenAi));
                return self.respond_json(session, ctx, 200, body, &[]).await;
            }
            ("GET", "/healthz") => {
                return self
                    .respond_json(session, ctx, 200, b"{\"status\":\"ok\"}".to_vec(), &[])
                    .await;
            }
            _ => {
                return Err(GatewayError::new(
                    ErrorKind::NotFound,
                    format!(
                    "no route for {method} {path}; Switchyard serves POST /v1/chat/completions, \
                         POST /v1/messages and GET /v1/models"
                ),
                ))
            }
        };
        ctx.api = Some(api);
        self.authenticate(session, ctx)?;
        if self.config.providers.is_empty() {
            return Err(GatewayError::new(ErrorKind::Overloaded, error::NO_PROVIDER));
        }
        let body = self.read_body(session).await?;
        let envelope = Envelope::parse(&body)?;
        let model = envelope.model.to_string();
        ctx.stream = envelope.stream.unwrap_or(false);
        ctx.model = Some(model.clone());
        let candidates = routing::candidates(&self.config, &model)?;
        self.attempt_loop(session, ctx, api, &body, &model, candidates)
            .await
    }

    /// Checks the gateway key. With no `keys:` configured the gateway is open.
    fn authenticate(&self, session: &Session, ctx: &mut RequestCtx) -> Result<(), GatewayError> {
        if self.config.keys.is_empty() {
            return Ok(());
        }
        let headers = &session.req_header().headers;
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim);
        let Some(presented) = presented else {
            return Err(GatewayError::new(
                ErrorKind::Authentication,
                "missing gateway key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
            ));
        };
        match self
            .config
            .keys
            .iter()
            .find(|k| constant_time_eq(k.key.as_bytes(), presented.as_bytes()))
        {
            Some(k) => {
                ctx.key_name = Some(k.name.clone());
                Ok(())
            }
            None => Err(GatewayError::new(
                ErrorKind::Authentication,
                "invalid gateway key: this key is not in the gateway's `keys:` list",
            )),
        }
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

    /// Tries each candidate in order until one delivers a response.
    async fn attempt_loop(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        api: ApiFormat,
        body: &[u8],
        model: &str,
        candidates: Vec<Candidate>,
    ) -> Result<(), GatewayError> {
        let mut canonical: Option<ChatRequest> = None;
        let mut last: Option<(String, String, AttemptError)> = None;
        let anthropic_beta = session
            .req_header()
            .headers
            .get("anthropic-beta")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        for cand in candidates {
            let provider = &cand.provider;
            let mut dropped = Vec::new();
            let upstream_body = if provider.format == api {
                formats::rewrite_model(body, &cand.model)?
            } else {
                if canonical.is_none() {
                    canonical = Some(formats::parse_request(api, body)?);
                }
                let req = canonical.as_ref().ok_or_else(|| {
                    GatewayError::new(ErrorKind::Internal, "request was not parsed")
                })?;
                dropped.clone_from(&req.dropped);
                let opts = EncodeOptions {
                    model: &cand.model,
                    default_max_tokens: provider.default_max_tokens,
                    sampling_params: provider.accepts_sampling_params(),
                };
                formats::encode_request(provider.format, req, &opts, &mut dropped)?
            };
            let include_usage = canonical.as_ref().is_none_or(|r| r.include_usage);
            let header = upstream_header(
                provider,
                upstream_body.len(),
                ctx.stream,
                anthropic_beta.as_deref(),
            )
            .map_err(|e| {
                GatewayError::new(
                    ErrorKind::Internal,
                    format!("building upstream request: {e}"),
                )
            })?;
            ctx.attempts += 1;
            let outcome: Result<(), AttemptError> =
                match self.upstreams.send(provider, &header, &upstream_body).await {
                    Err(e) => Err(e),
                    Ok(mut ex) if !(200..300).contains(&ex.status()) => {
                        let status = ex.status();
                        let retry_after = ex
                            .header
                            .headers
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let err_body = ex.read_all(MAX_ERROR_BODY).await.unwrap_or_default();
                        ex.release(&self.upstreams).await;
                        let message = formats::provider_error_message(provider.format, &err_body)
                            .map(|m| redact(&m, &self.secrets));
                        Err(AttemptError::Status {
                            status,
                            message,
                            retry_after,
                        })
                    }
                    Ok(ex) => {
                        ctx.provider = Some(provider.name.clone());
                        ctx.upstream_model = Some(cand.model.clone());
                        if ctx.stream {
                            match self
                                .stream_response(
                                    session,
                                    ctx,
                                    api,
                                    provider,
                                    ex,
                                    include_usage,
                                    &dropped,
                                )
                                .await
                            {
                                StreamEnd::Delivered => {
                                    metrics::ATTEMPTS
                                        .with_label_values(&[&provider.name, "ok"])
                                        .inc();
                                    return Ok(());
                                }
                                StreamEnd::BeforeFirstByte(e) => Err(e),
                            }
                        } else {
                            match self
                                .plain_response(session, ctx, api, provider, ex, &dropped)
                                .await
                            {
                                Ok(()) => {
                                    metrics::ATTEMPTS
                                        .with_label_values(&[&provider.name, "ok"])
                                        .inc();
                                    return Ok(());
                                }
                                Err(e) => Err(e),
                            }
                        }
                    }
                };
            let Err(e) = outcome else { continue };
            metrics::ATTEMPTS
                .with_label_values(&[&provider.name, e.label()])
                .inc();
            info!(
                "request_id={} attempt={} provider={} model={} failed: {} ({})",
                ctx.request_id,
                ctx.attempts,
                provider.name,
                cand.model,
                e.label(),
                redact(&format!("{e:?}"), &self.secrets)
            );
            let try_next = e.try_next();
            last = Some((provider.name.clone(), cand.model.clone(), e));
            if !try_next {
                break;
            }
        }
        ctx.provider = None;
        let Some((provider, upstream_model, e)) = last else {
            return Err(GatewayError::new(
                ErrorKind::NotFound,
                format!("model '{model}' has no targets"),
            ));
        };
        ctx.error = Some(e.label().to_string());
        let mut g = GatewayError::from_attempt(&provider, &upstream_model, &e, ctx.attempts);
        g.message = redact(&g.message, &self.secrets);
        Err(g)
    }

    /// Non-streaming: read the provider body whole, translate it, send it.
    async fn plain_response(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        api: ApiFormat,
        provider: &Provider,
        mut ex: Exchange,
        dropped: &[String],
    ) -> Result<(), AttemptError> {
        let body = ex.read_all(MAX_RESPONSE_BYTES).await?;
        let upstream_id = upstream_request_id(&ex.header);
        ex.release(&self.upstreams).await;
        let parsed = formats::parse_response(provider.format, &body)
            .map_err(|e| AttemptError::Protocol(format!("unreadable response body: {e}")))?;
        ctx.usage = Some(parsed.usage);
        let out = if provider.format == api {
            body
        } else {
            formats::encode_response(api, &parsed)
        };
        let extra = self.provider_headers(ctx, provider, dropped, upstream_id);
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Err(e) = self.respond_json(session, ctx, 200, out, &extra).await {
            debug!(
                "request_id={} writing response: {}",
                ctx.request_id, e.message
            );
            ctx.client_gone = true;
        }
        Ok(())
    }

    /// Streaming: relay provider events as they come, translated when formats differ.
    /// Output is held back until the stream has produced real content, so a provider
    /// that fails at once (error event, early close) can still be failed over.
    #[allow(clippy::too_many_arguments)]
    async fn stream_response(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        api: ApiFormat,
        provider: &Provider,
        mut ex: Exchange,
        include_usage: bool,
        dropped: &[String],
    ) -> StreamEnd {
        let same = provider.format == api;
        let mut observer = same.then(|| StreamObserver::new(api));
        let mut translator =
            (!same).then(|| StreamTranslator::new(provider.format, api, include_usage));
        let upstream_id = upstream_request_id(&ex.header);
        let mut held: Vec<u8> = Vec::new();
        let mut committed = false;
        let mut out: Vec<u8> = Vec::with_capacity(4096);
        loop {
            let chunk = ex.read_chunk().await;
            let ended = matches!(chunk, Ok(None));
            match chunk {
                Ok(Some(bytes)) => match (&mut observer, &mut translator) {
                    (Some(o), _) => {
                        o.observe(&bytes);
                        out.extend_from_slice(&bytes);
                    }
                    (_, Some(t)) => t.feed(&bytes, &mut out),
                    _ => {}
                },
                Ok(None) => match (&mut observer, &mut translator) {
                    (Some(o), _) => {
                        o.finish();
                        if let Some(msg) = o.status().error.clone().filter(|_| !o.status().done) {
                            out.extend_from_slice(&stream_error_event(
                                api,
                                ErrorKind::Upstream,
                                &msg,
                            ));
                        }
                    }
                    (_, Some(t)) => t.finish(&mut out),
                    _ => {}
                },
                Err(e) => {
                    if !committed {
                        return StreamEnd::BeforeFirstByte(e);
                    }
                    let msg = format!(
                        "the provider stream broke off before it finished ({})",
                        e.label()
                    );
                    match &mut translator {
                        Some(t) => t.abort(ErrorKind::Upstream, &msg, &mut out),
                        None => out.extend_from_slice(&stream_error_event(
                            api,
                            ErrorKind::Upstream,
                            &msg,
                        )),
                    }
                    ctx.error = Some(e.label().to_string());
                }
            }
            let status = match (&observer, &translator) {
                (Some(o), _) => o.status().clone(),
                (_, Some(t)) => t.status().clone(),
                _ => Default::default(),
            };
            let failed = ctx.error.is_some();
            if !committed {
                if let Some(msg) = status.error.as_ref().filter(|_| !status.produced) {
                    return StreamEnd::BeforeFirstByte(AttemptError::Protocol(format!(
                        "stream error before any content: {}",
                        redact(msg, &self.secrets)
                    )));
                }
                if !status.produced && !ended {
                    held.append(&mut out);
                    continue;
                }
                if !status.produced && ended {
                    return StreamEnd::BeforeFirstByte(AttemptError::Protocol(
                        "stream ended before any content".into(),
                    ));
                }
                committed = true;
                let extra = self.provider_headers(ctx, provider, dropped, upstream_id.clone());
                if self.start_stream(session, ctx, &extra).await.is_err() {
                    ctx.client_gone = true;
                    return StreamEnd::Delivered;
                }
                held.append(&mut out);
                std::mem::swap(&mut held, &mut out);
            }
            if !out.is_empty() {
                let data = Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(4096)));
                if session
                    .write_response_body(Some(data), false)
                    .await
                    .is_err()
                {
                    // Client gone: dropping `ex` closes the upstream connection, which
                    // cancels the generation at the provider.
                    ctx.client_gone = true;
                    break;
                }
            }
            if ended || failed || status.error.is_some() {
                let _ = session.write_response_body(None, true).await;
                break;
            }
        }
        ctx.usage = Some(match (&observer, &translator) {
            (Some(o), _) => o.usage(),
            (_, Some(t)) => t.usage(),
            _ => Default::default(),
        });
        if ctx.error.is_none() && !ctx.client_gone {
            ex.release(&self.upstreams).await;
        }
        StreamEnd::Delivered
    }

    async fn start_stream(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        extra: &[(&'static str, String)],
    ) -> pingora_error::Result<()> {
        let mut resp = ResponseHeader::build(200, Some(8))?;
        resp.insert_header("content-type", "text/event-stream")?;
        resp.insert_header("cache-control", "no-cache")?;
        resp.insert_header("transfer-encoding", "chunked")?;
        resp.insert_header("x-request-id", ctx.request_id.as_str())?;
        for (k, v) in extra {
            resp.insert_header(*k, v.as_str())?;
        }
        ctx.status = 200;
        ctx.ttfb = Some(ctx.started.elapsed());
        session.write_response_header(Box::new(resp), false).await
    }

    fn provider_headers(
        &self,
        ctx: &RequestCtx,
        provider: &Provider,
        dropped: &[String],
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
            h.push(("x-switchyard-upstream-request-id", id));
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
        let write = async {
            let mut resp = ResponseHeader::build(status, Some(4 + extra.len()))?;
            resp.insert_header("content-type", "application/json")?;
            resp.insert_header("content-length", body.len().to_string())?;
            resp.insert_header("x-request-id", ctx.request_id.as_str())?;
            for (k, v) in extra {
                resp.insert_header(k.to_string(), *v)?;
            }
            ctx.status = status;
            ctx.ttfb = Some(ctx.started.elapsed());
            session.write_response_header(Box::new(resp), false).await?;
            session
                .write_response_body(Some(Bytes::from(body)), true)
                .await
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
        let message = redact(&e.message, &self.secrets);
        if ctx.error.is_none() {
            ctx.error = Some(format!("{:?}", e.kind));
        }
        let body = formats::encode_error(api, e.kind, &message);
        let attempts = ctx.attempts.to_string();
        let mut extra: Vec<(&str, &str)> = Vec::with_capacity(2);
        if let Some(r) = &e.retry_after {
            extra.push(("retry-after", r.as_str()));
        }
        if ctx.attempts > 0 {
            extra.push(("x-switchyard-attempts", attempts.as_str()));
        }
        let _ = self
            .respond_json(session, ctx, e.status, body, &extra)
            .await;
    }

    fn models_body(&self, api: ApiFormat) -> Vec<u8> {
        let names: Vec<&String> = self.config.aliases.keys().collect();
        let v = match api {
            ApiFormat::OpenAi => serde_json::json!({
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

/// The provider's own request id, passed on for support tickets.
fn upstream_request_id(h: &ResponseHeader) -> Option<String> {
    h.headers
        .get("request-id")
        .or_else(|| h.headers.get("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An error event in the client's stream format.
fn stream_error_event(api: ApiFormat, kind: ErrorKind, message: &str) -> Vec<u8> {
    let body = formats::encode_error(api, kind, message);
    let mut out = Vec::with_capacity(body.len() + 24);
    let name = match api {
        ApiFormat::OpenAi => None,
        ApiFormat::Anthropic => Some("error"),
    };
    formats::sse::write_event(&mut out, name, &String::from_utf8_lossy(&body));
    out
}

/// The request sent to a provider: its path, host, auth and framing. The client's
/// own headers are not forwarded (their credentials are for the gateway), except
/// `anthropic-beta` to Anthropic providers.
fn upstream_header(
    p: &Provider,
    body_len: usize,
    stream: bool,
    anthropic_beta: Option<&str>,
) -> pingora_error::Result<RequestHeader> {
    let mut h = RequestHeader::build("POST", p.path.as_bytes(), Some(9))?;
    h.insert_header("host", p.host_header.as_str())?;
    h.insert_header("content-type", "application/json")?;
    h.insert_header("content-length", body_len.to_string())?;
    h.insert_header("accept-encoding", "identity")?;
    h.insert_header(
        "accept",
        if stream {
            "text/event-stream"
        } else {
            "application/json"
        },
    )?;
    h.insert_header(
        "user-agent",
        concat!("switchyard/", env!("CARGO_PKG_VERSION")),
    )?;
    match p.format {
        ApiFormat::OpenAi => {
            let mut v = http::HeaderValue::from_str(&format!("Bearer {}", p.api_key))
                .or_else(|_| Error::e_explain(ErrorType::InvalidHTTPHeader, "api key"))?;
            v.set_sensitive(true);
            h.insert_header("authorization", v)?;
        }
        ApiFormat::Anthropic => {
            let mut v = http::HeaderValue::from_str(&p.api_key)
                .or_else(|_| Error::e_explain(ErrorType::InvalidHTTPHeader, "api key"))?;
            v.set_sensitive(true);
            h.insert_header("x-api-key", v)?;
            h.insert_header("anthropic-version", p.anthropic_version.as_str())?;
            if let Some(b) = anthropic_beta {
                h.insert_header("anthropic-beta", b)?;
            }
        }
    }
    Ok(h)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
        let req = session.req_header();
        info!(
            target: "switchyard::access",
            "request_id={} method={} path={} status={} api={} key={} model={} provider={} upstream_model={} stream={} attempts={} input_tokens={} cached_tokens={} output_tokens={} ttfb_ms={} duration_ms={} client_gone={} error={}",
            ctx.request_id,
            req.method,
            req.uri.path(),
            ctx.status,
            api,
            ctx.key_name.as_deref().unwrap_or("-"),
            ctx.model.as_deref().unwrap_or("-"),
            ctx.provider.as_deref().unwrap_or("-"),
            ctx.upstream_model.as_deref().unwrap_or("-"),
            ctx.stream,
            ctx.attempts,
            usage.input_tokens,
            usage.cache_read_tokens,
            usage.output_tokens,
            ctx.ttfb.map_or(0, |d| d.as_millis()),
            elapsed.as_millis(),
            ctx.client_gone,
            ctx.error.as_deref().unwrap_or("-"),
        );
    }
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
            p.format.as_str(),
            if p.tls { "https" } else { "http" },
            p.host,
            p.port,
            p.path
        );
    }
}
