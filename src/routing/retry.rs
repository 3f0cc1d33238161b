//! When to retry the same target, and after how long.

use crate::config::Backoff;
use std::time::Duration;

/// The wait before retry number `retry` (0-based) of one target, or `None` to move
/// on to the next candidate instead.
///
/// - A provider's `retry-after` is honoured when it fits both `backoff.max` and the
///   time left before the attempt deadline (`budget`); otherwise the gateway moves on
///   rather than keep the client waiting.
/// - Otherwise exponential backoff with full jitter: uniform in
///   `[0, min(max, base * 2^retry)]`; `unit` is the random draw in `[0, 1)`.
pub fn retry_delay(
    backoff: &Backoff,
    retry: u32,
    retry_after: Option<Duration>,
    budget: Option<Duration>,
    unit: f64,
) -> Option<Duration> {
    let fits = |d: Duration| d <= backoff.max && budget.is_none_or(|b| d < b);
    if let Some(ra) = retry_after {
        return fits(ra).then_some(ra);
    }
    let cap = backoff
        .base
        .saturating_mul(2u32.saturating_pow(retry.min(20)))
        .min(backoff.max);
    let d = cap.mul_f64(unit.clamp(0.0, 1.0));
    fits(d).then_some(d)
}

/// Reads `retry-after-ms` (milliseconds) or `retry-after` (seconds); HTTP dates are
/// not followed (treated as absent).
pub fn parse_retry_after(ms: Option<&str>, secs: Option<&str>) -> Option<Duration> {
    if let Some(v) = ms.and_then(|v| v.trim().parse::<f64>().ok()) {
        if v.is_finite() && v >= 0.0 {
            return Some(Duration::from_secs_f64(v / 1000.0));
        }
    }
    secs.and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Backoff {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }

    #[test]
    fn exponential_with_full_jitter_and_cap() {
        assert_eq!(
            retry_delay(&b(), 0, None, None, 0.999_999),
            Some(Duration::from_nanos(99_999_900))
        );
        assert_eq!(retry_delay(&b(), 0, None, None, 0.0), Some(Duration::ZERO));
        assert_eq!(
            retry_delay(&b(), 2, None, None, 0.5),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            retry_delay(&b(), 10, None, None, 1.0),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_delay(&b(), 30, None, None, 0.5),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn retry_after_is_honoured_only_when_it_fits() {
        let ra = Some(Duration::from_millis(1500));
        assert_eq!(retry_delay(&b(), 0, ra, None, 0.3), ra);
        assert_eq!(
            retry_delay(&b(), 0, ra, Some(Duration::from_secs(1)), 0.3),
            None,
            "past the deadline"
        );
        assert_eq!(
            retry_delay(&b(), 0, Some(Duration::from_secs(3)), None, 0.3),
            None,
            "over backoff.max"
        );
        assert_eq!(
            retry_delay(&b(), 3, None, Some(Duration::from_millis(10)), 0.9),
            None
        );
    }

    #[test]
    fn parses_both_headers() {
        assert_eq!(
            parse_retry_after(Some("250"), Some("9")),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after(None, Some("2")),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after(None, Some("Wed, 21 Oct 2026 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(Some("-1"), None), None);
    }
}
