//! The audit middleware: every mutating request on the protected admin scope leaves a `system_logs` row
//! (who, action = the route's permission code, target ids, method, path, HTTP status, IP, user agent, and
//! the JSON body with secrets masked). Refused requests (403, 400) are recorded too.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use serde_json::Value;

use super::service::{AuditEntry, record_audit};
use crate::error::AppError;
use crate::http::ClientIp;
use crate::modules::auth::CurrentAdmin;
use crate::modules::rbac::guard::{Access, RouteMatch};
use crate::state::AppState;

const MASK: &str = "***";
const MAX_REQUEST_DATA: usize = 4000;

fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Masks secret fields, and the `value` of a config whose `key` names a secret.
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let secret_config = map
                .get("key")
                .and_then(Value::as_str)
                .is_some_and(|k| is_secret_name(k) || k.to_ascii_lowercase().ends_with("_key"));
            for (k, v) in map.iter_mut() {
                if is_secret_name(k) || (secret_config && k == "value") {
                    *v = Value::String(MASK.into());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn request_data(content_type: &str, body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    if !content_type.contains("json") {
        return Some(format!("[{content_type}; {} bytes]", body.len()));
    }
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            redact(&mut v);
            v.to_string()
        }
        Err(_) => "[unparsable JSON]".to_owned(),
    };
    Some(text.chars().take(MAX_REQUEST_DATA).collect())
}

/// Middleware for the protected admin scope, inside `require_admin` and outside the permission check.
pub async fn record_mutations(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let method = req.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.call(req).await;
    }
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // Multipart uploads are streamed to the handler untouched; only their size is not known here.
    let data = if content_type.starts_with("multipart/") {
        Some(format!("[{content_type}]"))
    } else {
        let body = match req.extract::<web::Bytes>().await {
            Ok(body) => body,
            Err(e) => {
                let too_large =
                    e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE;
                return Err(if too_large {
                    AppError::PayloadTooLarge("请求体过大".into())
                } else {
                    AppError::invalid_input(format!("参数错误: {e}"))
                }
                .into());
            }
        };
        let data = request_data(&content_type, &body);
        req.set_payload(Payload::from(body));
        data
    };
    let path = req.path().to_owned();
    let route = req.extensions().get::<RouteMatch>().cloned();
    let (action, target) = match &route {
        Some(m) => (
            match m.access {
                Some(Access::Code(code)) => code.to_owned(),
                Some(Access::Own) => "account".to_owned(),
                Some(Access::Public) | None => "unknown".to_owned(),
            },
            m.params.join(","),
        ),
        None => ("unknown".to_owned(), String::new()),
    };
    let module = action.split(':').next().unwrap_or_default().to_owned();
    let admin = req.extensions().get::<CurrentAdmin>().cloned();
    let ip = ClientIp::of(req.request());
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let state = req.app_data::<web::Data<AppState>>().cloned();

    let result = next.call(req).await;

    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    if let (Some(admin), Some(state)) = (admin, state) {
        let entry = AuditEntry {
            admin_id: admin.0.id,
            operator: admin.0.username.clone(),
            description: format!("{method} {path} → {}", status.as_u16()),
            action,
            module,
            method: method.to_string(),
            path,
            target,
            ip_address: ip,
            user_agent,
            request_data: data,
            status_code: status.as_u16(),
        };
        if let Err(e) = record_audit(&state.db, entry).await {
            tracing::warn!(error.cause_chain = ?e, "audit log write failed");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_at_any_depth() {
        let mut v = json!({
            "username": "bob", "password": "p4ss", "old_password": "x",
            "nested": [{"new_password": "y", "ok": 1}],
            "configs": [{"key": "smtp_password", "value": "\"s\""}, {"key": "site", "value": "\"v\""}],
        });
        redact(&mut v);
        assert_eq!(v["password"], "***");
        assert_eq!(v["old_password"], "***");
        assert_eq!(v["nested"][0]["new_password"], "***");
        assert_eq!(v["nested"][0]["ok"], 1);
        assert_eq!(v["configs"][0]["value"], "***");
        assert_eq!(v["configs"][1]["value"], "\"v\"");
        assert_eq!(v["username"], "bob");
    }
}
