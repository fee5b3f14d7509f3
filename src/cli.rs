//! The maintenance commands behind `mychat admin reset-password` and `mychat seed-demo`.

use crate::config::Settings;
use crate::modules::auth;
use crate::modules::rbac::seed::random_password;

pub async fn reset_admin_password(
    settings: Settings,
    username: &str,
    password: Option<String>,
) -> anyhow::Result<()> {
    let state = crate::app::build_state(settings).await?;
    let (password, generated) = match password.filter(|p| !p.is_empty()) {
        Some(p) => {
            anyhow::ensure!(
                p.chars().count() >= 8,
                "the password must be at least 8 characters"
            );
            (p, false)
        }
        None => (random_password(), true),
    };
    let found = auth::service::reset_admin_password_offline(&state, username, &password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(found, "no administrator named {username}");
    state.bus.drain().await;
    if generated {
        println!("New password for {username}: {password}");
    } else {
        println!("Password for {username} updated.");
    }
    println!("Every earlier session of {username} is signed out.");
    Ok(())
}

pub async fn seed_demo(settings: Settings) -> anyhow::Result<()> {
    let state = crate::app::build_state(settings).await?;
    let created = crate::modules::demo::seed(&state).await?;
    state.bus.drain().await;
    println!("Demo data loaded: {created}");
    Ok(())
}
