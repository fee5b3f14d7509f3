//! The success envelope `{"code":200,"msg":"...","data":...}`.

use actix_web::HttpResponse;
use actix_web::http::header::ContentType;
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

/// 200 with `data` already serialized (a cached page): the envelope is written around it, so the page
/// is neither parsed nor serialized again.
pub fn ok_raw(msg: &str, data_json: &str) -> ApiResult {
    let msg = serde_json::to_string(msg).map_err(anyhow::Error::new)?;
    let mut body = String::with_capacity(data_json.len() + msg.len() + 28);
    body.push_str(r#"{"code":200,"msg":"#);
    body.push_str(&msg);
    body.push_str(r#","data":"#);
    body.push_str(data_json);
    body.push('}');
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
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
