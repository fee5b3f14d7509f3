//! Order routes: the buyer's and counselor's on 8080, the admin's on 8081.

use actix_web::web;
use serde::Deserialize;

use super::dto::{
    CreateOrderRequest, CreatedOrder, OrderList, OrderStatistics, OrderView, UpdateStatusRequest,
    ValidateQuery, ValidateResult,
};
use super::rules::cancel_target;
use super::service::{self, MSG_FORBIDDEN_CHANGE, MSG_FORBIDDEN_VIEW, MSG_ORDER_NOT_FOUND};
use super::status::{Actor, OrderStatus};
use crate::error::AppError;
use crate::http::{Pagination, ValidatedJson, parse_id};
use crate::modules::auth::{CurrentAdmin, CurrentUser};
use crate::modules::counselors;
use crate::money;
use crate::response::{ApiResult, ok, ok_msg};
use crate::state::AppState;

pub fn user_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/order/create", web::post().to(create_order))
        .route("/api/order/list", web::get().to(list_my_orders))
        .route(
            "/api/counselor/orders",
            web::get().to(list_counselor_orders),
        )
        .route("/api/order/{id}", web::get().to(get_order))
        .route("/api/order/{id}/status", web::put().to(update_status))
        .route("/api/order/{id}/cancel", web::post().to(cancel_order))
        .route("/api/order/{id}/validate", web::get().to(validate_order))
        .route("/api/order/{id}/timeline", web::get().to(order_timeline));
}

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/orders", web::get().to(admin_list_orders))
        .route(
            "/api/admin/orders/statistics",
            web::get().to(admin_statistics),
        )
        .route(
            "/api/admin/orders/{id}/status",
            web::put().to(admin_update_status),
        );
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    keyword: Option<String>,
    user_id: Option<String>,
    counselor_id: Option<String>,
}

fn id_filter(raw: Option<&str>) -> Option<i64> {
    raw.and_then(|s| s.trim().parse::<i64>().ok())
}

#[utoipa::path(post, path = "/api/order/create", tag = "order", security(("bearer" = [])),
    request_body = CreateOrderRequest,
    responses((status = 200, description = "`data.order_id`, `order_no`, `amount`, `status`, `create_at`", body = crate::openapi::Envelope<CreatedOrder>)))]
pub async fn create_order(
    state: web::Data<AppState>,
    user: CurrentUser,
    ValidatedJson(body): ValidatedJson<CreateOrderRequest>,
) -> ApiResult {
    let order = service::create_order(&state, user.0.id, &body).await?;
    ok(
        "创建订单成功",
        CreatedOrder {
            order_id: order.id,
            id: order.id,
            order_no: order.order_no,
            amount: money::to_yuan(order.amount),
            status: order.status,
            create_at: order.created_at,
            created_at: order.created_at,
        },
    )
}

#[utoipa::path(get, path = "/api/order/{id}", tag = "order", security(("bearer" = [])),
    responses((status = 200, description = "The order with `user` and `counselor`", body = crate::openapi::Envelope<OrderView>), (status = 403, description = "无权访问此订单")))]
pub async fn get_order(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ORDER_NOT_FOUND)?;
    let (order, _) = service::order_for_party(&state.db, id, user.0.id, MSG_FORBIDDEN_VIEW).await?;
    ok("获取成功", service::view(&state.db, &order).await?)
}

#[utoipa::path(get, path = "/api/order/list", tag = "order", security(("bearer" = [])),
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query), ("status" = Option<i32>, Query)),
    responses((status = 200, description = "`data.orders`, `data.total`", body = crate::openapi::Envelope<OrderList>)))]
pub async fn list_my_orders(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: actix_web::HttpRequest,
    query: web::Query<ListQuery>,
) -> ApiResult {
    let page = Pagination::from_query(req.query_string(), 10)?;
    let filter = service::OrderFilter {
        user_id: Some(user.0.id),
        status: service::parse_status_filter(query.status.as_deref()),
        ..Default::default()
    };
    ok(
        "获取成功",
        service::list_orders(&state.db, &filter, &page).await?,
    )
}

#[utoipa::path(get, path = "/api/counselor/orders", tag = "order", security(("bearer" = [])),
    responses((status = 200, description = "`data.orders`, `data.total`", body = crate::openapi::Envelope<OrderList>), (status = 403, description = "不是咨询师")))]
pub async fn list_counselor_orders(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: actix_web::HttpRequest,
    query: web::Query<ListQuery>,
) -> ApiResult {
    let counselor = counselors::service::counselor_of_user(&state.db, user.0.id)
        .await?
        .ok_or_else(|| AppError::forbidden(service::MSG_NOT_COUNSELOR))?;
    let page = Pagination::from_query(req.query_string(), 10)?;
    let filter = service::OrderFilter {
        counselor_id: Some(counselor.id),
        status: service::parse_status_filter(query.status.as_deref()),
        ..Default::default()
    };
    ok(
        "获取成功",
        service::list_orders(&state.db, &filter, &page).await?,
    )
}

#[utoipa::path(put, path = "/api/order/{id}/status", tag = "order", security(("bearer" = [])),
    request_body = UpdateStatusRequest,
    responses((status = 200, description = "更新成功", body = crate::openapi::Done), (status = 400, description = "The transition table refuses")))]
pub async fn update_status(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<UpdateStatusRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ORDER_NOT_FOUND)?;
    let to = OrderStatus::try_from(body.status).map_err(AppError::invalid_input)?;
    let (order, actor) =
        service::order_for_party(&state.db, id, user.0.id, MSG_FORBIDDEN_CHANGE).await?;
    if body.amount.is_some() {
        return Err(AppError::invalid_input(
            "参数错误: amount: 仅管理员退款时可指定金额",
        ));
    }
    let note = if body.note.trim().is_empty() {
        format!(
            "{}将订单状态改为{}",
            actor_label(actor),
            super::dto::status_text(to.into())
        )
    } else {
        body.note.trim().to_owned()
    };
    service::change_status(&state, order.id, to, actor, Some(user.0.id), &note, None).await?;
    ok_msg("更新成功")
}

fn actor_label(actor: Actor) -> &'static str {
    match actor {
        Actor::User => "用户",
        Actor::Counselor => "咨询师",
        Actor::System => "系统",
        Actor::Admin => "管理员",
    }
}

#[utoipa::path(post, path = "/api/order/{id}/cancel", tag = "order", security(("bearer" = [])),
    responses((status = 200, description = "取消成功; a paid order is refunded and ends as 4", body = crate::openapi::Done)))]
pub async fn cancel_order(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ORDER_NOT_FOUND)?;
    let order = service::get_order(&state.db, id).await?;
    if order.user_id != user.0.id {
        return Err(AppError::forbidden(MSG_FORBIDDEN_CHANGE));
    }
    let to = cancel_target(service::status_of(&order)?)
        .ok_or_else(|| AppError::bad_request("当前状态不允许取消订单"))?;
    let note = if to == OrderStatus::Refunded {
        "用户取消已支付订单，全额退款"
    } else {
        "用户取消了订单"
    };
    service::change_status(
        &state,
        order.id,
        to,
        Actor::User,
        Some(user.0.id),
        note,
        None,
    )
    .await?;
    ok_msg("取消成功")
}

#[utoipa::path(get, path = "/api/order/{id}/validate", tag = "order", security(("bearer" = [])),
    params(("action" = String, Query, description = "pay|cancel|refund|review|complete")),
    responses((status = 200, description = "`data.valid`/`allowed`, `errors`, `reason`, `status`, `status_text`", body = crate::openapi::Envelope<ValidateResult>)))]
pub async fn validate_order(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    query: web::Query<ValidateQuery>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ORDER_NOT_FOUND)?;
    let (order, actor) =
        service::order_for_party(&state.db, id, user.0.id, MSG_FORBIDDEN_VIEW).await?;
    ok(
        "验证成功",
        service::validate_action(&state.db, &order, actor, &query.action).await?,
    )
}

#[utoipa::path(get, path = "/api/order/{id}/timeline", tag = "order", security(("bearer" = [])),
    responses((status = 200, description = "`data.timeline[]`: event, time, message, from_status, to_status, actor", body = crate::openapi::Envelope<crate::openapi::shapes::OrderTimeline>)))]
pub async fn order_timeline(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ORDER_NOT_FOUND)?;
    let (order, _) = service::order_for_party(&state.db, id, user.0.id, MSG_FORBIDDEN_VIEW).await?;
    ok(
        "获取成功",
        serde_json::json!({ "timeline": service::timeline(&state.db, order.id).await? }),
    )
}

#[utoipa::path(get, path = "/api/admin/orders", tag = "admin-order", security(("bearer" = [])),
    params(("page" = Option<u64>, Query), ("page_size" = Option<u64>, Query), ("status" = Option<i32>, Query), ("keyword" = Option<String>, Query)),
    responses((status = 200, description = "`data.orders` and `data.list`, `data.total`", body = crate::openapi::Envelope<OrderList>)))]
pub async fn admin_list_orders(
    state: web::Data<AppState>,
    _admin: CurrentAdmin,
    req: actix_web::HttpRequest,
    query: web::Query<ListQuery>,
) -> ApiResult {
    let page = Pagination::from_query(req.query_string(), 20)?;
    let filter = service::OrderFilter {
        user_id: id_filter(query.user_id.as_deref()),
        counselor_id: id_filter(query.counselor_id.as_deref()),
        status: service::parse_status_filter(query.status.as_deref()),
        keyword: query.keyword.clone(),
    };
    ok(
        "获取成功",
        service::list_orders(&state.db, &filter, &page).await?,
    )
}

#[utoipa::path(get, path = "/api/admin/orders/statistics", tag = "admin-order", security(("bearer" = [])),
    responses((status = 200, description = "Counts and amounts", body = crate::openapi::Envelope<OrderStatistics>)))]
pub async fn admin_statistics(state: web::Data<AppState>, _admin: CurrentAdmin) -> ApiResult {
    ok("获取成功", service::statistics(&state).await?)
}

#[utoipa::path(put, path = "/api/admin/orders/{id}/status", tag = "admin-order", security(("bearer" = [])),
    request_body = UpdateStatusRequest,
    responses((status = 200, description = "更新成功 (through the lifecycle table as admin; `status` 4 with an optional `amount` in yuan refunds up to what is still refundable)", body = crate::openapi::Done),
        (status = 409, description = "会话进行中，请先结束咨询, or the counselor's share cannot be taken back")))]
pub async fn admin_update_status(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    id: web::Path<String>,
    ValidatedJson(body): ValidatedJson<UpdateStatusRequest>,
) -> ApiResult {
    let id = parse_id(&id, MSG_ORDER_NOT_FOUND)?;
    let to = OrderStatus::try_from(body.status).map_err(AppError::invalid_input)?;
    let amount = match body.amount {
        None => None,
        Some(yuan) => Some(
            money::from_yuan(yuan)
                .filter(|fen| *fen > 0)
                .ok_or_else(|| AppError::invalid_input("参数错误: amount: 退款金额必须大于0"))?,
        ),
    };
    let admin_id = admin.0.id;
    let note = if body.note.trim().is_empty() {
        format!(
            "管理员#{admin_id}将订单状态改为{}",
            super::dto::status_text(to.into())
        )
    } else {
        format!("管理员#{admin_id}: {}", body.note.trim())
    };
    service::change_status(&state, id, to, Actor::Admin, Some(admin_id), &note, amount).await?;
    ok_msg("更新成功")
}
