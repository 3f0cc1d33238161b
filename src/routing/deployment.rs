//! Live state of one deployment (provider + upstream model): requests in flight,
//! peak-EWMA latency, and the circuit breaker. Time is always passed in, so the state
//! machines are tested with injected instants instead of sleeps.

use crate::config::BreakerConfig;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How fast latency observations fade (time constant of the decay).
const EWMA_TAU: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct DeploymentStats {
    inflight: AtomicU32,
    latency: Mutex<Latency>,
    breaker: Mutex<Breaker>,
}

#[derive(Debug, Default)]
struct Latency {
    ttft: PeakEwma,
    total: PeakEwma,
}

/// Peak-EWMA: a slower sample takes effect at once, faster ones blend in, and the
/// value decays with time so a deployment that was slow gets tried again.
#[derive(Debug, Default, Clone, Copy)]
pub struct PeakEwma {
    micros: f64,
    at: Option<Instant>,
}

impl PeakEwma {
    pub fn observe(&mut self, now: Instant, sample: Duration) {
        let s = sample.as_secs_f64() * 1e6;
        let current = self.value(now);
        self.micros = if s > current || self.at.is_none() {
            s
        } else {
            let w = (-(now.saturating_duration_since(self.at.unwrap_or(now))).as_secs_f64()
                / EWMA_TAU.as_secs_f64())
            .exp();
            current * w + s * (1.0 - w)
        };
        self.at = Some(now);
    }

    /// Microseconds, decayed to `now`; 0 for a deployment never measured.
    pub fn value(&self, now: Instant) -> f64 {
        match self.at {
            None => 0.0,
            Some(at) => {
                let dt = now.saturating_duration_since(at).as_secs_f64();
                self.micros * (-dt / EWMA_TAU.as_secs_f64()).exp()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerState {
    Closed,
    Open {
        until: Instant,
    },
    /// Cool-down over: one probe request is allowed through.
    HalfOpen {
        probing: bool,
    },
}

#[derive(Debug)]
struct Breaker {
    state: BreakerState,
    consecutive_failures: u32,
}

/// Whether a request may use the deployment now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Yes,
    /// The half-open probe: its outcome closes or re-opens the breaker.
    Probe,
    /// Open (or a probe is already out); usable again at about `until`.
    No {
        until: Instant,
    },
}

/// What an attempt's outcome means for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Connect error, timeout, 5xx, broken response.
    Failure,
    /// 429: cool down for the provider's `retry-after`, if it gave one.
    RateLimited(Option<Duration>),
    /// The request was at fault (400...): says nothing about the deployment.
    Neutral,
}

impl Default for DeploymentStats {
    fn default() -> Self {
        DeploymentStats {
            inflight: AtomicU32::new(0),
            latency: Mutex::new(Latency::default()),
            breaker: Mutex::new(Breaker {
                state: BreakerState::Closed,
                consecutive_failures: 0,
            }),
        }
    }
}

/// Counts one request in flight until dropped.
pub struct InflightGuard<'a>(&'a AtomicU32);

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl DeploymentStats {
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Relaxed)
    }

    pub fn start(&self) -> InflightGuard<'_> {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InflightGuard(&self.inflight)
    }

    /// Latency score in microseconds: peak-EWMA (time to first token for streams,
    /// total otherwise) weighted by the load already on the deployment.
    pub fn latency_score(&self, now: Instant, stream: bool) -> f64 {
        let l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let base = if stream {
            l.ttft.value(now)
        } else {
            l.total.value(now)
        };
        base * f64::from(self.inflight() + 1)
    }

    pub fn observe_latency(&self, now: Instant, ttft: Duration, total: Duration) {
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        l.ttft.observe(now, ttft);
        l.total.observe(now, total);
    }

    /// Asks the breaker; a half-open breaker admits exactly one probe.
    pub fn admit(&self, now: Instant) -> Admission {
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match b.state {
            BreakerState::Closed => Admission::Yes,
            BreakerState::Open { until } if now < until => Admission::No { until },
            BreakerState::Open { .. } | BreakerState::HalfOpen { probing: false } => {
                b.state = BreakerState::HalfOpen { probing: true };
                Admission::Probe
            }
            BreakerState::HalfOpen { probing: true } => Admission::No {
                until: now + Duration::from_secs(1),
            },
        }
    }

    /// Feeds an attempt's outcome to the breaker.
    pub fn record(&self, now: Instant, outcome: Outcome, cfg: &BreakerConfig) {
        let mut b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Outcome::Success => {
                b.state = BreakerState::Closed;
                b.consecutive_failures = 0;
            }
            Outcome::Neutral => {
                // A probe that ended neutral proves the deployment answers.
                if matches!(b.state, BreakerState::HalfOpen { .. }) {
                    b.state = BreakerState::Closed;
                    b.consecutive_failures = 0;
                }
            }
            Outcome::RateLimited(Some(wait)) => {
                b.consecutive_failures += 1;
                let until = now + wait;
                let later = match b.state {
                    BreakerState::Open { until: u } => u.max(until),
                    _ => until,
                };
                b.state = BreakerState::Open { until: later };
            }
            Outcome::Failure | Outcome::RateLimited(None) => {
                b.consecutive_failures += 1;
                let probe_failed = matches!(b.state, BreakerState::HalfOpen { .. });
                if probe_failed || b.consecutive_failures >= cfg.failures {
                    b.state = BreakerState::Open {
                        until: now + cfg.cooldown,
                    };
                }
            }
        }
    }

    /// For logs and tests: "closed", "open" or "half_open".
    pub fn breaker_state(&self, now: Instant) -> &'static str {
        let b = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
        match b.state {
            BreakerState::Closed => "closed",
            BreakerState::Open { until } if now < until => "open",
            BreakerState::Open { .. } | BreakerState::HalfOpen { .. } => "half_open",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            failures: 3,
            cooldown: Duration::from_secs(30),
        }
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let d = DeploymentStats::default();
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(d.admit(t0), Admission::Yes);
            d.record(t0, Outcome::Failure, &cfg());
        }
        assert_eq!(d.breaker_state(t0), "closed");
        d.record(t0, Outcome::Failure, &cfg());
        assert_eq!(d.breaker_state(t0), "open");
        assert!(matches!(
            d.admit(t0 + Duration::from_secs(29)),
            Admission::No { .. }
        ));
        // Cool-down over: exactly one probe.
        let t1 = t0 + Duration::from_secs(31);
        assert_eq!(d.admit(t1), Admission::Probe);
        assert!(matches!(d.admit(t1), Admission::No { .. }));
        d.record(t1, Outcome::Success, &cfg());
        assert_eq!(d.breaker_state(t1), "closed");
        assert_eq!(d.admit(t1), Admission::Yes);
    }

    #[test]
    fn failed_probe_reopens_at_once() {
        let d = DeploymentStats::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            d.record(t0, Outcome::Failure, &cfg());
        }
        let t1 = t0 + Duration::from_secs(31);
        assert_eq!(d.admit(t1), Admission::Probe);
        d.record(t1, Outcome::Failure, &cfg());
        assert_eq!(d.breaker_state(t1), "open");
        assert!(matches!(
            d.admit(t1 + Duration::from_secs(29)),
            Admission::No { .. }
        ));
        assert_eq!(d.admit(t1 + Duration::from_secs(31)), Admission::Probe);
    }

    #[test]
    fn rate_limit_cools_down_for_retry_after() {
        let d = DeploymentStats::default();
        let t0 = Instant::now();
        d.record(
            t0,
            Outcome::RateLimited(Some(Duration::from_secs(7))),
            &cfg(),
        );
        assert!(matches!(
            d.admit(t0 + Duration::from_secs(6)),
            Admission::No { .. }
        ));
        assert_eq!(d.admit(t0 + Duration::from_secs(8)), Admission::Probe);
        // Neutral outcomes (client errors) do not count as failures.
        let d = DeploymentStats::default();
        for _ in 0..10 {
            d.record(t0, Outcome::Neutral, &cfg());
        }
        assert_eq!(d.breaker_state(t0), "closed");
    }

    #[test]
    fn peak_ewma_jumps_up_blends_down_and_decays() {
        let mut e = PeakEwma::default();
        let t0 = Instant::now();
        assert_eq!(e.value(t0), 0.0);
        e.observe(t0, Duration::from_millis(100));
        assert!((e.value(t0) - 100_000.0).abs() < 1.0);
        e.observe(t0 + Duration::from_millis(1), Duration::from_millis(500));
        assert!(
            (e.value(t0 + Duration::from_millis(1)) - 500_000.0).abs() < 1.0,
            "peak at once"
        );
        e.observe(t0 + Duration::from_secs(5), Duration::from_millis(10));
        let v = e.value(t0 + Duration::from_secs(5));
        assert!(v < 500_000.0 * 0.7 && v > 10_000.0, "{v}");
        assert!(
            e.value(t0 + Duration::from_secs(300)) < 1.0,
            "decays when idle"
        );
    }

    #[test]
    fn inflight_guard_counts() {
        let d = DeploymentStats::default();
        let g1 = d.start();
        let g2 = d.start();
        assert_eq!(d.inflight(), 2);
        drop(g1);
        drop(g2);
        assert_eq!(d.inflight(), 0);
    }
}
