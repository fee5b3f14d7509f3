//! What every handler can reach: settings, the database, infrastructure, the bus and the auth services.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::bus::EventBus;
use crate::config::Settings;
use crate::infra::Infra;
use crate::modules::auth::{PasswordHasher, TokenService};
use crate::modules::chat::hub::Hub;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub infra: Infra,
    pub bus: Arc<EventBus>,
    pub tokens: TokenService,
    pub passwords: PasswordHasher,
    /// Live WebSocket connections, and delivery to them across instances.
    pub realtime: Arc<Hub>,
    /// The casbin enforcer behind the admin route guard.
    pub rbac: Arc<crate::modules::rbac::enforcer::RbacEnforcer>,
    /// The background tasks' supervisor: their state for `/health` and `/metrics`.
    pub tasks: Arc<crate::supervisor::Supervisor>,
    /// This instance's serialized directory pages, in front of `infra.cache`.
    pub counselor_pages: crate::modules::counselors::service::PageCache,
    /// The probes' cached check and background-task hook (see `modules::health`).
    pub probes: crate::modules::health::Probes,
    /// The keys that seal chat messages and chat file names at rest (see `modules::chat::crypto`).
    pub chat_keys: Arc<crate::modules::chat::crypto::Keyring>,
    /// This instance's short-lived copy of user accounts' auth state (see `users::account_states`).
    pub account_states: Arc<crate::modules::users::account_states::AccountStates>,
}
