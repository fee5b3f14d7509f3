use std::panic::AssertUnwindSafe;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers, Next};
use actix_web::{Error, HttpMessage, HttpResponse, web};
use futures_util::FutureExt;
use tracing_actix_web::RequestId;

use crate::error::{AppError, INTERNAL_MESSAGE, error_envelope};

/// A panic in a handler answers a 500 envelope instead of dropping the connection.
///
/// It answers with an `Err` rather than a response: holding a clone of the request across routing
/// would make actix panic itself (routing needs the only reference).
pub async fn catch_panic(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(AppError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into())
        }
    }
}

/// Rewrites any error response that is not already JSON (actix's 404/405/413 text bodies, static-file misses)
/// into the envelope, keeping its status.
pub fn envelope_errors<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let (req, res) = res.into_parts();
        let status = res.status();
        let (code, msg) = match status {
            StatusCode::NOT_FOUND => ("not_found", "接口不存在"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "请求方法不允许"),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "请求体过大"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "不支持的内容类型"),
            s if s.is_server_error() => ("internal_error", INTERNAL_MESSAGE),
            _ => ("bad_request", "请求错误"),
        };
        let response = error_envelope(status, code, msg);
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, response).map_into_right_body(),
        ))
    })
}

/// Echoes the tracing request id as `X-Request-Id`, so a client report can be matched to the logs.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req.extensions().get::<RequestId>().copied();
    let mut res = next.call(req).await?;
    if let Some(id) = request_id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

const ALLOW_METHODS: &str = "GET, POST, PUT, DELETE, PATCH, OPTIONS";
const ALLOW_HEADERS: &str = "Content-Type, Content-Length, Accept-Encoding, X-CSRF-Token, Authorization, Accept, Origin, Cache-Control, X-Requested-With";

/// The origins CORS allows, installed as app data. `["*"]` allows any origin, without credentials.
#[derive(Clone, Debug)]
pub struct CorsOrigins(pub Vec<String>);

/// What CORS grants a request's origin.
#[derive(Debug, PartialEq, Eq)]
struct CorsGrant {
    /// The `Access-Control-Allow-Origin` value.
    origin: String,
    /// `Access-Control-Allow-Credentials: true`: only for an origin listed by name. Echoing any origin
    /// with credentials would let every web site make credentialed calls.
    credentials: bool,
}

/// CORS as the clients expect it: every `OPTIONS` answers 204 (also on unknown paths, before auth),
/// and allowed origins get the CORS headers on every response.
///
/// Written here rather than with actix-cors because the clients rely on `OPTIONS → 204` for every path,
/// including requests without an `Origin`, which actix-cors hands on to routing.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let grant = req
        .app_data::<web::Data<CorsOrigins>>()
        .and_then(|origins| {
            let origin = req
                .headers()
                .get(header::ORIGIN)
                .and_then(|v| v.to_str().ok());
            cors_grant(&origins.0, origin)
        });
    if req.method() == Method::OPTIONS {
        let mut response = HttpResponse::NoContent();
        if let Some(grant) = &grant {
            response
                .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, grant.origin.as_str()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
                .insert_header((header::VARY, "Origin"));
            if grant.credentials {
                response.insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"));
            }
        }
        return Ok(req.into_response(response.finish()));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    if let Some(grant) = grant
        && let Ok(value) = HeaderValue::from_str(&grant.origin)
    {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if grant.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Content-Length, Content-Type, X-Request-Id"),
        );
        // Appended: a response may already vary on something else (a web app's Accept-Encoding).
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    Ok(res)
}

/// The grant for `origin`, or `None` when it is not allowed. An origin listed by name gets itself back
/// with credentials; `*` answers `*` without them (the clients send bearer tokens, not cookies).
fn cors_grant(origins: &[String], origin: Option<&str>) -> Option<CorsGrant> {
    if let Some(origin) = origin
        && origins.iter().any(|o| o == origin)
    {
        return Some(CorsGrant {
            origin: origin.to_owned(),
            credentials: true,
        });
    }
    origins.iter().any(|o| o == "*").then(|| CorsGrant {
        origin: "*".to_owned(),
        credentials: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(origin: &str, credentials: bool) -> Option<CorsGrant> {
        Some(CorsGrant {
            origin: origin.to_owned(),
            credentials,
        })
    }

    #[test]
    fn a_wildcard_never_grants_credentials_and_a_listed_origin_does() {
        let any = vec!["*".to_owned()];
        assert_eq!(
            cors_grant(&any, Some("https://evil.example")),
            grant("*", false)
        );
        assert_eq!(cors_grant(&any, None), grant("*", false));
        let listed = vec!["https://console.example".to_owned()];
        assert_eq!(
            cors_grant(&listed, Some("https://console.example")),
            grant("https://console.example", true)
        );
        assert_eq!(cors_grant(&listed, Some("https://evil.example")), None);
        assert_eq!(cors_grant(&listed, None), None);
    }
}
