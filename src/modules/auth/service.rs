//! Login, registration, token refresh, logout and password changes for both realms. App users also obey
//! the console's `allow_register`, `password_min_length` and per-account lockout settings.

use std::time::Duration;

use super::extract::{MSG_DISABLED, Principal};
use crate::bus::{DomainEvent, Realm};
use crate::error::{AppError, AppResult};
use crate::modules::rbac::service as admins;
use crate::modules::system::settings;
use crate::modules::users::entity::Model as User;
use crate::modules::users::service as users;
use crate::state::AppState;

pub const MSG_BAD_CREDENTIALS: &str = "用户名或密码错误";
pub const MSG_RATE_LIMITED: &str = "登录尝试过于频繁，请稍后再试";
pub const MSG_REGISTRATION_CLOSED: &str = "系统暂未开放注册";
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
    let lockout = AccountLockout::check(state, username).await?;
    let user = users::find_by_username(&state.db, username).await?;
    let ok = state
        .passwords
        .verify(password, user.as_ref().map(|u| u.password.as_str()))
        .await;
    let user = match user {
        Some(u) if ok => u,
        _ => {
            lockout.failed(state).await;
            return Err(AppError::unauthorized(MSG_BAD_CREDENTIALS));
        }
    };
    lockout.succeeded(state).await;
    if user.status != crate::modules::users::entity::STATUS_ACTIVE {
        return Err(AppError::forbidden(MSG_DISABLED));
    }
    let (token, _) = state.tokens.issue(Realm::User, user.id, &user.username)?;
    Ok((token, user))
}

/// The console's per-account lockout of app users: `login_max_attempts` failed logins in a row lock the
/// account name for `login_lock_time` minutes (counted from the last failure), whatever the password.
struct AccountLockout {
    key: String,
    limits: settings::Lockout,
    failures: u32,
}

impl AccountLockout {
    /// Refuses a locked account; otherwise remembers its failures so far.
    async fn check(state: &AppState, username: &str) -> AppResult<Self> {
        let limits = settings::login_lockout(state).await;
        let key = format!("login:failures:user:{}", username.trim().to_lowercase());
        let failures = if limits.max_attempts == 0 {
            0
        } else {
            // The lockout fails open when the cache is down: the per-minute rate limits still apply.
            match state.infra.cache.get(&key).await {
                Ok(v) => v.and_then(|v| v.parse().ok()).unwrap_or(0),
                Err(e) => {
                    tracing::warn!(error.cause_chain = ?e, "login lockout unreadable");
                    0
                }
            }
        };
        if limits.max_attempts > 0 && failures >= limits.max_attempts {
            return Err(AppError::forbidden(format!(
                "登录失败次数过多，账户已锁定，请{}分钟后再试",
                limits.lock_for.as_secs() / 60
            )));
        }
        Ok(Self {
            key,
            limits,
            failures,
        })
    }

    async fn failed(&self, state: &AppState) {
        if self.limits.max_attempts == 0 {
            return;
        }
        let count = (self.failures + 1).to_string();
        if let Err(e) = state
            .infra
            .cache
            .set(&self.key, &count, self.limits.lock_for)
            .await
        {
            tracing::warn!(error.cause_chain = ?e, "login lockout not recorded");
        }
    }

    async fn succeeded(&self, state: &AppState) {
        if self.failures > 0
            && let Err(e) = state.infra.cache.delete(&self.key).await
        {
            tracing::warn!(error.cause_chain = ?e, "login lockout not cleared");
        }
    }
}

/// Refuses a password shorter than the console's `password_min_length`.
async fn check_password_length(state: &AppState, password: &str) -> AppResult<()> {
    let min = settings::password_min_length(state).await;
    if password.chars().count() < min {
        return Err(AppError::invalid_input(format!(
            "参数错误: password: 密码长度不能少于{min}位"
        )));
    }
    Ok(())
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
/// 429 over the limit; 403 when the console closed registration (`allow_register`); 400 for a password
/// shorter than `password_min_length`; then those of [`register_user`].
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
    // The console's switches apply to sign-ups, not to the operator's demo seed.
    if !settings::allow_register(state).await {
        return Err(AppError::forbidden(MSG_REGISTRATION_CLOSED));
    }
    check_password_length(state, &reg.password).await?;
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

/// Remembers a token id as revoked until it would expire, on every instance and across restarts, and
/// announces it (`TokenRevoked`: sockets opened with the token close).
pub async fn revoke(state: &AppState, principal: &Principal) -> AppResult<()> {
    let ttl = Duration::from_secs(principal.remaining_secs);
    state.infra.revocation.revoke(&principal.jti, ttl).await?;
    state
        .bus
        .publish(DomainEvent::TokenRevoked {
            account_id: principal.id,
            jti: principal.jti.clone(),
        })
        .await?;
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
    check_password_length(state, new_password).await?;
    let hash = state.passwords.hash(new_password).await?;
    users::set_password(&state.db, &state.bus, &state.account_states, user.id, hash).await?;
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
