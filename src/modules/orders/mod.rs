//! Orders: creation, the one lifecycle table ([`rules`]), the timeline, auto-cancel of unpaid orders,
//! and the admin side.
//!
//! Tables: `orders`, `order_events`. Publishes: `OrderCreated`, `OrderStatusChanged`. Consumes: none
//! (payments and chat call [`service::transition`] inside their own transactions; every refund, a move
//! to refunded included, is `payments::refunds`, the one refund path).

pub mod dto;
pub mod entity;
pub mod routes;
pub mod rules;
pub mod service;
pub mod status;

pub use routes::{admin_routes, user_routes};
