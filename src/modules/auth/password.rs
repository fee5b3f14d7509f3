//! argon2id password hashing, off the async threads.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::AuthSettings;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// One argon2 computation per core at a time: more only queue on the CPU while each holds its
    /// memory block (19 MiB by default), which under a login burst grew the heap to gigabytes.
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// A hash of a random password, verified against when the account does not exist,
    /// so an unknown username costs the same time as a wrong password.
    dummy_hash: String,
}

impl PasswordHasher {
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut hasher = Self {
            params,
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(cores)),
            dummy_hash: String::new(),
        };
        hasher.dummy_hash = hasher.hash_blocking(&uuid::Uuid::new_v4().to_string())?;
        Ok(hasher)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    fn hash_blocking(&self, password: &str) -> anyhow::Result<String> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
    }

    /// Hashes with a fresh salt; the result is a PHC string.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let this = self.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password)).await?
    }

    /// Checks `password` against a stored PHC string; `None` checks against a dummy hash and fails.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let this = self.clone();
        let password = password.to_owned();
        let (stored, real) = match stored {
            Some(s) => (s.to_owned(), true),
            None => (self.dummy_hash.clone(), false),
        };
        tokio::task::spawn_blocking(move || {
            this.argon2()
                .verify_password(password.as_bytes(), stored.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false)
            && real
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn cheap() -> AuthSettings {
        AuthSettings {
            user_jwt_secret: SecretString::from(""),
            admin_jwt_secret: SecretString::from(""),
            access_token_ttl_hours: 24,
            login_rate_per_ip_per_minute: 20,
            login_rate_per_account_per_minute: 10,
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = PasswordHasher::new(&cheap()).unwrap();
        let stored = h.hash("secret1").await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(h.verify("secret1", Some(&stored)).await);
        assert!(!h.verify("secret2", Some(&stored)).await);
        assert!(!h.verify("secret1", None).await);
        assert_ne!(stored, h.hash("secret1").await.unwrap(), "salts differ");
    }
}
