//! The billing rule, as a pure function: minutes are `max(ceil(seconds / 60), 1)` capped at the booked
//! minutes, the amount is minutes × price, the platform keeps its commission (rounded to the fen) and the
//! counselor gets the rest; whatever the buyer prepaid beyond that goes back to their wallet.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bill {
    pub minutes: i64,
    pub total: i64,
    pub platform_fee: i64,
    pub counselor_fee: i64,
    pub refund: i64,
}

/// Bills `seconds` of chat. `started` is false for a session that never began: nothing is charged.
pub fn bill(
    started: bool,
    seconds: i64,
    booked_minutes: i64,
    price_per_minute: i64,
    prepaid_remaining: i64,
    platform_commission: f64,
) -> Bill {
    let minutes = if started {
        let used = (seconds.max(0) + 59) / 60;
        used.max(1).min(booked_minutes.max(1))
    } else {
        0
    };
    let total = (minutes * price_per_minute).min(prepaid_remaining.max(0));
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
        let b = bill(true, 754, 60, 250, 15000, 0.30);
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
        assert_eq!(bill(true, 0, 30, 100, 3000, 0.3).minutes, 1);
        assert_eq!(bill(true, 61, 30, 100, 3000, 0.3).minutes, 2);
        assert_eq!(bill(true, 60, 30, 100, 3000, 0.3).minutes, 1);
        let over = bill(true, 4 * 3600, 30, 100, 3000, 0.3);
        assert_eq!((over.minutes, over.total, over.refund), (30, 3000, 0));
    }

    #[test]
    fn a_session_that_never_started_refunds_everything() {
        let b = bill(false, 500, 30, 100, 3000, 0.3);
        assert_eq!((b.minutes, b.total, b.refund), (0, 0, 3000));
    }

    #[test]
    fn fees_always_add_up_to_the_total_in_fen() {
        for price in [1, 7, 99, 110, 333] {
            for secs in [1, 59, 61, 150, 1799] {
                let b = bill(true, secs, 60, price, 60 * price, 0.3);
                assert_eq!(b.platform_fee + b.counselor_fee, b.total);
                assert_eq!(b.total + b.refund, 60 * price);
            }
        }
        let b = bill(true, 150, 60, 110, 6600, 0.3);
        assert_eq!((b.total, b.platform_fee, b.counselor_fee), (330, 99, 231));
    }

    #[test]
    fn billing_never_takes_more_than_what_is_left_of_the_prepayment() {
        let b = bill(true, 600, 60, 100, 500, 0.3);
        assert_eq!((b.total, b.refund), (500, 0));
    }
}
