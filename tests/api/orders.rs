//! Orders on 8080 and 8081: creation, visibility, lists, the transition table over HTTP, cancel with
//! refund, validate, timeline, admin list/statistics/override, and the auto-cancel scheduler.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Api, TestApp, spawn_app, spawn_app_with};

async fn buyer_and_counselor(app: &TestApp) -> (String, i64, String) {
    let (_, buyer) = app.user_with_token("buyer").await;
    let (counselor_uid, counselor_token) = app.user_with_token("counselor").await;
    let counselor_id = app.insert_counselor(250, Some(counselor_uid), 1).await;
    (buyer, counselor_id, counselor_token)
}

#[tokio::test]
async fn creating_an_order_prices_it_from_the_counselor_and_answers_the_client_keys() {
    let app = spawn_app().await;
    let (buyer, counselor_id, _) = buyer_and_counselor(&app).await;

    let first = app.create_order(&buyer, counselor_id, 60).await;
    let second = app.create_order(&buyer, counselor_id, 60).await;

    first.assert_status(200);
    second.assert_status(200);
    let data = &first.body["data"];
    assert_eq!(data["amount"], 150.0, "60 min × 2.50 yuan");
    assert_eq!(data["status"], 0);
    assert!(data["create_at"].is_string());
    let no = data["order_no"].as_str().unwrap();
    assert!(no.starts_with("ORD") && no.len() <= 32);
    assert_ne!(no, second.body["data"]["order_no"].as_str().unwrap());
    let id = data["order_id"].as_i64().unwrap();
    let timeline = app
        .get(
            Api::User,
            &format!("/api/order/{id}/timeline"),
            Some(&buyer),
        )
        .await;
    timeline.assert_status(200);
    assert_eq!(timeline.body["data"]["timeline"][0]["event"], "创建订单");
    assert_eq!(app.event_count("order_created").await, 2);
}

#[tokio::test]
async fn schedule_time_accepts_every_documented_format_and_rejects_garbage() {
    let app = spawn_app().await;
    let (buyer, counselor_id, _) = buyer_and_counselor(&app).await;
    let body = |t: &str| json!({"counselor_id": counselor_id, "duration": 30, "schedule_time": t});

    for ok in [
        "2030-02-05T14:30:00+08:00",
        "2030-02-05T14:30:00Z",
        "2030-02-05T14:30:00",
        "2030-02-05 14:30:00",
        "2030-02-05",
    ] {
        app.post(Api::User, "/api/order/create", body(ok), Some(&buyer))
            .await
            .assert_status(200);
    }
    for bad in ["", "tomorrow", "2030-13-45", "05/02/2030"] {
        let reply = app
            .post(Api::User, "/api/order/create", body(bad), Some(&buyer))
            .await;
        reply.assert_status(400);
        assert!(
            reply.msg().starts_with("参数错误"),
            "{bad}: {}",
            reply.msg()
        );
    }
}

#[tokio::test]
async fn order_creation_refuses_bad_counselors_durations_and_bodies() {
    let app = spawn_app().await;
    let (buyer, counselor_id, _) = buyer_and_counselor(&app).await;
    let disabled = app.insert_counselor(100, None, 0).await;

    let missing = app.create_order(&buyer, 999_999, 60).await;
    missing.assert_status(404);
    assert_eq!(missing.msg(), "咨询师不存在");
    let off = app.create_order(&buyer, disabled, 60).await;
    off.assert_status(400);
    assert_eq!(off.msg(), "咨询师暂不可用");
    app.create_order(&buyer, counselor_id, 14)
        .await
        .assert_status(400);
    app.create_order(&buyer, counselor_id, 181)
        .await
        .assert_status(400);
    for body in [
        json!({}),
        json!({"counselor_id": "x", "duration": 60, "schedule_time": "2030-01-01"}),
        json!({"counselor_id": counselor_id, "duration": 60}),
        json!({"counselor_id": counselor_id, "duration": 60.5, "schedule_time": "2030-01-01"}),
    ] {
        let reply = app
            .post(Api::User, "/api/order/create", body, Some(&buyer))
            .await;
        reply.assert_status(400);
    }
    app.post_raw(
        Api::User,
        "/api/order/create",
        "application/json",
        b"{bad".to_vec(),
        Some(&buyer),
    )
    .await
    .assert_status(400);
    app.create_order("not-a-token", counselor_id, 60)
        .await
        .assert_status(401);
}

#[tokio::test]
async fn an_order_is_visible_to_its_buyer_and_its_counselor_only() {
    let app = spawn_app().await;
    let (buyer, counselor_id, counselor_token) = buyer_and_counselor(&app).await;
    let (_, stranger) = app.user_with_token("stranger").await;
    let id = app.new_order(&buyer, counselor_id).await;
    let path = format!("/api/order/{id}");

    let as_buyer = app.get(Api::User, &path, Some(&buyer)).await;
    let as_counselor = app.get(Api::User, &path, Some(&counselor_token)).await;
    let as_stranger = app.get(Api::User, &path, Some(&stranger)).await;

    as_buyer.assert_status(200);
    assert_eq!(as_buyer.body["data"]["counselor"]["id"], counselor_id);
    assert_eq!(as_buyer.body["data"]["user"]["username"], "buyer");
    as_counselor.assert_status(200);
    as_stranger.assert_status(403);
    assert_eq!(as_stranger.msg(), "无权访问此订单");
    for p in ["/api/order/abc", "/api/order/0", "/api/order/999999"] {
        let r = app.get(Api::User, p, Some(&buyer)).await;
        r.assert_status(404);
        assert_eq!(r.msg(), "订单不存在");
    }
    for p in [
        "/api/order/abc/timeline",
        "/api/order/-1/validate?action=pay",
    ] {
        app.get(Api::User, p, Some(&buyer)).await.assert_status(404);
    }
    app.post(
        Api::User,
        "/api/order/1%20OR%201=1/cancel",
        json!({}),
        Some(&buyer),
    )
    .await
    .assert_status(404);
    for p in ["timeline", "validate?action=pay"] {
        app.get(Api::User, &format!("/api/order/{id}/{p}"), Some(&stranger))
            .await
            .assert_status(403);
    }
}

#[tokio::test]
async fn the_order_list_shows_the_callers_orders_with_counselor_and_has_review() {
    let app = spawn_app().await;
    let (buyer, counselor_id, _) = buyer_and_counselor(&app).await;
    let (_, other) = app.user_with_token("other").await;
    let first = app.new_order(&buyer, counselor_id).await;
    let second = app.new_order(&buyer, counselor_id).await;
    app.new_order(&other, counselor_id).await;
    app.post(
        Api::User,
        &format!("/api/order/{second}/cancel"),
        json!({}),
        Some(&buyer),
    )
    .await
    .assert_status(200);
    app.exec_sql(
        "INSERT INTO counselor_reviews (order_id, user_id, counselor_id, rating, comment, is_anonymous, is_visible, created_at, updated_at) VALUES (?, 1, ?, 5, 'good', ?, ?, ?, ?)",
        vec![first.into(), counselor_id.into(), false.into(), true.into(), chrono::Utc::now().into(), chrono::Utc::now().into()],
    )
    .await;

    let all = app
        .get(
            Api::User,
            "/api/order/list?page=1&page_size=10",
            Some(&buyer),
        )
        .await;
    let pending = app
        .get(Api::User, "/api/order/list?status=0", Some(&buyer))
        .await;
    let paged = app
        .get(
            Api::User,
            "/api/order/list?page=2&page_size=1",
            Some(&buyer),
        )
        .await;

    all.assert_status(200);
    assert_eq!(all.body["data"]["total"], 2);
    let orders = all.body["data"]["orders"].as_array().unwrap();
    assert_eq!(orders[0]["id"], second, "newest first");
    let reviewed = orders.iter().find(|o| o["id"] == first).unwrap();
    assert_eq!(reviewed["has_review"], true);
    assert_eq!(orders[0]["has_review"], false);
    for key in [
        "order_no",
        "created_at",
        "status",
        "duration",
        "schedule_time",
        "notes",
        "amount",
        "counselor_id",
    ] {
        assert!(!reviewed[key].is_null(), "missing {key}");
    }
    for key in ["avatar", "name", "title", "specialty"] {
        assert!(
            reviewed["counselor"][key].is_string(),
            "missing counselor.{key}"
        );
    }
    assert_eq!(pending.body["data"]["total"], 1);
    assert_eq!(pending.body["data"]["orders"][0]["id"], first);
    assert_eq!(paged.body["data"]["orders"].as_array().unwrap().len(), 1);
    assert_eq!(paged.body["data"]["total"], 2);
    let empty = app
        .get(Api::User, "/api/order/list?status=4", Some(&buyer))
        .await;
    assert_eq!(empty.body["data"]["orders"], json!([]));
}

#[tokio::test]
async fn counselor_orders_need_a_counselor_account_and_show_only_theirs() {
    let app = spawn_app().await;
    let (buyer, counselor_id, counselor_token) = buyer_and_counselor(&app).await;
    let elsewhere = app.insert_counselor(100, None, 1).await;
    app.new_order(&buyer, counselor_id).await;
    app.new_order(&buyer, elsewhere).await;

    let mine = app
        .get(Api::User, "/api/counselor/orders", Some(&counselor_token))
        .await;
    let not_counselor = app
        .get(Api::User, "/api/counselor/orders", Some(&buyer))
        .await;

    mine.assert_status(200);
    assert_eq!(mine.body["data"]["total"], 1);
    assert_eq!(mine.body["data"]["orders"][0]["counselor_id"], counselor_id);
    assert_eq!(mine.body["data"]["orders"][0]["user"]["username"], "buyer");
    not_counselor.assert_status(403);
    assert_eq!(not_counselor.msg(), "不是咨询师");
}

#[tokio::test]
async fn status_changes_over_http_follow_the_transition_table() {
    let app = spawn_app().await;
    let (buyer, counselor_id, counselor_token) = buyer_and_counselor(&app).await;
    let (_, stranger) = app.user_with_token("stranger").await;
    let id = app.new_order(&buyer, counselor_id).await;
    let path = format!("/api/order/{id}/status");
    let put = |token: &str, status: i64| {
        let token = token.to_owned();
        let path = path.clone();
        let app = &app;
        async move {
            app.put(Api::User, &path, json!({ "status": status }), Some(&token))
                .await
        }
    };

    // Refused by the table: nobody but the system marks paid or completed; 0 is a value, not "missing".
    for (token, status) in [
        (&buyer, 1),
        (&buyer, 2),
        (&buyer, 0),
        (&counselor_token, 1),
        (&counselor_token, 3),
        (&buyer, 4),
    ] {
        let r = put(token, status).await;
        r.assert_status(400);
        assert_eq!(r.msg(), "订单状态不允许此操作", "{status}");
    }
    put(&stranger, 3).await.assert_status(403);
    put(&buyer, 5).await.assert_status(400);
    put(&buyer, -1).await.assert_status(400);
    app.put(Api::User, &path, json!({ "status": "3" }), Some(&buyer))
        .await
        .assert_status(400);
    app.put(
        Api::User,
        "/api/order/xyz/status",
        json!({ "status": 3 }),
        Some(&buyer),
    )
    .await
    .assert_status(404);
    assert_eq!(app.order_status(id).await, 0);

    // Allowed: the buyer cancels the unpaid order; then it is terminal.
    put(&buyer, 3).await.assert_status(200);
    assert_eq!(app.order_status(id).await, 3);
    put(&buyer, 4).await.assert_status(400);

    // A paid order: the counselor may refund it (money back to the wallet), the buyer may not complete it.
    app.fund_wallet(&buyer, 500.0).await;
    let paid = app.new_order(&buyer, counselor_id).await;
    let pay = app
        .post(
            Api::User,
            "/api/payment/create",
            json!({"order_id": paid, "payment_method": "balance", "trade_type": "BALANCE"}),
            Some(&buyer),
        )
        .await;
    pay.assert_status(200);
    assert_eq!(app.balance(&buyer).await, 350.0);
    app.put(
        Api::User,
        &format!("/api/order/{paid}/status"),
        json!({"status": 2}),
        Some(&buyer),
    )
    .await
    .assert_status(400);
    app.put(
        Api::User,
        &format!("/api/order/{paid}/status"),
        json!({"status": 4}),
        Some(&counselor_token),
    )
    .await
    .assert_status(200);
    assert_eq!(app.order_status(paid).await, 4);
    assert_eq!(app.balance(&buyer).await, 500.0);
}

#[tokio::test]
async fn cancelling_an_unpaid_order_cancels_it_and_a_paid_one_refunds_it() {
    let app = spawn_app().await;
    let (buyer, counselor_id, counselor_token) = buyer_and_counselor(&app).await;
    let unpaid = app.new_order(&buyer, counselor_id).await;
    app.fund_wallet(&buyer, 200.0).await;
    let paid = app.new_order(&buyer, counselor_id).await;
    app.post(
        Api::User,
        "/api/payment/create",
        json!({"order_id": paid, "payment_method": "balance"}),
        Some(&buyer),
    )
    .await
    .assert_status(200);
    assert_eq!(app.balance(&buyer).await, 50.0);

    let c1 = app
        .post(
            Api::User,
            &format!("/api/order/{unpaid}/cancel"),
            json!({}),
            Some(&buyer),
        )
        .await;
    let by_counselor = app
        .post(
            Api::User,
            &format!("/api/order/{paid}/cancel"),
            json!({}),
            Some(&counselor_token),
        )
        .await;
    let c2 = app
        .post(
            Api::User,
            &format!("/api/order/{paid}/cancel"),
            json!({}),
            Some(&buyer),
        )
        .await;
    let again = app
        .post(
            Api::User,
            &format!("/api/order/{paid}/cancel"),
            json!({}),
            Some(&buyer),
        )
        .await;

    c1.assert_status(200);
    assert_eq!(app.order_status(unpaid).await, 3);
    by_counselor.assert_status(403);
    assert_eq!(by_counselor.msg(), "无权操作此订单");
    c2.assert_status(200);
    assert_eq!(app.order_status(paid).await, 4);
    assert_eq!(
        app.balance(&buyer).await,
        200.0,
        "the prepaid amount is back"
    );
    again.assert_status(400);
    assert_eq!(again.msg(), "当前状态不允许取消订单");
    let timeline = app
        .get(
            Api::User,
            &format!("/api/order/{paid}/timeline"),
            Some(&buyer),
        )
        .await;
    let events: Vec<&str> = timeline.body["data"]["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["创建订单", "支付订单", "退款成功"]);
    let detail = app
        .get(Api::User, &format!("/api/order/{paid}"), Some(&buyer))
        .await;
    assert_eq!(detail.body["data"]["refunded_amount"], 150.0);
    app.post(
        Api::User,
        "/api/order/999999/cancel",
        json!({}),
        Some(&buyer),
    )
    .await
    .assert_status(404);
}

#[tokio::test]
async fn validate_answers_from_the_transition_table() {
    let app = spawn_app().await;
    let (buyer, counselor_id, counselor_token) = buyer_and_counselor(&app).await;
    let id = app.new_order(&buyer, counselor_id).await;
    let check = |token: &str, action: &str| {
        let path = format!("/api/order/{id}/validate?action={action}");
        let token = token.to_owned();
        let app = &app;
        async move { app.get(Api::User, &path, Some(&token)).await }
    };

    let pay = check(&buyer, "pay").await;
    pay.assert_status(200);
    assert_eq!(pay.body["data"]["valid"], true);
    assert_eq!(pay.body["data"]["allowed"], true);
    assert_eq!(pay.body["data"]["errors"], json!([]));
    assert_eq!(pay.body["data"]["status"], 0);
    assert_eq!(check(&buyer, "cancel").await.body["data"]["valid"], true);
    assert_eq!(
        check(&counselor_token, "cancel").await.body["data"]["valid"],
        false
    );
    let refund = check(&buyer, "refund").await;
    assert_eq!(refund.body["data"]["valid"], false);
    assert_eq!(refund.body["data"]["reason"], "订单状态不允许退款");
    assert_eq!(
        check(&buyer, "review").await.body["data"]["errors"][0],
        "订单未完成，无法评价"
    );
    assert_eq!(check(&buyer, "complete").await.body["data"]["valid"], false);
    let unknown = check(&buyer, "delete").await;
    unknown.assert_status(400);
    assert_eq!(unknown.msg(), "不支持的操作类型");
    check(&buyer, "").await.assert_status(400);

    app.pay_order_sandbox(&buyer, id).await;
    assert_eq!(check(&buyer, "refund").await.body["data"]["valid"], true);
    assert_eq!(
        check(&counselor_token, "refund").await.body["data"]["valid"],
        true
    );
    let pay_again = check(&buyer, "pay").await;
    assert_eq!(pay_again.body["data"]["valid"], false);
    assert_eq!(pay_again.body["data"]["status"], 1);
    assert_eq!(pay_again.body["data"]["status_text"], "已支付");
}

#[tokio::test]
async fn admins_list_count_and_override_orders_through_the_table() {
    let app = spawn_app().await;
    let (buyer, counselor_id, _) = buyer_and_counselor(&app).await;
    let admin = app.admin_token().await;
    let a = app.new_order(&buyer, counselor_id).await;
    let b = app.new_order(&buyer, counselor_id).await;

    let list = app
        .get(
            Api::Admin,
            "/api/admin/orders?page=1&page_size=20",
            Some(&admin),
        )
        .await;
    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 2);
    assert_eq!(list.body["data"]["list"].as_array().unwrap().len(), 2);
    assert_eq!(list.body["data"]["orders"][0]["user"]["username"], "buyer");
    assert!(list.body["data"]["orders"][0]["amount"].is_number());
    let no = list.body["data"]["orders"][0]["order_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_kw = app
        .get(
            Api::Admin,
            &format!("/api/admin/orders?keyword={}", &no[..20]),
            Some(&admin),
        )
        .await;
    assert!(by_kw.body["data"]["total"].as_u64().unwrap() >= 1);
    let none = app
        .get(
            Api::Admin,
            "/api/admin/orders?keyword=%25_%25&status=0",
            Some(&admin),
        )
        .await;
    assert_eq!(none.body["data"]["total"], 0, "LIKE wildcards are literal");

    let set = |id: i64, status: i64| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.put(
                Api::Admin,
                &format!("/api/admin/orders/{id}/status"),
                json!({"status": status}),
                Some(&admin),
            )
            .await
        }
    };
    set(a, 1).await.assert_status(200);
    set(a, 2).await.assert_status(200);
    set(a, 1).await.assert_status(400);
    set(a, 4).await.assert_status(200);
    set(b, 3).await.assert_status(200);
    set(b, 0).await.assert_status(400);
    set(999_999, 1).await.assert_status(404);
    app.put(
        Api::Admin,
        "/api/admin/orders/abc/status",
        json!({"status": 1}),
        Some(&admin),
    )
    .await
    .assert_status(404);
    app.put(
        Api::Admin,
        &format!("/api/admin/orders/{a}/status"),
        json!({}),
        Some(&admin),
    )
    .await
    .assert_status(400);
    assert_eq!(app.order_status(a).await, 4);
    let timeline = app
        .get(Api::User, &format!("/api/order/{a}/timeline"), Some(&buyer))
        .await;
    let last = timeline.body["data"]["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["actor"], "admin");
    assert!(last["actor_id"].as_i64().unwrap() > 0);

    let stats = app
        .get(Api::Admin, "/api/admin/orders/statistics", Some(&admin))
        .await;
    stats.assert_status(200);
    assert_eq!(stats.body["data"]["total_orders"], 2);
    assert_eq!(stats.body["data"]["cancelled_orders"], 1);
    assert_eq!(stats.body["data"]["refunded_orders"], 1);
    assert!(stats.body["data"]["today_amount"].is_number());
    let user_token_on_admin = app.get(Api::Admin, "/api/admin/orders", Some(&buyer)).await;
    user_token_on_admin.assert_status(401);
    app.send(app.request(
        Method::GET,
        Api::Admin,
        "/api/admin/orders/statistics",
        None,
    ))
    .await
    .assert_status(401);
}

#[tokio::test]
async fn unpaid_orders_are_cancelled_by_the_scheduler_after_the_timeout() {
    let app = spawn_app_with(&[("order.payment_timeout_minutes", json!(1))]).await;
    let (buyer, counselor_id, _) = buyer_and_counselor(&app).await;
    let old = app.new_order(&buyer, counselor_id).await;
    let fresh = app.new_order(&buyer, counselor_id).await;
    app.fund_wallet(&buyer, 500.0).await;
    let old_paid = app.new_order(&buyer, counselor_id).await;
    app.post(
        Api::User,
        "/api/payment/create",
        json!({"order_id": old_paid, "payment_method": "balance"}),
        Some(&buyer),
    )
    .await
    .assert_status(200);
    let past = chrono::Utc::now() - chrono::Duration::minutes(5);
    for id in [old, old_paid] {
        app.exec_sql(
            "UPDATE orders SET created_at = ? WHERE id = ?",
            vec![past.into(), id.into()],
        )
        .await;
    }

    let state = &app.running.state;
    let first = mychat::modules::orders::service::cancel_expired_orders(state)
        .await
        .unwrap();
    let second = mychat::modules::orders::service::cancel_expired_orders(state)
        .await
        .unwrap();

    assert_eq!(first, 1);
    assert_eq!(second, 0, "a second run (another instance) changes nothing");
    assert_eq!(app.order_status(old).await, 3);
    assert_eq!(app.order_status(fresh).await, 0);
    assert_eq!(app.order_status(old_paid).await, 1);
    let timeline = app
        .get(
            Api::User,
            &format!("/api/order/{old}/timeline"),
            Some(&buyer),
        )
        .await;
    assert_eq!(timeline.body["data"]["timeline"][1]["actor"], "system");
}
