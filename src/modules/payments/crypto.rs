//! Signature and encryption primitives of the payment channels: RSA-SHA256 (PKCS#1 v1.5) for WeChat
//! Pay v3 and Alipay RSA2, AES-256-GCM for WeChat callback resources, HMAC-SHA256 for the sandbox.
//! Keys are PEM text, bare base64 DER, or a path to a file holding either.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// The key text: the file's content when `source` names a readable file, else `source` itself.
fn key_text(source: &str) -> String {
    let trimmed = source.trim();
    if !trimmed.contains("-----BEGIN")
        && trimmed.len() < 4096
        && let Ok(text) = std::fs::read_to_string(trimmed)
    {
        return text.trim().to_owned();
    }
    trimmed.to_owned()
}

fn bare_der(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(compact).ok()
}

/// A private key from PKCS#8 or PKCS#1, PEM or bare base64 DER, or a file of either.
pub fn private_key(source: &str) -> anyhow::Result<RsaPrivateKey> {
    let text = key_text(source);
    if text.contains("-----BEGIN") {
        return RsaPrivateKey::from_pkcs8_pem(&text)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(&text))
            .map_err(|e| anyhow::anyhow!("invalid RSA private key: {e}"));
    }
    let der = bare_der(&text).ok_or_else(|| anyhow::anyhow!("private key is not PEM or base64"))?;
    RsaPrivateKey::from_pkcs8_der(&der)
        .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
        .map_err(|e| anyhow::anyhow!("invalid RSA private key: {e}"))
}

/// A public key from SPKI or PKCS#1, PEM or bare base64 DER, or a file of either.
pub fn public_key(source: &str) -> anyhow::Result<RsaPublicKey> {
    let text = key_text(source);
    if text.contains("-----BEGIN") {
        return RsaPublicKey::from_public_key_pem(&text)
            .or_else(|_| RsaPublicKey::from_pkcs1_pem(&text))
            .map_err(|e| anyhow::anyhow!("invalid RSA public key: {e}"));
    }
    let der = bare_der(&text).ok_or_else(|| anyhow::anyhow!("public key is not PEM or base64"))?;
    RsaPublicKey::from_public_key_der(&der)
        .or_else(|_| RsaPublicKey::from_pkcs1_der(&der))
        .map_err(|e| anyhow::anyhow!("invalid RSA public key: {e}"))
}

/// base64(SHA256withRSA(message)).
pub fn rsa_sign(key: &RsaPrivateKey, message: &[u8]) -> String {
    let signing = SigningKey::<Sha256>::new(key.clone());
    B64.encode(signing.sign(message).to_bytes())
}

/// Whether `signature_b64` is a valid SHA256withRSA signature of `message`.
pub fn rsa_verify(key: &RsaPublicKey, message: &[u8], signature_b64: &str) -> bool {
    let Ok(bytes) = B64.decode(signature_b64.trim()) else {
        return false;
    };
    let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(message, &signature)
        .is_ok()
}

/// AES-256-GCM decryption of a base64 `ciphertext‖tag`.
pub fn aes_gcm_decrypt(
    key: &[u8],
    nonce: &[u8],
    associated_data: &[u8],
    ciphertext_b64: &str,
) -> Option<Vec<u8>> {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = B64.decode(ciphertext_b64.trim()).ok()?;
    let plain = key
        .open_in_place(nonce, Aad::from(associated_data), &mut in_out)
        .ok()?;
    Some(plain.to_vec())
}

/// AES-256-GCM encryption to base64 `ciphertext‖tag` (what WeChat sends; used by tests and tools).
pub fn aes_gcm_encrypt(
    key: &[u8],
    nonce: &[u8],
    associated_data: &[u8],
    plain: &[u8],
) -> Option<String> {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = plain.to_vec();
    key.seal_in_place_append_tag(nonce, Aad::from(associated_data), &mut in_out)
        .ok()?;
    Some(B64.encode(in_out))
}

/// hex(HMAC-SHA256(secret, message)).
pub fn hmac_hex(secret: &[u8], message: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    hex::encode(ring::hmac::sign(&key, message).as_ref())
}

/// Constant-time check of a hex HMAC-SHA256.
pub fn hmac_verify(secret: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let Ok(tag) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, message, &tag).is_ok()
}

/// A random alphanumeric string (nonces).
pub fn nonce(len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_gcm_round_trips_and_rejects_tampering() {
        let key = [7u8; 32];
        let sealed = aes_gcm_encrypt(&key, b"0123456789ab", b"transaction", b"hello").unwrap();
        assert_eq!(
            aes_gcm_decrypt(&key, b"0123456789ab", b"transaction", &sealed).unwrap(),
            b"hello"
        );
        assert!(aes_gcm_decrypt(&key, b"0123456789ab", b"other", &sealed).is_none());
        assert!(aes_gcm_decrypt(&[8u8; 32], b"0123456789ab", b"transaction", &sealed).is_none());
    }

    #[test]
    fn hmac_verifies_only_its_own_message() {
        let sig = hmac_hex(b"secret", b"message");
        assert!(hmac_verify(b"secret", b"message", &sig));
        assert!(!hmac_verify(b"secret", b"messagf", &sig));
        assert!(!hmac_verify(b"other", b"message", &sig));
        assert!(!hmac_verify(b"secret", b"message", "zz"));
    }

    #[test]
    fn rsa_signatures_verify_with_the_matching_key_only() {
        let mut rng = rsa::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let other = RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let sig = rsa_sign(&key, b"a\nb\n");
        assert!(rsa_verify(&key.to_public_key(), b"a\nb\n", &sig));
        assert!(!rsa_verify(&key.to_public_key(), b"a\nc\n", &sig));
        assert!(!rsa_verify(&other.to_public_key(), b"a\nb\n", &sig));
        assert!(!rsa_verify(&key.to_public_key(), b"a\nb\n", "not base64!"));
    }
}
