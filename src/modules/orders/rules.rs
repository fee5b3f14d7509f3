//! The one transition table: who may move an order from which state to which. Everything that changes an
//! order's status (handlers, payment callbacks, the scheduler, chat billing, admins) asks this table.

use super::status::{Actor, OrderStatus};

use Actor::*;
use OrderStatus::*;

/// `(from, to, actors allowed)`. Anything not listed is refused.
const TRANSITIONS: &[(OrderStatus, OrderStatus, &[Actor])] = &[
    // Paid when a payment is confirmed (callback, sandbox, wallet).
    (PendingPayment, Paid, &[System, Admin]),
    // The buyer cancels an unpaid order; the scheduler cancels it on timeout.
    (PendingPayment, Cancelled, &[User, System, Admin]),
    // Completed when the chat session is billed.
    (Paid, Completed, &[System, Admin]),
    // Cancelling a paid order refunds it: by the buyer, or by the counselor who cannot attend.
    (Paid, Refunded, &[User, Counselor, System, Admin]),
    // After completion only an administrator may refund (disputes).
    (Completed, Refunded, &[Admin]),
];

/// Whether `actor` may move an order from `from` to `to`.
pub fn can_transition(from: OrderStatus, to: OrderStatus, actor: Actor) -> bool {
    TRANSITIONS
        .iter()
        .any(|(f, t, actors)| *f == from && *t == to && actors.contains(&actor))
}

/// What the buyer's "cancel" means in `from`: cancel an unpaid order, refund a paid one.
pub fn cancel_target(from: OrderStatus) -> Option<OrderStatus> {
    match from {
        PendingPayment => Some(Cancelled),
        Paid => Some(Refunded),
        _ => None,
    }
}

/// The actions `GET /api/order/:id/validate?action=` answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAction {
    Pay,
    Cancel,
    Refund,
    Review,
    Complete,
}

impl std::str::FromStr for OrderAction {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pay" => Self::Pay,
            "cancel" => Self::Cancel,
            "refund" => Self::Refund,
            "review" => Self::Review,
            "complete" => Self::Complete,
            _ => return Err(()),
        })
    }
}

/// Whether `actor` may take `action` on an order in `status`, from the same table. Reviews are not
/// transitions: a completed order may be reviewed by its buyer (once; the caller checks that).
pub fn action_allowed(action: OrderAction, status: OrderStatus, actor: Actor) -> bool {
    match action {
        // Paying is the buyer starting the 0 → 1 move that the system completes.
        OrderAction::Pay => actor == User && status == PendingPayment,
        OrderAction::Cancel => {
            cancel_target(status).is_some_and(|to| can_transition(status, to, actor))
        }
        OrderAction::Refund => can_transition(status, Refunded, actor),
        OrderAction::Review => actor == User && status == Completed,
        OrderAction::Complete => can_transition(status, Completed, actor),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [OrderStatus; 5] = [PendingPayment, Paid, Completed, Cancelled, Refunded];
    const ACTORS: [Actor; 4] = [User, Counselor, System, Admin];

    #[test]
    fn terminal_states_never_move() {
        for to in ALL {
            for actor in ACTORS {
                assert!(!can_transition(Cancelled, to, actor));
                assert!(!can_transition(Refunded, to, actor));
            }
        }
    }

    #[test]
    fn nobody_moves_an_order_backwards_or_in_place() {
        for s in ALL {
            for actor in ACTORS {
                assert!(!can_transition(s, s, actor));
                assert!(!can_transition(s, PendingPayment, actor));
            }
        }
    }

    #[test]
    fn only_the_system_or_an_admin_marks_paid_or_completed() {
        assert!(can_transition(PendingPayment, Paid, System));
        assert!(!can_transition(PendingPayment, Paid, User));
        assert!(!can_transition(PendingPayment, Paid, Counselor));
        assert!(can_transition(Paid, Completed, System));
        assert!(!can_transition(Paid, Completed, Counselor));
        assert!(!can_transition(Paid, Completed, User));
    }

    #[test]
    fn cancelling_unpaid_cancels_and_cancelling_paid_refunds() {
        assert_eq!(cancel_target(PendingPayment), Some(Cancelled));
        assert_eq!(cancel_target(Paid), Some(Refunded));
        assert_eq!(cancel_target(Completed), None);
        assert!(action_allowed(OrderAction::Cancel, PendingPayment, User));
        assert!(action_allowed(OrderAction::Cancel, Paid, User));
        assert!(!action_allowed(OrderAction::Cancel, Completed, User));
        assert!(!action_allowed(
            OrderAction::Cancel,
            PendingPayment,
            Counselor
        ));
        assert!(action_allowed(OrderAction::Refund, Paid, Counselor));
        assert!(!action_allowed(OrderAction::Refund, Completed, User));
        assert!(action_allowed(OrderAction::Refund, Completed, Admin));
    }

    #[test]
    fn validate_actions_follow_the_table() {
        assert!(action_allowed(OrderAction::Pay, PendingPayment, User));
        assert!(!action_allowed(OrderAction::Pay, Paid, User));
        assert!(action_allowed(OrderAction::Review, Completed, User));
        assert!(!action_allowed(OrderAction::Review, Paid, User));
        assert!(action_allowed(OrderAction::Complete, Paid, Admin));
        assert!(!action_allowed(
            OrderAction::Complete,
            PendingPayment,
            Admin
        ));
        assert_eq!("refund".parse::<OrderAction>(), Ok(OrderAction::Refund));
        assert!("delete".parse::<OrderAction>().is_err());
    }
}
