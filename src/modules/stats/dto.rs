use serde::{Deserialize, Serialize};

/// `GET /api/admin/statistics`: the keys the dashboard and the finance statistics page read (§6.12), plus
/// week/month/year windows. Amounts in yuan.
#[derive(Serialize, Default, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct DashboardStats {
    pub user_count: i64,
    pub online_user_count: i64,
    pub counselor_count: i64,
    pub order_count: i64,
    pub today_order_count: i64,
    pub week_order_count: i64,
    pub month_order_count: i64,
    pub year_order_count: i64,
    pub total_amount: f64,
    pub today_amount: f64,
    pub week_amount: f64,
    pub month_amount: f64,
    pub year_amount: f64,
    pub refunded_amount: f64,
    pub session_count: i64,
    pub active_session_count: i64,
    pub user_trend: f64,
    pub counselor_trend: f64,
    pub order_trend: f64,
    pub revenue_trend: f64,
    pub pending_orders: i64,
    pub paid_orders: i64,
    pub completed_orders: i64,
    pub cancelled_orders: i64,
    pub refunded_orders: i64,
}

/// One ranking row: camelCase `orderCount` as the dashboard reads it.
#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct RankingRow {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub avatar: String,
    pub price: f64,
    pub rating: f64,
    #[serde(rename = "orderCount")]
    pub order_count: i64,
    pub revenue: f64,
}

#[derive(Serialize, Debug, Clone, PartialEq, utoipa::ToSchema)]
pub struct Trend {
    pub dates: Vec<String>,
    pub values: Vec<i64>,
}

#[derive(Deserialize)]
pub struct RankingQuery {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub limit: Option<String>,
}

#[derive(Deserialize)]
pub struct TrendQuery {
    pub period: Option<String>,
}
