//! The order lifecycle as one table: who may move an order from which state to which, and in which phase
//! of its chat session. Everything that changes an order's status (handlers, payment callbacks, the
//! scheduler, chat billing, admins) asks this table, and the moves a person asks for (cancel, refund,
//! admin status change) are checked against it under the order's row lock, with the session read under
//! that lock too, so a cancel and a session start or end can never interleave badly.
//!
//! Money rules that go with it (enforced by `payments::refunds`, under the same lock):
//! - refundable = paid − billed − already refunded (reservations of channel refunds still processing
//!   included); a request above it is refused whole, nothing is credited;
//! - a refund of a paid or completed order that leaves nothing refundable moves it to refunded; a partial
//!   one leaves its state alone;
//! - an administrator may refund a completed order (dispute) up to what is still refundable; the
//!   counselor's share of the billed part is taken back from the counselor's available balance in the
//!   same transaction, and when that balance cannot cover it the refund is refused (409), never paid by
//!   the platform alone;
//! - the billing clock starts when both parties have joined the session; a session ended before that
//!   bills 0 and refunds everything.

use super::status::{Actor, OrderStatus};

use Actor::*;
use OrderStatus::*;

/// Where the order's chat session is, as the lifecycle sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPhase {
    /// No session was opened.
    None,
    /// Opened, waiting for both parties (not billing yet).
    Waiting,
    /// Both parties joined; the clock runs.
    Active,
    /// Ended and billed.
    Ended,
}

use SessionPhase as S;

/// The phases in which nobody is in the chat: the only ones an order may be closed in.
const CLOSED: &[SessionPhase] = &[S::None, S::Ended];
const ANY: &[SessionPhase] = &[S::None, S::Waiting, S::Active, S::Ended];

/// `(from, to, actors allowed, session phases allowed)`. Anything not listed is refused.
const TRANSITIONS: &[(OrderStatus, OrderStatus, &[Actor], &[SessionPhase])] = &[
    // Paid when a payment is confirmed (callback, sandbox, wallet).
    (PendingPayment, Paid, &[System, Admin], ANY),
    // The buyer cancels an unpaid order; the scheduler cancels it on timeout.
    (PendingPayment, Cancelled, &[User, System, Admin], ANY),
    // Completed when the chat session is billed (the system, as the session ends), or by an admin
    // while nobody is in the chat.
    (Paid, Completed, &[System, Admin], CLOSED),
    // Cancelling a paid order refunds it: by the buyer, or by the counselor who cannot attend; never
    // while its session is open (end it first: that bills the used minutes and refunds the rest).
    (Paid, Refunded, &[User, Counselor, System, Admin], CLOSED),
    // After completion only an administrator may refund (disputes).
    (Completed, Refunded, &[Admin], CLOSED),
];

/// Why the table refuses a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not a move `actor` may make from this state (400 `订单状态不允许此操作`).
    State,
    /// Allowed, but not while the session is open (409 `会话进行中，请先结束咨询`).
    SessionOpen,
}

/// Whether `actor` may move an order from `from` to `to` while its session is in `phase`.
pub fn check(
    from: OrderStatus,
    to: OrderStatus,
    actor: Actor,
    phase: SessionPhase,
) -> Result<(), Refusal> {
    let row = TRANSITIONS
        .iter()
        .find(|(f, t, actors, _)| *f == from && *t == to && actors.contains(&actor));
    match row {
        None => Err(Refusal::State),
        Some((_, _, _, phases)) if !phases.contains(&phase) => Err(Refusal::SessionOpen),
        Some(_) => Ok(()),
    }
}

/// Whether `actor` may ask for money back on an order in `status` while its session is in `phase`: the
/// moves to refunded of the table, plus an administrator topping up a refunded order whose channel
/// refund failed (what is still refundable, nothing more).
pub fn check_refund(status: OrderStatus, actor: Actor, phase: SessionPhase) -> Result<(), Refusal> {
    if status == Refunded && actor == Admin {
        return Ok(());
    }
    check(status, Refunded, actor, phase)
}

/// Whether `actor` may move an order from `from` to `to`.
/// Phases are not looked at: this answers what the state allows (the validate endpoint, the system's own
/// moves); [`check`] answers for a move asked for now.
pub fn can_transition(from: OrderStatus, to: OrderStatus, actor: Actor) -> bool {
    TRANSITIONS
        .iter()
        .any(|(f, t, actors, _)| *f == from && *t == to && actors.contains(&actor))
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
    fn nothing_closes_an_order_while_its_chat_is_open() {
        for phase in [S::Waiting, S::Active] {
            for actor in ACTORS {
                assert_ne!(check(Paid, Refunded, actor, phase), Ok(()));
                assert_ne!(check(Completed, Refunded, actor, phase), Ok(()));
                assert_ne!(check(Paid, Completed, actor, phase), Ok(()));
            }
            assert_eq!(
                check(Paid, Refunded, User, phase),
                Err(Refusal::SessionOpen)
            );
            assert_eq!(check_refund(Paid, Admin, phase), Err(Refusal::SessionOpen));
        }
        assert_eq!(check(Paid, Refunded, User, S::None), Ok(()));
        assert_eq!(check(Paid, Refunded, User, S::Ended), Ok(()));
        assert_eq!(check(Paid, Completed, System, S::Ended), Ok(()));
    }

    #[test]
    fn only_an_admin_refunds_after_completion_or_tops_up_a_refunded_order() {
        assert_eq!(check_refund(Completed, Admin, S::Ended), Ok(()));
        assert_eq!(check_refund(Completed, User, S::Ended), Err(Refusal::State));
        assert_eq!(check_refund(Refunded, Admin, S::None), Ok(()));
        assert_eq!(check_refund(Refunded, User, S::None), Err(Refusal::State));
        assert_eq!(check_refund(Cancelled, Admin, S::None), Err(Refusal::State));
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
