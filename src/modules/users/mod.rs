//! App users: accounts, profiles, passwords and avatars (user API).
//!
//! Tables: `users`. Publishes: `UserRegistered`, `PasswordChanged{realm: user}`. Consumes: none.

pub mod dto;
pub mod entity;
pub mod routes;
pub mod service;

pub use routes::user_routes;
