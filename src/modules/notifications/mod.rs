//! Notifications: the user's inbox (list, read marks, delete). Rows are created only by the bus
//! subscriber, from the facts other modules announce; each carries a unique `dedupe_key` naming the fact
//! (e.g. `order_status_changed:<order_id>:<to>`), so a redelivered event creates nothing twice.
//!
//! Tables: `notifications`. Publishes: `NotificationCreated` (the WebSocket module pushes it).
//! Consumes (once): `OrderStatusChanged` (paid/completed/cancelled/refunded → buyer; paid → the
//! counselor's user too), `PaymentRefunded`, `ApplicationReviewed`, `WalletChanged{kind: recharge}`,
//! `SessionBilled` (buyer and counselor's user), `WithdrawalReviewed`, `WithdrawalTransferred`
//! (counselor's user).

pub mod dto;
pub mod entity;
pub mod routes;
pub mod service;
pub mod subscriber;

use std::sync::Arc;

pub use routes::user_routes;

use crate::state::AppState;

/// Subscribes the notification creator to the bus.
pub fn register_subscribers(state: &AppState) {
    state
        .bus
        .subscribe(Arc::new(subscriber::NotificationSubscriber {
            db: state.db.clone(),
        }));
}
