//! Dashboard statistics against a fixture with known counts and amounts.

use chrono::{Duration, Utc};
use mychat::modules::counselors::entity::counselor;
use mychat::modules::orders::entity::order;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};
use serde_json::json;

use crate::helpers::{Api, TestApp, spawn_app};
use crate::user_auth::sql;

async fn counselor(app: &TestApp, name: &str, rating: i32, status: i32) -> i64 {
    let now = Utc::now();
    counselor::ActiveModel {
        user_id: Set(None),
        name: Set(name.to_owned()),
        title: Set("咨询师".into()),
        avatar: Set(String::new()),
        bio: Set(None),
        specialty: Set(String::new()),
        price: Set(150),
        years_exp: Set(3),
        rating: Set(rating),
        status: Set(status),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(app.db())
    .await
    .unwrap()
    .id
}

#[allow(clippy::too_many_arguments)]
async fn order(
    app: &TestApp,
    no: &str,
    user_id: i64,
    counselor_id: i64,
    status: i32,
    amount: i64,
    refunded: i64,
    created: chrono::DateTime<Utc>,
) {
    order::ActiveModel {
        order_no: Set(no.to_owned()),
        user_id: Set(user_id),
        counselor_id: Set(counselor_id),
        duration: Set(30),
        price_per_minute: Set(amount / 30),
        amount: Set(amount),
        refunded_amount: Set(refunded),
        status: Set(status),
        schedule_time: Set(created),
        notes: Set(None),
        pay_time: Set(None),
        created_at: Set(created),
        updated_at: Set(created),
        ..Default::default()
    }
    .insert(app.db())
    .await
    .unwrap();
}

/// Users 2; counselors A, B enabled and C disabled; orders of every status today, one yesterday
/// and one 400 days ago; two chat sessions, one live.
async fn fixture(app: &TestApp) -> (i64, i64, i64) {
    let (u1, _) = app.user_with_token("buyer1").await;
    app.user_with_token("buyer2").await;
    let a = counselor(app, "甲", 480, 1).await;
    let b = counselor(app, "乙", 450, 1).await;
    let c = counselor(app, "丙", 500, 0).await;
    let now = Utc::now();
    order(app, "O1", u1, a, 1, 10000, 0, now).await;
    order(app, "O2", u1, a, 2, 6000, 1000, now).await;
    order(app, "O3", u1, b, 3, 5000, 0, now).await;
    order(app, "O4", u1, b, 4, 3000, 3000, now).await;
    order(app, "O5", u1, b, 0, 2000, 0, now).await;
    order(app, "O6", u1, b, 2, 4000, 0, now - Duration::days(400)).await;
    order(app, "O7", u1, a, 1, 1000, 0, now - Duration::days(1)).await;
    let backend = app.db().get_database_backend();
    for (order_id, status) in [(1, 1), (2, 2)] {
        app.db()
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql(
                    backend,
                    "INSERT INTO chat_sessions (order_id, user_id, counselor_id, counselor_user_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ),
                vec![
                    order_id.into(),
                    u1.into(),
                    a.into(),
                    0i64.into(),
                    status.into(),
                    now.into(),
                    now.into(),
                ],
            ))
            .await
            .unwrap();
    }
    (a, b, c)
}

#[tokio::test]
async fn statistics_count_real_rows_with_the_right_status_filters() {
    let app = spawn_app().await;
    fixture(&app).await;
    let root = app.admin_token().await;
    for path in ["/api/admin/statistics", "/api/admin/dashboard/statistics"] {
        let reply = app.get(Api::Admin, path, Some(&root)).await;
        reply.assert_status(200);
        let d = &reply.body["data"];
        assert_eq!(d["user_count"], 2);
        assert_eq!(d["counselor_count"], 2);
        assert_eq!(d["order_count"], 7);
        assert_eq!(d["today_order_count"], 5);
        // Revenue: paid + completed, minus refunds: 100 + 50 + 40 + 10 yuan; today 100 + 50.
        assert_eq!(d["total_amount"].as_f64().unwrap(), 200.0);
        assert_eq!(d["today_amount"].as_f64().unwrap(), 150.0);
        assert_eq!(d["refunded_amount"].as_f64().unwrap(), 40.0);
        assert_eq!(d["order_trend"].as_f64().unwrap(), 400.0);
        assert_eq!(d["revenue_trend"].as_f64().unwrap(), 1400.0);
        assert_eq!(d["pending_orders"], 1);
        assert_eq!(d["paid_orders"], 2);
        assert_eq!(d["completed_orders"], 2);
        assert_eq!(d["cancelled_orders"], 1);
        assert_eq!(d["refunded_orders"], 1);
        assert_eq!(d["session_count"], 2);
        assert_eq!(d["active_session_count"], 1);
        assert_eq!(d["online_user_count"], 0);
        assert!(d["year_amount"].as_f64().unwrap() >= 150.0);
        for key in [
            "user_trend",
            "counselor_trend",
            "week_amount",
            "month_amount",
        ] {
            assert!(d[key].is_number(), "{key}");
        }
    }
}

#[tokio::test]
async fn the_ranking_counts_only_paid_and_completed_orders() {
    let app = spawn_app().await;
    let (a, b, c) = fixture(&app).await;
    let root = app.admin_token().await;
    let by_orders = app
        .get(
            Api::Admin,
            "/api/admin/stats/counselor/ranking",
            Some(&root),
        )
        .await;
    by_orders.assert_status(200);
    let rows = by_orders.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["id"], a);
    assert_eq!(rows[0]["orderCount"], 3);
    assert_eq!(rows[0]["revenue"].as_f64().unwrap(), 160.0);
    assert_eq!(rows[0]["rating"].as_f64().unwrap(), 4.8);
    assert_eq!(rows[0]["price"].as_f64().unwrap(), 1.5);
    assert_eq!(rows[1]["id"], b);
    assert_eq!(rows[1]["orderCount"], 1);
    assert_eq!(rows[1]["revenue"].as_f64().unwrap(), 40.0);
    assert_eq!(rows[2]["id"], c);
    assert_eq!(rows[2]["orderCount"], 0);

    let by_rating = app
        .get(
            Api::Admin,
            "/api/admin/stats/counselor/ranking?type=rating&limit=5",
            Some(&root),
        )
        .await;
    let ids: Vec<_> = by_rating.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![json!(a), json!(b)],
        "disabled counselors are not rated"
    );
    let limited = app
        .get(
            Api::Admin,
            "/api/admin/stats/counselor/ranking?type=income&limit=1",
            Some(&root),
        )
        .await;
    assert_eq!(limited.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(limited.body["data"][0]["id"], a);

    let bad = app
        .get(
            Api::Admin,
            "/api/admin/stats/counselor/ranking?type=likes",
            Some(&root),
        )
        .await;
    bad.assert_status(400);
    assert_eq!(bad.msg(), "不支持的排行榜类型");
    app.get(
        Api::Admin,
        "/api/admin/stats/counselor/ranking?limit=abc",
        Some(&root),
    )
    .await
    .assert_status(400);
}

#[tokio::test]
async fn the_order_trend_buckets_orders_by_period() {
    let app = spawn_app().await;
    fixture(&app).await;
    let root = app.admin_token().await;
    let week = app
        .get(
            Api::Admin,
            "/api/admin/stats/order/trend?period=week",
            Some(&root),
        )
        .await;
    week.assert_status(200);
    let values: Vec<i64> = week.body["data"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(values.len(), 7);
    assert_eq!(week.body["data"]["dates"].as_array().unwrap().len(), 7);
    assert_eq!(values[6], 5);
    assert_eq!(values[5], 1);
    assert_eq!(values.iter().sum::<i64>(), 6);
    let default = app
        .get(Api::Admin, "/api/admin/stats/order/trend", Some(&root))
        .await;
    assert_eq!(default.body["data"], week.body["data"]);

    let month = app
        .get(
            Api::Admin,
            "/api/admin/stats/order/trend?period=month",
            Some(&root),
        )
        .await;
    assert_eq!(month.body["data"]["values"].as_array().unwrap().len(), 30);
    let year = app
        .get(
            Api::Admin,
            "/api/admin/stats/order/trend?period=year",
            Some(&root),
        )
        .await;
    let year_values = year.body["data"]["values"].as_array().unwrap();
    assert_eq!(year_values.len(), 12);
    assert_eq!(
        year_values.iter().map(|v| v.as_i64().unwrap()).sum::<i64>(),
        6
    );
    let label = year.body["data"]["dates"][11].as_str().unwrap();
    assert_eq!(label.len(), 7, "YYYY-MM: {label}");
    let day = app
        .get(
            Api::Admin,
            "/api/admin/stats/order/trend?period=day",
            Some(&root),
        )
        .await;
    assert_eq!(day.body["data"]["dates"].as_array().unwrap().len(), 24);
    let last_two = day.body["data"]["values"][22].as_i64().unwrap()
        + day.body["data"]["values"][23].as_i64().unwrap();
    assert!(
        last_two >= 5,
        "this hour's orders (or the last hour's, across a boundary)"
    );

    let bad = app
        .get(
            Api::Admin,
            "/api/admin/stats/order/trend?period=decade",
            Some(&root),
        )
        .await;
    bad.assert_status(400);
    assert_eq!(bad.msg(), "不支持的时间周期");
}

#[tokio::test]
async fn statistics_on_an_empty_database_are_zero_not_errors() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let reply = app
        .get(Api::Admin, "/api/admin/statistics", Some(&root))
        .await;
    reply.assert_status(200);
    assert_eq!(reply.body["data"]["total_amount"].as_f64().unwrap(), 0.0);
    let ranking = app
        .get(
            Api::Admin,
            "/api/admin/stats/counselor/ranking",
            Some(&root),
        )
        .await;
    assert_eq!(ranking.body["data"], json!([]));
}
