//! Payment, refund, callback, sandbox and wallet routes (8080).

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::dto::{CreatePaymentRequest, RechargeRequest, RefundRequest};
use super::refunds::{self, RefundResult};
use super::sandbox::{self, SandboxNotification};
use super::service::{self, Channel, MSG_PAYMENT_NOT_FOUND, Outcome, PayContext};
use super::{alipay, wallet, wechat};
use crate::error::{AppError, AppResult};
use crate::http::{ClientIp, Pagination, ValidatedJson, parse_id};
use crate::modules::auth::CurrentUser;
use crate::money;
use crate::response::{ApiResult, ok};
use crate::state::AppState;

pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/payment/create", web::post().to(create_payment))
        .route("/api/payment/list", web::get().to(list_payments))
        .route("/api/payment/refund", web::post().to(refund_payment))
        .route(
            "/api/payment/wechat/callback",
            web::post().to(wechat_callback),
        )
        .route(
            "/api/payment/alipay/callback",
            web::post().to(alipay_callback),
        )
        .route(
            "/api/payment/sandbox/callback",
            web::post().to(sandbox_callback),
        )
        .route(
            "/api/payment/sandbox/checkout/{payment_no}",
            web::get().to(sandbox_checkout),
        )
        .route(
            "/api/payment/sandbox/pay/{payment_no}",
            web::post().to(sandbox_pay),
        )
        .route("/api/payment/{id}", web::get().to(get_payment))
        .route("/api/user/recharge", web::post().to(recharge))
        .route("/api/user/transactions", web::get().to(transactions));
}

fn pay_context(req: &HttpRequest) -> PayContext {
    let info = req.connection_info();
    PayContext {
        base_url: format!("{}://{}", info.scheme(), info.host()),
        client_ip: ClientIp::of(req),
    }
}

#[utoipa::path(post, path = "/api/payment/create", tag = "payment", security(("bearer" = [])),
    request_body = CreatePaymentRequest,
    responses((status = 200, description = "`data.payment_id`, `payment_no`, `amount`, `pay_url`, `pay_params`, `trade_type`, `expired_at`", body = crate::openapi::Envelope<crate::modules::payments::dto::PaymentCreated>),
        (status = 400, description = "订单状态不允许创建支付 / 支付方式未配置 / 余额不足")))]
pub async fn create_payment(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    ValidatedJson(body): ValidatedJson<CreatePaymentRequest>,
) -> ApiResult {
    let ctx = pay_context(&req);
    ok(
        "创建支付成功",
        service::create_order_payment(&state, user.0.id, &body, &ctx).await?,
    )
}

#[utoipa::path(get, path = "/api/payment/{id}", tag = "payment", security(("bearer" = [])),
    responses((status = 200, description = "The payment with `status_text`", body = crate::openapi::Envelope<crate::modules::payments::dto::PaymentView>), (status = 403, description = "无权访问此支付记录")))]
pub async fn get_payment(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&id, MSG_PAYMENT_NOT_FOUND)?;
    let p = service::get_payment(&state.db, id).await?;
    if p.user_id != user.0.id {
        return Err(AppError::forbidden("无权访问此支付记录"));
    }
    ok("获取成功", service::view(&p))
}

#[derive(Deserialize)]
pub struct PaymentListQuery {
    status: Option<String>,
    payment_method: Option<String>,
}

#[utoipa::path(get, path = "/api/payment/list", tag = "payment", security(("bearer" = [])),
    responses((status = 200, description = "`data.payments` (each with `notify_data` and its `order`, zero-valued for recharges), `data.total`", body = crate::openapi::Envelope<crate::modules::payments::dto::PaymentList>)))]
pub async fn list_payments(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    query: web::Query<PaymentListQuery>,
) -> ApiResult {
    let page = Pagination::from_query(req.query_string(), 10)?;
    let status = query
        .status
        .as_deref()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|s| (0..=4).contains(s));
    ok(
        "获取成功",
        service::list_payments(
            &state.db,
            user.0.id,
            status,
            query.payment_method.as_deref(),
            &page,
        )
        .await?,
    )
}

#[utoipa::path(post, path = "/api/payment/refund", tag = "payment", security(("bearer" = [])),
    request_body = RefundRequest,
    responses((status = 200, description = "退款申请成功; partial refunds stay partial", body = crate::openapi::Envelope<crate::modules::payments::dto::RefundView>)))]
pub async fn refund_payment(
    state: web::Data<AppState>,
    user: CurrentUser,
    ValidatedJson(body): ValidatedJson<RefundRequest>,
) -> ApiResult {
    let view = refunds::request_refund(
        &state,
        user.0.id,
        body.payment_id,
        body.refund_amount,
        &body.refund_reason,
    )
    .await?;
    ok("退款申请成功", view)
}

fn wechat_reply(status: StatusCode, message: &str) -> HttpResponse {
    if status.is_success() {
        HttpResponse::Ok().json(json!({ "code": "SUCCESS", "message": message }))
    } else {
        HttpResponse::build(status).json(json!({ "code": "FAIL", "message": message }))
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Maps an apply result to (accepted, message).
fn apply_reply(result: AppResult<Outcome>) -> (StatusCode, &'static str) {
    match result {
        Ok(Outcome::Applied | Outcome::AlreadyApplied) => (StatusCode::OK, "成功"),
        Ok(Outcome::AmountMismatch) => (StatusCode::BAD_REQUEST, "金额不一致"),
        Err(AppError::NotFound(_)) => (StatusCode::NOT_FOUND, "记录不存在"),
        Err(AppError::BadRequest(_) | AppError::InvalidInput(_)) => {
            (StatusCode::BAD_REQUEST, "请求无效")
        }
        // A transaction id already bound to another payment: retrying cannot help, so no 5xx.
        Err(AppError::Conflict(_)) => (StatusCode::CONFLICT, "交易号冲突"),
        Err(e) => {
            tracing::warn!(error = %e, "payment confirmation not applied");
            (StatusCode::INTERNAL_SERVER_ERROR, "处理失败")
        }
    }
}

#[utoipa::path(post, path = "/api/payment/wechat/callback", tag = "payment",
    request_body(content = String, content_type = "application/json", description = "WeChat Pay v3 notification: TRANSACTION.* (payments) or REFUND.* (refunds)"),
    responses((status = 200, description = "{\"code\":\"SUCCESS\"}", body = crate::openapi::shapes::ProviderAck), (status = 401, description = "{\"code\":\"FAIL\"}: bad signature or stale timestamp", body = crate::openapi::shapes::ProviderAck), (status = 400, description = "FAIL: malformed, wrong merchant, amount mismatch, or WeChat Pay not configured", body = crate::openapi::shapes::ProviderAck), (status = 404, description = "FAIL: no such payment or refund", body = crate::openapi::shapes::ProviderAck)))]
pub async fn wechat_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let cfg = &state.settings.payments.wechat;
    if !wechat::is_configured(cfg) {
        return wechat_reply(StatusCode::BAD_REQUEST, "未配置微信支付");
    }
    let headers = wechat::NotifyHeaders {
        timestamp: header(&req, "Wechatpay-Timestamp"),
        nonce: header(&req, "Wechatpay-Nonce"),
        signature: header(&req, "Wechatpay-Signature"),
        serial: header(&req, "Wechatpay-Serial"),
    };
    let now = chrono::Utc::now().timestamp();
    let (event_type, notice) = match wechat::verify_notification(cfg, &headers, &body, now) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(reason = ?e, "wechat callback refused");
            let status = match e {
                wechat::NotifyError::Malformed | wechat::NotifyError::Undecryptable => {
                    StatusCode::BAD_REQUEST
                }
                wechat::NotifyError::WrongMerchant => StatusCode::BAD_REQUEST,
                _ => StatusCode::UNAUTHORIZED,
            };
            return wechat_reply(status, "验签失败");
        }
    };
    let result = match notice {
        wechat::Notice::Transaction(tx) if tx.trade_state == "SUCCESS" => {
            service::apply_confirmation(
                &state,
                Channel::Wechat,
                &tx.out_trade_no,
                &tx.transaction_id,
                tx.amount.total,
                Some(String::from_utf8_lossy(&body).into_owned()),
            )
            .await
        }
        wechat::Notice::Refund(refund) => {
            let result = match refund.refund_status.as_str() {
                "SUCCESS" => Some(RefundResult::Succeeded(Some(refund.refund_id.clone()))),
                "ABNORMAL" | "CLOSED" => Some(RefundResult::Failed(format!(
                    "微信退款{}",
                    refund.refund_status
                ))),
                _ => None,
            };
            match result {
                Some(result) => {
                    refunds::apply_refund_notice(
                        &state,
                        Channel::Wechat,
                        &refund.out_refund_no,
                        &refund.out_trade_no,
                        refund.amount.refund,
                        result,
                    )
                    .await
                }
                None => Ok(Outcome::AlreadyApplied),
            }
        }
        _ => {
            tracing::info!(
                event_type,
                "wechat notification acknowledged, nothing to apply"
            );
            Ok(Outcome::AlreadyApplied)
        }
    };
    let (status, message) = apply_reply(result);
    wechat_reply(status, message)
}

fn text(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(body)
}

fn alipay_params(req: &HttpRequest, body: &[u8]) -> Option<BTreeMap<String, String>> {
    let is_json = header(req, "content-type").starts_with("application/json");
    if is_json {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
        return map
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect();
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .map(|pairs| pairs.into_iter().collect())
}

#[utoipa::path(post, path = "/api/payment/alipay/callback", tag = "payment",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Alipay notification"),
    responses((status = 200, description = "text `success` or `fail`", content_type = "text/plain", body = String)))]
pub async fn alipay_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let cfg = &state.settings.payments.alipay;
    if !alipay::is_configured(cfg) {
        return text("fail");
    }
    let Some(params) = alipay_params(&req, &body) else {
        return text("fail");
    };
    let notification = match alipay::verify_notification(cfg, &params) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(reason = ?e, "alipay callback refused");
            return text("fail");
        }
    };
    if !matches!(
        notification.trade_status.as_str(),
        "TRADE_SUCCESS" | "TRADE_FINISHED"
    ) {
        tracing::info!(trade_status = %notification.trade_status, "alipay notification acknowledged, nothing to apply");
        return text("success");
    }
    let result = service::apply_confirmation(
        &state,
        Channel::Alipay,
        &notification.out_trade_no,
        &notification.trade_no,
        notification.total_amount,
        Some(String::from_utf8_lossy(&body).into_owned()),
    )
    .await;
    match apply_reply(result).0 {
        StatusCode::OK => text("success"),
        _ => text("fail"),
    }
}

fn sandbox_secret(state: &AppState) -> AppResult<Vec<u8>> {
    Ok(sandbox::secret(&state.settings)?)
}

/// Applies a sandbox notification once its signature holds; `known` is the payment when the caller has
/// just read it.
async fn handle_sandbox(
    state: &AppState,
    notification: &SandboxNotification,
    known: Option<&super::entity::payment::Model>,
) -> AppResult<(StatusCode, &'static str)> {
    if !state.settings.payments.sandbox_enabled {
        return Err(AppError::not_found("接口不存在"));
    }
    let secret = sandbox_secret(state)?;
    if !notification.verify(&secret, chrono::Utc::now().timestamp()) {
        return Ok((StatusCode::UNAUTHORIZED, "验签失败"));
    }
    let raw = serde_json::to_string(notification).ok();
    let (transaction_id, amount) = (&notification.transaction_id, notification.amount);
    let result = match known {
        Some(p) => {
            service::apply_confirmation_to(state, Channel::Sandbox, p, transaction_id, amount, raw)
                .await
        }
        None => {
            let payment_no = &notification.payment_no;
            service::apply_confirmation(
                state,
                Channel::Sandbox,
                payment_no,
                transaction_id,
                amount,
                raw,
            )
            .await
        }
    };
    Ok(apply_reply(result))
}

#[utoipa::path(post, path = "/api/payment/sandbox/callback", tag = "payment",
    request_body(content = String, content_type = "application/json", description = "Sandbox notification"),
    responses((status = 200, description = "Applied (HMAC-signed sandbox notification)", body = crate::openapi::shapes::ProviderAck), (status = 400, description = "FAIL: malformed, bad signature or amount mismatch", body = crate::openapi::shapes::ProviderAck), (status = 404, description = "FAIL: no such payment", body = crate::openapi::shapes::ProviderAck)))]
pub async fn sandbox_callback(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> AppResult<HttpResponse> {
    let Ok(notification) = serde_json::from_slice::<SandboxNotification>(&body) else {
        return Ok(wechat_reply(StatusCode::BAD_REQUEST, "请求无效"));
    };
    let (status, message) = handle_sandbox(&state, &notification, None).await?;
    Ok(wechat_reply(status, message))
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

#[derive(Deserialize)]
pub struct PayTokenQuery {
    #[serde(default)]
    token: String,
}

const MSG_BAD_PAY_TOKEN: &str = "支付链接无效或已过期";

/// The sandbox payment `payment_no` when `token` is its checkout link's proof.
async fn sandbox_payment(
    state: &AppState,
    payment_no: &str,
    token: &str,
) -> AppResult<super::entity::payment::Model> {
    if !state.settings.payments.sandbox_enabled {
        return Err(AppError::not_found("接口不存在"));
    }
    let p = service::find_by_no(&state.db, payment_no).await?;
    if service::channel_of(&p) != Channel::Sandbox {
        return Err(AppError::not_found(MSG_PAYMENT_NOT_FOUND));
    }
    let secret = sandbox_secret(state)?;
    let now = chrono::Utc::now().timestamp();
    if !sandbox::PayToken::verify(&secret, &p.payment_no, p.amount, token, now) {
        return Err(AppError::forbidden(MSG_BAD_PAY_TOKEN));
    }
    Ok(p)
}

#[utoipa::path(get, path = "/api/payment/sandbox/checkout/{payment_no}", tag = "payment",
    params(("payment_no" = String, Path), ("token" = String, Query, description = "The link's signed, expiring proof")),
    responses((status = 200, description = "HTML checkout page with a pay button", content_type = "text/html", body = String),
        (status = 403, description = "Missing, forged or expired token", body = crate::openapi::ErrorEnvelope)))]
pub async fn sandbox_checkout(
    state: web::Data<AppState>,
    payment_no: web::Path<String>,
    query: web::Query<PayTokenQuery>,
) -> AppResult<HttpResponse> {
    let p = sandbox_payment(&state, &payment_no, &query.token).await?;
    let payable = p.status == super::entity::STATUS_PENDING;
    let page = sandbox::checkout_page(
        &p.payment_no,
        money::to_yuan(p.amount),
        super::entity::status_text(p.status),
        payable.then_some(query.token.as_str()),
    );
    Ok(html(StatusCode::OK, page))
}

#[utoipa::path(post, path = "/api/payment/sandbox/pay/{payment_no}", tag = "payment",
    params(("payment_no" = String, Path), ("token" = String, Query, description = "The checkout link's token")),
    responses((status = 200, description = "HTML result; the payment was confirmed through a signed callback", content_type = "text/html", body = String),
        (status = 400, description = "HTML result: refused", content((String = "text/html"), (crate::openapi::ErrorEnvelope = "application/json"))),
        (status = 403, description = "Missing, forged or expired token", body = crate::openapi::ErrorEnvelope),
        (status = 404, description = "No such payment", content((String = "text/html"), (crate::openapi::ErrorEnvelope = "application/json"))),
        (status = 409, description = "Already settled: the token is spent", content_type = "text/html", body = String)))]
pub async fn sandbox_pay(
    state: web::Data<AppState>,
    payment_no: web::Path<String>,
    query: web::Query<PayTokenQuery>,
) -> AppResult<HttpResponse> {
    let p = sandbox_payment(&state, &payment_no, &query.token).await?;
    if p.status != super::entity::STATUS_PENDING {
        return Ok(html(
            StatusCode::CONFLICT,
            sandbox::result_page(false, "该支付已处理，支付链接已失效"),
        ));
    }
    let secret = sandbox_secret(&state)?;
    let notification = SandboxNotification::signed(&secret, &p.payment_no, p.amount);
    let (status, message) = handle_sandbox(&state, &notification, Some(&p)).await?;
    Ok(html(
        status,
        sandbox::result_page(status.is_success(), message),
    ))
}

#[utoipa::path(post, path = "/api/user/recharge", tag = "user", security(("bearer" = [])),
    request_body = RechargeRequest,
    responses((status = 200, description = "A recharge payment (`pay_url`); `data.balance` is the current balance, which grows once paid", body = crate::openapi::Envelope<crate::modules::payments::dto::PaymentCreated>)))]
pub async fn recharge(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    ValidatedJson(body): ValidatedJson<RechargeRequest>,
) -> ApiResult {
    let ctx = pay_context(&req);
    ok(
        "充值订单已创建",
        service::create_recharge(&state, user.0.id, &body, &ctx).await?,
    )
}

#[derive(Deserialize)]
pub struct TransactionQuery {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[utoipa::path(get, path = "/api/user/transactions", tag = "user", security(("bearer" = [])),
    responses((status = 200, description = "`data.transactions`, `data.total`", body = crate::openapi::Envelope<super::wallet::TransactionList>)))]
pub async fn transactions(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    query: web::Query<TransactionQuery>,
) -> ApiResult {
    let page = Pagination::from_query(req.query_string(), 20)?;
    ok(
        "获取成功",
        wallet::list_transactions(&state.db, user.0.id, query.kind.as_deref(), &page).await?,
    )
}
