//! The success envelope `{"code":200,"msg":"...","data":...}`.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::error::AppError;

/// What handlers return.
pub type ApiResult = Result<HttpResponse, AppError>;

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    code: u16,
    msg: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
}

/// 200 with `data`.
pub fn ok<T: Serialize>(msg: &str, data: T) -> ApiResult {
    Ok(HttpResponse::Ok().json(Envelope {
        code: 200,
        msg,
        data: Some(data),
    }))
}

/// 200 with no `data` key, as the original sends for updates.
pub fn ok_msg(msg: &str) -> ApiResult {
    Ok(HttpResponse::Ok().json(Envelope::<()> {
        code: 200,
        msg,
        data: None,
    }))
}

/// 200 with `data: null` spelled out (e.g. "no application yet").
pub fn ok_null(msg: &str) -> ApiResult {
    Ok(HttpResponse::Ok().json(serde_json::json!({ "code": 200, "msg": msg, "data": null })))
}
