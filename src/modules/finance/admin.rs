//! The admin side of finance (8081): withdrawal review and transfer, counselor accounts, and revenue
//! reports. The reports are read-only aggregates over `orders` as well as this module's tables (the
//! documented reporting exception to "a module owns its tables"); all of them aggregate in SQL.

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use chrono::{Datelike, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::dto::{AccountView, ApproveRequest, WithdrawView};
use super::entity::{account, withdrawal};
use super::service::{self as finance, withdraw_status};
use crate::db::{DateBucket, date_bucket_expr, sum_as_i64};
use crate::error::AppError;
use crate::http::{Pagination, parse_id};
use crate::modules::auth::CurrentAdmin;
use crate::modules::chat::routes::counselor_brief;
use crate::modules::counselors::service as counselors;
use crate::modules::orders::entity::order;
use crate::money;
use crate::response::{ApiResult, ok};
use crate::state::AppState;

pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/admin/withdraws", web::get().to(list_withdraws))
        .route(
            "/api/admin/withdraws/pending",
            web::get().to(pending_withdraws),
        )
        .route("/api/admin/withdraw/{id}/approve", web::post().to(approve))
        .route(
            "/api/admin/withdraw/{id}/transfer",
            web::post().to(transfer),
        )
        .route("/api/admin/finance/stats", web::get().to(stats))
        .route("/api/admin/finance/revenue", web::get().to(revenue))
        .route("/api/admin/finance/reports", web::get().to(reports))
        .route("/api/admin/finance/accounts", web::get().to(accounts))
        .route(
            "/api/admin/finance/accounts/{counselor_id}",
            web::get().to(account_detail),
        );
}

#[derive(Deserialize)]
struct WithdrawFilter {
    status: Option<String>,
    counselor_id: Option<String>,
}

fn optional_int(raw: Option<&str>, name: &str) -> Result<Option<i64>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid_input(format!("参数错误: {name}"))),
    }
}

async fn counselor_map(state: &AppState, ids: &[i64]) -> Result<HashMap<i64, Value>, AppError> {
    Ok(counselors::find_many(&state.db, ids)
        .await?
        .iter()
        .map(|c| (c.id, counselor_brief(c)))
        .collect())
}

async fn withdraw_page(state: &AppState, condition: Condition, page: Pagination) -> ApiResult {
    let query = withdrawal::Entity::find().filter(condition);
    let total = query.clone().count(&state.db).await?;
    let rows = query
        .order_by_desc(withdrawal::Column::CreatedAt)
        .order_by_desc(withdrawal::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(&state.db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|w| w.counselor_id).collect();
    let names = counselor_map(state, &ids).await?;
    let list: Vec<WithdrawView> = rows
        .iter()
        .map(|w| {
            WithdrawView::new(
                w,
                names.get(&w.counselor_id).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    ok(
        "获取成功",
        json!({ "withdraws": &list, "list": &list, "total": total }),
    )
}

async fn list_withdraws(
    state: web::Data<AppState>,
    page: Pagination,
    filter: web::Query<WithdrawFilter>,
) -> ApiResult {
    let mut condition = Condition::all();
    if let Some(status) = optional_int(filter.status.as_deref(), "status")? {
        let status =
            i32::try_from(status).map_err(|_| AppError::invalid_input("参数错误: status"))?;
        condition = condition.add(withdrawal::Column::Status.eq(status));
    }
    if let Some(counselor_id) = optional_int(filter.counselor_id.as_deref(), "counselor_id")? {
        condition = condition.add(withdrawal::Column::CounselorId.eq(counselor_id));
    }
    withdraw_page(&state, condition, page).await
}

async fn pending_withdraws(state: web::Data<AppState>, page: Pagination) -> ApiResult {
    withdraw_page(
        &state,
        Condition::all().add(withdrawal::Column::Status.eq(withdraw_status::PENDING)),
        page,
    )
    .await
}

async fn approve(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    path: web::Path<String>,
    body: web::Json<ApproveRequest>,
) -> ApiResult {
    let id = parse_id(&path, finance::MSG_WITHDRAW_NOT_FOUND)?;
    let record = finance::review_withdrawal(
        &state.db,
        &state.bus,
        id,
        admin.0.id,
        body.approved,
        &body.rejected_reason,
    )
    .await?;
    let names = counselor_map(&state, &[record.counselor_id]).await?;
    ok(
        "审核成功",
        WithdrawView::new(
            &record,
            names
                .get(&record.counselor_id)
                .cloned()
                .unwrap_or(Value::Null),
        ),
    )
}

async fn transfer(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    path: web::Path<String>,
) -> ApiResult {
    let id = parse_id(&path, finance::MSG_WITHDRAW_NOT_FOUND)?;
    let record = finance::transfer_withdrawal(&state.db, &state.bus, id, admin.0.id).await?;
    let names = counselor_map(&state, &[record.counselor_id]).await?;
    ok(
        "确认打款成功",
        WithdrawView::new(
            &record,
            names
                .get(&record.counselor_id)
                .cloned()
                .unwrap_or(Value::Null),
        ),
    )
}

#[derive(Deserialize)]
struct DateRange {
    start_date: Option<String>,
    end_date: Option<String>,
    group_by: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

fn parse_date(raw: Option<&str>, name: &str) -> Result<Option<NaiveDate>, AppError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        // A date, optionally followed by a time (`2026-01-02T00:00:00`, `2026-01-02 00:00`), which is
        // ignored. Parsed, never sliced: the input may hold any UTF-8.
        Some(v) => NaiveDate::parse_and_remainder(v, "%Y-%m-%d")
            .ok()
            .filter(|(_, rest)| rest.is_empty() || rest.starts_with(['T', ' ']))
            .map(|(date, _)| Some(date))
            .ok_or_else(|| {
                AppError::invalid_input(format!("参数错误: {name}: 日期格式应为YYYY-MM-DD"))
            }),
    }
}

/// The configured zone's offset from UTC in minutes (Asia/Shanghai: 480), for SQL date keys.
fn zone(state: &AppState) -> (chrono_tz::Tz, i32) {
    use chrono::Offset;
    let tz: chrono_tz::Tz = state
        .settings
        .stats
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    let offset = Utc::now()
        .with_timezone(&tz)
        .offset()
        .fix()
        .local_minus_utc()
        / 60;
    (tz, offset)
}

/// `[start 00:00, end+1 00:00)` of local dates, in UTC.
fn utc_bounds(
    tz: chrono_tz::Tz,
    start: NaiveDate,
    end: NaiveDate,
) -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let at = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(tz).earliest())
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(Utc::now)
    };
    (at(start), at(end.succ_opt().unwrap_or(end)))
}

/// Orders that brought revenue: paid or completed (cancelled and refunded ones never count); what was
/// refunded of them is subtracted.
fn revenue_orders() -> Condition {
    Condition::all().add(order::Column::Status.is_in([1, 2]))
}

/// Revenue per local date bucket in `[from, to)`: `(bucket, amount net of refunds in fen, order count)`,
/// in bucket order.
async fn revenue_by_bucket<C: ConnectionTrait>(
    db: &C,
    bucket: DateBucket,
    offset: i32,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
) -> Result<Vec<(String, i64, i64)>, AppError> {
    let backend = db.get_database_backend();
    let key = date_bucket_expr(backend, "created_at", bucket, offset);
    Ok(order::Entity::find()
        .select_only()
        .column_as(key.clone(), "bucket")
        .column_as(sum_as_i64(backend, "amount - refunded_amount"), "amount")
        .column_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "count")
        .filter(revenue_orders())
        .filter(order::Column::CreatedAt.gte(from))
        .filter(order::Column::CreatedAt.lt(to))
        .group_by(key)
        .order_by_asc(sea_orm::sea_query::Expr::cust("bucket"))
        .into_tuple()
        .all(db)
        .await?)
}

async fn scalar<C: ConnectionTrait>(
    db: &C,
    select: sea_orm::Select<impl EntityTrait>,
) -> Result<i64, AppError> {
    let v: Option<i64> = select.into_tuple().one(db).await?;
    Ok(v.unwrap_or(0))
}

async fn stats(
    state: web::Data<AppState>,
    range: web::Query<DateRange>,
) -> Result<HttpResponse, AppError> {
    let db = &state.db;
    let backend = db.get_database_backend();
    let (tz, _) = zone(&state);
    let mut revenue = order::Entity::find().filter(revenue_orders());
    if let Some(start) = parse_date(range.start_date.as_deref(), "start_date")? {
        let end = parse_date(range.end_date.as_deref(), "end_date")?
            .unwrap_or_else(|| Utc::now().with_timezone(&tz).date_naive());
        let (from, to) = utc_bounds(tz, start, end);
        revenue = revenue
            .filter(order::Column::CreatedAt.gte(from))
            .filter(order::Column::CreatedAt.lt(to));
    }
    let total_revenue = scalar(
        db,
        revenue
            .select_only()
            .column_as(sum_as_i64(backend, "amount - refunded_amount"), "v"),
    )
    .await?;
    let commission = crate::modules::system::service::platform_commission(&state).await;
    let total_commission = (total_revenue as f64 * commission).round() as i64;
    let sum_withdraw = |status: i32| {
        withdrawal::Entity::find()
            .select_only()
            .column_as(sum_as_i64(backend, "amount"), "v")
            .filter(withdrawal::Column::Status.eq(status))
    };
    let total_withdrawn = scalar(db, sum_withdraw(withdraw_status::TRANSFERRED)).await?;
    let pending_amount = scalar(db, sum_withdraw(withdraw_status::PENDING)).await?;
    let pending = withdrawal::Entity::find()
        .filter(withdrawal::Column::Status.eq(withdraw_status::PENDING))
        .count(db)
        .await?;
    let approved = withdrawal::Entity::find()
        .filter(withdrawal::Column::Status.eq(withdraw_status::TRANSFERRED))
        .count(db)
        .await?;
    let balances = scalar(
        db,
        account::Entity::find()
            .select_only()
            .column_as(sum_as_i64(backend, "balance"), "v"),
    )
    .await?;
    let today = crate::modules::chat::admin::today_start_utc(&state);
    let today_query = order::Entity::find()
        .filter(revenue_orders())
        .filter(order::Column::CreatedAt.gte(today));
    let today_revenue = scalar(
        db,
        today_query
            .clone()
            .select_only()
            .column_as(sum_as_i64(backend, "amount - refunded_amount"), "v"),
    )
    .await?;
    let today_orders = today_query.count(db).await?;
    let data = json!({
        "total_revenue": money::to_yuan(total_revenue),
        "total_withdrawn": money::to_yuan(total_withdrawn),
        "total_commission": money::to_yuan(total_commission),
        "total_counselor_earning": money::to_yuan(total_revenue - total_commission),
        "total_counselor_balance": money::to_yuan(balances),
        "pending_withdraws": pending,
        "pending_withdraw_amount": money::to_yuan(pending_amount),
        "approved_withdraws": approved,
        "today_revenue": money::to_yuan(today_revenue),
        "today_orders": today_orders,
    });
    // The reports view reads these keys at the top level of the envelope; serve both.
    let mut body = json!({ "code": 200, "msg": "获取成功", "data": &data });
    if let (Some(obj), Some(fields)) = (body.as_object_mut(), data.as_object()) {
        for (k, v) in fields {
            obj.insert(k.clone(), v.clone());
        }
    }
    Ok(HttpResponse::Ok().json(body))
}

async fn revenue(
    state: web::Data<AppState>,
    range: web::Query<DateRange>,
) -> Result<HttpResponse, AppError> {
    let db = &state.db;
    let (tz, offset) = zone(&state);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let group_by = range.group_by.as_deref().unwrap_or("day").to_owned();
    let start = match parse_date(range.start_date.as_deref(), "start_date")? {
        Some(d) => d,
        None => match group_by.as_str() {
            "week" => {
                today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()))
            }
            "month" => today.with_day(1).unwrap_or(today),
            "year" => NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
            _ => today - chrono::Duration::days(29),
        },
    };
    let end = parse_date(range.end_date.as_deref(), "end_date")?.unwrap_or(today);
    if end < start || (end - start).num_days() > 3660 {
        return Err(AppError::invalid_input("参数错误: 日期范围无效"));
    }
    let bucket = match group_by.as_str() {
        "month" => DateBucket::Month,
        "year" => DateBucket::Year,
        _ => DateBucket::Day,
    };
    let (from, to) = utc_bounds(tz, start, end);
    let rows = revenue_by_bucket(db, bucket, offset, from, to).await?;
    let revenue_data: Vec<Value> = rows
        .into_iter()
        .map(|(date, amount, count)| json!({ "date": date, "amount": money::to_yuan(amount), "count": count }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "code": 200,
        "msg": "获取成功",
        "data": { "revenue_data": &revenue_data, "group_by": &group_by },
        "revenue_data": &revenue_data,
        "group_by": &group_by,
    })))
}

async fn reports(state: web::Data<AppState>, range: web::Query<DateRange>) -> ApiResult {
    let db = &state.db;
    let backend = db.get_database_backend();
    let (tz, offset) = zone(&state);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let start = parse_date(range.start_date.as_deref(), "start_date")?
        .unwrap_or(today - chrono::Duration::days(29));
    let end = parse_date(range.end_date.as_deref(), "end_date")?.unwrap_or(today);
    let (from, to) = utc_bounds(tz, start, end);
    let kind = range.kind.clone().unwrap_or_else(|| "income".into());
    let commission = crate::modules::system::service::platform_commission(&state).await;
    let records: Value = match kind.as_str() {
        "income" => {
            let rows = revenue_by_bucket(db, DateBucket::Day, offset, from, to).await?;
            rows.into_iter()
                .map(|(date, amount, count)| {
                    let fee = (amount as f64 * commission).round() as i64;
                    json!({
                        "date": date,
                        "amount": money::to_yuan(amount),
                        "order_count": count,
                        "commission": money::to_yuan(fee),
                        "counselor_earnings": money::to_yuan(amount - fee),
                    })
                })
                .collect()
        }
        "withdraw" => {
            let key = date_bucket_expr(backend, "created_at", DateBucket::Day, offset);
            let rows: Vec<(String, i64, i64, i64, i64)> = withdrawal::Entity::find()
                .select_only()
                .column_as(key.clone(), "bucket")
                .column_as(sum_as_i64(backend, "amount"), "amount")
                .column_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "count")
                .column_as(
                    sum_as_i64(backend, "CASE WHEN status IN (1, 3) THEN 1 ELSE 0 END"),
                    "approved",
                )
                .column_as(
                    sum_as_i64(backend, "CASE WHEN status = 2 THEN 1 ELSE 0 END"),
                    "rejected",
                )
                .filter(withdrawal::Column::CreatedAt.gte(from))
                .filter(withdrawal::Column::CreatedAt.lt(to))
                .group_by(key)
                .order_by_asc(sea_orm::sea_query::Expr::cust("bucket"))
                .into_tuple()
                .all(db)
                .await?;
            rows.into_iter()
                .map(|(date, amount, count, approved, rejected)| {
                    json!({
                        "date": date,
                        "amount": money::to_yuan(amount),
                        "count": count,
                        "approved_count": approved,
                        "rejected_count": rejected,
                    })
                })
                .collect()
        }
        "account" => {
            let rows = account::Entity::find()
                .order_by_desc(account::Column::TotalIncome)
                .limit(500)
                .all(db)
                .await?;
            let ids: Vec<i64> = rows.iter().map(|a| a.counselor_id).collect();
            let names = counselor_map(&state, &ids).await?;
            rows.iter()
                .map(|a| {
                    json!({
                        "counselor_id": a.counselor_id,
                        "counselor_name": names.get(&a.counselor_id).and_then(|c| c["name"].as_str()).unwrap_or_default(),
                        "total_income": money::to_yuan(a.total_income),
                        "balance": money::to_yuan(a.balance),
                        "withdrawn": money::to_yuan(a.withdrawn),
                        "frozen_amount": money::to_yuan(a.frozen_amount),
                    })
                })
                .collect()
        }
        _ => {
            return Err(AppError::invalid_input(
                "参数错误: type 应为 income、withdraw 或 account",
            ));
        }
    };
    ok(
        "获取成功",
        json!({
            "report_type": kind,
            "start_date": start.format("%Y-%m-%d").to_string(),
            "end_date": end.format("%Y-%m-%d").to_string(),
            "records": records,
        }),
    )
}

#[derive(Deserialize)]
struct AccountFilter {
    counselor_id: Option<String>,
}

async fn accounts(
    state: web::Data<AppState>,
    page: Pagination,
    filter: web::Query<AccountFilter>,
) -> ApiResult {
    let mut query = account::Entity::find();
    if let Some(id) = optional_int(filter.counselor_id.as_deref(), "counselor_id")? {
        query = query.filter(account::Column::CounselorId.eq(id));
    }
    let total = query.clone().count(&state.db).await?;
    let rows = query
        .order_by_desc(account::Column::CreatedAt)
        .order_by_desc(account::Column::Id)
        .offset(page.offset())
        .limit(page.page_size)
        .all(&state.db)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|a| a.counselor_id).collect();
    let names = counselor_map(&state, &ids).await?;
    let list: Vec<AccountView> = rows
        .iter()
        .map(|a| {
            AccountView::new(
                a,
                names.get(&a.counselor_id).cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    ok(
        "获取成功",
        json!({ "accounts": &list, "list": &list, "total": total }),
    )
}

/// `:id` is a counselor id, as in the original.
async fn account_detail(state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let counselor_id = parse_id(&path, "账户不存在")?;
    let account = account::Entity::find()
        .filter(account::Column::CounselorId.eq(counselor_id))
        .one(&state.db)
        .await?
        .ok_or_else(|| AppError::not_found("账户不存在"))?;
    let backend = state.db.get_database_backend();
    let done = Condition::all()
        .add(withdrawal::Column::CounselorId.eq(counselor_id))
        .add(
            withdrawal::Column::Status
                .is_in([withdraw_status::APPROVED, withdraw_status::TRANSFERRED]),
        );
    let withdraw_count = withdrawal::Entity::find()
        .filter(done.clone())
        .count(&state.db)
        .await?;
    let withdraw_total = scalar(
        &state.db,
        withdrawal::Entity::find()
            .select_only()
            .column_as(sum_as_i64(backend, "amount"), "v")
            .filter(done),
    )
    .await?;
    let pending = withdrawal::Entity::find()
        .filter(withdrawal::Column::CounselorId.eq(counselor_id))
        .filter(withdrawal::Column::Status.eq(withdraw_status::PENDING))
        .order_by_desc(withdrawal::Column::Id)
        .all(&state.db)
        .await?;
    let names = counselor_map(&state, &[counselor_id]).await?;
    let brief = names.get(&counselor_id).cloned().unwrap_or(Value::Null);
    let pending: Vec<WithdrawView> = pending
        .iter()
        .map(|w| WithdrawView::new(w, Value::Null))
        .collect();
    ok(
        "获取成功",
        json!({
            "account": AccountView::new(&account, brief),
            "withdraw_count": withdraw_count,
            "withdraw_total": money::to_yuan(withdraw_total),
            "pending_withdraws": pending,
        }),
    )
}
