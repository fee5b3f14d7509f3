//! System configuration the console edits (typed JSON values behind a cache), the audit log of every
//! mutating admin request, and the read audit of counselling records ([`reads`]: every admin read of chat
//! content, with its reason). The audit log is append-only: no route updates or deletes its rows.
//!
//! Tables: `system_configs`, `system_logs`. Publishes: `ConfigChanged`. Consumes: `ConfigChanged` (every
//! instance drops its cached values).
//!
//! Other modules read configs through the typed readers of [`settings`] (one per seeded setting, with
//! its type and range), [`service::platform_commission`] and [`service::order_payment_timeout_minutes`]: a
//! change in the console takes effect without a restart. The console's `<category>.<name>` key names the
//! setting `<name>`; the payment channel keys are read-only (the server's `payments.*` configuration
//! rules them).

pub mod audit;
pub mod dto;
pub mod entity;
pub mod reads;
pub mod routes;
pub mod seed;
pub mod service;
pub mod settings;

use std::sync::Arc;

pub use audit::record_mutations;
pub use routes::admin_routes;

use crate::state::AppState;

/// Bus subscribers of this module (called from `app::build_state`).
pub fn register_subscribers(state: &AppState) {
    state
        .bus
        .subscribe(Arc::new(service::ConfigCacheInvalidator(
            state.infra.cache.clone(),
        )));
}
