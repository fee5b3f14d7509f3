//! The SQL behind the dashboard. Portable across SQLite, MySQL/MariaDB and PostgreSQL: time windows are
//! bound as UTC parameters computed here in the configured timezone, sums are cast to a 64-bit integer.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Statement, Value};

use super::dto::{DashboardStats, RankingRow, Trend};
use crate::db::statement;
use crate::error::{AppError, AppResult};
use crate::money::to_yuan;
use crate::state::AppState;

/// Orders that count as revenue: paid and completed.
pub(crate) const REVENUE_STATUSES: &str = "(1, 2)";

fn tz(state: &AppState) -> Tz {
    state
        .settings
        .stats
        .timezone
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai)
}

fn local_midnight(tz: &Tz, day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

fn add_months(day: NaiveDate, months: i32) -> NaiveDate {
    let total = day.year() * 12 + day.month0() as i32 + months;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).unwrap_or(day)
}

/// `SUM(expr)` as a 64-bit integer on every backend (MySQL and PostgreSQL return decimals otherwise).
pub(crate) fn sum(backend: DatabaseBackend, expr: &str) -> String {
    let ty = match backend {
        DatabaseBackend::MySql => "SIGNED",
        _ => "BIGINT",
    };
    format!("CAST(COALESCE(SUM({expr}), 0) AS {ty})")
}

/// `expr` as a 64-bit integer (a CASE of literals is a 32-bit INTEGER on PostgreSQL).
fn int64(backend: DatabaseBackend, expr: &str) -> String {
    let ty = match backend {
        DatabaseBackend::MySql => "SIGNED",
        _ => "BIGINT",
    };
    format!("CAST({expr} AS {ty})")
}

pub(crate) fn count_if(backend: DatabaseBackend, cond: &str) -> String {
    sum(backend, &format!("CASE WHEN {cond} THEN 1 ELSE 0 END"))
}

pub(crate) async fn one_row<C: ConnectionTrait>(db: &C, stmt: Statement) -> AppResult<QueryResult> {
    db.query_one_raw(stmt)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("aggregate returned no row")))
}

pub(crate) fn col(row: &QueryResult, name: &str) -> AppResult<i64> {
    Ok(row.try_get::<i64>("", name)?)
}

/// `(now − before) / before × 100`, two decimals; 0 when there is nothing to compare with.
pub fn trend(now: i64, before: i64) -> f64 {
    if before == 0 {
        return 0.0;
    }
    ((now - before) as f64 / before as f64 * 10000.0).round() / 100.0
}

struct Windows {
    today: DateTime<Utc>,
    tomorrow: DateTime<Utc>,
    yesterday: DateTime<Utc>,
    week: DateTime<Utc>,
    month: DateTime<Utc>,
    last_month: DateTime<Utc>,
    year: DateTime<Utc>,
}

fn windows(state: &AppState, now: DateTime<Utc>) -> Windows {
    let tz = tz(state);
    let today = now.with_timezone(&tz).date_naive();
    let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let month = first_of_month(today);
    Windows {
        today: local_midnight(&tz, today),
        tomorrow: local_midnight(&tz, today + Duration::days(1)),
        yesterday: local_midnight(&tz, today - Duration::days(1)),
        week: local_midnight(&tz, monday),
        month: local_midnight(&tz, month),
        last_month: local_midnight(&tz, add_months(month, -1)),
        year: local_midnight(
            &tz,
            NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
        ),
    }
}

pub async fn dashboard(state: &AppState) -> AppResult<DashboardStats> {
    let db = &state.db;
    let b = db.get_database_backend();
    let w = windows(state, Utc::now());
    let rev = "amount - refunded_amount";
    let paid = format!("status IN {REVENUE_STATUSES}");
    let sql = format!(
        "SELECT COUNT(*) AS total, \
         {today} AS today, {yesterday} AS yesterday, {week} AS week, {month} AS month, {year} AS year, \
         {total_rev} AS total_rev, {today_rev} AS today_rev, {yesterday_rev} AS yesterday_rev, \
         {week_rev} AS week_rev, {month_rev} AS month_rev, {year_rev} AS year_rev, {refunded} AS refunded, \
         {s0} AS s0, {s1} AS s1, {s2} AS s2, {s3} AS s3, {s4} AS s4 FROM orders",
        today = count_if(b, "created_at >= ? AND created_at < ?"),
        yesterday = count_if(b, "created_at >= ? AND created_at < ?"),
        week = count_if(b, "created_at >= ?"),
        month = count_if(b, "created_at >= ?"),
        year = count_if(b, "created_at >= ?"),
        total_rev = sum(b, &format!("CASE WHEN {paid} THEN {rev} ELSE 0 END")),
        today_rev = sum(
            b,
            &format!(
                "CASE WHEN {paid} AND created_at >= ? AND created_at < ? THEN {rev} ELSE 0 END"
            )
        ),
        yesterday_rev = sum(
            b,
            &format!(
                "CASE WHEN {paid} AND created_at >= ? AND created_at < ? THEN {rev} ELSE 0 END"
            )
        ),
        week_rev = sum(
            b,
            &format!("CASE WHEN {paid} AND created_at >= ? THEN {rev} ELSE 0 END")
        ),
        month_rev = sum(
            b,
            &format!("CASE WHEN {paid} AND created_at >= ? THEN {rev} ELSE 0 END")
        ),
        year_rev = sum(
            b,
            &format!("CASE WHEN {paid} AND created_at >= ? THEN {rev} ELSE 0 END")
        ),
        refunded = sum(b, "refunded_amount"),
        s0 = count_if(b, "status = 0"),
        s1 = count_if(b, "status = 1"),
        s2 = count_if(b, "status = 2"),
        s3 = count_if(b, "status = 3"),
        s4 = count_if(b, "status = 4"),
    );
    let v = |t: DateTime<Utc>| Value::from(t);
    let orders = one_row(
        db,
        statement(
            b,
            &sql,
            vec![
                v(w.today),
                v(w.tomorrow),
                v(w.yesterday),
                v(w.today),
                v(w.week),
                v(w.month),
                v(w.year),
                v(w.today),
                v(w.tomorrow),
                v(w.yesterday),
                v(w.today),
                v(w.week),
                v(w.month),
                v(w.year),
            ],
        ),
    )
    .await?;

    let growth = |table: &str, extra: &str| {
        format!(
            "SELECT COUNT(*) AS total, {live} AS live, {this_month} AS this_month, {last_month} AS last_month FROM {table}",
            live = count_if(b, extra),
            this_month = count_if(b, "created_at >= ?"),
            last_month = count_if(b, "created_at >= ? AND created_at < ?"),
        )
    };
    let users = one_row(
        db,
        statement(
            b,
            &format!("{} WHERE deleted_at IS NULL", growth("users", "status = 1")),
            vec![v(w.month), v(w.last_month), v(w.month)],
        ),
    )
    .await?;
    let counselors = one_row(
        db,
        statement(
            b,
            &growth("counselors", "status = 1"),
            vec![v(w.month), v(w.last_month), v(w.month)],
        ),
    )
    .await?;
    let sessions = one_row(
        db,
        statement(
            b,
            &format!(
                "SELECT COUNT(*) AS total, {} AS active FROM chat_sessions",
                count_if(b, "status = 1")
            ),
            vec![],
        ),
    )
    .await?;
    let online = state
        .infra
        .presence
        .online_users()
        .await
        .map(|u| u.len() as i64)
        .unwrap_or_else(|e| {
            tracing::warn!(error.cause_chain = ?e, "presence unavailable for statistics");
            0
        });

    Ok(DashboardStats {
        user_count: col(&users, "total")?,
        online_user_count: online,
        counselor_count: col(&counselors, "live")?,
        order_count: col(&orders, "total")?,
        today_order_count: col(&orders, "today")?,
        week_order_count: col(&orders, "week")?,
        month_order_count: col(&orders, "month")?,
        year_order_count: col(&orders, "year")?,
        total_amount: to_yuan(col(&orders, "total_rev")?),
        today_amount: to_yuan(col(&orders, "today_rev")?),
        week_amount: to_yuan(col(&orders, "week_rev")?),
        month_amount: to_yuan(col(&orders, "month_rev")?),
        year_amount: to_yuan(col(&orders, "year_rev")?),
        refunded_amount: to_yuan(col(&orders, "refunded")?),
        session_count: col(&sessions, "total")?,
        active_session_count: col(&sessions, "active")?,
        user_trend: trend(col(&users, "this_month")?, col(&users, "last_month")?),
        counselor_trend: trend(
            col(&counselors, "this_month")?,
            col(&counselors, "last_month")?,
        ),
        order_trend: trend(col(&orders, "today")?, col(&orders, "yesterday")?),
        revenue_trend: trend(col(&orders, "today_rev")?, col(&orders, "yesterday_rev")?),
        pending_orders: col(&orders, "s0")?,
        paid_orders: col(&orders, "s1")?,
        completed_orders: col(&orders, "s2")?,
        cancelled_orders: col(&orders, "s3")?,
        refunded_orders: col(&orders, "s4")?,
    })
}

/// Counselors ranked by revenue-counting orders (`orders`), revenue (`income`) or rating (`rating`).
pub async fn ranking(state: &AppState, kind: &str, limit: u64) -> AppResult<Vec<RankingRow>> {
    let order_by = match kind {
        "orders" => "order_count DESC, revenue DESC, c.id ASC",
        "income" => "revenue DESC, order_count DESC, c.id ASC",
        "rating" => "c.rating DESC, order_count DESC, c.id ASC",
        _ => return Err(AppError::bad_request("不支持的排行榜类型")),
    };
    let db = &state.db;
    let b = db.get_database_backend();
    let only_enabled = if kind == "rating" {
        "WHERE c.status = 1"
    } else {
        ""
    };
    // Orders are aggregated per counselor id first (an index-only pass over
    // `idx_orders_counselor_id_status_amount_refunded_amount`), then joined to the counselors: grouping
    // joined rows by six counselor columns, strings included, cost MariaDB half a second at 100k orders.
    let sql = format!(
        "SELECT c.id AS id, c.name AS name, c.title AS title, c.avatar AS avatar, c.price AS price, \
         c.rating AS rating, {count} AS order_count, {revenue} AS revenue \
         FROM counselors c LEFT JOIN (SELECT counselor_id, COUNT(*) AS n, {sum_rev} AS rev FROM orders \
         WHERE status IN {REVENUE_STATUSES} GROUP BY counselor_id) o ON o.counselor_id = c.id \
         {only_enabled} ORDER BY {order_by} LIMIT {limit}",
        sum_rev = sum(b, "amount - refunded_amount"),
        count = int64(b, "COALESCE(o.n, 0)"),
        revenue = int64(b, "COALESCE(o.rev, 0)"),
    );
    let rows = db.query_all_raw(statement(b, &sql, vec![])).await?;
    rows.iter()
        .map(|r| {
            Ok(RankingRow {
                id: r.try_get("", "id")?,
                name: r.try_get("", "name")?,
                title: r.try_get("", "title")?,
                avatar: r.try_get("", "avatar")?,
                price: to_yuan(r.try_get::<i64>("", "price")?),
                rating: f64::from(r.try_get::<i32>("", "rating")?) / 100.0,
                order_count: r.try_get("", "order_count")?,
                revenue: to_yuan(r.try_get::<i64>("", "revenue")?),
            })
        })
        .collect()
}

/// Orders created per bucket: `day` 24 hours, `week` 7 days, `month` 30 days, `year` 12 months; oldest
/// first, ending with the current bucket. One query, one CASE column per bucket.
pub async fn order_trend(state: &AppState, period: &str) -> AppResult<Trend> {
    let tz = tz(state);
    let now = Utc::now().with_timezone(&tz);
    let today = now.date_naive();
    let mut bounds: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    match period {
        "day" => {
            let start = now
                .date_naive()
                .and_hms_opt(now.time().hour(), 0, 0)
                .unwrap_or_default();
            for i in (0..24).rev() {
                let from = start - Duration::hours(i);
                let label = from.format("%H:00").to_string();
                let from_utc = tz
                    .from_local_datetime(&from)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc));
                let to_utc = tz
                    .from_local_datetime(&(from + Duration::hours(1)))
                    .earliest()
                    .map(|t| t.with_timezone(&Utc));
                if let (Some(f), Some(t)) = (from_utc, to_utc) {
                    bounds.push((label, f, t));
                }
            }
        }
        "week" | "month" => {
            let days = if period == "week" { 7 } else { 30 };
            for i in (0..days).rev() {
                let day = today - Duration::days(i);
                bounds.push((
                    day.format("%m-%d").to_string(),
                    local_midnight(&tz, day),
                    local_midnight(&tz, day + Duration::days(1)),
                ));
            }
        }
        "year" => {
            let month = first_of_month(today);
            for i in (0..12).rev() {
                let m = add_months(month, -i);
                bounds.push((
                    m.format("%Y-%m").to_string(),
                    local_midnight(&tz, m),
                    local_midnight(&tz, add_months(m, 1)),
                ));
            }
        }
        _ => return Err(AppError::bad_request("不支持的时间周期")),
    }
    if bounds.is_empty() {
        return Ok(Trend {
            dates: Vec::new(),
            values: Vec::new(),
        });
    }
    let db = &state.db;
    let b = db.get_database_backend();
    // One pass over the period's rows only (a range on the `created_at` index), each row put in its
    // bucket by one CASE; buckets without orders are absent from the result and count 0.
    let whens: String = (0..bounds.len())
        .map(|i| format!("WHEN created_at >= ? AND created_at < ? THEN {i} "))
        .collect();
    let bucket = int64(b, &format!("CASE {whens}ELSE NULL END"));
    let sql = format!(
        "SELECT {bucket} AS b, COUNT(*) AS n FROM orders \
         WHERE created_at >= ? AND created_at < ? GROUP BY 1"
    );
    let mut params: Vec<Value> = bounds
        .iter()
        .flat_map(|(_, f, t)| [Value::from(*f), Value::from(*t)])
        .collect();
    let first = bounds.iter().map(|(_, f, _)| *f).min().unwrap_or_default();
    let last = bounds.iter().map(|(_, _, t)| *t).max().unwrap_or_default();
    params.extend([Value::from(first), Value::from(last)]);
    let mut values = vec![0i64; bounds.len()];
    for row in db.query_all_raw(statement(b, &sql, params)).await? {
        let bucket: Option<i64> = row.try_get("", "b")?;
        if let Some(slot) = bucket.and_then(|i| values.get_mut(usize::try_from(i).ok()?)) {
            *slot = col(&row, "n")?;
        }
    }
    Ok(Trend {
        dates: bounds.into_iter().map(|(label, _, _)| label).collect(),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trends_are_percentages_with_two_decimals_and_zero_without_a_base() {
        assert_eq!(trend(15, 10), 50.0);
        assert_eq!(trend(5, 10), -50.0);
        assert_eq!(trend(1, 3), -66.67);
        assert_eq!(trend(7, 0), 0.0);
    }

    #[test]
    fn months_roll_over_years() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert_eq!(
            add_months(d, -1),
            NaiveDate::from_ymd_opt(2025, 12, 1).unwrap()
        );
        assert_eq!(
            add_months(d, 12),
            NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()
        );
    }
}
