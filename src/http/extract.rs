use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors};

use crate::error::AppError;

/// A JSON body that deserialized and passed its `validator` rules.
pub struct ValidatedJson<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidatedJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<T>::from_request(req, payload);
        Box::pin(async move {
            let value = json.await?.into_inner();
            value.validate().map_err(validation_error)?;
            Ok(ValidatedJson(value))
        })
    }
}

/// A query string that deserialized and passed its `validator` rules.
pub struct ValidatedQuery<T>(pub T);

impl<T: DeserializeOwned + Validate + 'static> FromRequest for ValidatedQuery<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let result = web::Query::<T>::from_query(req.query_string())
            .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))
            .and_then(|q| {
                let value = q.into_inner();
                value.validate().map_err(validation_error)?;
                Ok(ValidatedQuery(value))
            })
            .map_err(Into::into);
        std::future::ready(result)
    }
}

/// `参数错误: field: reason; field: reason`, fields in a stable order.
fn validation_error(errors: ValidationErrors) -> AppError {
    let mut parts: Vec<String> = errors
        .field_errors()
        .into_iter()
        .map(|(field, errs)| {
            let reason = errs
                .iter()
                .map(|e| {
                    e.message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| e.code.to_string())
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("{field}: {reason}")
        })
        .collect();
    parts.sort();
    AppError::invalid_input(format!("参数错误: {}", parts.join("; ")))
}

/// Parses a path id; anything but a positive integer is the route's "not found".
pub fn parse_id(raw: &str, not_found: &str) -> Result<i64, AppError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| AppError::not_found(not_found))
}

/// `page` and `page_size` (or `pageSize`), bounded; a bad value falls back to the default.
#[derive(Debug, Clone, Copy)]
pub struct Pagination {
    pub page: u64,
    pub page_size: u64,
}

pub const MAX_PAGE_SIZE: u64 = 100;

#[derive(Deserialize)]
struct RawPagination {
    page: Option<String>,
    page_size: Option<String>,
    #[serde(rename = "pageSize")]
    page_size_camel: Option<String>,
}

impl Pagination {
    pub fn from_query(query: &str, default_size: u64) -> Self {
        let raw = web::Query::<RawPagination>::from_query(query)
            .map(|q| q.into_inner())
            .unwrap_or(RawPagination {
                page: None,
                page_size: None,
                page_size_camel: None,
            });
        let page = raw
            .page
            .and_then(|p| p.trim().parse::<u64>().ok())
            .filter(|p| *p >= 1)
            .unwrap_or(1);
        let page_size = raw
            .page_size
            .or(raw.page_size_camel)
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|s| (1..=MAX_PAGE_SIZE).contains(s))
            .unwrap_or(default_size);
        Self { page, page_size }
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.page_size)
    }
}

impl FromRequest for Pagination {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Self::from_query(req.query_string(), 20)))
    }
}

/// The caller's IP: the peer address. `X-Forwarded-For` is trusted only from a loopback peer (a local proxy).
pub struct ClientIp(pub String);

impl ClientIp {
    pub fn of(req: &HttpRequest) -> String {
        let peer = req.peer_addr().map(|a| a.ip());
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        match (peer, forwarded) {
            (Some(p), Some(f)) if p.is_loopback() => f.to_string(),
            (Some(p), _) => p.to_string(),
            (None, Some(f)) => f.to_string(),
            (None, None) => "unknown".into(),
        }
    }
}

impl FromRequest for ClientIp {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(Ok(ClientIp(Self::of(req))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_defaults_and_bounds() {
        let p = Pagination::from_query("", 20);
        assert_eq!((p.page, p.page_size, p.offset()), (1, 20, 0));
        let p = Pagination::from_query("page=3&page_size=10", 20);
        assert_eq!((p.page, p.page_size, p.offset()), (3, 10, 20));
        let p = Pagination::from_query("page=2&pageSize=5", 20);
        assert_eq!((p.page, p.page_size), (2, 5));
        let p = Pagination::from_query("page=-1&page_size=1000", 20);
        assert_eq!((p.page, p.page_size), (1, 20));
        let p = Pagination::from_query("page=abc&page_size=0", 10);
        assert_eq!((p.page, p.page_size), (1, 10));
    }

    #[test]
    fn parse_id_rejects_non_positive_and_garbage() {
        assert_eq!(parse_id("42", "x").ok(), Some(42));
        assert!(parse_id("0", "x").is_err());
        assert!(parse_id("-3", "x").is_err());
        assert!(parse_id("1 OR 1=1", "x").is_err());
    }
}
