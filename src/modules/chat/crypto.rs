//! Encryption at rest of counselling records: a chat message's `content` and a chat file's
//! `original_name` are sealed with AES-256-GCM (ring) before they reach the database.
//!
//! Each value gets a random 96-bit nonce and is stored as base64 of `nonce ‖ ciphertext ‖ tag`, with the
//! id of its key in a column of its own (`chat_messages.key_id`, `files.name_key_id`; NULL: a plaintext row
//! from before encryption). The associated data binds a sealed value to its row, so a value copied into
//! another row does not open: a message to its `(session_id, seq)`, a file name to its stored path (unique
//! and known before the insert, unlike the file id).
//!
//! Keys come from `privacy.chat_keys` (with `privacy.active_chat_key`), else from
//! `<data_dir>/chat_keys.json` (0600), generated at first start. `mychat admin rotate-chat-key` adds a key
//! to that file and makes it active; a running server notices within `privacy.key_reload_secs` (it looks
//! at the file's modification time when it seals) and at once when it meets a key id it does not know.
//! Keys are never removed by the server or the command, so every row stays readable.
//!
//! Owns no table. Publishes and consumes no event.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::Settings;

/// The generated key file, next to `secrets.json`.
pub const KEY_FILE: &str = "chat_keys.json";
/// Taken by a rotation for its whole run (see [`lock_rotation`]).
pub const ROTATION_LOCK_FILE: &str = "chat_keys.lock";

const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("no chat key with id {0}")]
    UnknownKey(i32),
    #[error("the sealed value is not base64 of nonce, ciphertext and tag")]
    Malformed,
    /// Wrong key, other associated data, or a changed value: GCM's tag does not match.
    #[error("the sealed value does not open with its key and associated data")]
    Rejected,
    #[error("the random source failed")]
    Random,
}

/// Associated data of a message's content: it opens only as message `seq` of `session_id`.
pub fn message_ad(session_id: i64, seq: i64) -> [u8; 48] {
    let mut ad = [0u8; 48];
    let label = b"mychat/chat_messages.content/v1/";
    ad[..32].copy_from_slice(label);
    ad[32..40].copy_from_slice(&session_id.to_be_bytes());
    ad[40..].copy_from_slice(&seq.to_be_bytes());
    ad
}

/// Associated data of a chat file's `original_name`: it opens only for the file stored at `file_path`.
pub fn file_name_ad(file_path: &str) -> Vec<u8> {
    let mut ad = b"mychat/files.original_name/v1/".to_vec();
    ad.extend_from_slice(file_path.as_bytes());
    ad
}

/// A value sealed with key `key_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: i32,
    pub text: String,
}

fn aead_key(bytes: &[u8]) -> anyhow::Result<LessSafeKey> {
    anyhow::ensure!(
        bytes.len() == KEY_LEN,
        "a chat key must be 32 bytes, got {}",
        bytes.len()
    );
    let unbound =
        UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| anyhow::anyhow!("not an AES-256 key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Seals `plaintext` under `key` with a fresh random nonce: base64 of `nonce ‖ ciphertext ‖ tag`.
pub fn seal_with(
    key: &LessSafeKey,
    rng: &dyn SecureRandom,
    plaintext: &[u8],
    ad: &[u8],
) -> Result<String, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
    let mut buf = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    buf.extend_from_slice(&nonce);
    buf.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(ad),
            &mut buf[NONCE_LEN..],
        )
        .map_err(|_| CryptoError::Rejected)?;
    buf.extend_from_slice(tag.as_ref());
    Ok(STANDARD.encode(buf))
}

/// Opens what [`seal_with`] made, with the same key and associated data.
pub fn open_with(key: &LessSafeKey, sealed: &str, ad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut buf = STANDARD
        .decode(sealed)
        .map_err(|_| CryptoError::Malformed)?;
    if buf.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let nonce =
        Nonce::try_assume_unique_for_key(&buf[..NONCE_LEN]).map_err(|_| CryptoError::Malformed)?;
    let plain = key
        .open_in_place(nonce, Aad::from(ad), &mut buf[NONCE_LEN..])
        .map_err(|_| CryptoError::Rejected)?;
    Ok(plain.to_vec())
}

/// The keys in use: the active one seals, every one opens.
struct Keys {
    active: i32,
    by_id: HashMap<i32, LessSafeKey>,
    /// The key file's modification time and length when it was read.
    stamp: Option<(SystemTime, u64)>,
}

/// The chat keys of this process. Cheap to share (`Arc`); reloads itself from the key file.
pub struct Keyring {
    keys: RwLock<Arc<Keys>>,
    /// The key file, when the keys are not configured.
    file: Option<PathBuf>,
    reload_every_secs: u64,
    /// Seconds since `started` at which the key file is next looked at.
    next_check: AtomicU64,
    started: Instant,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active_id())
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// The key file's contents.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    active: i32,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    id: i32,
    /// Base64 of 32 bytes.
    key: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

fn decode_key(id: i32, b64: &str) -> anyhow::Result<LessSafeKey> {
    let bytes = STANDARD
        .decode(b64.trim())
        .with_context(|| format!("chat key {id} is not base64"))?;
    aead_key(&bytes).with_context(|| format!("chat key {id}"))
}

fn keys_from(active: i32, pairs: Vec<(i32, LessSafeKey)>) -> anyhow::Result<Keys> {
    let mut by_id = HashMap::new();
    for (id, key) in pairs {
        anyhow::ensure!(id > 0, "chat key ids are positive integers, got {id}");
        anyhow::ensure!(
            by_id.insert(id, key).is_none(),
            "chat key {id} appears twice"
        );
    }
    anyhow::ensure!(
        by_id.contains_key(&active),
        "the active chat key {active} is not among the keys"
    );
    Ok(Keys {
        active,
        by_id,
        stamp: None,
    })
}

fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn read_key_file(path: &Path) -> anyhow::Result<Keys> {
    let stamp = file_stamp(path);
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a chat key file", path.display()))?;
    let pairs = file
        .keys
        .iter()
        .map(|k| Ok((k.id, decode_key(k.id, &k.key)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut keys = keys_from(file.active, pairs)?;
    keys.stamp = stamp;
    Ok(keys)
}

fn new_stored_key(id: i32) -> anyhow::Result<StoredKey> {
    let mut bytes = [0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("the random source failed"))?;
    Ok(StoredKey {
        id,
        key: STANDARD.encode(bytes),
        created_at: chrono::Utc::now(),
    })
}

/// Writes the key file whole (a temporary file renamed over it, 0600), so a reader never sees half.
fn write_key_file(path: &Path, file: &KeyFile) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    out.write_all(serde_json::to_string_pretty(file)?.as_bytes())?;
    out.sync_all()?;
    drop(out);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Where the generated keys live for `settings`.
pub fn key_file_path(settings: &Settings) -> PathBuf {
    settings.server.data_dir.join(KEY_FILE)
}

/// Whether the keys come from `privacy.chat_keys` rather than the key file.
pub fn keys_configured(settings: &Settings) -> bool {
    !settings.privacy.chat_keys.is_empty()
}

/// Creates the key file with one active key unless it exists.
fn ensure_key_file(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    write_key_file(
        path,
        &KeyFile {
            active: 1,
            keys: vec![new_stored_key(1)?],
        },
    )?;
    tracing::warn!(path = %path.display(), "no chat keys configured: generated one and saved it; back this file up with the database");
    Ok(())
}

/// Held for the whole of a rotation. Two rotations of one data dir at once would each add "the next" key:
/// one of the two would be lost with every row sealed with it. An advisory lock on
/// `<data_dir>/chat_keys.lock`, which the system drops when the process ends, so a crashed run leaves
/// nothing to clean up.
#[derive(Debug)]
pub struct RotationLock {
    _file: std::fs::File,
}

/// Takes the rotation lock of `settings`' data dir, or says that another rotation holds it.
pub fn lock_rotation(settings: &Settings) -> anyhow::Result<RotationLock> {
    let dir = &settings.server.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(ROTATION_LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(RotationLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `mychat admin rotate-chat-key` is running on {}: wait for it to finish, then run \
             this again if it is still needed",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Adds a new random key to the key file (created if missing) and makes it active. Returns its id.
///
/// # Errors
/// When the keys are configured (`privacy.chat_keys`): the file would not be read.
pub fn add_key_to_file(settings: &Settings) -> anyhow::Result<i32> {
    anyhow::ensure!(
        !keys_configured(settings),
        "the chat keys come from privacy.chat_keys: add a new {{ id, key }} there (key: base64 of 32 random \
         bytes, e.g. `openssl rand -base64 32`), set privacy.active_chat_key to its id, restart every \
         instance, then run `mychat admin rotate-chat-key --reencrypt-only`"
    );
    let path = key_file_path(settings);
    ensure_key_file(&path)?;
    let text = std::fs::read_to_string(&path)?;
    let mut file: KeyFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a chat key file", path.display()))?;
    let id = file.keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
    file.keys.push(new_stored_key(id)?);
    file.active = id;
    write_key_file(&path, &file)?;
    Ok(id)
}

impl Keyring {
    /// The keys of `settings`: configured ones, else the key file (generated when missing).
    pub fn load(settings: &Settings) -> anyhow::Result<Self> {
        let privacy = &settings.privacy;
        let (keys, file) = if keys_configured(settings) {
            let active = privacy.active_chat_key;
            anyhow::ensure!(
                active > 0,
                "privacy.chat_keys is set but privacy.active_chat_key is not: name the key that seals new rows"
            );
            let pairs = privacy
                .chat_keys
                .iter()
                .map(|k| Ok((k.id, decode_key(k.id, k.key.expose_secret())?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            (keys_from(active, pairs)?, None)
        } else {
            let path = key_file_path(settings);
            ensure_key_file(&path)?;
            (read_key_file(&path)?, Some(path))
        };
        Ok(Self::new(keys, file, privacy.key_reload_secs))
    }

    /// A keyring of fixed keys (tests, the cost measurement).
    pub fn from_keys(active: i32, keys: &[(i32, [u8; KEY_LEN])]) -> anyhow::Result<Self> {
        let pairs = keys
            .iter()
            .map(|(id, bytes)| Ok((*id, aead_key(bytes)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self::new(keys_from(active, pairs)?, None, 0))
    }

    fn new(keys: Keys, file: Option<PathBuf>, reload_every_secs: u64) -> Self {
        Self {
            keys: RwLock::new(Arc::new(keys)),
            file,
            reload_every_secs,
            next_check: AtomicU64::new(reload_every_secs),
            started: Instant::now(),
            rng: SystemRandom::new(),
        }
    }

    fn current(&self) -> Arc<Keys> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The id of the key that seals new values.
    pub fn active_id(&self) -> i32 {
        self.current().active
    }

    /// Re-reads the key file now (no-op for configured keys). A broken file keeps the keys in use.
    pub fn reload(&self) {
        let Some(path) = &self.file else { return };
        match read_key_file(path) {
            Ok(keys) => {
                let active = keys.active;
                let mut slot = match self.keys.write() {
                    Ok(slot) => slot,
                    Err(poisoned) => poisoned.into_inner(),
                };
                if slot.active != active {
                    tracing::info!(
                        key_id = active,
                        "chat key rotated: sealing with the new key"
                    );
                }
                *slot = Arc::new(keys);
            }
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "chat key file unreadable; keeping the keys in use")
            }
        }
    }

    /// Looks at the key file's modification time every `reload_every_secs`, and reloads it if it changed.
    fn reload_if_due(&self) {
        let Some(path) = &self.file else { return };
        let now = self.started.elapsed().as_secs();
        let due = self.next_check.load(Ordering::Relaxed);
        if now < due
            || self
                .next_check
                .compare_exchange(
                    due,
                    now + self.reload_every_secs.max(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        if file_stamp(path) != self.current().stamp {
            self.reload();
        }
    }

    /// Seals `plaintext` with the active key.
    ///
    /// # Errors
    /// Only when the system's random source fails.
    pub fn seal(&self, plaintext: &[u8], ad: &[u8]) -> Result<Sealed, CryptoError> {
        self.reload_if_due();
        let keys = self.current();
        let key = keys
            .by_id
            .get(&keys.active)
            .ok_or(CryptoError::UnknownKey(keys.active))?;
        Ok(Sealed {
            key_id: keys.active,
            text: seal_with(key, &self.rng, plaintext, ad)?,
        })
    }

    /// Opens a value sealed with key `key_id`. An unknown id (another process rotated) reloads the file once.
    ///
    /// # Errors
    /// Unknown key, malformed value, or a value that does not open with this key and associated data.
    pub fn open(&self, key_id: i32, sealed: &str, ad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut keys = self.current();
        if !keys.by_id.contains_key(&key_id) && self.file.is_some() {
            self.reload();
            keys = self.current();
        }
        let key = keys
            .by_id
            .get(&key_id)
            .ok_or(CryptoError::UnknownKey(key_id))?;
        open_with(key, sealed, ad)
    }

    /// [`Keyring::open`] for text.
    ///
    /// # Errors
    /// As [`Keyring::open`], and `Malformed` when the plaintext is not UTF-8.
    pub fn open_text(&self, key_id: i32, sealed: &str, ad: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.open(key_id, sealed, ad)?).map_err(|_| CryptoError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_of(active: i32) -> Keyring {
        Keyring::from_keys(active, &[(1, [7u8; 32]), (2, [9u8; 32])]).unwrap()
    }

    #[test]
    fn a_message_opens_with_its_key_and_binding() {
        let keys = ring_of(1);
        let sealed = keys
            .seal("你好 secret".as_bytes(), &message_ad(5, 3))
            .unwrap();
        assert_eq!(sealed.key_id, 1);
        assert!(!sealed.text.contains("secret"));
        assert_eq!(
            keys.open_text(1, &sealed.text, &message_ad(5, 3)).unwrap(),
            "你好 secret"
        );
    }

    #[test]
    fn a_wrong_key_does_not_open() {
        let keys = ring_of(1);
        let sealed = keys.seal(b"secret", &message_ad(5, 3)).unwrap();
        assert!(matches!(
            keys.open(2, &sealed.text, &message_ad(5, 3)),
            Err(CryptoError::Rejected)
        ));
        let stranger = Keyring::from_keys(1, &[(1, [8u8; 32])]).unwrap();
        assert!(matches!(
            stranger.open(1, &sealed.text, &message_ad(5, 3)),
            Err(CryptoError::Rejected)
        ));
        assert!(matches!(
            keys.open(3, &sealed.text, &message_ad(5, 3)),
            Err(CryptoError::UnknownKey(3))
        ));
    }

    #[test]
    fn swapped_associated_data_does_not_open() {
        let keys = ring_of(1);
        let sealed = keys.seal(b"secret", &message_ad(5, 3)).unwrap();
        for other in [message_ad(6, 3), message_ad(5, 4), message_ad(3, 5)] {
            assert!(matches!(
                keys.open(1, &sealed.text, &other),
                Err(CryptoError::Rejected)
            ));
        }
        let name = keys
            .seal(b"report.pdf", &file_name_ad("files/a.pdf"))
            .unwrap();
        assert!(
            keys.open(1, &name.text, &file_name_ad("files/b.pdf"))
                .is_err()
        );
        assert!(keys.open(1, &name.text, &message_ad(5, 3)).is_err());
    }

    #[test]
    fn a_changed_value_does_not_open() {
        let keys = ring_of(1);
        let sealed = keys.seal(b"secret", &message_ad(1, 1)).unwrap();
        let mut bytes = STANDARD.decode(&sealed.text).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(matches!(
            keys.open(1, &STANDARD.encode(&bytes), &message_ad(1, 1)),
            Err(CryptoError::Rejected)
        ));
        assert!(matches!(
            keys.open(1, "not base64!", &message_ad(1, 1)),
            Err(CryptoError::Malformed)
        ));
        assert!(matches!(
            keys.open(1, "AAAA", &message_ad(1, 1)),
            Err(CryptoError::Malformed)
        ));
    }

    #[test]
    fn every_seal_has_its_own_nonce() {
        let keys = ring_of(2);
        let a = keys.seal(b"same", &message_ad(1, 1)).unwrap();
        let b = keys.seal(b"same", &message_ad(1, 1)).unwrap();
        assert_eq!(a.key_id, 2);
        assert_ne!(a.text, b.text);
    }

    #[test]
    fn the_key_file_is_private_and_rotation_keeps_old_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        ensure_key_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let keys = Keyring::new(read_key_file(&path).unwrap(), Some(path.clone()), 0);
        let old = keys.seal(b"before", &message_ad(1, 1)).unwrap();
        assert_eq!(old.key_id, 1);

        let mut file: KeyFile =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        file.keys.push(new_stored_key(2).unwrap());
        file.active = 2;
        write_key_file(&path, &file).unwrap();
        // Another process rotated: a value under the unknown key 2 reloads the file.
        let other = Keyring::new(read_key_file(&path).unwrap(), None, 0);
        let new = other.seal(b"after", &message_ad(1, 2)).unwrap();
        assert_eq!(new.key_id, 2);
        assert_eq!(
            keys.open(2, &new.text, &message_ad(1, 2)).unwrap(),
            b"after"
        );
        assert_eq!(keys.active_id(), 2);
        assert_eq!(
            keys.open(1, &old.text, &message_ad(1, 1)).unwrap(),
            b"before"
        );
    }
}
