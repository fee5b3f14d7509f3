//! argon2id password hashing, off the async threads.
//!
//! A fixed pool of one thread per core does every computation, fed by a channel and answering
//! through a oneshot. Each thread keeps one argon2 memory block (19 MiB by default) and reuses it
//! for every hash and verify. Running them on tokio's blocking pool instead let each of its threads
//! keep its own block in its own malloc arena, which under a login burst grew the heap past 1 GB.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::config::AuthSettings;

/// The argon2 variant and version of every hash this module writes.
const ALGORITHM: Algorithm = Algorithm::Argon2id;
const VERSION: Version = Version::V0x13;

enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<anyhow::Result<String>>,
    },
    Verify {
        password: String,
        stored: String,
        reply: oneshot::Sender<bool>,
    },
}

#[derive(Clone)]
pub struct PasswordHasher {
    /// The workers' queue; they stop when the last clone of this sender is dropped.
    jobs: mpsc::Sender<Job>,
    /// A hash of a random password, verified against when the account does not exist,
    /// so an unknown username costs the same time as a wrong password.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Starts one worker thread per core and computes the dummy hash.
    ///
    /// # Errors
    /// Invalid argon2 parameters, or a worker thread that cannot be spawned.
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        // The dummy hash fills the first worker's memory block, so start-up allocates no extra one.
        let mut first_memory = Vec::new();
        let dummy_hash = hash_with(
            &params,
            &mut first_memory,
            &uuid::Uuid::new_v4().to_string(),
        )?;

        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut memory = Some(first_memory);
        for i in 0..cores {
            let queue = Arc::clone(&queue);
            let params = params.clone();
            let memory = memory.take().unwrap_or_default();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&queue, &params, memory))
                .map_err(|e| anyhow::anyhow!("cannot start a password hashing thread: {e}"))?;
        }
        Ok(Self {
            jobs,
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes with a fresh salt; the result is a PHC string.
    ///
    /// # Errors
    /// The salt cannot be drawn, or the worker pool is gone.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Hash {
                password: password.to_owned(),
                reply,
            })
            .map_err(|_| anyhow::anyhow!("the password hashing threads are gone"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("a password hashing thread dropped its job"))?
    }

    /// Checks `password` against a stored PHC string; `None` checks against a dummy hash and fails.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (stored, real) = match stored {
            Some(s) => (s.to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let (reply, answer) = oneshot::channel();
        let job = Job::Verify {
            password: password.to_owned(),
            stored,
            reply,
        };
        if self.jobs.send(job).is_err() {
            return false;
        }
        answer.await.unwrap_or(false) && real
    }
}

/// A worker: takes jobs until every sender is dropped, reusing `memory` for each computation.
fn work(queue: &Mutex<mpsc::Receiver<Job>>, params: &Params, mut memory: Vec<Block>) {
    loop {
        // The lock is held only while waiting, so the workers take turns at the queue.
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        match job {
            Job::Hash { password, reply } => {
                let _ = reply.send(hash_with(params, &mut memory, &password));
            }
            Job::Verify {
                password,
                stored,
                reply,
            } => {
                let _ = reply.send(verify_with(&mut memory, &password, &stored));
            }
        }
    }
}

/// The first `count` blocks of `memory`, growing it first if it is shorter.
fn blocks(memory: &mut Vec<Block>, count: usize) -> &mut [Block] {
    if memory.len() < count {
        *memory = vec![Block::new(); count];
    }
    &mut memory[..count]
}

/// An argon2id PHC string of `password` with a fresh salt, computed in `memory`.
fn hash_with(params: &Params, memory: &mut Vec<Block>, password: &str) -> anyhow::Result<String> {
    let salt = argon2::password_hash::try_generate_salt()
        .map_err(|e| anyhow::anyhow!("cannot draw a salt: {e}"))?;
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    Argon2::new(ALGORITHM, VERSION, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    let phc = PasswordHash {
        algorithm: ALGORITHM.ident(),
        version: Some(VERSION.into()),
        params: ParamsString::try_from(params)
            .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored`, computed in `memory` with the algorithm,
/// version and parameters that `stored` names. A malformed string never matches.
fn verify_with(memory: &mut Vec<Block>, password: &str, stored: &str) -> bool {
    matches_phc(memory, password, stored).unwrap_or(false)
}

/// `None` when `stored` is not an argon2 PHC string with a salt and a hash.
fn matches_phc(memory: &mut Vec<Block>, password: &str, stored: &str) -> Option<bool> {
    let phc = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::new(phc.algorithm.as_str()).ok()?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&phc).ok()?;
    let (salt, expected) = (phc.salt?, phc.hash?);
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            &salt,
            &mut out,
            blocks(memory, params.block_count()),
        )
        .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(&out).ok()? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;
    use argon2::password_hash::PasswordVerifier as _;
    use secrecy::SecretString;

    fn cheap() -> AuthSettings {
        AuthSettings {
            user_jwt_secret: SecretString::from(""),
            admin_jwt_secret: SecretString::from(""),
            access_token_ttl_hours: 24,
            login_rate_per_ip_per_minute: 20,
            login_rate_per_account_per_minute: 10,
            register_rate_per_ip_per_hour: 10,
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            account_cache_ms: 0,
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

    #[tokio::test]
    async fn hashes_agree_with_the_argon2_crate_both_ways() {
        let h = PasswordHasher::new(&cheap()).unwrap();
        let ours = h.hash("secret1").await.unwrap();
        let params = Params::new(1024, 1, 1, None).unwrap();
        let reference = Argon2::new(ALGORITHM, VERSION, params);
        assert!(reference.verify_password(b"secret1", ours.as_str()).is_ok());
        assert!(
            reference
                .verify_password(b"secret2", ours.as_str())
                .is_err()
        );

        // A hash with other parameters (more memory, two lanes) than the pool's still verifies.
        let other = Argon2::new(ALGORITHM, VERSION, Params::new(2048, 2, 2, None).unwrap())
            .hash_password(b"secret1")
            .unwrap()
            .to_string();
        assert!(h.verify("secret1", Some(&other)).await);
        assert!(!h.verify("secret2", Some(&other)).await);
        assert!(
            h.verify("secret1", Some(&ours)).await,
            "after the memory grew"
        );
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_never_matches() {
        let h = PasswordHasher::new(&cheap()).unwrap();
        assert!(!h.verify("secret1", Some("")).await);
        assert!(!h.verify("secret1", Some("$argon2id$v=19$m=1024")).await);
        assert!(!h.verify("secret1", Some("$2b$12$notargon")).await);
    }
}
