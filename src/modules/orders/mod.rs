//! Orders: creation, the one transition table, the timeline, auto-cancel of unpaid orders, and the admin
//! side.
//!
//! Tables: `orders`, `order_events`. Publishes: `OrderStatusChanged` (and `OrderCreated`). Consumes:
//! payment events.

pub mod entity;
pub mod service;
pub mod status;
