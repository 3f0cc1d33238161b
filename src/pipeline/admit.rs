//! Stage and tap: a gateway key's rpm / tpm / concurrency limits and spend budget.
//! The stage admits (or answers 429); the tap settles the admitted request when it
//! ends.

use super::ClientRequest;
use crate::config::keys::NANO_USD;
use crate::config::{Config, OnError, Price};
use crate::formats::model::ErrorKind;
use crate::metrics;
use crate::proxy::ctx::RequestCtx;
use crate::proxy::error::GatewayError;
use crate::routing::Router;
use crate::state::{retry_after_secs, Decision, LimitKind, Limiter};
use std::sync::Arc;

pub struct Admit {
    config: Arc<Config>,
    limiter: Arc<Limiter>,
    router: Arc<Router>,
}

impl Admit {
    pub fn new(config: Arc<Config>, limiter: Arc<Limiter>, router: Arc<Router>) -> Self {
        Admit {
            config,
            limiter,
            router,
        }
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
        let tokens = if key.limits.tpm.is_some() || key.limits.budget.is_some() {
            estimate_tokens(req, self.config.default_max_tokens)
        } else {
            0
        };
        // The worst case at the dearest deployment the request may reach; with no
        // price known anywhere its cost is unknown, and counted as nothing.
        let spend = match key.limits.budget {
            Some(_) => self.router.price_ceiling(req.model).map_or(0, |p| {
                worst_case_nano(req, self.config.default_max_tokens, &p)
            }),
            None => 0,
        };
        match self.limiter.admit(index, key, tokens, spend).await {
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
                if limit == LimitKind::Budget {
                    return Err(over_budget(key, spend, retry_after, quota));
                }
                let value = match limit {
                    LimitKind::Rpm => key.limits.rpm,
                    LimitKind::Tpm => key.limits.tpm,
                    LimitKind::Concurrency => key.limits.concurrency,
                    LimitKind::Budget => None,
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

/// 429 `insufficient_quota`: the request's worst case does not fit in what is left
/// of the key's budget this period.
fn over_budget(
    key: &crate::config::GatewayKey,
    spend: u64,
    retry_after: std::time::Duration,
    quota: crate::state::Quota,
) -> GatewayError {
    use crate::cost::format_usd;
    let Some(budget) = key.limits.budget else {
        return GatewayError::new(ErrorKind::OverBudget, "over budget");
    };
    let left = quota.budget.map_or(0, |b| b.remaining_nano);
    let usd = |n: u64| format_usd(n as f64 / NANO_USD);
    let period = budget.period;
    let when = match period.millis() {
        Some(_) => format!(
            "the {} budget resets in {}s",
            period.as_str(),
            retry_after_secs(retry_after)
        ),
        None => "a total budget never resets; raise limits.budget.usd".to_string(),
    };
    let why = if spend > budget.nano_usd {
        format!(
            "this request could cost up to ${} (its input and max_tokens at the dearest \
             price among its deployments), more than the whole budget; lower max_tokens",
            usd(spend)
        )
    } else {
        format!(
            "${} of ${} is left (open requests hold their worst case until they end), and \
             this request could cost up to ${}",
            usd(left),
            usd(budget.nano_usd),
            usd(spend)
        )
    };
    let mut e = GatewayError::new(
        ErrorKind::OverBudget,
        format!(
            "gateway key '{}' is over its spend budget (${} per {}): {why}; {when}",
            key.name,
            usd(budget.nano_usd),
            period.as_str()
        ),
    );
    if period.millis().is_some() {
        e.retry_after = Some(retry_after_secs(retry_after).to_string());
    }
    e
}

/// The largest cost a request may have, in nano-dollars (rounded up): its estimated
/// input and its max output tokens at `price`.
fn worst_case_nano(req: &ClientRequest<'_>, default_max_tokens: u32, price: &Price) -> u64 {
    let input = req.body.len() as f64 / 4.0;
    let output = req
        .max_output_tokens
        .unwrap_or(u64::from(default_max_tokens)) as f64;
    let usd = (input * price.input + output * price.output) / 1e6;
    (usd * NANO_USD).ceil() as u64
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
    config: Arc<Config>,
    limiter: Arc<Limiter>,
}

impl Settle {
    pub fn new(config: Arc<Config>, limiter: Arc<Limiter>) -> Self {
        Settle { config, limiter }
    }

    pub fn on_complete(&self, ctx: &mut RequestCtx) {
        let Some(grant) = ctx.grant.take() else {
            return;
        };
        let Some(key) = ctx.key.and_then(|i| self.config.keys.get(i)) else {
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
        let spent = if ctx.provider.is_none() {
            0
        } else {
            match ctx.cost_usd {
                Some(usd) if ctx.usage_complete && reported > 0 => (usd * NANO_USD).ceil() as u64,
                // As for tokens: the worst case stands when the real cost is unknown.
                Some(usd) => ((usd * NANO_USD).ceil() as u64).max(grant.reserved_spend()),
                None => grant.reserved_spend(),
            }
        };
        self.limiter.settle(grant, key, used, spent);
    }
}
