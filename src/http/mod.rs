//! HTTP plumbing shared by the three servers: extractor configs that answer in the envelope,
//! validated input, paging, client IP, CORS and the middleware that keeps every error in the envelope.

mod extract;
mod middleware;

pub use extract::{ClientIp, Pagination, ValidatedJson, ValidatedQuery, parse_id};
pub use middleware::{CorsOrigins, catch_panic, cors, envelope_errors, request_id_header};

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{HttpRequest, web};

use crate::error::AppError;

/// JSON bodies: parse errors become `400 参数错误: ...`, oversize bodies `413`.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> AppError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            AppError::PayloadTooLarge("请求体过大".into())
        }
        JsonPayloadError::ContentType => {
            AppError::invalid_input("参数错误: 请使用 application/json")
        }
        JsonPayloadError::Deserialize(e) => AppError::invalid_input(format!("参数错误: {e}")),
        other => AppError::invalid_input(format!("参数错误: {other}")),
    }
}

/// Path parameters that do not parse (e.g. a non-numeric id) mean the resource does not exist.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|_err: PathError, _req| AppError::not_found("资源不存在").into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        AppError::invalid_input(format!("参数错误: {err}")).into()
    })
}

pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(limit)
        .error_handler(|err, _req| AppError::invalid_input(format!("参数错误: {err}")).into())
}

/// Raw bodies (payment callbacks) share the JSON limit.
pub fn payload_config(limit: usize) -> web::PayloadConfig {
    web::PayloadConfig::new(limit)
}

/// The extractor configs every server installs, so every parse error answers in the envelope.
pub fn configure_extractors(cfg: &mut web::ServiceConfig, max_json_bytes: usize) {
    cfg.app_data(json_config(max_json_bytes))
        .app_data(path_config())
        .app_data(query_config())
        .app_data(form_config(max_json_bytes))
        .app_data(payload_config(max_json_bytes));
}
