//! Limit state per gateway key: in process ([`window`] + `pingora_limits::Inflight`),
//! or in Redis ([`redis`]) when several instances must enforce one limit.
//!
//! Both backends follow the same rules (see [`window`]): an exact 60 s sliding log for
//! `rpm` and `tpm`, token reservations settled to real usage, `concurrency` counted
//! until the request's end, spend budgets reserved at the worst case and settled to
//! the real cost ([`budget`]). The proxy sees one [`Limiter`] and never which backend.

pub mod budget;
pub mod redis;
pub mod window;

use crate::config::{Config, GatewayKey, OnError};
use budget::{BudgetLeft, Spend, SpendHold};
use pingora_limits::inflight::{Guard, Inflight};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use window::{Reservation, Window, WindowDecision};

/// Which limit turned a request away (a metric label and an access-log field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Rpm,
    Tpm,
    Concurrency,
    Budget,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm",
            LimitKind::Tpm => "tpm",
            LimitKind::Concurrency => "concurrency",
            LimitKind::Budget => "budget",
        }
    }

    /// How a limit reads in an error message.
    pub fn describe(self, limit: u64) -> String {
        match self {
            LimitKind::Rpm => format!("rpm limit ({limit} requests per minute)"),
            LimitKind::Tpm => format!("tpm limit ({limit} tokens per minute)"),
            LimitKind::Concurrency => format!("concurrency limit ({limit} requests in flight)"),
            LimitKind::Budget => format!(
                "spend budget (${})",
                crate::cost::format_usd(limit as f64 / crate::config::keys::NANO_USD)
            ),
        }
    }
}

/// One limit's state after a decision: the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    pub limit: u64,
    pub remaining: u64,
    /// Until the oldest request (or token entry) in the window leaves it.
    pub reset: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub requests: Option<Remaining>,
    pub tokens: Option<Remaining>,
    pub budget: Option<BudgetLeft>,
}

/// An admitted request's hold on its key's limits: settled (tokens) and released
/// (concurrency) when the request ends.
#[derive(Debug)]
pub enum Grant {
    Local {
        key: usize,
        reservation: Option<Reservation>,
        spend: Option<SpendHold>,
        _inflight: Option<InflightGuard>,
    },
    Redis(redis::Ticket),
}

impl Grant {
    /// Tokens reserved at admission (0 without a tpm limit).
    pub fn reserved(&self) -> u64 {
        match self {
            Grant::Local { reservation, .. } => reservation.map_or(0, |r| r.tokens),
            Grant::Redis(t) => t.reserved,
        }
    }

    /// Nano-dollars reserved at admission (0 without a budget).
    pub fn reserved_spend(&self) -> u64 {
        match self {
            Grant::Local { spend, .. } => spend.map_or(0, |s| s.nano),
            Grant::Redis(t) => t.reserved_spend,
        }
    }
}

/// Wraps pingora-limits' guard, which has no `Debug`.
pub struct InflightGuard(#[allow(dead_code)] Guard);

impl std::fmt::Debug for InflightGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InflightGuard")
    }
}

#[derive(Debug)]
pub enum Decision {
    Admit(Grant, Quota),
    Limited {
        limit: LimitKind,
        retry_after: Duration,
        quota: Quota,
    },
    /// The state store did not answer; the caller applies `on_error`.
    Unavailable(OnError),
}

pub enum Limiter {
    Local(LocalLimits),
    Redis(redis::RedisLimits),
}

impl Limiter {
    pub fn new(config: &Config) -> Self {
        match &config.state.redis {
            Some(r) => Limiter::Redis(redis::RedisLimits::new(r.clone(), &config.keys)),
            None => Limiter::Local(LocalLimits::new(config.keys.len())),
        }
    }

    /// Admits one request of key number `index` reserving `tokens` and `spend`
    /// nano-dollars; a request that is turned away has taken nothing.
    pub async fn admit(&self, index: usize, key: &GatewayKey, tokens: u64, spend: u64) -> Decision {
        match self {
            Limiter::Local(l) => l.admit(Instant::now(), index, key, tokens, spend),
            // Boxed: only Redis-backed gateways carry this future in every request's.
            Limiter::Redis(r) => Box::pin(r.admit(index, key, tokens, spend)).await,
        }
    }

    /// Settles a grant to the tokens and nano-dollars the request really used, and
    /// ends its concurrency hold. Never waits (Redis settles in the background).
    pub fn settle(&self, grant: Grant, key: &GatewayKey, used: u64, spent: u64) {
        match (self, grant) {
            (
                Limiter::Local(l),
                Grant::Local {
                    key: index,
                    reservation,
                    spend,
                    ..
                },
            ) => {
                if let Some(r) = reservation {
                    l.settle(Instant::now(), index, r, used);
                }
                if let (Some(hold), Some(b)) = (spend, &key.limits.budget) {
                    if let Some(s) = l.spends.get(index) {
                        s.lock().unwrap_or_else(|p| p.into_inner()).settle(
                            budget::wall_ms(),
                            b,
                            hold,
                            spent,
                        );
                    }
                }
            }
            (Limiter::Redis(_), Grant::Redis(t)) => t.settle(used, spent),
            _ => {}
        }
    }

    /// The Redis backend, when limits live in Redis.
    pub fn redis(&self) -> Option<&redis::RedisLimits> {
        match self {
            Limiter::Redis(r) => Some(r),
            Limiter::Local(_) => None,
        }
    }
}

/// In-process limits: one window per key (by index into `Config::keys`) and
/// pingora-limits' `Inflight` for concurrency.
pub struct LocalLimits {
    windows: Vec<Mutex<Window>>,
    spends: Vec<Mutex<Spend>>,
    inflight: Inflight,
}

impl LocalLimits {
    pub fn new(keys: usize) -> Self {
        LocalLimits {
            windows: (0..keys).map(|_| Mutex::new(Window::default())).collect(),
            spends: (0..keys).map(|_| Mutex::new(Spend::default())).collect(),
            inflight: Inflight::new(),
        }
    }

    pub fn admit(
        &self,
        now: Instant,
        index: usize,
        key: &GatewayKey,
        tokens: u64,
        spend: u64,
    ) -> Decision {
        let limits = &key.limits;
        let mut inflight = None;
        if let Some(max) = limits.concurrency {
            let (guard, n) = self.inflight.incr(index, 1);
            if n as u64 > max {
                // Dropping the guard gives the slot back.
                let quota = match self.windows.get(index) {
                    Some(w) if limits.rpm.is_some() || limits.tpm.is_some() => w
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .peek(now, limits),
                    _ => Quota::default(),
                };
                return Decision::Limited {
                    limit: LimitKind::Concurrency,
                    retry_after: Duration::from_secs(1),
                    quota,
                };
            }
            inflight = Some(InflightGuard(guard));
        }
        // The budget first: a reservation is easily given back if the window says no.
        let mut hold = None;
        let mut budget_left = None;
        if let (Some(b), Some(s)) = (&limits.budget, self.spends.get(index)) {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            match s.reserve(budget::wall_ms(), b, spend) {
                Ok((h, left)) => {
                    hold = Some(h);
                    budget_left = Some(left);
                }
                Err((resets_in, left)) => {
                    return Decision::Limited {
                        limit: LimitKind::Budget,
                        retry_after: resets_in.unwrap_or(Duration::ZERO),
                        quota: Quota {
                            budget: Some(left),
                            ..Quota::default()
                        },
                    }
                }
            }
        }
        let give_back = |hold: Option<SpendHold>| {
            if let (Some(h), Some(b), Some(s)) = (hold, &limits.budget, self.spends.get(index)) {
                s.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .settle(budget::wall_ms(), b, h, 0);
            }
        };
        let window = self
            .windows
            .get(index)
            .filter(|_| limits.rpm.is_some() || limits.tpm.is_some());
        let (reservation, quota) = match window {
            None => (None, Quota::default()),
            Some(w) => match w
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .admit(now, limits, tokens)
            {
                WindowDecision::Admit(reservation, quota) => (reservation, quota),
                WindowDecision::Limited {
                    limit,
                    retry_after,
                    quota,
                } => {
                    give_back(hold);
                    return Decision::Limited {
                        limit,
                        retry_after,
                        quota,
                    };
                }
            },
        };
        Decision::Admit(
            Grant::Local {
                key: index,
                reservation,
                spend: hold,
                _inflight: inflight,
            },
            Quota {
                budget: budget_left,
                ..quota
            },
        )
    }

    pub fn settle(&self, now: Instant, index: usize, r: Reservation, used: u64) {
        if let Some(w) = self.windows.get(index) {
            w.lock()
                .unwrap_or_else(|p| p.into_inner())
                .settle(now, r, used);
        }
    }
}

/// Whole seconds for `retry-after`, rounded up, at least 1.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

/// OpenAI's `x-ratelimit-reset-*` style: `250ms`, `12s`, `1m5s`.
pub fn reset_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms.div_ceil(1000);
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyLimits;

    fn key(limits: KeyLimits) -> GatewayKey {
        GatewayKey {
            name: "a".into(),
            sha256: [0; 32],
            plain: None,
            models: None,
            limits,
        }
    }

    #[test]
    fn concurrency_counts_until_the_grant_is_dropped() {
        let l = LocalLimits::new(1);
        let k = key(KeyLimits {
            concurrency: Some(2),
            ..Default::default()
        });
        let now = Instant::now();
        let a = l.admit(now, 0, &k, 0, 0);
        let b = l.admit(now, 0, &k, 0, 0);
        assert!(matches!(a, Decision::Admit(..)) && matches!(b, Decision::Admit(..)));
        assert!(matches!(
            l.admit(now, 0, &k, 0, 0),
            Decision::Limited {
                limit: LimitKind::Concurrency,
                ..
            }
        ));
        drop(a);
        assert!(matches!(l.admit(now, 0, &k, 0, 0), Decision::Admit(..)));
    }

    #[test]
    fn texts() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(12_001)), 13);
        assert_eq!(reset_text(Duration::from_millis(250)), "250ms");
        assert_eq!(reset_text(Duration::from_millis(1500)), "2s");
        assert_eq!(reset_text(Duration::from_secs(65)), "1m5s");
    }
}
