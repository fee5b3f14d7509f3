//! Chat: sessions (one per paid order, whose billing clock starts when both parties have joined),
//! messages with a per-session `seq` and idempotent resends, read markers, the WebSocket server (8082),
//! billing when a session ends (its refund of unused minutes through `payments::refunds`), and the admin
//! side (sessions, presence, kick, mute, broadcast). It also tells the files module who may read a file
//! shared in a session (`service::takes_part_in`). A message's `file_url` is one of our `/uploads/` files
//! or an http(s) URL, on REST and WebSocket alike. Message content and chat file names are sealed at rest
//! (`crypto`); every read of them goes through `service::open_message` / `files::service::open_file`.
//! The privacy rules read and remove whole records through `records` (retention purge, erasure,
//! export); admin reads of content are audited through `system::reads`.
//!
//! Tables: `chat_sessions`, `chat_messages`, `chat_billings`.
//! Publishes: `ChatSessionStarted`, `ChatSessionEnded`, `SessionBilled` (and, through payments' refunds
//! and finance, `PaymentRefunded`, `WalletChanged`; through orders, `OrderStatusChanged`). Consumes:
//! `NotificationCreated` (pushed to the user's sockets); `TokenRevoked`, `AccountDisabled`,
//! `PasswordChanged` (the user's sockets are closed with 1008).

pub mod admin;
pub mod billing;
pub mod crypto;
pub mod dto;
pub mod entity;
pub mod hub;
pub mod push;
pub mod records;
pub mod routes;
pub mod service;
pub mod socket;
pub mod ws;

pub use admin::admin_routes;
pub use push::register_subscribers;
pub use routes::user_routes;
