//! Authentication as extractors: a handler that names [`CurrentUser`] requires a user token,
//! one that names [`CurrentAdmin`] an admin token. [`require_admin`] guards the whole admin scope.
//!
//! Every request checks the signature and realm, the revocation list, and that the account still exists,
//! is enabled, and has not changed its password since the token was issued.

use std::future::Future;
use std::pin::Pin;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest, web};

use crate::bus::Realm;
use crate::error::AppError;
use crate::modules::{rbac, users};
use crate::state::AppState;

pub const MSG_NO_TOKEN: &str = "未提供认证token";
pub const MSG_BAD_FORMAT: &str = "token格式错误";
pub const MSG_INVALID: &str = "token无效或已过期";
pub const MSG_DISABLED: &str = "账户已被禁用";
pub const MSG_UNCHECKED: &str = "认证服务暂时不可用，请稍后重试";

/// An authenticated principal of either realm.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: i64,
    pub username: String,
    pub jti: String,
    /// Seconds the token has left: how long its revocation must be remembered.
    pub remaining_secs: u64,
}

/// A logged-in app user.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Principal);

/// A logged-in administrator.
#[derive(Debug, Clone)]
pub struct CurrentAdmin(pub Principal);

/// The bearer token of a request, with the original's messages for a missing or malformed header.
pub fn bearer_token(req: &HttpRequest) -> Result<String, AppError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AppError::unauthorized(MSG_NO_TOKEN))?;
    match header.split_once(' ') {
        Some(("Bearer", token)) if !token.trim().is_empty() && !token.contains(' ') => {
            Ok(token.trim().to_owned())
        }
        _ => Err(AppError::unauthorized(MSG_BAD_FORMAT)),
    }
}

/// Verifies `token` in `realm` and checks the account behind it. `Unauthorized`: the token is invalid,
/// expired or revoked, or its account cannot use it. `Unavailable` (503): the check itself failed (Redis
/// or the database is down), which says nothing about the token; a client must not take it for a logout.
pub async fn authenticate_token(
    state: &AppState,
    realm: Realm,
    token: &str,
) -> Result<Principal, AppError> {
    let claims = state
        .tokens
        .verify(realm, token)
        .map_err(|_| AppError::unauthorized(MSG_INVALID))?;
    let revoked = state.infra.revocation.is_revoked(&claims.jti).await;
    if revoked.map_err(|e| unchecked(e.into()))? {
        return Err(AppError::unauthorized(MSG_INVALID));
    }
    let account = match realm {
        Realm::User => users::service::auth_state(state, claims.user_id).await,
        Realm::Admin => rbac::service::auth_state(&state.db, claims.user_id).await,
    }
    .map_err(unchecked)?;
    let Some(account) = account else {
        return Err(AppError::unauthorized(MSG_INVALID));
    };
    if claims.issued_at_ms() < account.tokens_valid_after {
        return Err(AppError::unauthorized(MSG_INVALID));
    }
    if !account.enabled {
        return Err(AppError::unauthorized(MSG_DISABLED));
    }
    Ok(Principal {
        id: claims.user_id,
        username: account.username,
        remaining_secs: claims.remaining_secs(),
        jti: claims.jti,
    })
}

/// A failure to check a token, logged here with its cause.
fn unchecked(cause: AppError) -> AppError {
    tracing::warn!(error.cause_chain = ?cause, "token could not be checked");
    AppError::Unavailable(MSG_UNCHECKED.into())
}

async fn authenticate(req: &HttpRequest, realm: Realm) -> Result<Principal, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| anyhow::anyhow!("AppState missing"))?;
    let token = bearer_token(req)?;
    authenticate_token(state, realm, &token).await
}

/// What the auth check needs to know about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAuthState {
    pub username: String,
    pub enabled: bool,
    /// Tokens issued before this Unix time in milliseconds are void: set on password change.
    pub tokens_valid_after: i64,
}

impl FromRequest for CurrentUser {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(user) = req.extensions().get::<CurrentUser>() {
                return Ok(user.clone());
            }
            let principal = authenticate(&req, Realm::User).await?;
            let user = CurrentUser(principal);
            req.extensions_mut().insert(user.clone());
            Ok(user)
        })
    }
}

impl FromRequest for CurrentAdmin {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(admin) = req.extensions().get::<CurrentAdmin>() {
                return Ok(admin.clone());
            }
            let principal = authenticate(&req, Realm::Admin).await?;
            let admin = CurrentAdmin(principal);
            req.extensions_mut().insert(admin.clone());
            Ok(admin)
        })
    }
}

/// Middleware for the protected admin scope: no valid admin token, no handler.
pub async fn require_admin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let principal = authenticate(req.request(), Realm::Admin).await?;
    req.extensions_mut().insert(CurrentAdmin(principal));
    next.call(req).await
}
