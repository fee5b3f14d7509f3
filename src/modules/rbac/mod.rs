//! Back-office access: administrators, roles, permissions (one namespace of codes), their links, and the
//! console menus. Seeds the intended permission and menu trees and the first administrator.
//!
//! Tables: `administrator`, `roles`, `permissions`, `role_permissions`, `admin_roles`, `menus`.
//! Publishes: `PasswordChanged{realm: admin}`, `AccountDisabled{realm: admin}`, `RbacChanged`.
//! Consumes: `RbacChanged` (every instance drops its loaded casbin policies).
//!
//! Authorisation: [`guard`] holds the one route → permission table and the middleware; [`enforcer`] the
//! casbin enforcer whose adapter derives its policies from the tables above.

pub mod dto;
pub mod enforcer;
pub mod entity;
pub mod guard;
pub mod routes;
pub mod seed;
pub mod service;

use std::sync::Arc;

pub use guard::require_permission;
pub use routes::admin_routes;

use crate::state::AppState;

/// Bus subscribers of this module (called from `app::build_state`).
pub fn register_subscribers(state: &AppState) {
    state
        .bus
        .subscribe(Arc::new(enforcer::RbacReloader(state.rbac.clone())));
}
