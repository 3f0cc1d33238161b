//! The attempt loop: walk the candidate list, ask each deployment's breaker, send,
//! retry the same target with backoff or move on, and deliver the response (plain or
//! streamed, translated when the formats differ).
//!
//! Failure rules (see `AttemptError::try_next`): connect errors, timeouts, 429, 5xx,
//! 401/403/404 from a provider, unreadable responses and streams that fail before
//! any content move on; 400/413/422 from a provider are the request's fault and are
//! returned at once. Nothing moves on once a byte went to the client: a stream that
//! breaks later ends with an error event in the client's format.

use super::ctx::RequestCtx;
use super::error::GatewayError;
use super::scrub::write_body;
use super::Gateway;
use crate::config::Provider;
use crate::formats::model::{ChatRequest, ChatResponse, ErrorKind};
use crate::formats::stream::{StreamObserver, StreamTranslator};
use crate::formats::{self, ApiFormat, EncodeOptions};
use crate::metrics;
use crate::routing::deployment::{Admission, Outcome};
use crate::routing::retry::{parse_retry_after, retry_delay};
use crate::routing::Candidate;
use crate::upstream::{AttemptError, Exchange};
use bytes::Bytes;
use log::{debug, info};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::Session;
use std::borrow::Cow;
use std::time::{Duration, Instant};

/// Largest non-streaming provider response the gateway will buffer.
const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// Largest provider error body read (the message is all that is kept).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest stream event held while waiting for its end: a provider that never ends
/// one would otherwise grow the buffer without bound.
const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// How an attempt that did not fail ended.
enum Delivered {
    /// The response went out; `ttft` is when its first byte did.
    Done { ttft: Duration },
    /// A stream broke after bytes went out (ended with an error event).
    Broken,
    /// The client went away; the upstream request was dropped with it.
    ClientGone,
}

/// What one upstream attempt needs besides the candidate.
struct Attempt<'a> {
    api: ApiFormat,
    cand: &'a Candidate,
    header: RequestHeader,
    /// Shared, not copied, by each send (HTTP/2 takes it as `Bytes`).
    body: Bytes,
    include_usage: bool,
    dropped: Vec<Cow<'a, str>>,
    /// Keep the answer's signed thinking for the client's next turn.
    remember_thinking: bool,
    /// A Responses request forwarded as it is to an OpenAI provider with
    /// `responses: true`: its answer is a Responses body, read only for usage.
    responses_pt: bool,
}

/// Whether a request of `api` goes to `provider` as it is, as a Responses API call.
fn responses_passthrough(api: ApiFormat, provider: &Provider) -> bool {
    api == ApiFormat::Responses && provider.responses_path.is_some()
}

impl Gateway {
    /// Tries each candidate in order until one delivers a response.
    pub(super) async fn attempt_loop(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        api: ApiFormat,
        body: &[u8],
        model: &str,
        plan: Vec<Candidate>,
    ) -> Result<(), GatewayError> {
        // Parsed on the first translating attempt; borrows from `body`.
        let mut canonical: Option<ChatRequest<'_>> = None;
        let mut last: Option<(String, String, AttemptError)> = None;
        let mut reopens: Option<Instant> = None;
        let anthropic_beta = session
            .req_header()
            .headers
            .get("anthropic-beta")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let tenant = crate::pipeline::tenant(&self.config, ctx.key);
        let mut restored = false;
        // Candidates skipped because the conversation lives at a Responses provider.
        let mut skipped_for_state = 0;
        'candidates: for cand in &plan {
            let provider = &cand.provider;
            let responses_pt = responses_passthrough(api, provider);
            if ctx.provider_state && !responses_pt {
                info!(
                    "request_id={} provider={} model={} skipped: previous_response_id is not stored by the gateway and this provider is translated",
                    ctx.request_id, provider.name, cand.model
                );
                skipped_for_state += 1;
                continue;
            }
            // Signed reasoning an OpenAI client could not carry back (see `crate::memo`),
            // for providers that want it with the tool calls it belongs to.
            if api == ApiFormat::OpenAi && !restored && !provider.passes_through(api) {
                let req = match &mut canonical {
                    Some(r) => r,
                    None => canonical.insert(formats::parse_request(api, body)?),
                };
                if provider.format.signed_tool_turns(req) {
                    restored = true;
                    self.memo.restore(tenant, req).await;
                }
            }
            let (upstream_body, dropped) = if responses_pt {
                (formats::rewrite_model(body, &cand.model)?, Vec::new())
            } else {
                self.upstream_body(api, body, cand, &mut canonical)?
            };
            let include_usage = canonical.as_ref().is_none_or(|r| r.include_usage);
            let remember_thinking = api == ApiFormat::OpenAi
                && canonical
                    .as_ref()
                    .is_some_and(|r| !r.tools.is_empty() && provider.format.signed_tool_turns(r));
            let outgoing = formats::Outgoing {
                model: &cand.model,
                stream: ctx.stream,
                body: &upstream_body,
                anthropic_beta: anthropic_beta.as_deref(),
            };
            let header = provider
                .format
                .request_header(provider, &outgoing)
                .and_then(|mut h| {
                    if let Some(path) = provider.responses_path.as_deref().filter(|_| responses_pt)
                    {
                        h.set_uri(path.parse().map_err(|e| {
                            pingora_error::Error::because(
                                pingora_error::ErrorType::InternalError,
                                "responses path",
                                e,
                            )
                        })?);
                    }
                    Ok(h)
                })
                .map_err(|e| {
                    GatewayError::new(
                        ErrorKind::Internal,
                        format!("building upstream request: {e}"),
                    )
                })?;
            let mut attempt = Attempt {
                api,
                cand,
                header,
                body: Bytes::from(upstream_body),
                include_usage,
                dropped,
                remember_thinking,
                responses_pt,
            };
            let mut retry = 0;
            // Once per candidate: the body may still name it (a tool schema's property).
            let mut stream_options_retried = false;
            loop {
                if let Admission::No { until } = cand.stats.admit(Instant::now()) {
                    reopens = Some(reopens.map_or(until, |r| r.min(until)));
                    info!(
                        "request_id={} provider={} model={} skipped: circuit open",
                        ctx.request_id, provider.name, cand.model
                    );
                    continue 'candidates;
                }
                ctx.attempts += 1;
                let started = Instant::now();
                let result = {
                    let _inflight = cand.stats.start();
                    self.attempt(session, ctx, &attempt).await
                };
                let now = Instant::now();
                let e = match result {
                    Ok(Delivered::Done { ttft }) => {
                        cand.stats.record(now, Outcome::Success, &cand.breaker);
                        cand.stats.observe_latency(now, ttft, now - started);
                        metrics::ATTEMPTS
                            .with_label_values(&[&provider.name, "ok"])
                            .inc();
                        return Ok(());
                    }
                    Ok(Delivered::Broken) => {
                        cand.stats.record(now, Outcome::Failure, &cand.breaker);
                        metrics::ATTEMPTS
                            .with_label_values(&[&provider.name, "broken_stream"])
                            .inc();
                        return Ok(());
                    }
                    Ok(Delivered::ClientGone) => {
                        metrics::ATTEMPTS
                            .with_label_values(&[&provider.name, "client_gone"])
                            .inc();
                        return Ok(());
                    }
                    Err(e) => e,
                };
                cand.stats.record(now, breaker_outcome(&e), &cand.breaker);
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
                    self.scrub.text(&format!("{e:?}"))
                );
                if !stream_options_retried && rejected_stream_options(&e, &attempt.body) {
                    stream_options_retried = true;
                    // Remembered for every later request to this provider; this one is
                    // sent again at once without it (no retry is used up).
                    if provider.learn_rejects_stream_options() {
                        info!(
                            "provider={} rejects stream_options; streamed requests go without it from now on",
                            provider.name
                        );
                    }
                    let (b, _) = self.upstream_body(api, body, cand, &mut canonical)?;
                    let outgoing = formats::Outgoing {
                        model: &cand.model,
                        stream: ctx.stream,
                        body: &b,
                        anthropic_beta: anthropic_beta.as_deref(),
                    };
                    attempt.header = provider
                        .format
                        .request_header(provider, &outgoing)
                        .map_err(|e| {
                            GatewayError::new(
                                ErrorKind::Internal,
                                format!("building upstream request: {e}"),
                            )
                        })?;
                    attempt.body = Bytes::from(b);
                    continue;
                }
                if !e.try_next() {
                    last = Some((provider.name.clone(), cand.model.clone(), e));
                    break 'candidates;
                }
                let delay = (retry < cand.retries)
                    .then(|| {
                        retry_delay(
                            &cand.backoff,
                            retry,
                            e.retry_after(),
                            cand.timeouts.total,
                            fastrand::f64(),
                        )
                    })
                    .flatten();
                last = Some((provider.name.clone(), cand.model.clone(), e));
                let Some(delay) = delay else { break };
                debug!(
                    "request_id={} retrying {} in {delay:?}",
                    ctx.request_id, provider.name
                );
                retry += 1;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = client_gone(session) => {
                        ctx.client_gone = true;
                        return Ok(());
                    }
                }
            }
        }
        ctx.provider = None;
        if last.is_none() && skipped_for_state > 0 {
            ctx.error = Some("provider_state".into());
            return Err(GatewayError::new(
                ErrorKind::ResponseNotFound,
                format!(
                    "previous_response_id is not stored by the gateway, and no target of model '{model}' is an OpenAI provider with `responses: true` that could hold it; send the whole conversation as `input`, or route the model to such a provider"
                ),
            ));
        }
        let Some((provider, upstream_model, e)) = last else {
            let wait = reopens.map_or(1, |r| {
                r.saturating_duration_since(Instant::now()).as_secs().max(1)
            });
            ctx.error = Some("circuit_open".into());
            let mut g = GatewayError::new(
                ErrorKind::Overloaded,
                format!(
                    "every deployment for model '{model}' is cooling down after failures (circuit open); retry in {wait}s"
                ),
            );
            g.retry_after = Some(wait.to_string());
            return Err(g);
        };
        ctx.error = Some(e.label().to_string());
        let mut g = GatewayError::from_attempt(&provider, &upstream_model, &e, ctx.attempts);
        g.message = self.scrub.text(&g.message);
        Err(g)
    }

    /// The body for one candidate: the client's bytes with `model` replaced when the
    /// formats match, else the canonical request (parsed once) in the provider's format.
    fn upstream_body<'b>(
        &self,
        api: ApiFormat,
        body: &'b [u8],
        cand: &Candidate,
        canonical: &mut Option<ChatRequest<'b>>,
    ) -> Result<(Vec<u8>, Vec<Cow<'b, str>>), GatewayError> {
        let provider = &cand.provider;
        if provider.passes_through(api) {
            let drop: &[&str] = if provider.takes_stream_options() {
                &[]
            } else {
                &["stream_options"]
            };
            return Ok((formats::rewrite_body(body, &cand.model, drop)?, Vec::new()));
        }
        let req = match canonical {
            Some(r) => r,
            None => canonical.insert(formats::parse_request(api, body)?),
        };
        let mut dropped = req.dropped.clone();
        let opts = EncodeOptions {
            model: &cand.model,
            // The model's own output limit, when the catalog knows a smaller one.
            default_max_tokens: cand.max_output.map_or(provider.default_max_tokens, |m| {
                m.min(u64::from(provider.default_max_tokens)) as u32
            }),
            sampling_params: provider.accepts_sampling_params(),
            preset: provider.preset,
            stream_options: provider.takes_stream_options(),
        };
        let out = provider.format.encode_request(req, &opts, &mut dropped)?;
        Ok((out, dropped))
    }

    /// One upstream attempt, bounded by the candidate's total timeout, abandoned if
    /// the client goes away.
    async fn attempt(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        a: &Attempt<'_>,
    ) -> Result<Delivered, AttemptError> {
        let started = Instant::now();
        let deadline = a.cand.timeouts.total.map(|t| started + t);
        let provider = &a.cand.provider;
        let timed_out = || {
            AttemptError::Timeout(format!(
                "no complete answer within the total timeout of {:?}",
                a.cand.timeouts.total.unwrap_or_default()
            ))
        };
        // Response header (and, when not streaming, the whole body) before anything
        // goes to the client. Boxed (~2.6 KB) and dropped once it is done: inline, the
        // `until` and `select!` wrappers would each lay out a copy in this future,
        // which every in-flight request, streams included, carries to its end.
        // Sizes: `handle`'s future is ~3.9 KB (rustc 1.95); keep an eye on it, since
        // async_trait copies it into a fresh box on every request.
        let fetch = Box::pin(async {
            let mut ex = self
                .upstreams
                .send(provider, &a.cand.timeouts, &a.header, &a.body)
                .await?;
            if !(200..300).contains(&ex.status()) {
                return Err(self.status_error(provider, ex).await);
            }
            let body = if ctx.stream {
                None
            } else {
                Some(ex.read_all(MAX_RESPONSE_BYTES).await?)
            };
            Ok((ex, body))
        });
        let fetched = tokio::select! {
            r = until(deadline, fetch) => r.unwrap_or_else(|| Err(timed_out())),
            _ = client_gone(session) => {
                ctx.client_gone = true;
                return Ok(Delivered::ClientGone);
            }
        };
        let (ex, body) = fetched?;
        if a.remember_thinking {
            ctx.remember_thinking = true;
            ctx.collect_answer = true;
        }
        ctx.provider = Some(provider.name.clone());
        ctx.upstream_model = Some(a.cand.model.clone());
        ctx.price = a.cand.price;
        match body {
            Some(body) => {
                self.plain_response(session, ctx, a, ex, body, started)
                    .await
            }
            // Boxed so that plain requests do not carry the stream relay's state
            // (several KB) in their future.
            None => Box::pin(self.stream_response(session, ctx, a, ex, started, deadline)).await,
        }
    }

    /// Reads a provider error response into an `AttemptError::Status`.
    async fn status_error(&self, provider: &Provider, mut ex: Exchange) -> AttemptError {
        let status = ex.status();
        let h = ex.header();
        let header = |n: &str| {
            h.and_then(|h| h.headers.get(n))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = parse_retry_after(
            header("retry-after-ms").as_deref(),
            header("retry-after").as_deref(),
        );
        let err_body = ex.read_all(MAX_ERROR_BODY).await.unwrap_or_default();
        ex.release(&self.upstreams);
        let said = provider.format.parse_error(&err_body);
        if said.content_filter && status == 400 {
            return AttemptError::ContentFilter {
                message: said.message.map(|m| self.scrub.text(&m)),
            };
        }
        AttemptError::Status {
            status,
            message: said.message.map(|m| self.scrub.text(&m)),
            retry_after: retry_after.or(said.retry_after),
        }
    }

    /// Non-streaming: translate the provider body (already read) and send it.
    async fn plain_response(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        a: &Attempt<'_>,
        ex: Exchange,
        body: Vec<u8>,
        started: Instant,
    ) -> Result<Delivered, AttemptError> {
        let provider = &a.cand.provider;
        let upstream_id = upstream_request_id(ex.header());
        ex.release(&self.upstreams);
        let unreadable = |e| AttemptError::Protocol(format!("unreadable response body: {e}"));
        let out = if a.responses_pt {
            // The provider's own response object (and id): the gateway neither stores
            // nor caches it (no canonical answer).
            if std::str::from_utf8(&body).is_err() {
                return Err(AttemptError::Protocol(
                    "unreadable response body: not valid UTF-8".into(),
                ));
            }
            ctx.record_usage(
                formats::responses::passthrough::parse_usage(&body).map_err(unreadable)?,
            );
            ctx.answer = None;
            body
        } else if provider.passes_through(a.api) {
            // Forwarded as is, so it must be what the client can decode.
            if std::str::from_utf8(&body).is_err() {
                return Err(AttemptError::Protocol(
                    "unreadable response body: not valid UTF-8".into(),
                ));
            }
            ctx.record_usage(provider.format.parse_usage(&body).map_err(unreadable)?);
            if ctx.collect_answer {
                // Only a tap wants it: a body it cannot read is simply not kept.
                ctx.answer = provider.format.parse_response(&body).ok();
            }
            body
        } else {
            let parsed = provider.format.parse_response(&body).map_err(unreadable)?;
            ctx.record_usage(parsed.usage);
            let out = match ctx.responses.as_deref() {
                Some(meta) => formats::responses::response::encode(&parsed, meta),
                None => formats::encode_response(a.api, &parsed),
            };
            if ctx.collect_answer {
                ctx.answer = Some(parsed);
            }
            out
        };
        ctx.usage_complete = true;
        self.store_answered(ctx).await;
        let ttft = started.elapsed();
        let extra = self.provider_headers(ctx, provider, &a.dropped, upstream_id);
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if self
            .respond_json(session, ctx, 200, out, &extra)
            .await
            .is_err()
        {
            return Ok(Delivered::ClientGone);
        }
        Ok(Delivered::Done { ttft })
    }

    /// Streaming: relay provider events as they come, translated when formats differ,
    /// flushing each. Output is held back until the stream produced real content, so
    /// a provider that fails at once (error event, early close) can still be failed
    /// over. Idle gaps beyond the idle timeout, the total timeout, or a provider that
    /// breaks off end the client's stream with an error event in its own format.
    async fn stream_response(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        a: &Attempt<'_>,
        mut ex: Exchange,
        started: Instant,
        deadline: Option<Instant>,
    ) -> Result<Delivered, AttemptError> {
        let provider = &a.cand.provider;
        let api = a.api;
        let same = provider.passes_through(api) || a.responses_pt;
        let mut observer = same.then(|| match a.responses_pt {
            true => StreamObserver::responses(),
            false => StreamObserver::new(provider.format, api),
        });
        let mut translator =
            (!same).then(|| StreamTranslator::new(provider.format, api, a.include_usage));
        if let (Some(t), Some(meta)) = (&mut translator, ctx.responses.as_deref()) {
            t.set_responses_meta(meta.clone());
        }
        if ctx.collect_answer {
            if let Some(o) = &mut observer {
                o.collect_answer();
            }
            if let Some(t) = &mut translator {
                t.collect_answer();
            }
        }
        let upstream_id = upstream_request_id(ex.header());
        let mut held: Vec<u8> = Vec::new();
        let mut committed = false;
        let mut broken = false;
        let mut ttft = Duration::ZERO;
        // `ctx.answer` was put together when the stream ended, before its last write.
        let mut answered = false;
        // Reused for every chunk and sized by the largest one (events are usually a
        // few hundred bytes): a fresh 4 KB buffer per chunk cost ~8 KB per open stream.
        let mut out: Vec<u8> = Vec::new();
        // Pass-through: the unfinished last event of what the provider sent so far.
        // Only whole events are written, so the scrubber sees every secret whole, and
        // each is checked (UTF-8, readable) before it is.
        let mut partial: Vec<u8> = Vec::new();
        let mut whole: Vec<u8> = Vec::new();
        // Pass-through: why the relay stopped at an event the client could not read.
        let mut unusable: Option<String> = None;
        // `true` when the client went away; either way the usage seen is recorded.
        let gone = loop {
            let chunk = tokio::select! {
                r = until(deadline, ex.read_chunk()) => r.unwrap_or_else(|| Err(AttemptError::Timeout(
                    format!("stream exceeded the total timeout of {:?}", a.cand.timeouts.total.unwrap_or_default())))),
                // Dropping `ex` closes the upstream connection, which cancels the
                // generation at the provider.
                _ = client_gone(session) => break true,
            };
            let ended = matches!(chunk, Ok(None));
            match chunk {
                Ok(Some(bytes)) => match (&mut observer, &mut translator) {
                    (Some(o), _) => {
                        complete_events(&mut partial, &bytes, &mut whole);
                        if let Err(why) = relay_events(o, &whole, &mut out) {
                            unusable = Some(why);
                        }
                        whole.clear();
                    }
                    (_, Some(t)) => t.feed(&bytes, &mut out),
                    _ => {}
                },
                Ok(None) => match (&mut observer, &mut translator) {
                    (Some(o), _) => {
                        if !partial.is_empty() {
                            // A last event without its blank line: terminate it.
                            if !partial.ends_with(b"\n") {
                                partial.push(b'\n');
                            }
                            partial.push(b'\n');
                            if let Err(why) = relay_events(o, &partial, &mut out) {
                                unusable = Some(why);
                            }
                        }
                        o.finish();
                        if unusable.is_some() {
                            // Told below, in the client's format.
                        } else if let Some(msg) =
                            o.status().error.clone().filter(|_| !o.status().done)
                        {
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
                        return Err(e);
                    }
                    let msg = match &e {
                        AttemptError::Timeout(m) => format!("the provider stream stalled: {m}"),
                        other => format!(
                            "the provider stream broke off before it finished ({})",
                            other.label()
                        ),
                    };
                    end_with_error(translator.as_mut(), api, &msg, &mut out);
                    ctx.error = Some(e.label().to_string());
                    broken = true;
                }
            }
            let waiting = match (&translator, ended) {
                (_, true) => 0,
                (Some(t), _) => t.pending(),
                (None, _) => partial.len(),
            };
            if waiting > MAX_EVENT_BYTES && unusable.is_none() {
                unusable = Some(format!(
                    "the provider sent a stream event longer than {} MiB",
                    MAX_EVENT_BYTES >> 20
                ));
            }
            if let Some(why) = &unusable {
                if !broken {
                    // Not forwarded: the SDKs fail on it (bad JSON, bad UTF-8) or take
                    // the cut-off answer as complete. The client's stream ends with an
                    // error event in its own format instead.
                    let msg = format!("{why}; the answer is incomplete");
                    end_with_error(translator.as_mut(), api, &msg, &mut out);
                    ctx.error = Some("unusable_stream".into());
                    broken = true;
                }
            }
            let status = match (&observer, &translator) {
                (Some(o), _) => o.status().clone(),
                (_, Some(t)) => t.status().clone(),
                _ => Default::default(),
            };
            if !committed {
                if let Some(why) = unusable.as_ref().filter(|_| !status.produced) {
                    return Err(AttemptError::Protocol(format!(
                        "unusable stream before any content: {why}"
                    )));
                }
                if let Some(msg) = status.error.as_ref().filter(|_| !status.produced) {
                    return Err(AttemptError::Protocol(format!(
                        "stream error before any content: {}",
                        self.scrub.text(msg)
                    )));
                }
                if !status.produced {
                    if ended {
                        return Err(AttemptError::Protocol(
                            "stream ended before any content".into(),
                        ));
                    }
                    held.append(&mut out);
                    continue;
                }
                committed = true;
                ttft = started.elapsed();
                let extra = self.provider_headers(ctx, provider, &a.dropped, upstream_id.clone());
                if self.start_stream(session, ctx, &extra).await.is_err() {
                    break true;
                }
                held.append(&mut out);
                out = std::mem::take(&mut held);
            }
            if ended && !broken && status.done && status.error.is_none() {
                if ctx.collect_answer {
                    ctx.answer = assembled_answer(&mut observer, &mut translator);
                    answered = true;
                }
                self.store_answered(ctx).await;
            }
            if !out.is_empty() {
                // A copy (`out` keeps its capacity for the next chunk), scrubbed.
                let data = self.scrub.bytes(out.clone());
                out.clear();
                if write_body(session, Some(data), false).await.is_err() {
                    break true;
                }
            }
            if status.error.is_some() && !broken {
                // The provider reported an error mid-stream (already rendered).
                ctx.error = Some("provider_stream_error".into());
                broken = true;
            }
            if ended || broken {
                let _ = write_body(session, None, true).await;
                break false;
            }
        };
        let (usage, done) = match (&observer, &translator) {
            (Some(o), _) => (o.usage(), o.status().done),
            (_, Some(t)) => (t.usage(), t.status().done),
            _ => Default::default(),
        };
        if ctx.collect_answer && !answered {
            ctx.answer = assembled_answer(&mut observer, &mut translator);
        }
        ctx.record_usage(usage);
        // A client that left after the provider's last event still got a full count.
        ctx.usage_complete = done && !broken;
        if gone {
            ctx.client_gone = true;
            return Ok(Delivered::ClientGone);
        }
        if broken {
            return Ok(Delivered::Broken);
        }
        ex.release(&self.upstreams);
        Ok(Delivered::Done { ttft })
    }

    pub(super) async fn start_stream(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
        extra: &[(&'static str, String)],
    ) -> pingora_error::Result<()> {
        let quota = if ctx.quota.is_some() { 6 } else { 0 };
        let cache = if ctx.cache.is_some() { 3 } else { 0 };
        let mut resp = ResponseHeader::build_no_case(200, Some(8 + quota + cache))?;
        resp.insert_header("content-type", "text/event-stream")?;
        resp.insert_header("cache-control", "no-cache")?;
        resp.insert_header("transfer-encoding", "chunked")?;
        resp.insert_header("x-request-id", ctx.request_id.as_str())?;
        super::quota_headers(&mut resp, ctx.quota.as_ref())?;
        super::cache_headers(&mut resp, ctx.cache.as_ref())?;
        for (k, v) in extra {
            resp.insert_header(*k, v.as_str())?;
        }
        ctx.status = 200;
        ctx.ttfb = Some(ctx.started.elapsed());
        session.write_response_header(Box::new(resp), false).await
    }
}

/// The stream's answer, put together by whichever of the two relayed it.
fn assembled_answer(
    observer: &mut Option<StreamObserver>,
    translator: &mut Option<StreamTranslator>,
) -> Option<ChatResponse> {
    match (observer, translator) {
        (Some(o), _) => o.take_answer(),
        (_, Some(t)) => t.take_answer(),
        _ => None,
    }
}

/// Pass-through: copies the whole SSE events in `events` to `out`, each after the
/// observer read it, up to the first one a client could not read (not UTF-8, or not
/// what the format allows); says why it stopped there.
fn relay_events(o: &mut StreamObserver, events: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut rest = events;
    while !rest.is_empty() {
        let end = first_event_end(rest).unwrap_or(rest.len());
        let (event, tail) = rest.split_at(end);
        if std::str::from_utf8(event).is_err() {
            return Err("the provider sent a stream event that is not valid UTF-8".into());
        }
        o.observe(event);
        if o.status().unreadable {
            return Err(o
                .status()
                .error
                .clone()
                .unwrap_or_else(|| "the provider sent an unreadable stream event".into()));
        }
        out.extend_from_slice(event);
        rest = tail;
    }
    Ok(())
}

/// Where the first event of `b` ends: after its blank line (`\n\n`, `\r\n\r\n`, `\r\r`,
/// or a mix).
fn first_event_end(b: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    let mut pos = 0;
    while let Some(rel) = memchr::memchr2(b'\n', b'\r', &b[pos..]) {
        let end = pos + rel;
        let next = if b[end] == b'\r' && b.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
        if end == line_start {
            return Some(next);
        }
        line_start = next;
        pos = next;
    }
    None
}

/// Appends to `out` the complete SSE events of `partial` followed by `chunk`, and
/// keeps an unfinished last event in `partial`.
fn complete_events(partial: &mut Vec<u8>, chunk: &[u8], out: &mut Vec<u8>) {
    if partial.is_empty() {
        // Providers usually cut their writes at event ends.
        match last_event_end(chunk) {
            Some(end) => {
                out.extend_from_slice(&chunk[..end]);
                partial.extend_from_slice(&chunk[end..]);
            }
            None => partial.extend_from_slice(chunk),
        }
        return;
    }
    partial.extend_from_slice(chunk);
    if let Some(end) = last_event_end(partial) {
        out.extend_from_slice(&partial[..end]);
        partial.drain(..end);
    }
}

/// Where the last complete event ends: after the last blank line (`\n\n`, `\r\n\r\n`
/// or `\r\r`).
fn last_event_end(b: &[u8]) -> Option<usize> {
    if b.ends_with(b"\n\n") || b.ends_with(b"\r\r") {
        return Some(b.len());
    }
    let lf = memchr::memmem::rfind(b, b"\n\n").map(|i| i + 2);
    let crlf = memchr::memmem::rfind(b, b"\n\r\n").map(|i| i + 3);
    let cr = memchr::memmem::rfind(b, b"\r\r").map(|i| i + 2);
    [lf, crlf, cr].into_iter().flatten().max()
}

/// Runs `fut` until `deadline`; `None` if the deadline passed first.
async fn until<T>(
    deadline: Option<Instant>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        None => Some(fut.await),
        Some(d) => tokio::time::timeout_at(d.into(), fut).await.ok(),
    }
}

/// Resolves when the client closes its connection (the request body is fully read,
/// so anything else on the socket is the close).
async fn client_gone(session: &mut Session) {
    if let Ok(Some(_)) = session.read_body_or_idle(true).await {
        // Bytes of a pipelined request, not a close: keep waiting for the close.
        std::future::pending::<()>().await
    }
}

/// The provider refused a request for its `stream_options` (which it carried).
fn rejected_stream_options(e: &AttemptError, sent: &[u8]) -> bool {
    match e {
        AttemptError::Status {
            status, message, ..
        } => {
            formats::openai::preset::rejects_stream_options(*status, message.as_deref())
                && memchr::memmem::find(sent, b"\"stream_options\"").is_some()
        }
        _ => false,
    }
}

fn breaker_outcome(e: &AttemptError) -> Outcome {
    match e {
        AttemptError::Status {
            status: 429,
            retry_after,
            ..
        } => Outcome::RateLimited(*retry_after),
        AttemptError::Status {
            status: 400 | 413 | 422,
            ..
        }
        | AttemptError::ContentFilter { .. } => Outcome::Neutral,
        _ => Outcome::Failure,
    }
}

/// The provider's own request id, passed on for support tickets.
fn upstream_request_id(h: Option<&ResponseHeader>) -> Option<String> {
    let h = &h?.headers;
    h.get("request-id")
        .or_else(|| h.get("x-request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Ends the client's stream with an error event in its format: through the
/// translator when there is one (it closes what it opened), else written directly.
fn end_with_error(
    translator: Option<&mut StreamTranslator>,
    api: ApiFormat,
    message: &str,
    out: &mut Vec<u8>,
) {
    match translator {
        Some(t) => t.abort(ErrorKind::Upstream, message, out),
        None => out.extend_from_slice(&stream_error_event(api, ErrorKind::Upstream, message)),
    }
}

/// An error event in the client's stream format.
fn stream_error_event(api: ApiFormat, kind: ErrorKind, message: &str) -> Vec<u8> {
    let body = formats::encode_error(api, kind, message);
    let mut out = Vec::with_capacity(body.len() + 24);
    let name = match api {
        ApiFormat::OpenAi => None,
        ApiFormat::Anthropic | ApiFormat::Responses => Some("error"),
    };
    formats::sse::write_event(&mut out, name, &String::from_utf8_lossy(&body));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_one_by_one() {
        let stream = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\nevent: x\r\rdata: 3\n\n";
        let mut rest = &stream[..];
        let mut got = Vec::new();
        while let Some(end) = first_event_end(rest) {
            got.push(&rest[..end]);
            rest = &rest[end..];
        }
        assert!(rest.is_empty());
        assert_eq!(
            got,
            [
                &b"data: {\"a\":1}\n\n"[..],
                b"data: {\"b\":2}\r\n\r\n",
                b"event: x\r\r",
                b"data: 3\n\n"
            ]
        );
        assert_eq!(first_event_end(b"data: 1\n"), None);
    }

    #[test]
    fn the_relay_stops_at_what_a_client_cannot_read() {
        let good = b"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n";
        for bad in [&b"data: {not json\n\n"[..], b"data: {\"x\":\"\xff\"}\n\n"] {
            let mut o = StreamObserver::new(ApiFormat::OpenAi, ApiFormat::OpenAi);
            let mut out = Vec::new();
            let events = [&good[..], bad, good].concat();
            let why = relay_events(&mut o, &events, &mut out).unwrap_err();
            assert_eq!(out, good, "only the readable event before it went out");
            assert!(why.contains("UTF-8") || why.contains("unreadable"), "{why}");
        }
    }

    #[test]
    fn only_whole_events_are_passed_on_wherever_the_chunks_are_cut() {
        let stream = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\nevent: x\ndata: 3\n\n";
        for cut in 0..=stream.len() {
            let (one, two) = stream.split_at(cut);
            let (mut partial, mut out) = (Vec::new(), Vec::new());
            let mut writes = Vec::new();
            for chunk in [one, two] {
                complete_events(&mut partial, chunk, &mut out);
                writes.push(std::mem::take(&mut out));
            }
            assert!(partial.is_empty(), "cut {cut}");
            assert_eq!(writes.concat(), stream, "cut {cut}");
            for w in &writes {
                assert!(
                    w.is_empty() || last_event_end(w) == Some(w.len()),
                    "cut {cut}"
                );
            }
        }
    }
}
