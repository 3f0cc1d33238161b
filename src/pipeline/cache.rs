//! Stage and tap: the response cache. The stage looks the request up (after the
//! limits, so a hit still counts against rpm and concurrency) and answers a hit
//! itself; on a miss it asks for the answer to be assembled, and the tap stores it
//! once the response ended complete and successful.
//!
//! Request controls: `Cache-Control: no-cache` (no lookup, still stored),
//! `no-store` (neither), `max-age=N` (accept an entry at most N s old), and
//! `x-switchyard-cache-ttl: N` (store for N s instead of the configured TTL).

use super::{ClientRequest, Flow};
use crate::cache::key::{request_key, KeyParts};
use crate::cache::{Cache, Key};
use crate::config::{CacheScope, Config};
use crate::formats::model::ErrorKind;
use crate::metrics;
use crate::proxy::ctx::RequestCtx;
use crate::proxy::error::GatewayError;
use std::sync::Arc;
use std::time::Duration;

/// What the cache did with a request; sent as `x-switchyard-cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Hit {
        age: Duration,
    },
    Miss,
    /// Not looked up and not stored.
    Bypass,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Hit { .. } => "hit",
            Outcome::Miss => "miss",
            Outcome::Bypass => "bypass",
        }
    }
}

/// The cache's part of a request (`RequestCtx::cache`).
#[derive(Debug, Clone)]
pub struct CacheState {
    pub outcome: Outcome,
    /// Sent as `x-switchyard-cache-key` on hits and misses.
    pub key: Option<Key>,
    /// How long the answer is stored for; `None`: it is not stored.
    pub store: Option<Duration>,
    /// OpenAI `stream_options.include_usage`, for a replayed stream.
    pub include_usage: bool,
}

impl CacheState {
    fn bypass() -> Self {
        CacheState {
            outcome: Outcome::Bypass,
            key: None,
            store: None,
            include_usage: false,
        }
    }
}

/// The request's `Cache-Control` and `x-switchyard-cache-ttl`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Controls {
    no_cache: bool,
    no_store: bool,
    max_age: Option<Duration>,
    ttl: Option<Duration>,
}

impl Controls {
    fn parse(headers: &http::HeaderMap) -> Result<Self, GatewayError> {
        let bad = |m: String| GatewayError::new(ErrorKind::InvalidRequest, m);
        let mut c = Controls::default();
        for v in headers.get_all("cache-control") {
            let v = v
                .to_str()
                .map_err(|_| bad("Cache-Control: not ASCII text".into()))?;
            for d in v.split(',').map(str::trim) {
                let (name, arg) = d.split_once('=').unwrap_or((d, ""));
                match name.to_ascii_lowercase().as_str() {
                    "no-cache" => c.no_cache = true,
                    "no-store" => c.no_store = true,
                    "max-age" => {
                        let n: u64 = arg.trim_matches('"').parse().map_err(|_| {
                            bad(format!(
                                "Cache-Control: max-age needs whole seconds (max-age=60), got '{arg}'"
                            ))
                        })?;
                        c.max_age = Some(Duration::from_secs(n));
                    }
                    // Other directives (HTTP allows many) do not concern this cache.
                    _ => {}
                }
            }
        }
        if let Some(v) = headers.get("x-switchyard-cache-ttl") {
            let n = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    bad(
                        "x-switchyard-cache-ttl: expected whole seconds, at least 1 (to not \
                         store the answer, send Cache-Control: no-store)"
                            .into(),
                    )
                })?;
            c.ttl = Some(Duration::from_secs(u64::from(n)));
        }
        Ok(c)
    }
}

pub struct Lookup {
    config: Arc<Config>,
    cache: Arc<Cache>,
}

impl Lookup {
    pub fn new(config: Arc<Config>, cache: Arc<Cache>) -> Self {
        Lookup { config, cache }
    }

    pub async fn on_request(
        &self,
        req: &ClientRequest<'_>,
        ctx: &mut RequestCtx,
    ) -> Result<Flow, GatewayError> {
        let (state, flow) = self.look_up(req, ctx).await?;
        metrics::CACHE_REQUESTS
            .with_label_values(&[state.outcome.as_str()])
            .inc();
        // The fill tap needs the answer assembled (streams piece by piece).
        ctx.collect_answer |= state.store.is_some();
        ctx.cache = Some(state);
        Ok(flow)
    }

    async fn look_up(
        &self,
        req: &ClientRequest<'_>,
        ctx: &mut RequestCtx,
    ) -> Result<(CacheState, Flow), GatewayError> {
        let bypass = Ok((CacheState::bypass(), Flow::Next));
        let (Some(api), Some(ttl)) = (ctx.api, self.config.cache_for(req.model)) else {
            return bypass;
        };
        let controls = Controls::parse(req.headers)?;
        if controls.no_store {
            return bypass;
        }
        let header = |n: &str| req.headers.get(n).and_then(|v| v.to_str().ok());
        let tenant = match self.config.cache.scope {
            CacheScope::Key => ctx
                .key
                .and_then(|i| self.config.keys.get(i))
                .map(|k| k.name.as_str()),
            CacheScope::Shared => None,
        };
        let parts = KeyParts {
            api,
            model: req.model,
            tenant,
            anthropic_beta: header("anthropic-beta"),
            pin: header("x-switchyard-target"),
        };
        let Ok(keyed) = request_key(&parts, req.body) else {
            return bypass;
        };
        let mut state = CacheState {
            outcome: Outcome::Miss,
            key: Some(keyed.key),
            store: Some(controls.ttl.unwrap_or(ttl)),
            include_usage: keyed.include_usage,
        };
        if !controls.no_cache {
            if let Some(found) = self.cache.get(&keyed.key, controls.max_age).await {
                state.outcome = Outcome::Hit { age: found.age };
                state.store = None;
                ctx.usage = Some(found.entry.answer.usage);
                ctx.usage_complete = true;
                // Served from the cache: no provider billed anything.
                ctx.cost_usd = Some(0.0);
                if ctx.collect_answer {
                    // Another tap (the body log) wants the answer a hit gave.
                    ctx.answer = Some((*found.entry.answer).clone());
                }
                return Ok((state, Flow::Reply(found.entry.answer.clone())));
            }
        }
        Ok((state, Flow::Next))
    }
}

/// Tap: stores a missed request's answer if it ended complete and successful (a
/// finish reason, no error event, the client stayed to the end).
pub struct Fill {
    cache: Arc<Cache>,
}

impl Fill {
    pub fn new(cache: Arc<Cache>) -> Self {
        Fill { cache }
    }

    pub fn on_complete(&self, ctx: &mut RequestCtx) {
        let Some(CacheState {
            outcome: Outcome::Miss,
            key: Some(key),
            store: Some(ttl),
            ..
        }) = ctx.cache
        else {
            return;
        };
        if ctx.status != 200 || ctx.client_gone || !ctx.usage_complete {
            return;
        }
        if let Some(answer) = ctx.answer.take() {
            self.cache.put(key, answer, ttl);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controls(pairs: &[(&str, &str)]) -> Result<Controls, GatewayError> {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        Controls::parse(&h)
    }

    #[test]
    fn cache_control_directives() {
        let c = controls(&[
            ("cache-control", "No-Cache, max-age=30"),
            ("cache-control", "private"),
        ])
        .unwrap();
        assert!(c.no_cache && !c.no_store);
        assert_eq!(c.max_age, Some(Duration::from_secs(30)));
        let c = controls(&[
            ("cache-control", "no-store"),
            ("x-switchyard-cache-ttl", "60"),
        ])
        .unwrap();
        assert!(c.no_store);
        assert_eq!(c.ttl, Some(Duration::from_secs(60)));
        for bad in [
            ("cache-control", "max-age=soon"),
            ("x-switchyard-cache-ttl", "0"),
            ("x-switchyard-cache-ttl", "-5"),
        ] {
            let e = controls(&[bad]).unwrap_err();
            assert_eq!(e.status, 400, "{bad:?}");
            assert!(e.message.to_lowercase().contains(bad.0), "{}", e.message);
        }
    }
}
