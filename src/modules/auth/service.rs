//! Login, registration, token refresh, logout and password changes for both realms.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use super::extract::{MSG_DISABLED, Principal};
use super::revoked_token;
use crate::bus::{DomainEvent, Realm};
use crate::error::{AppError, AppResult};
use crate::modules::rbac::service as admins;
use crate::modules::users::entity::Model as User;
use crate::modules::users::service as users;
use crate::state::AppState;

pub const MSG_BAD_CREDENTIALS: &str = "用户名或密码错误";
pub const MSG_RATE_LIMITED: &str = "登录尝试过于频繁，请稍后再试";
pub const MSG_REGISTER_RATE_LIMITED: &str = "注册过于频繁，请稍后再试";
const LOGIN_WINDOW: Duration = Duration::from_secs(60);
const REGISTER_WINDOW: Duration = Duration::from_secs(3600);

/// Counts a login attempt against the caller's IP and the account name; over either limit → 429.
async fn check_login_rate(
    state: &AppState,
    realm: Realm,
    ip: &str,
    username: &str,
) -> AppResult<()> {
    let limits = &state.settings.auth;
    let realm = match realm {
        Realm::User => "user",
        Realm::Admin => "admin",
    };
    let by_ip = state
        .infra
        .rate_limiter
        .hit(
            &format!("login:{realm}:ip:{ip}"),
            limits.login_rate_per_ip_per_minute,
            LOGIN_WINDOW,
        )
        .await?;
    let by_account = state
        .infra
        .rate_limiter
        .hit(
            &format!("login:{realm}:account:{}", username.to_lowercase()),
            limits.login_rate_per_account_per_minute,
            LOGIN_WINDOW,
        )
        .await?;
    if by_ip.allowed && by_account.allowed {
        Ok(())
    } else {
        Err(AppError::TooManyRequests(MSG_RATE_LIMITED.into()))
    }
}

/// Checks a user's credentials. Unknown user and wrong password answer the same, in the same time;
/// a disabled account is only revealed to someone who knows its password.
pub async fn login_user(
    state: &AppState,
    ip: &str,
    username: &str,
    password: &str,
) -> AppResult<(String, User)> {
    check_login_rate(state, Realm::User, ip, username).await?;
    let user = users::find_by_username(&state.db, username).await?;
    let ok = state
        .passwords
        .verify(password, user.as_ref().map(|u| u.password.as_str()))
        .await;
    let user = match user {
        Some(u) if ok => u,
        _ => return Err(AppError::unauthorized(MSG_BAD_CREDENTIALS)),
    };
    if user.status != crate::modules::users::entity::STATUS_ACTIVE {
        return Err(AppError::forbidden(MSG_DISABLED));
    }
    let (token, _) = state.tokens.issue(Realm::User, user.id, &user.username)?;
    Ok((token, user))
}

pub struct Registration {
    pub username: String,
    pub password: String,
    pub email: String,
    pub phone: String,
}

/// `POST /api/register`: every attempt counts against the caller's IP
/// (`auth.register_rate_per_ip_per_hour`) before any work is done.
///
/// # Errors
/// 429 over the limit; then those of [`register_user`].
pub async fn register_from(state: &AppState, ip: &str, reg: Registration) -> AppResult<User> {
    let allowed = state
        .infra
        .rate_limiter
        .hit(
            &format!("register:ip:{ip}"),
            state.settings.auth.register_rate_per_ip_per_hour,
            REGISTER_WINDOW,
        )
        .await?
        .allowed;
    if !allowed {
        return Err(AppError::TooManyRequests(MSG_REGISTER_RATE_LIMITED.into()));
    }
    register_user(state, reg).await
}

/// Registers an app account (also the demo seed's way in).
pub async fn register_user(state: &AppState, reg: Registration) -> AppResult<User> {
    let email = users::normalize_email(&reg.email)?;
    let phone = users::normalize_phone(&reg.phone)?;
    let password_hash = state.passwords.hash(&reg.password).await?;
    users::register(
        &state.db,
        &state.bus,
        users::NewUser {
            username: reg.username,
            password_hash,
            email,
            phone,
            avatar: String::new(),
            status: crate::modules::users::entity::STATUS_ACTIVE,
        },
    )
    .await
}

/// Exchanges a still-valid user token for a fresh one and revokes the old one.
pub async fn refresh_user_token(state: &AppState, token: &str) -> AppResult<String> {
    let principal = super::extract::authenticate_token(state, Realm::User, token)
        .await
        .map_err(|e| match e {
            AppError::Unauthorized(msg) => AppError::bad_request(format!("刷新token失败: {msg}")),
            other => other,
        })?;
    let (new_token, _) = state
        .tokens
        .issue(Realm::User, principal.id, &principal.username)?;
    revoke(state, &principal).await?;
    Ok(new_token)
}

/// Remembers a token id as revoked until it would expire, on every instance, and announces it
/// (`TokenRevoked`: sockets opened with the token close).
pub async fn revoke(state: &AppState, principal: &Principal) -> AppResult<()> {
    let ttl = Duration::from_secs(principal.remaining_secs);
    state.infra.revocation.revoke(&principal.jti, ttl).await?;
    if state.infra.redis.is_none() {
        // Without Redis the in-memory list would be lost on restart; keep a durable copy.
        persist_revocation(&state.db, &principal.jti, principal.remaining_secs).await?;
    }
    state
        .bus
        .publish(DomainEvent::TokenRevoked {
            account_id: principal.id,
            jti: principal.jti.clone(),
        })
        .await?;
    Ok(())
}

async fn persist_revocation(
    db: &DatabaseConnection,
    jti: &str,
    remaining_secs: u64,
) -> AppResult<()> {
    let expires_at = Utc::now() + chrono::Duration::seconds(remaining_secs as i64);
    revoked_token::Entity::insert(revoked_token::ActiveModel {
        jti: Set(jti.to_owned()),
        expires_at: Set(expires_at),
    })
    .on_conflict_do_nothing_on([revoked_token::Column::Jti])
    .exec(db)
    .await?;
    Ok(())
}

/// Loads the durable revocations into the in-memory list at start-up and forgets expired ones.
pub async fn restore_revocations(state: &AppState) -> anyhow::Result<()> {
    let now = Utc::now();
    revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(now))
        .exec(&state.db)
        .await?;
    for row in revoked_token::Entity::find().all(&state.db).await? {
        let ttl = (row.expires_at - now).to_std().unwrap_or_default();
        state.infra.revocation.revoke(&row.jti, ttl).await?;
    }
    Ok(())
}

pub async fn change_user_password(
    state: &AppState,
    principal: &Principal,
    old_password: &str,
    new_password: &str,
) -> AppResult<()> {
    let user = users::get_active(&state.db, principal.id).await?;
    if !state
        .passwords
        .verify(old_password, Some(&user.password))
        .await
    {
        return Err(AppError::bad_request("旧密码错误"));
    }
    let hash = state.passwords.hash(new_password).await?;
    users::set_password(&state.db, &state.bus, user.id, hash).await?;
    revoke(state, principal).await
}

/// Checks an administrator's credentials; same rules as users.
pub async fn login_admin(
    state: &AppState,
    ip: &str,
    username: &str,
    password: &str,
) -> AppResult<(String, admins::Administrator)> {
    check_login_rate(state, Realm::Admin, ip, username).await?;
    let admin = admins::find_admin_by_username(&state.db, username).await?;
    let ok = state
        .passwords
        .verify(password, admin.as_ref().map(|a| a.password.as_str()))
        .await;
    let admin = match admin {
        Some(a) if ok => a,
        _ => return Err(AppError::unauthorized(MSG_BAD_CREDENTIALS)),
    };
    if admin.status != 1 {
        return Err(AppError::forbidden("账号已被禁用"));
    }
    let admin = admins::record_login(&state.db, admin).await?;
    let (token, _) = state
        .tokens
        .issue(Realm::Admin, admin.id, &admin.username)?;
    Ok((token, admin))
}

pub async fn change_admin_password(
    state: &AppState,
    principal: &Principal,
    old_password: &str,
    new_password: &str,
) -> AppResult<()> {
    let admin = admins::get_admin(&state.db, principal.id).await?;
    if !state
        .passwords
        .verify(old_password, Some(&admin.password))
        .await
    {
        return Err(AppError::bad_request("原密码错误"));
    }
    let hash = state.passwords.hash(new_password).await?;
    admins::set_admin_password(&state.db, &state.bus, admin.id, hash).await?;
    revoke(state, principal).await
}

/// Sets an administrator's password from the command line, voiding their tokens. Returns whether
/// the account exists.
pub async fn reset_admin_password_offline(
    state: &AppState,
    username: &str,
    new_password: &str,
) -> AppResult<bool> {
    let Some(admin) = admins::find_admin_by_username(&state.db, username).await? else {
        return Ok(false);
    };
    let hash = state.passwords.hash(new_password).await?;
    admins::set_admin_password(&state.db, &state.bus, admin.id, hash).await?;
    Ok(true)
}

/// Drops expired rows of the durable revocation list (a periodic job).
pub async fn purge_expired_revocations(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let res = revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
