//! Dashboard routes (`dashboard:view`).

use actix_web::{HttpRequest, web};

use super::dto::{RankingQuery, TrendQuery};
use super::service;
use crate::error::AppError;
use crate::response::{ApiResult, ok};
use crate::state::AppState;

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/statistics", web::get().to(statistics))
        .route("/api/admin/dashboard/statistics", web::get().to(statistics))
        .route("/api/admin/stats/counselor/ranking", web::get().to(ranking))
        .route("/api/admin/stats/order/trend", web::get().to(order_trend));
}

fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, AppError> {
    web::Query::<T>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| AppError::invalid_input(format!("参数错误: {e}")))
}

#[utoipa::path(get, path = "/api/admin/statistics", tag = "admin-stats", security(("bearer" = [])),
    responses((status = 200, description = "Counts, revenue (paid + completed − refunds, yuan), trends", body = crate::openapi::Envelope<crate::modules::stats::dto::DashboardStats>)))]
pub async fn statistics(state: web::Data<AppState>) -> ApiResult {
    ok("获取成功", service::dashboard(&state).await?)
}

#[utoipa::path(get, path = "/api/admin/stats/counselor/ranking", tag = "admin-stats", security(("bearer" = [])),
    responses((status = 200, description = "`data: [{id, name, title, avatar, price, rating, orderCount, revenue}]`", body = crate::openapi::Envelope<Vec<crate::modules::stats::dto::RankingRow>>), (status = 400, description = "不支持的排行榜类型")))]
pub async fn ranking(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    let q: RankingQuery = query(&req)?;
    let limit = match q.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => 10,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| AppError::invalid_input("参数错误: limit: 1-100"))?,
    };
    let kind = q.kind.unwrap_or_else(|| "orders".into());
    ok("获取成功", service::ranking(&state, &kind, limit).await?)
}

#[utoipa::path(get, path = "/api/admin/stats/order/trend", tag = "admin-stats", security(("bearer" = [])),
    responses((status = 200, description = "`data: {dates, values}`; period day|week|month|year", body = crate::openapi::Envelope<crate::modules::stats::dto::Trend>), (status = 400, description = "不支持的时间周期")))]
pub async fn order_trend(state: web::Data<AppState>, req: HttpRequest) -> ApiResult {
    let q: TrendQuery = query(&req)?;
    let period = q.period.unwrap_or_else(|| "week".into());
    ok("获取成功", service::order_trend(&state, &period).await?)
}
