//! Signature and encryption primitives of the payment channels: RSA-SHA256 (PKCS#1 v1.5) for WeChat
//! Pay v3 and Alipay RSA2, AES-256-GCM for WeChat callback resources, HMAC-SHA256 for the sandbox.
//! Keys are PEM text, bare base64 DER, or a path to a file holding either. A public key may also come
//! as an X.509 certificate (WeChat distributes its platform keys that way).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::der::{Decode, DecodePem, Encode};

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

/// The RSA key of an X.509 certificate, with what identifies and bounds it.
#[derive(Debug, Clone)]
pub struct CertifiedKey {
    pub key: RsaPublicKey,
    /// The serial number as upper-case hex without leading zeros (WeChat's `Wechatpay-Serial`).
    pub serial: String,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl CertifiedKey {
    /// Whether `serial` names this certificate (hex, any case, leading zeros ignored).
    pub fn has_serial(&self, serial: &str) -> bool {
        let normal = |s: &str| s.trim().trim_start_matches('0').to_ascii_uppercase();
        !self.serial.is_empty() && normal(serial) == self.serial
    }

    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// The key of an X.509 certificate given as PEM or bare base64 DER (or a file of either);
/// `Ok(None)` when `source` is not a certificate at all.
///
/// # Errors
/// A certificate that does not parse, or whose key is not RSA.
pub fn certified_key(source: &str) -> anyhow::Result<Option<CertifiedKey>> {
    let text = key_text(source);
    let cert = if text.contains("-----BEGIN CERTIFICATE-----") {
        Certificate::from_pem(text.as_bytes())
            .map_err(|e| anyhow::anyhow!("invalid X.509 certificate: {e}"))?
    } else if text.contains("-----BEGIN") {
        return Ok(None);
    } else {
        match bare_der(&text).map(|der| Certificate::from_der(&der)) {
            Some(Ok(cert)) => cert,
            _ => return Ok(None),
        }
    };
    let tbs = &cert.tbs_certificate;
    // Same der/spki versions as rsa 0.9: the key info is re-read as SPKI, which also checks the
    // algorithm is rsaEncryption.
    let spki = tbs
        .subject_public_key_info
        .to_der()
        .map_err(|e| anyhow::anyhow!("invalid certificate key: {e}"))?;
    let key = RsaPublicKey::from_public_key_der(&spki)
        .map_err(|e| anyhow::anyhow!("certificate key is not RSA: {e}"))?;
    let serial = hex::encode_upper(tbs.serial_number.as_bytes())
        .trim_start_matches('0')
        .to_owned();
    let secs = |t: &x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    Ok(Some(CertifiedKey {
        key,
        serial,
        not_before: secs(&tbs.validity.not_before),
        not_after: secs(&tbs.validity.not_after),
    }))
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
    fn certificates_give_their_rsa_key_serial_and_validity() {
        // rcgen signs through ring, which refuses 1024-bit keys: sign with the rsa crate instead.
        struct RsaSigner(RsaPrivateKey, Vec<u8>);
        impl rcgen::PublicKeyData for RsaSigner {
            fn der_bytes(&self) -> &[u8] {
                &self.1
            }
            fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
                &rcgen::PKCS_RSA_SHA256
            }
        }
        impl rcgen::SigningKey for RsaSigner {
            fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
                Ok(SigningKey::<Sha256>::new(self.0.clone()).sign(msg).to_vec())
            }
        }
        use rsa::pkcs1::EncodeRsaPublicKey;
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let public_der = key
            .to_public_key()
            .to_pkcs1_der()
            .unwrap()
            .as_bytes()
            .to_vec();
        let signer = RsaSigner(key.clone(), public_der);
        let mut params = rcgen::CertificateParams::new(vec!["Tenpay.com Root CA".into()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x51, 0x57, 0xF0]));
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2029, 1, 1);
        let cert = params.self_signed(&signer).unwrap();

        let parsed = certified_key(&cert.pem()).unwrap().unwrap();
        assert_eq!(parsed.key, key.to_public_key());
        assert_eq!(parsed.serial, "5157F0");
        assert!(parsed.has_serial("005157f0") && !parsed.has_serial("5157F1"));
        assert!(parsed.valid_at(1_800_000_000) && !parsed.valid_at(1_900_000_000));
        let der_b64 = B64.encode(cert.der());
        assert_eq!(
            certified_key(&der_b64).unwrap().unwrap().key,
            key.to_public_key()
        );
        let bare = {
            use rsa::pkcs8::{EncodePublicKey, LineEnding};
            key.to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap()
        };
        assert!(certified_key(&bare).unwrap().is_none());
        assert!(
            certified_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err()
        );
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
