//! Stage and tap: a gateway key's rpm / tpm / concurrency limits. The stage admits
//! (or answers 429); the tap settles the admitted request when it ends.

use super::ClientRequest;
use crate::config::{Config, OnError};
use crate::formats::model::ErrorKind;
use crate::metrics;
use crate::proxy::ctx::RequestCtx;
use crate::proxy::error::GatewayError;
use crate::state::{retry_after_secs, Decision, LimitKind, Limiter};
use std::sync::Arc;

pub struct Admit {
    config: Arc<Config>,
    limiter: Arc<Limiter>,
}

impl Admit {
    pub fn new(config: Arc<Config>, limiter: Arc<Limiter>) -> Self {
        Admit { config, limiter }
    }

    pub async fn on_request(
        &self,
        req: &ClientRequest<'_>,
        ctx: &mut RequestCtx,
    ) -> Result<(), GatewayError> {
        let Some((index, key)) = ctx
            .key
            .and_then(|i| self.config.keys.get(i).map(|k| (i, k)))
        else {
            return Ok(());
        };
        if key.limits.is_empty() {
            return Ok(());
        }
        let tokens = if key.limits.tpm.is_some() {
            estimate_tokens(req, self.config.default_max_tokens)
        } else {
            0
        };
        match self.limiter.admit(index, key, tokens).await {
            Decision::Admit(grant, quota) => {
                ctx.grant = Some(grant);
                ctx.quota = Some(quota);
                Ok(())
            }
            Decision::Limited {
                limit,
                retry_after,
                quota,
            } => {
                ctx.quota = Some(quota);
                ctx.limited = Some(limit);
                ctx.error = Some("rate_limited".into());
                metrics::RATELIMITED
                    .with_label_values(&[key.name.as_str(), limit.as_str()])
                    .inc();
                let secs = retry_after_secs(retry_after);
                let value = match limit {
                    LimitKind::Rpm => key.limits.rpm,
                    LimitKind::Tpm => key.limits.tpm,
                    LimitKind::Concurrency => key.limits.concurrency,
                }
                .unwrap_or_default();
                let when = match limit {
                    LimitKind::Concurrency => {
                        "retry when one of its requests has finished".to_string()
                    }
                    _ => format!("retry in {secs}s"),
                };
                let mut e = GatewayError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "gateway key '{}' is over its {}; {when}",
                        key.name,
                        limit.describe(value)
                    ),
                );
                e.retry_after = Some(secs.to_string());
                Err(e)
            }
            Decision::Unavailable(OnError::FailOpen) => Ok(()),
            Decision::Unavailable(OnError::FailClosed) => {
                ctx.error = Some("state_unavailable".into());
                Err(GatewayError::new(
                    ErrorKind::Overloaded,
                    "the rate-limit store (Redis) is not answering and state.redis.on_error is \
                     fail_closed, so requests of limited keys are refused; check that Redis at \
                     state.redis.url is up",
                ))
            }
        }
    }
}

/// What a request may use: its input (about 4 bytes per token of body, an
/// over-estimate for images and JSON punctuation) plus its output budget.
fn estimate_tokens(req: &ClientRequest<'_>, default_max_tokens: u32) -> u64 {
    req.body.len() as u64 / 4
        + req
            .max_output_tokens
            .unwrap_or(u64::from(default_max_tokens))
}

/// Tap: settles an admitted request to the tokens it used, and ends its concurrency
/// hold (dropping a local grant does that).
pub struct Settle {
    limiter: Arc<Limiter>,
}

impl Settle {
    pub fn new(limiter: Arc<Limiter>) -> Self {
        Settle { limiter }
    }

    pub fn on_complete(&self, ctx: &mut RequestCtx) {
        let Some(grant) = ctx.grant.take() else {
            return;
        };
        let reported = ctx.usage.map_or(0, |u| u.input_tokens + u.output_tokens);
        let used = if ctx.provider.is_none() {
            // No provider answered with a success: providers do not bill errors.
            0
        } else if ctx.usage_complete && reported > 0 {
            reported
        } else {
            // Interrupted, or no usage reported: what was billed is unknown, so the
            // reservation stands (or the usage seen so far, if larger).
            reported.max(grant.reserved())
        };
        self.limiter.settle(grant, used);
    }
}
