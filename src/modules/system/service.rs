//! Reading system settings that operators may change at run time.

use crate::state::AppState;

/// The platform's share of a billed chat, between 0 and 1.
pub async fn platform_commission(state: &AppState) -> f64 {
    state.settings.billing.platform_commission
}
