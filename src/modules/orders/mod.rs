//! Orders: creation, the one transition table, the timeline, auto-cancel of unpaid orders, and the admin
//! side.
//!
//! Tables: `orders`, `order_events`. Publishes: `OrderCreated`, `OrderStatusChanged`. Consumes: none
//! (payments and chat call [`service::transition`] inside their own transactions).

pub mod entity;
pub mod rules;
pub mod service;
pub mod status;
