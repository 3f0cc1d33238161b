//! Counters and HDR histograms (microseconds), shared by all workers behind one mutex.
//! Workers take the lock once per request and once per received body chunk.

use crate::request::{Kind, KINDS};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest value a histogram tracks (1 hour in µs); larger values saturate.
const MAX_US: u64 = 3_600_000_000;

pub fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

pub fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_US)
}

pub struct KindStats {
    pub completed: u64,
    pub errors: u64,
    pub latency: Histogram<u64>,
}

pub struct Stats {
    /// Latency from the intended start to the last body byte.
    pub latency: Histogram<u64>,
    /// Latency from the actual send to the last body byte.
    pub service: Histogram<u64>,
    /// How late requests were sent relative to their schedule (open loop).
    pub send_lag: Histogram<u64>,
    /// Intended start to the first SSE data event.
    pub ttft: Histogram<u64>,
    /// Time between consecutive SSE data events of a stream.
    pub gap: Histogram<u64>,
    /// Finished measured requests (success, expected error or intended disconnect).
    pub completed: u64,
    /// Of those, finished before the measured window closed.
    pub completed_in_window: u64,
    /// Successful measured requests.
    pub ok: u64,
    /// Measured requests started.
    pub started: u64,
    /// Requests started during warm-up (not measured).
    pub warmup_requests: u64,
    pub events: u64,
    pub body_bytes: u64,
    /// Failures by kind (`connect`, `status_502`, `timeout`, `body`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Outcomes that are not failures (`disconnect_intended`, `expected_status_500`,
    /// `cut_at_end`).
    pub outcomes: BTreeMap<String, u64>,
    /// Failures seen during warm-up, by kind (not counted above).
    pub warmup_errors: BTreeMap<String, u64>,
    pub kinds: Vec<KindStats>,
    /// Streams fully received.
    pub streams_done: u64,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            latency: hist(),
            service: hist(),
            send_lag: hist(),
            ttft: hist(),
            gap: hist(),
            completed: 0,
            completed_in_window: 0,
            ok: 0,
            started: 0,
            warmup_requests: 0,
            events: 0,
            body_bytes: 0,
            errors: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            warmup_errors: BTreeMap::new(),
            kinds: KINDS
                .iter()
                .map(|_| KindStats {
                    completed: 0,
                    errors: 0,
                    latency: hist(),
                })
                .collect(),
            streams_done: 0,
        }
    }

    pub fn error(&mut self, kind: Kind, what: &str, measured: bool) {
        let map = if measured {
            self.kinds[kind as usize].errors += 1;
            &mut self.errors
        } else {
            &mut self.warmup_errors
        };
        match map.get_mut(what) {
            Some(n) => *n += 1,
            None => {
                map.insert(what.to_string(), 1);
            }
        }
    }

    pub fn outcome(&mut self, what: &str) {
        match self.outcomes.get_mut(what) {
            Some(n) => *n += 1,
            None => {
                self.outcomes.insert(what.to_string(), 1);
            }
        }
    }

    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Percentiles of a histogram in µs, as JSON.
pub fn summary(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({"count": 0});
    }
    json!({
        "count": h.len(),
        "min": h.min(),
        "mean": (h.mean() * 10.0).round() / 10.0,
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p99_9": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}
