//! What a request cost: its usage at its target's prices (USD per million tokens).
//!
//! `Usage::input_tokens` counts every prompt token, cache reads and writes included,
//! so the uncached part is what remains after those two. Reasoning tokens are part of
//! `output_tokens` in both providers' usage and are billed at the output price.

use crate::config::Price;
use crate::formats::model::Usage;

/// USD for `usage` at `price`. Cache reads and writes without their own price are
/// billed as plain input.
pub fn usd(usage: &Usage, price: &Price) -> f64 {
    let cached = usage.cache_read_tokens.min(usage.input_tokens);
    let written = usage.cache_write_tokens.min(usage.input_tokens - cached);
    let plain = usage.input_tokens - cached - written;
    let per_token = |n: u64, per_million: f64| n as f64 * per_million / 1_000_000.0;
    per_token(plain, price.input)
        + per_token(cached, price.cache_read.unwrap_or(price.input))
        + per_token(written, price.cache_write.unwrap_or(price.input))
        + per_token(usage.output_tokens, price.output)
}

/// A cost as logs and headers show it: fixed point, enough digits for a one-token
/// request on the cheapest models, trailing zeros dropped (`0.00042`, `1.5`).
pub fn format_usd(usd: f64) -> String {
    let s = format!("{:.9}", usd.max(0.0));
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price() -> Price {
        Price {
            input: 3.0,
            output: 15.0,
            cache_read: Some(0.3),
            cache_write: Some(3.75),
        }
    }

    #[test]
    fn cached_and_written_tokens_use_their_own_prices() {
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 400_000,
            cache_write_tokens: 100_000,
            reasoning_tokens: 50_000,
        };
        // 500k plain × 3 + 400k × 0.3 + 100k × 3.75 + 100k out × 15 (reasoning inside).
        let expected = 1.5 + 0.12 + 0.375 + 1.5;
        assert!((usd(&u, &price()) - expected).abs() < 1e-9);
    }

    #[test]
    fn cache_prices_default_to_input_and_bad_counts_do_not_underflow() {
        let p = Price {
            cache_read: None,
            cache_write: None,
            ..price()
        };
        let u = Usage {
            input_tokens: 10,
            cache_read_tokens: 40,
            cache_write_tokens: 5,
            ..Usage::default()
        };
        assert!((usd(&u, &p) - 30.0 / 1_000_000.0).abs() < 1e-12);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_usd(1.5), "1.5");
        assert_eq!(format_usd(0.000_42), "0.00042");
        assert_eq!(format_usd(0.0), "0");
        assert_eq!(format_usd(0.000_000_15), "0.00000015");
    }
}
