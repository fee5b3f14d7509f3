//! `mychat seed-demo`: demo accounts for trying the platform out. Idempotent: existing names are skipped.
//! Each demo account's password is printed once.

use crate::modules::auth::service::{Registration, register_user};
use crate::modules::rbac::seed::random_password;
use crate::modules::users::service as users;
use crate::state::AppState;

/// `(username, display name)` of the demo counselors' user accounts.
pub const DEMO_COUNSELORS: &[(&str, &str)] = &[
    ("demo_counselor_li", "李静"),
    ("demo_counselor_wang", "王明"),
    ("demo_counselor_zhang", "张晓"),
];

pub const DEMO_CLIENT: &str = "demo_user";

/// Creates the demo accounts that are missing and returns a summary.
pub async fn seed(state: &AppState) -> anyhow::Result<String> {
    let mut created = Vec::new();
    let names = DEMO_COUNSELORS
        .iter()
        .map(|(u, _)| *u)
        .chain(std::iter::once(DEMO_CLIENT));
    for username in names {
        if users::find_by_username(&state.db, username)
            .await?
            .is_some()
        {
            continue;
        }
        let password = random_password();
        register_user(
            state,
            Registration {
                username: username.to_owned(),
                password: password.clone(),
                email: String::new(),
                phone: String::new(),
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot create {username}: {e}"))?;
        created.push(format!("{username} / {password}"));
    }
    Ok(if created.is_empty() {
        "nothing new (demo accounts already exist)".into()
    } else {
        format!(
            "accounts (username / password):\n  {}",
            created.join("\n  ")
        )
    })
}
