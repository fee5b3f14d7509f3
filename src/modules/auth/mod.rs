//! Identity for both realms: argon2id passwords, realm-separated JWTs with revocation, login rate limits,
//! and the extractors that make a handler require a user or an administrator.
//!
//! Tables: `revoked_tokens` (only used without Redis). Publishes: `TokenRevoked`; through users/rbac:
//! `UserRegistered`, `PasswordChanged`. Consumes: none.

pub mod dto;
mod extract;
mod password;
mod revoked_token;
pub mod routes;
pub mod secrets;
pub mod service;
mod token;

pub use extract::{
    AccountAuthState, CurrentAdmin, CurrentUser, Principal, authenticate_token, bearer_token,
    require_admin,
};
pub use password::PasswordHasher;
pub use routes::{admin_account_routes, admin_public_routes, user_public_routes};
pub use token::{Claims, TokenService};
