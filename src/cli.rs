//! The maintenance commands behind `mychat admin reset-password`, `mychat admin rotate-chat-key` and
//! `mychat seed-demo`.

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

/// How `mychat admin rotate-chat-key` runs.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// Only re-seal old rows with the active key; add no key (for keys from `privacy.chat_keys`).
    pub reencrypt_only: bool,
    /// Rows per transaction.
    pub batch: u64,
    /// Wait for running servers to pick the new key up, then re-seal what they wrote meanwhile.
    pub wait_for_servers: bool,
}

impl Default for RotateOptions {
    fn default() -> Self {
        Self {
            reencrypt_only: false,
            batch: 500,
            wait_for_servers: true,
        }
    }
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default)]
pub struct RotateReport {
    pub active_key: i32,
    pub messages: u64,
    pub file_names: u64,
    /// Rows that did not open with any known key (logged, left as they are).
    pub failed: u64,
}

/// `mychat admin rotate-chat-key`: adds a key to `<data_dir>/chat_keys.json` and makes it active (unless
/// `reencrypt_only`), then re-seals every message and chat file name not sealed with the active key, in
/// batches of one transaction each; a run that stops midway is resumed by running it again. One rotation
/// runs at a time per data dir ([`crate::modules::chat::crypto::lock_rotation`]): a second one is refused.
///
/// A running server keeps reading every row (it reloads the key file when it meets a key it does not
/// know) and seals with the new key within `privacy.key_reload_secs`. Rows it seals with the old key in
/// that window are picked up by a last pass after that wait (`wait_for_servers`); any still left (a
/// server that could not read the file) stay readable and are re-sealed by the next run.
pub async fn rotate_chat_key(
    settings: Settings,
    options: RotateOptions,
) -> anyhow::Result<RotateReport> {
    use crate::modules::chat::crypto;
    let _rotation = crypto::lock_rotation(&settings)?;
    let added = if options.reencrypt_only {
        None
    } else {
        Some(crypto::add_key_to_file(&settings)?)
    };
    let wait = std::time::Duration::from_secs(settings.privacy.key_reload_secs + 1);
    let from_file = !crypto::keys_configured(&settings);
    let state = crate::app::build_state(settings).await?;
    let mut report = RotateReport {
        active_key: state.chat_keys.active_id(),
        ..Default::default()
    };
    match added {
        Some(id) => println!("Added chat key {id} and made it active."),
        None => println!("Re-sealing with the active chat key {}.", report.active_key),
    }
    reseal_all(&state, options.batch, &mut report).await?;
    if added.is_some() && from_file && options.wait_for_servers {
        println!(
            "Waiting {} s for running servers to switch to the new key…",
            wait.as_secs()
        );
        tokio::time::sleep(wait).await;
        reseal_all(&state, options.batch, &mut report).await?;
    }
    state.bus.drain().await;
    println!(
        "Done: {} messages and {} file names re-sealed with key {}; {} did not decrypt (see the log).",
        report.messages, report.file_names, report.active_key, report.failed
    );
    Ok(report)
}

async fn reseal_all(
    state: &crate::state::AppState,
    batch: u64,
    report: &mut RotateReport,
) -> anyhow::Result<()> {
    use crate::modules::{chat, files};
    let batch = batch.max(1);
    let (resealed, failed) = reseal_table("chat messages", |after| {
        chat::service::reseal_messages(state, after, batch)
    })
    .await?;
    report.messages += resealed;
    report.failed += failed;
    let (resealed, failed) = reseal_table("chat file names", |after| {
        files::service::reseal_file_names(state, after, batch)
    })
    .await?;
    report.file_names += resealed;
    report.failed += failed;
    Ok(())
}

/// Runs `batch_after` from id 0 until it finds no rows, logging progress: (re-sealed, failed).
async fn reseal_table<F, Fut>(what: &str, mut batch_after: F) -> anyhow::Result<(u64, u64)>
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<
            Output = crate::error::AppResult<crate::modules::chat::service::Resealed>,
        >,
{
    let (mut after, mut resealed, mut failed) = (0, 0, 0);
    loop {
        let done = batch_after(after)
            .await
            .map_err(|e| anyhow::anyhow!("re-sealing {what} after id {after}: {e}"))?;
        resealed += done.resealed;
        failed += done.failed;
        if done.rows == 0 {
            return Ok((resealed, failed));
        }
        after = done.last_id;
        tracing::info!(up_to_id = after, resealed, "{what} re-sealed");
    }
}
