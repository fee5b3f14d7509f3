//! The one error type. Every failure leaves as the envelope `{"code","msg","error"}` with HTTP status = `code`.
//! `error` is a stable snake_case code that clients may translate; `msg` is the human text the clients show.
//! 5xx messages never carry internals: the cause chain goes to the log.
//! An internal error caused by an unreachable dependency (no database connection within the pool's acquire
//! timeout, a dropped connection, Redis refusing) answers 503 `service_unavailable` instead of 500: that
//! classification is [`is_outage`], the one place that knows those error types.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use sea_orm::{DbErr, SqlErr};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request is understood but not acceptable.
    #[error("{0}")]
    BadRequest(String),
    /// 400: the body, path or query could not be parsed or failed validation.
    #[error("{0}")]
    InvalidInput(String),
    /// 401: missing, malformed, expired or revoked credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource (or not one the caller may know about).
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists with other methods.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: a unique value is taken, or the state does not allow the change.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429: too many attempts.
    #[error("{0}")]
    TooManyRequests(String),
    /// 503: a dependency is down.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or an infrastructure failure (503 when [`is_outage`] says so). Logged with its cause
    /// chain, answered generically.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The message of a 503 caused by an outage.
pub const UNAVAILABLE_MESSAGE: &str = "服务暂时不可用，请稍后再试";

/// Whether `err` says a dependency is unreachable rather than that the request or the code is wrong:
/// no pooled database connection in time, a database connection that broke, Redis unreachable.
pub fn is_outage(err: &anyhow::Error) -> bool {
    use sea_orm::{RuntimeErr, SqlxError};
    let sqlx_outage = |e: &SqlxError| {
        matches!(
            e,
            SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::Io(_)
                | SqlxError::Tls(_)
                | SqlxError::WorkerCrashed
        )
    };
    err.chain().any(|cause| {
        if let Some(db) = cause.downcast_ref::<DbErr>() {
            return match db {
                DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
                DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                    sqlx_outage(e)
                }
                _ => false,
            };
        }
        if let Some(e) = cause.downcast_ref::<SqlxError>() {
            return sqlx_outage(e);
        }
        if let Some(e) = cause.downcast_ref::<redis::RedisError>() {
            return e.is_io_error()
                || e.is_connection_refusal()
                || e.is_connection_dropped()
                || e.is_timeout();
        }
        cause.downcast_ref::<deadpool_redis::PoolError>().is_some()
    })
}

pub type AppResult<T> = Result<T, AppError>;

/// The message every 500 answers with.
pub const INTERNAL_MESSAGE: &str = "服务器内部错误";

impl AppError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn invalid_input(msg: impl Into<String>) -> Self {
        Self::InvalidInput(msg.into())
    }
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::Unauthorized(msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    pub fn conflict(msg: impl Into<String>) -> Self {
        Self::Conflict(msg.into())
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::InvalidInput(_) => "invalid_input",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::TooManyRequests(_) => "rate_limited",
            Self::Unavailable(_) => "service_unavailable",
            Self::Internal(cause) if is_outage(cause) => "service_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    /// Whether this is a 503: a dependency is down.
    pub fn is_outage(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Internal(cause) => is_outage(cause),
            _ => false,
        }
    }

    /// What a client may be told: the message, except that an internal error says only that the server
    /// failed, or that a dependency is unavailable.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(cause) if is_outage(cause) => UNAVAILABLE_MESSAGE.to_owned(),
            Self::Internal(_) => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: u16,
    msg: &'a str,
    error: &'a str,
}

/// Builds the error envelope for a status, for places that have no `AppError` (default services, middleware).
pub fn error_envelope(status: StatusCode, code: &str, msg: &str) -> HttpResponse {
    HttpResponse::build(status).json(ErrorBody {
        code: status.as_u16(),
        msg,
        error: code,
    })
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidInput(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(cause) if is_outage(cause) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) if is_outage(cause) => {
                tracing::warn!(error.cause_chain = ?cause, "dependency unavailable");
            }
            Self::Internal(cause) => tracing::error!(error.cause_chain = ?cause, "internal error"),
            _ => {}
        }
        error_envelope(self.status_code(), self.code(), &self.public_message())
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        Self::Internal(anyhow::Error::new(err).context("database error"))
    }
}

/// True when the database refused a write because a unique value is taken.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Maps a unique-constraint violation to a 409 with `msg`, anything else to a 500.
pub fn unique_or_internal(err: DbErr, msg: &str) -> AppError {
    if is_unique_violation(&err) {
        AppError::conflict(msg)
    } else {
        err.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_dependency_is_a_503_and_a_bug_stays_a_500() {
        let pool = AppError::from(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout));
        assert_eq!(pool.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(pool.code(), "service_unavailable");
        assert_eq!(pool.public_message(), UNAVAILABLE_MESSAGE);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let broken = AppError::from(DbErr::Exec(sea_orm::RuntimeErr::SqlxError(
            std::sync::Arc::new(sea_orm::SqlxError::Io(io)),
        )));
        assert!(broken.is_outage());
        let redis = AppError::from(anyhow::Error::new(redis::RedisError::from(
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        )));
        assert_eq!(redis.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let bug = AppError::from(DbErr::RecordNotFound("x".into()));
        assert_eq!(bug.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(bug.code(), "internal_error");
    }
}
