//! Exact sliding-window limits for one key, in process: a log of the requests and
//! token reservations of the last 60 s.
//!
//! Why a log and not a fixed window, `pingora_limits::rate::Rate` or a token bucket:
//! "rpm 10" is read by users as "at most 10 in any 60 s". A fixed window (which is
//! what `Rate` estimates) admits 2x the limit across a window edge, and a token bucket
//! of capacity L refilled at L/min admits up to 2L in a minute after an idle spell.
//! A log admits at most L in every 60 s span and tells exactly when the next request
//! fits (the `retry-after`). It costs one entry per request of the last minute, which
//! the limit itself bounds for rpm. `state::redis` runs the same rules in Lua.
//!
//! Token entries are reservations: admitted at the estimate, then settled to the real
//! usage. A settlement that arrives after its entry left the window (a stream longer
//! than 60 s) adds only the excess over the estimate, as a new entry at settle time.

use super::{LimitKind, Quota, Remaining};
use crate::config::KeyLimits;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct TokenEntry {
    at: Instant,
    id: u64,
    tokens: u64,
}

#[derive(Debug, Default)]
pub struct Window {
    requests: VecDeque<Instant>,
    tokens: VecDeque<TokenEntry>,
    token_sum: u64,
    next_id: u64,
    /// Latest time seen; callers' clocks may be a hair out of order across threads.
    last: Option<Instant>,
}

/// Admission by the window: the id of the token entry to settle later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub id: u64,
    pub tokens: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub enum WindowDecision {
    Admit(Option<Reservation>, Quota),
    Limited {
        limit: LimitKind,
        retry_after: Duration,
        quota: Quota,
    },
}

impl Window {
    fn clock(&mut self, now: Instant) -> Instant {
        let now = self.last.map_or(now, |l| l.max(now));
        self.last = Some(now);
        while self.requests.front().is_some_and(|t| *t + WINDOW <= now) {
            self.requests.pop_front();
        }
        while let Some(e) = self.tokens.front().filter(|e| e.at + WINDOW <= now) {
            self.token_sum -= e.tokens;
            self.tokens.pop_front();
        }
        now
    }

    /// Admits one request reserving `tokens` (clamped to the tpm limit, so a request
    /// larger than the limit waits for an empty window instead of never fitting).
    pub fn admit(&mut self, now: Instant, limits: &KeyLimits, tokens: u64) -> WindowDecision {
        let now = self.clock(now);
        let tokens = limits.tpm.map_or(tokens, |tpm| tokens.min(tpm));
        let mut worst: Option<(LimitKind, Duration)> = None;
        let mut deny = |kind, wait: Duration| {
            if worst.is_none_or(|(_, w)| wait > w) {
                worst = Some((kind, wait));
            }
        };
        if let Some(rpm) = limits.rpm {
            let n = self.requests.len() as u64;
            if n >= rpm {
                // The request that must leave the window for one more to fit.
                let at = self.requests[(n - rpm) as usize];
                deny(LimitKind::Rpm, at + WINDOW - now);
            }
        }
        if let Some(tpm) = limits.tpm {
            if self.token_sum + tokens > tpm {
                // No overflow: the sum and `tokens` are each at most `tpm`.
                let mut over = self.token_sum + tokens - tpm;
                for e in &self.tokens {
                    over = over.saturating_sub(e.tokens);
                    if over == 0 {
                        deny(LimitKind::Tpm, e.at + WINDOW - now);
                        break;
                    }
                }
            }
        }
        if let Some((limit, retry_after)) = worst {
            return WindowDecision::Limited {
                limit,
                retry_after,
                quota: self.quota(now, limits),
            };
        }
        if limits.rpm.is_some() {
            self.requests.push_back(now);
        }
        let reservation = limits.tpm.map(|_| {
            let id = self.push_tokens(now, tokens);
            Reservation { id, tokens }
        });
        WindowDecision::Admit(reservation, self.quota(now, limits))
    }

    fn push_tokens(&mut self, at: Instant, tokens: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.tokens.push_back(TokenEntry { at, id, tokens });
        self.token_sum = self.token_sum.saturating_add(tokens);
        id
    }

    /// Replaces a reservation by the tokens really used.
    pub fn settle(&mut self, now: Instant, r: Reservation, used: u64) {
        let now = self.clock(now);
        // Entries are in id order.
        match self.tokens.binary_search_by_key(&r.id, |e| e.id) {
            Ok(i) => {
                let e = &mut self.tokens[i];
                self.token_sum = (self.token_sum - e.tokens).saturating_add(used);
                e.tokens = used;
            }
            Err(_) if used > r.tokens => {
                self.push_tokens(now, used - r.tokens);
            }
            Err(_) => {}
        }
    }

    /// The limits' state without admitting anything (for a request another limit
    /// turned away).
    pub fn peek(&mut self, now: Instant, limits: &KeyLimits) -> Quota {
        let now = self.clock(now);
        self.quota(now, limits)
    }

    fn quota(&self, now: Instant, limits: &KeyLimits) -> Quota {
        let reset = |oldest: Option<Instant>| oldest.map_or(Duration::ZERO, |t| t + WINDOW - now);
        Quota {
            requests: limits.rpm.map(|limit| Remaining {
                limit,
                remaining: limit.saturating_sub(self.requests.len() as u64),
                reset: reset(self.requests.front().copied()),
            }),
            tokens: limits.tpm.map(|limit| Remaining {
                limit,
                remaining: limit.saturating_sub(self.token_sum),
                reset: reset(self.tokens.front().map(|e| e.at)),
            }),
            budget: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rpm(n: u64) -> KeyLimits {
        KeyLimits {
            rpm: Some(n),
            ..Default::default()
        }
    }

    fn tpm(n: u64) -> KeyLimits {
        KeyLimits {
            tpm: Some(n),
            ..Default::default()
        }
    }

    fn admitted(d: &WindowDecision) -> bool {
        matches!(d, WindowDecision::Admit(..))
    }

    fn retry(d: &WindowDecision) -> Duration {
        match d {
            WindowDecision::Limited { retry_after, .. } => *retry_after,
            _ => panic!("admitted: {d:?}"),
        }
    }

    #[test]
    fn rpm_admits_exactly_the_limit_and_says_when_the_next_fits() {
        let t0 = Instant::now();
        let mut w = Window::default();
        let l = rpm(3);
        for i in 0..3 {
            assert!(admitted(&w.admit(t0 + Duration::from_secs(i * 10), &l, 0)));
        }
        let d = w.admit(t0 + Duration::from_secs(25), &l, 0);
        // The first request (t0) leaves the window at t0+60.
        assert_eq!(retry(&d), Duration::from_secs(35));
        assert!(!admitted(&w.admit(
            t0 + Duration::from_millis(59_999),
            &l,
            0
        )));
        assert!(admitted(&w.admit(t0 + Duration::from_secs(60), &l, 0)));
        // Rejected requests took nothing: the next opening is t0+10 leaving.
        let d = w.admit(t0 + Duration::from_secs(61), &l, 0);
        assert_eq!(retry(&d), Duration::from_secs(9));
    }

    #[test]
    fn a_burst_at_the_window_edge_gets_the_limit_once_not_twice() {
        let t0 = Instant::now();
        let mut w = Window::default();
        let l = rpm(10);
        let late = t0 + Duration::from_millis(59_900);
        let mut ok = 0;
        for _ in 0..20 {
            ok += admitted(&w.admit(late, &l, 0)) as u32;
        }
        // A fixed one-minute window would reset here and admit 10 more.
        let next_minute = t0 + Duration::from_millis(60_100);
        for _ in 0..20 {
            ok += admitted(&w.admit(next_minute, &l, 0)) as u32;
        }
        assert_eq!(ok, 10);
        // The whole window of 60 s after the burst: still 10 in total.
        assert!(!admitted(&w.admit(
            late + Duration::from_millis(59_999),
            &l,
            0
        )));
        assert!(admitted(&w.admit(late + WINDOW, &l, 0)));
    }

    #[test]
    fn tokens_are_reserved_then_settled_smaller_or_larger() {
        let t0 = Instant::now();
        let mut w = Window::default();
        let l = tpm(1000);
        let WindowDecision::Admit(Some(r), q) = w.admit(t0, &l, 600) else {
            panic!()
        };
        assert_eq!(q.tokens.unwrap().remaining, 400);
        // A second 600 does not fit next to the reservation...
        assert!(!admitted(&w.admit(t0, &l, 600)));
        // ...but does once the first settles at its real, smaller usage.
        w.settle(t0, r, 100);
        let WindowDecision::Admit(Some(r2), q) = w.admit(t0, &l, 600) else {
            panic!()
        };
        assert_eq!(q.tokens.unwrap().remaining, 300);
        // Settled larger than reserved: the window is full.
        w.settle(t0, r2, 900);
        let d = w.admit(t0 + Duration::from_secs(1), &l, 1);
        assert_eq!(retry(&d), Duration::from_secs(59));
    }

    #[test]
    fn a_settlement_after_the_window_adds_only_the_excess() {
        let t0 = Instant::now();
        let mut w = Window::default();
        let l = tpm(1000);
        let WindowDecision::Admit(Some(r), _) = w.admit(t0, &l, 300) else {
            panic!()
        };
        let later = t0 + Duration::from_secs(90);
        w.settle(later, r, 500);
        let WindowDecision::Admit(_, q) = w.admit(later, &l, 0) else {
            panic!()
        };
        assert_eq!(q.tokens.unwrap().remaining, 800);
        // Settled below its reservation after the window: nothing more to count.
        let WindowDecision::Admit(Some(r), _) = w.admit(later, &l, 100) else {
            panic!()
        };
        w.settle(later + Duration::from_secs(200), r, 50);
        let WindowDecision::Admit(_, q) = w.admit(later + Duration::from_secs(200), &l, 0) else {
            panic!()
        };
        assert_eq!(q.tokens.unwrap().remaining, 1000);
    }

    #[test]
    fn a_reservation_larger_than_the_limit_waits_for_an_empty_window() {
        let t0 = Instant::now();
        let mut w = Window::default();
        let l = tpm(1000);
        assert!(admitted(&w.admit(t0, &l, 5000)));
        let d = w.admit(t0 + Duration::from_secs(30), &l, 5000);
        assert_eq!(retry(&d), Duration::from_secs(30));
    }

    #[test]
    fn the_longest_wait_of_several_limits_is_reported() {
        let t0 = Instant::now();
        let mut w = Window::default();
        let l = KeyLimits {
            rpm: Some(2),
            tpm: Some(100),
            concurrency: None,
            budget: None,
        };
        assert!(admitted(&w.admit(t0, &l, 90)));
        assert!(admitted(&w.admit(t0 + Duration::from_secs(20), &l, 5)));
        match w.admit(t0 + Duration::from_secs(30), &l, 50) {
            WindowDecision::Limited {
                limit, retry_after, ..
            } => {
                // rpm frees at t0+60 (30 s), tpm too (the 90 leaves at t0+60): equal
                // waits keep the first found.
                assert_eq!(
                    (limit, retry_after),
                    (LimitKind::Rpm, Duration::from_secs(30))
                );
            }
            d => panic!("{d:?}"),
        }
    }
}
