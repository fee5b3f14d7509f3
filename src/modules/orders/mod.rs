//! Orders: creation, the one transition table, the timeline, auto-cancel of unpaid orders, and the admin
//! side.
//!
//! Tables: `orders`, `order_events`. Publishes: `OrderCreated`, `OrderStatusChanged`. Consumes: none
//! (payments and chat call [`service::transition`] inside their own transactions; a move to refunded is
//! handed to `payments::service::refund_order`).

pub mod dto;
pub mod entity;
pub mod routes;
pub mod rules;
pub mod service;
pub mod status;

pub use routes::{admin_routes, user_routes};
