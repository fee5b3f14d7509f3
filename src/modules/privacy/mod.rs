//! Privacy of counselling records: the retention purge (a supervised job and its admin dry run), and the
//! user's own rights, export (`GET /api/user/export`) and erasure (`POST /api/user/delete`). The read
//! audit of staff access lives with the audit log (`system::reads`).
//!
//! Tables: none; every read and removal goes through the owning module's service (chat, files, users,
//! counselors, orders, payments, notifications, system). Publishes: `AccountDisabled` (through users,
//! on erasure: every token stops working and every socket closes), `TokenRevoked`. Consumes: none.

pub mod dto;
pub mod retention;
pub mod routes;
pub mod service;

pub use routes::{admin_routes, user_routes};
