//! JWTs: HS256 pinned, one secret per realm plus an audience claim, and a `jti` for revocation.
//! Claims keep the original's `user_id` and `username`.

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::bus::Realm;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub user_id: i64,
    pub username: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: String,
    pub aud: String,
    /// Issue time in milliseconds: password changes void tokens issued before them, even within a second.
    #[serde(default)]
    pub iat_ms: i64,
}

impl Claims {
    pub fn issued_at_ms(&self) -> i64 {
        if self.iat_ms > 0 {
            self.iat_ms
        } else {
            self.iat * 1000
        }
    }

    /// Seconds until expiry, at least 1, for how long a revocation must be remembered.
    pub fn remaining_secs(&self) -> u64 {
        (self.exp - Utc::now().timestamp()).max(1) as u64
    }
}

struct RealmKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    audience: &'static str,
}

impl RealmKeys {
    fn new(secret: &[u8], audience: &'static str) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience]);
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "nbf", "aud"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            audience,
        }
    }
}

pub struct TokenService {
    user: RealmKeys,
    admin: RealmKeys,
    ttl_secs: i64,
}

/// Why a token was not accepted. All of them answer `401 token无效或已过期`.
#[derive(Debug, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct InvalidToken(String);

impl TokenService {
    pub fn new(user_secret: &[u8], admin_secret: &[u8], ttl_hours: i64) -> Self {
        Self {
            user: RealmKeys::new(user_secret, "mychat-user"),
            admin: RealmKeys::new(admin_secret, "mychat-admin"),
            ttl_secs: ttl_hours * 3600,
        }
    }

    fn keys(&self, realm: Realm) -> &RealmKeys {
        match realm {
            Realm::User => &self.user,
            Realm::Admin => &self.admin,
        }
    }

    pub fn issue(
        &self,
        realm: Realm,
        account_id: i64,
        username: &str,
    ) -> anyhow::Result<(String, Claims)> {
        let now_ms = Utc::now().timestamp_millis();
        let now = now_ms / 1000;
        let keys = self.keys(realm);
        let claims = Claims {
            user_id: account_id,
            username: username.to_owned(),
            exp: now + self.ttl_secs,
            nbf: now,
            iat: now,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            aud: keys.audience.to_owned(),
            iat_ms: now_ms,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)?;
        Ok((token, claims))
    }

    pub fn verify(&self, realm: Realm, token: &str) -> Result<Claims, InvalidToken> {
        let keys = self.keys(realm);
        decode::<Claims>(token, &keys.decoding, &keys.validation)
            .map(|data| data.claims)
            .map_err(|e| InvalidToken(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> TokenService {
        TokenService::new(b"user-secret-0123456789", b"admin-secret-0123456789", 24)
    }

    #[test]
    fn a_token_verifies_only_in_its_own_realm() {
        let s = service();
        let (token, claims) = s.issue(Realm::User, 7, "alice").unwrap();
        let back = s.verify(Realm::User, &token).unwrap();
        assert_eq!(back, claims);
        assert_eq!(back.user_id, 7);
        assert!(s.verify(Realm::Admin, &token).is_err());
        let (admin_token, _) = s.issue(Realm::Admin, 1, "admin").unwrap();
        assert!(s.verify(Realm::User, &admin_token).is_err());
        assert!(s.verify(Realm::Admin, &admin_token).is_ok());
    }

    #[test]
    fn expired_tampered_and_other_algorithms_are_rejected() {
        let s = service();
        let now = Utc::now().timestamp();
        let claims = Claims {
            user_id: 1,
            username: "a".into(),
            exp: now - 10,
            nbf: now - 100,
            iat: now - 100,
            jti: "x".into(),
            aud: "mychat-user".into(),
            iat_ms: 0,
        };
        let key = EncodingKey::from_secret(b"user-secret-0123456789");
        let expired = encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap();
        assert!(s.verify(Realm::User, &expired).is_err());

        let valid = Claims {
            exp: now + 100,
            ..claims
        };
        let hs512 = encode(&Header::new(Algorithm::HS512), &valid, &key).unwrap();
        assert!(
            s.verify(Realm::User, &hs512).is_err(),
            "algorithm is pinned"
        );

        let (good, _) = s.issue(Realm::User, 1, "a").unwrap();
        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
        assert!(s.verify(Realm::User, &tampered).is_err());
    }
}
