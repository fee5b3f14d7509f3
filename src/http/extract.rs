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

/// `page` and `page_size` (or `pageSize`), bounded. A value that is not a positive integer (empty,
/// negative, `abc`) falls back to the default, as the original clients expect; a number above the bound
/// answers 400, so that no offset overflows the database driver.
#[derive(Debug, Clone, Copy)]
pub struct Pagination {
    pub page: u64,
    pub page_size: u64,
}

pub const MAX_PAGE_SIZE: u64 = 100;
/// The deepest page: 100,000 pages of 100 are ten million rows, more than any list here will hold.
pub const MAX_PAGE: u64 = 100_000;

#[derive(Deserialize)]
struct RawPagination {
    page: Option<String>,
    page_size: Option<String>,
    #[serde(rename = "pageSize")]
    page_size_camel: Option<String>,
}

/// A positive integer up to `max`; `Ok(None)` for anything that is not a positive integer, 400 for a
/// number above `max` (however many digits it has).
fn bounded(raw: Option<&str>, name: &str, max: u64) -> Result<Option<u64>, AppError> {
    let Some(digits) = raw
        .map(str::trim)
        .map(|v| v.strip_prefix('+').unwrap_or(v))
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Ok(None);
    };
    match digits.parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(AppError::invalid_input(format!(
            "参数错误: {name}: 不能超过{max}"
        ))),
    }
}

impl Pagination {
    /// # Errors
    /// 400 when `page` exceeds [`MAX_PAGE`] or `page_size` exceeds [`MAX_PAGE_SIZE`].
    pub fn from_query(query: &str, default_size: u64) -> Result<Self, AppError> {
        let raw = web::Query::<RawPagination>::from_query(query)
            .map(|q| q.into_inner())
            .unwrap_or(RawPagination {
                page: None,
                page_size: None,
                page_size_camel: None,
            });
        let page = bounded(raw.page.as_deref(), "page", MAX_PAGE)?.unwrap_or(1);
        let size = raw.page_size.as_deref().or(raw.page_size_camel.as_deref());
        let page_size = bounded(size, "page_size", MAX_PAGE_SIZE)?.unwrap_or(default_size);
        Ok(Self { page, page_size })
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.page_size)
    }
}

impl FromRequest for Pagination {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        std::future::ready(Self::from_query(req.query_string(), 20).map_err(Into::into))
    }
}

/// The caller's IP, the one answer the login and registration limits, payment requests and the audit
/// log all use. It is the peer address, unless the peer is one of `server.trusted_proxies`: then
/// `X-Forwarded-For` is read from the right (each proxy appends the address it saw), skipping trusted
/// proxies, and the first address that is not one is the client. Anything left of it was written by the
/// client and proves nothing.
pub struct ClientIp(pub String);

impl ClientIp {
    pub fn of(req: &HttpRequest) -> String {
        let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
            return "unknown".into();
        };
        let trusted = req
            .app_data::<web::Data<crate::state::AppState>>()
            .map(|state| &state.settings.server.trusted_proxies);
        match trusted {
            Some(trusted) => Self::resolve(peer, forwarded_for(req), trusted).to_string(),
            None => peer.to_string(),
        }
    }

    /// The client behind `peer`, given the `X-Forwarded-For` hops (left to right).
    fn resolve(peer: IpAddr, hops: Vec<&str>, trusted: &crate::config::TrustedProxies) -> IpAddr {
        let mut client = peer;
        for hop in hops.iter().rev() {
            if !trusted.contains(&client) {
                break;
            }
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => client = ip,
                // A hop we cannot read: the last trusted proxy is as far as we can see.
                Err(_) => break,
            }
        }
        client
    }
}

/// Every `X-Forwarded-For` hop, over all such headers, in order.
fn forwarded_for(req: &HttpRequest) -> Vec<&str> {
    req.headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect()
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
        let page = |q: &str, d: u64| Pagination::from_query(q, d).map(|p| (p.page, p.page_size));
        let p = Pagination::from_query("", 20).unwrap();
        assert_eq!((p.page, p.page_size, p.offset()), (1, 20, 0));
        let p = Pagination::from_query("page=3&page_size=10", 20).unwrap();
        assert_eq!((p.page, p.page_size, p.offset()), (3, 10, 20));
        assert_eq!(page("page=2&pageSize=5", 20).unwrap(), (2, 5));
        assert_eq!(page("page=-1&page_size=-5", 20).unwrap(), (1, 20));
        assert_eq!(page("page=abc&page_size=0", 10).unwrap(), (1, 10));
        assert_eq!(
            page("page=100000&page_size=100", 10).unwrap(),
            (100_000, 100)
        );
        assert!(page("page=100001", 10).is_err());
        assert!(page("page=9223372036854775808", 10).is_err());
        assert!(page("page=99999999999999999999999", 10).is_err());
        assert!(page("page_size=101", 10).is_err());
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_forwarded_hop() {
        let trusted = crate::config::TrustedProxies::try_from(vec![
            "10.0.0.0/8".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = crate::config::TrustedProxies::default();
        let hops = || vec!["6.6.6.6", " 1.2.3.4", "10.1.1.1"];
        assert_eq!(
            ClientIp::resolve(ip("127.0.0.1"), hops(), &none),
            ip("127.0.0.1")
        );
        assert_eq!(
            ClientIp::resolve(ip("127.0.0.1"), hops(), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(
            ClientIp::resolve(ip("8.8.8.8"), hops(), &trusted),
            ip("8.8.8.8")
        );
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), vec![], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            ClientIp::resolve(ip("10.0.0.2"), vec!["junk", "10.0.0.3"], &trusted),
            ip("10.0.0.3")
        );
        assert_eq!(
            ClientIp::resolve(ip("::ffff:127.0.0.1"), vec!["5.5.5.5"], &trusted),
            ip("5.5.5.5")
        );
        assert!(crate::config::TrustedProxies::try_from(vec!["nope".to_owned()]).is_err());
    }

    #[test]
    fn parse_id_rejects_non_positive_and_garbage() {
        assert_eq!(parse_id("42", "x").ok(), Some(42));
        assert!(parse_id("0", "x").is_err());
        assert!(parse_id("-3", "x").is_err());
        assert!(parse_id("1 OR 1=1", "x").is_err());
    }
}
