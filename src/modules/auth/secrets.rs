//! JWT secrets: from config, or generated at first start and kept in `<data_dir>/secrets.json`.

use std::path::Path;

use anyhow::Context;
use rand::Rng;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::Settings;

#[derive(Serialize, Deserialize)]
struct StoredSecrets {
    user_jwt_secret: String,
    admin_jwt_secret: String,
}

pub struct JwtSecrets {
    pub user: Vec<u8>,
    pub admin: Vec<u8>,
}

fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Resolves the two realm secrets. Configured values win; missing ones are generated once and persisted.
pub fn load_or_generate(settings: &Settings) -> anyhow::Result<JwtSecrets> {
    let configured_user = settings.auth.user_jwt_secret.expose_secret().to_owned();
    let configured_admin = settings.auth.admin_jwt_secret.expose_secret().to_owned();
    let (user, admin) = if !configured_user.is_empty() && !configured_admin.is_empty() {
        (configured_user, configured_admin)
    } else {
        let stored = load_or_create_file(&settings.server.data_dir.join("secrets.json"))?;
        (
            if configured_user.is_empty() {
                stored.user_jwt_secret
            } else {
                configured_user
            },
            if configured_admin.is_empty() {
                stored.admin_jwt_secret
            } else {
                configured_admin
            },
        )
    };
    anyhow::ensure!(
        user != admin,
        "auth.user_jwt_secret and auth.admin_jwt_secret must differ"
    );
    anyhow::ensure!(
        user.len() >= 16 && admin.len() >= 16,
        "JWT secrets must be at least 16 characters"
    );
    Ok(JwtSecrets {
        user: user.into_bytes(),
        admin: admin.into_bytes(),
    })
}

fn load_or_create_file(path: &Path) -> anyhow::Result<StoredSecrets> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secrets = StoredSecrets {
        user_jwt_secret: random_secret(),
        admin_jwt_secret: random_secret(),
    };
    std::fs::write(path, serde_json::to_string_pretty(&secrets)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    tracing::warn!(path = %path.display(), "no JWT secrets configured: generated new ones and saved them; set MYCHAT__AUTH__USER_JWT_SECRET and MYCHAT__AUTH__ADMIN_JWT_SECRET in production");
    Ok(secrets)
}
