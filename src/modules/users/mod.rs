//! App users: accounts, profiles, passwords and avatars (user API).
//!
//! Tables: `users`. Publishes: `UserRegistered`, `PasswordChanged{realm: user}`,
//! `AccountDisabled{realm: user}` (console disable or delete). Consumes: none.

pub mod admin_routes;
pub mod dto;
pub mod entity;
pub mod routes;
pub mod service;

pub use routes::user_routes;
