//! Chat: sessions (one per paid order, whose billing clock starts when both parties have joined),
//! messages with a per-session `seq` and idempotent resends, read markers, the WebSocket server (8082),
//! billing when a session ends (its refund of unused minutes through `payments::refunds`), and the admin
//! side (sessions, presence, kick, mute, broadcast).
//!
//! Tables: `chat_sessions`, `chat_messages`, `chat_billings`.
//! Publishes: `ChatSessionStarted`, `ChatSessionEnded`, `SessionBilled` (and, through payments' refunds
//! and finance, `PaymentRefunded`, `WalletChanged`; through orders, `OrderStatusChanged`). Consumes: `NotificationCreated`
//! (pushed to the user's sockets).

pub mod admin;
pub mod billing;
pub mod dto;
pub mod entity;
pub mod hub;
pub mod push;
pub mod routes;
pub mod service;
pub mod socket;
pub mod ws;

pub use admin::admin_routes;
pub use push::register_subscribers;
pub use routes::user_routes;
