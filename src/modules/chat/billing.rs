//! The billing rule, as a pure function. The console's tariff sets a free period and a billing cycle:
//! a chat no longer than the free period costs nothing; otherwise the time past it is billed in whole
//! cycles (at least one), capped at the booked minutes. With the defaults (no free period, 60 s cycles)
//! the billed minutes are `max(ceil(seconds / 60), 1)`. The amount is the billed seconds × the price per
//! minute / 60 (rounded to the fen), the platform keeps its commission (rounded to the fen) and the
//! counselor gets the rest; whatever the buyer prepaid beyond that goes back to their wallet.

/// The console's `free_chat_duration` and `billing_cycle`, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tariff {
    pub free_seconds: i64,
    pub cycle_seconds: i64,
}

impl Default for Tariff {
    /// No free period, per-minute billing.
    fn default() -> Self {
        Self {
            free_seconds: 0,
            cycle_seconds: 60,
        }
    }
}

impl Tariff {
    /// Seconds billed for a chat of `seconds` booked for `booked_minutes`.
    fn billed_seconds(&self, seconds: i64, booked_minutes: i64) -> i64 {
        let seconds = seconds.max(0);
        let free = self.free_seconds.max(0);
        if free > 0 && seconds <= free {
            return 0;
        }
        let cycle = self.cycle_seconds.max(1);
        let cycles = ((seconds - free) + cycle - 1) / cycle;
        (cycles.max(1) * cycle).min(booked_minutes.max(1) * 60)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bill {
    pub minutes: i64,
    pub total: i64,
    pub platform_fee: i64,
    pub counselor_fee: i64,
    pub refund: i64,
}

/// Bills `seconds` of chat. `started` is false for a session that never began: nothing is charged.
/// `minutes` is the billed time rounded up to whole minutes.
pub fn bill(
    started: bool,
    seconds: i64,
    booked_minutes: i64,
    price_per_minute: i64,
    prepaid_remaining: i64,
    platform_commission: f64,
    tariff: Tariff,
) -> Bill {
    let billed = if started {
        tariff.billed_seconds(seconds, booked_minutes)
    } else {
        0
    };
    let minutes = (billed + 59) / 60;
    let amount = (billed * price_per_minute + 30) / 60;
    let total = amount.min(prepaid_remaining.max(0));
    let platform_fee = (total as f64 * platform_commission).round() as i64;
    let platform_fee = platform_fee.clamp(0, total);
    Bill {
        minutes,
        total,
        platform_fee,
        counselor_fee: total - platform_fee,
        refund: prepaid_remaining.max(0) - total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_worked_example() {
        // 2.50/min, 754 s → 13 min → 32.50, split 9.75 / 22.75.
        let b = bill(true, 754, 60, 250, 15000, 0.30, Tariff::default());
        assert_eq!(
            b,
            Bill {
                minutes: 13,
                total: 3250,
                platform_fee: 975,
                counselor_fee: 2275,
                refund: 15000 - 3250,
            }
        );
    }

    #[test]
    fn at_least_one_minute_and_never_more_than_booked() {
        assert_eq!(
            bill(true, 0, 30, 100, 3000, 0.3, Tariff::default()).minutes,
            1
        );
        assert_eq!(
            bill(true, 61, 30, 100, 3000, 0.3, Tariff::default()).minutes,
            2
        );
        assert_eq!(
            bill(true, 60, 30, 100, 3000, 0.3, Tariff::default()).minutes,
            1
        );
        let over = bill(true, 4 * 3600, 30, 100, 3000, 0.3, Tariff::default());
        assert_eq!((over.minutes, over.total, over.refund), (30, 3000, 0));
    }

    #[test]
    fn a_session_that_never_started_refunds_everything() {
        let b = bill(false, 500, 30, 100, 3000, 0.3, Tariff::default());
        assert_eq!((b.minutes, b.total, b.refund), (0, 0, 3000));
    }

    #[test]
    fn fees_always_add_up_to_the_total_in_fen() {
        for price in [1, 7, 99, 110, 333] {
            for secs in [1, 59, 61, 150, 1799] {
                let b = bill(true, secs, 60, price, 60 * price, 0.3, Tariff::default());
                assert_eq!(b.platform_fee + b.counselor_fee, b.total);
                assert_eq!(b.total + b.refund, 60 * price);
            }
        }
        let b = bill(true, 150, 60, 110, 6600, 0.3, Tariff::default());
        assert_eq!((b.total, b.platform_fee, b.counselor_fee), (330, 99, 231));
    }

    #[test]
    fn a_free_period_then_whole_cycles() {
        let tariff = Tariff {
            free_seconds: 300,
            cycle_seconds: 600,
        };
        // Within the free period: nothing.
        let b = bill(true, 300, 60, 100, 6000, 0.3, tariff);
        assert_eq!((b.minutes, b.total, b.refund), (0, 0, 6000));
        // One second past it: one whole ten-minute cycle.
        let b = bill(true, 301, 60, 100, 6000, 0.3, tariff);
        assert_eq!((b.minutes, b.total), (10, 1000));
        // Never more than the booked time.
        let b = bill(true, 1900, 30, 100, 3000, 0.3, tariff);
        assert_eq!((b.minutes, b.total), (30, 3000));
        // Cycles shorter than a minute bill their share of the price per minute.
        let half = Tariff {
            free_seconds: 0,
            cycle_seconds: 30,
        };
        let b = bill(true, 70, 60, 250, 15000, 0.3, half);
        assert_eq!((b.minutes, b.total), (2, 375));
    }

    #[test]
    fn billing_never_takes_more_than_what_is_left_of_the_prepayment() {
        let b = bill(true, 600, 60, 100, 500, 0.3, Tariff::default());
        assert_eq!((b.total, b.refund), (500, 0));
    }
}
