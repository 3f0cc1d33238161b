//! Spend budgets for one key, in process: the nano-dollars spent and reserved in the
//! current period. `state::redis` runs the same rules in Lua.
//!
//! Admission reserves the request's largest possible cost (its estimated input and
//! its max output tokens at the highest price among its targets); the settlement
//! replaces the reservation by the real cost. So concurrent requests never take the
//! key over its budget: each one's worst case was counted before it was let in. A
//! request whose worst case alone is above the budget is never admitted.
//!
//! Periods are fixed windows aligned to the Unix epoch ([`BudgetPeriod`]), on the wall
//! clock; a reservation made in a period that has ended is dropped with it.

use crate::config::{Budget, BudgetPeriod};
use std::time::Duration;

/// Where a key's budget stands: `x-switchyard-budget-remaining-usd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLeft {
    pub remaining_nano: u64,
    /// Until the period ends; `None` for a `total` budget.
    pub resets_in: Option<Duration>,
}

/// A reservation to settle: made in the period starting at `period_start` (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendHold {
    pub period_start: u64,
    pub nano: u64,
}

#[derive(Debug, Default)]
pub struct Spend {
    period_start: u64,
    /// Settled costs plus open reservations in this period.
    spent: u64,
}

/// Start of the period holding `now_ms` (0 for `total`).
pub fn period_start(now_ms: u64, period: BudgetPeriod) -> u64 {
    period.millis().map_or(0, |len| now_ms - now_ms % len)
}

fn resets_in(now_ms: u64, period: BudgetPeriod) -> Option<Duration> {
    period
        .millis()
        .map(|len| Duration::from_millis(period_start(now_ms, period) + len - now_ms))
}

impl Spend {
    fn roll(&mut self, now_ms: u64, period: BudgetPeriod) {
        let start = period_start(now_ms, period);
        if start != self.period_start {
            self.period_start = start;
            self.spent = 0;
        }
    }

    /// Reserves `need` nano-dollars, or says how long until the period ends (`None`
    /// inside: a `total` budget, which never resets).
    pub fn reserve(
        &mut self,
        now_ms: u64,
        budget: &Budget,
        need: u64,
    ) -> Result<(SpendHold, BudgetLeft), (Option<Duration>, BudgetLeft)> {
        self.roll(now_ms, budget.period);
        if self.spent.saturating_add(need) > budget.nano_usd {
            return Err((resets_in(now_ms, budget.period), self.left(now_ms, budget)));
        }
        self.spent += need;
        let hold = SpendHold {
            period_start: self.period_start,
            nano: need,
        };
        Ok((hold, self.left(now_ms, budget)))
    }

    /// Replaces a reservation by what the request really cost (0 gives it back).
    pub fn settle(&mut self, now_ms: u64, budget: &Budget, hold: SpendHold, used: u64) {
        self.roll(now_ms, budget.period);
        if hold.period_start == self.period_start {
            self.spent = (self.spent - hold.nano.min(self.spent)).saturating_add(used);
        }
    }

    pub fn left(&self, now_ms: u64, budget: &Budget) -> BudgetLeft {
        BudgetLeft {
            remaining_nano: budget.nano_usd.saturating_sub(self.spent),
            resets_in: resets_in(now_ms, budget.period),
        }
    }
}

/// Milliseconds since the Unix epoch, for budget periods.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    fn budget(nano: u64, period: BudgetPeriod) -> Budget {
        Budget {
            nano_usd: nano,
            period,
        }
    }

    #[test]
    fn reservations_count_until_settled_and_never_overspend() {
        let b = budget(100, BudgetPeriod::Hour);
        let mut s = Spend::default();
        let now = 10 * HOUR + 5;
        let (h1, left) = s.reserve(now, &b, 60).unwrap();
        assert_eq!(left.remaining_nano, 40);
        // A second worst case does not fit while the first is open...
        let (wait, _) = s.reserve(now, &b, 60).unwrap_err();
        assert_eq!(wait, Some(Duration::from_millis(HOUR - 5)));
        // ...and does once the first settled at its real, smaller cost.
        s.settle(now, &b, h1, 10);
        let (_, left) = s.reserve(now, &b, 60).unwrap();
        assert_eq!(left.remaining_nano, 30);
    }

    #[test]
    fn periods_reset_and_stale_settlements_are_dropped() {
        let b = budget(100, BudgetPeriod::Day);
        let mut s = Spend::default();
        let day = 24 * HOUR;
        let (h, _) = s.reserve(3 * day - 1, &b, 100).unwrap();
        assert!(s.reserve(3 * day - 1, &b, 1).is_err());
        // Midnight UTC: a fresh period; the old reservation settles into nothing.
        let (_, left) = s.reserve(3 * day, &b, 30).unwrap();
        s.settle(3 * day + 1, &b, h, 100);
        assert_eq!(left.remaining_nano, 70);
        assert_eq!(s.left(3 * day + 1, &b).remaining_nano, 70);
    }

    #[test]
    fn a_total_budget_never_resets() {
        let b = budget(10, BudgetPeriod::Total);
        let mut s = Spend::default();
        let (h, left) = s.reserve(5, &b, 10).unwrap();
        assert_eq!(left.resets_in, None);
        s.settle(6, &b, h, 10);
        assert_eq!(s.reserve(1000 * 24 * HOUR, &b, 1).unwrap_err().0, None);
    }

    #[test]
    fn a_worst_case_above_the_budget_is_never_admitted() {
        let b = budget(10, BudgetPeriod::Hour);
        assert!(Spend::default().reserve(0, &b, 11).is_err());
    }
}
