//! App users: accounts, profiles, passwords and avatars (user API).
//!
//! Tables: `users`. Publishes: `UserRegistered`, `PasswordChanged{realm: user}`,
//! `AccountDisabled{realm: user}` (console disable or delete). Consumes (every instance): those two, to
//! forget this instance's copy of the account's auth state ([`account_states`]).

pub mod account_states;
pub mod admin_routes;
pub mod dto;
pub mod entity;
pub mod routes;
pub mod service;

pub use routes::user_routes;

/// Bus subscribers of this module (called from `app::build_state`).
pub fn register_subscribers(state: &crate::state::AppState) {
    state
        .bus
        .subscribe(std::sync::Arc::new(account_states::AccountStateWatcher {
            states: state.account_states.clone(),
        }));
}
