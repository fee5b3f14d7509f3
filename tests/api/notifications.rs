//! Notifications: created by bus subscribers from events (idempotently), read by their receiver only.

use mychat::bus::DomainEvent;
use serde_json::json;

use crate::helpers::{Api, TestApp, spawn_app};

async fn inbox(app: &TestApp, token: &str, query: &str) -> serde_json::Value {
    let reply = app
        .get(
            Api::User,
            &format!("/api/notification/list{query}"),
            Some(token),
        )
        .await;
    reply.assert_status(200);
    reply.body["data"].clone()
}

async fn wait_for_total(app: &TestApp, token: &str, total: u64) -> bool {
    app.eventually(|| async { inbox(app, token, "").await["total"] == total })
        .await
}

async fn publish(app: &TestApp, event: DomainEvent) {
    app.running.state.bus.publish(event).await.unwrap();
}

fn paid(order_id: i64, user_id: i64, counselor_id: i64) -> DomainEvent {
    DomainEvent::OrderStatusChanged {
        order_id,
        user_id,
        counselor_id,
        from: 0,
        to: 1,
        actor: "system".into(),
    }
}

/// A buyer and a counselor who has a user account: (buyer id, buyer token, counselor id, the counselor
/// user's token).
async fn buyer_and_counselor_with_account(app: &TestApp) -> (i64, String, i64, String) {
    let admin = app.admin_token().await;
    let (buyer_id, buyer) = app.user_with_token("buyer").await;
    let (counselor_user_id, counselor_token) = app.user_with_token("counselor1").await;
    let counselor_id = app
        .post(
            Api::Admin,
            "/api/admin/counselors",
            json!({ "name": "有账号", "price": 1, "user_id": counselor_user_id }),
            Some(&admin),
        )
        .await
        .body["data"]["id"]
        .as_i64()
        .unwrap();
    (buyer_id, buyer, counselor_id, counselor_token)
}

#[tokio::test]
async fn a_paid_order_notifies_the_buyer_and_the_counselors_user_once() {
    let app = spawn_app().await;
    let (buyer_id, buyer, counselor_id, counselor_token) =
        buyer_and_counselor_with_account(&app).await;

    publish(&app, paid(77, buyer_id, counselor_id)).await;
    // Delivered twice (a redelivery after a crash looks like this): still one each.
    publish(&app, paid(77, buyer_id, counselor_id)).await;

    assert!(wait_for_total(&app, &buyer, 1).await);
    assert!(wait_for_total(&app, &counselor_token, 1).await);
    app.running.state.bus.drain().await;
    let data = inbox(&app, &buyer, "").await;
    assert_eq!(data["total"], 1);
    assert_eq!(data["unread_count"], 1);
    let n = &data["notifications"][0];
    assert_eq!(n["type"], "order");
    assert_eq!(n["title"], "订单已支付");
    assert_eq!(n["user_id"], buyer_id);
    assert_eq!(n["is_read"], false);
    assert_eq!(n["user"]["username"], "buyer");
    let extra: serde_json::Value = serde_json::from_str(n["extra_data"].as_str().unwrap()).unwrap();
    assert_eq!(extra["order_id"], 77);
    let counselor_inbox = inbox(&app, &counselor_token, "").await;
    assert_eq!(counselor_inbox["notifications"][0]["title"], "您有新的订单");
}

/// Facts that arrive in one outbox batch are written together: each once, however often it repeats in
/// the batch or was written before, and each with its push event.
#[tokio::test]
async fn a_batch_of_facts_creates_each_notification_once() {
    use mychat::bus::{EventBus, outbox};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let app = spawn_app().await;
    let (buyer_id, buyer, counselor_id, counselor_token) =
        buyer_and_counselor_with_account(&app).await;
    publish(&app, paid(100, buyer_id, counselor_id)).await;
    assert!(wait_for_total(&app, &buyer, 1).await);

    // One statement, so one batch: order 100 again, 101 twice, 102, 103.
    let events: Vec<DomainEvent> = [100, 101, 101, 102, 103]
        .into_iter()
        .map(|order_id| paid(order_id, buyer_id, counselor_id))
        .collect();
    EventBus::record_all(app.db(), &events).await.unwrap();
    app.running.state.bus.notify();

    assert!(wait_for_total(&app, &buyer, 4).await);
    assert!(wait_for_total(&app, &counselor_token, 4).await);
    app.running.state.bus.drain().await;
    assert_eq!(inbox(&app, &buyer, "").await["total"], 4);
    let mut orders: Vec<i64> = inbox(&app, &counselor_token, "").await["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let extra: serde_json::Value =
                serde_json::from_str(n["extra_data"].as_str().unwrap()).unwrap();
            extra["order_id"].as_i64().unwrap()
        })
        .collect();
    orders.sort_unstable();
    assert_eq!(orders, [100, 101, 102, 103]);
    let pushes = outbox::Entity::find()
        .filter(outbox::Column::EventType.eq("notification_created"))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(pushes, 8, "one push event per notification created");
}

#[tokio::test]
async fn each_announced_fact_reaches_its_reader() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (buyer_id, buyer) = app.user_with_token("buyer2").await;
    let (cu_id, cu_token) = app.user_with_token("counselor2").await;
    let counselor_id = app
        .post(
            Api::Admin,
            "/api/admin/counselors",
            json!({ "name": "收款", "price": 1, "user_id": cu_id }),
            Some(&admin),
        )
        .await
        .body["data"]["id"]
        .as_i64()
        .unwrap();
    let unlinked = app.create_counselor(&admin, "无账号", 1.0).await;

    for to in [2, 3, 4] {
        publish(
            &app,
            DomainEvent::OrderStatusChanged {
                order_id: 10 + to as i64,
                user_id: buyer_id,
                counselor_id: unlinked,
                from: 1,
                to,
                actor: "system".into(),
            },
        )
        .await;
    }
    publish(&app, paid(20, buyer_id, unlinked)).await;
    publish(
        &app,
        DomainEvent::PaymentRefunded {
            payment_id: 5,
            user_id: buyer_id,
            order_id: Some(14),
            amount: 1500,
        },
    )
    .await;
    publish(
        &app,
        DomainEvent::WalletChanged {
            user_id: buyer_id,
            delta: 10000,
            balance: 10000,
            kind: "recharge".into(),
        },
    )
    .await;
    publish(
        &app,
        DomainEvent::WalletChanged {
            user_id: buyer_id,
            delta: -100,
            balance: 9900,
            kind: "consume".into(),
        },
    )
    .await;
    publish(
        &app,
        DomainEvent::SessionBilled {
            session_id: 9,
            order_id: 30,
            user_id: buyer_id,
            counselor_id,
            total_amount: 2000,
            counselor_fee: 1400,
            refund_amount: 1000,
        },
    )
    .await;
    publish(
        &app,
        DomainEvent::WithdrawalReviewed {
            withdraw_id: 3,
            counselor_id,
            amount: 5000,
            approved: false,
        },
    )
    .await;
    publish(
        &app,
        DomainEvent::WithdrawalTransferred {
            withdraw_id: 4,
            counselor_id,
            amount: 5000,
        },
    )
    .await;

    // Buyer: completed, cancelled, refunded, paid, refund, recharge, billed = 7 (no "consume").
    assert!(
        wait_for_total(&app, &buyer, 7).await,
        "{}",
        inbox(&app, &buyer, "").await
    );
    // Counselor's user: income, withdrawal reviewed, transferred.
    assert!(
        wait_for_total(&app, &cu_token, 3).await,
        "{}",
        inbox(&app, &cu_token, "").await
    );
    let payments = inbox(&app, &buyer, "?type=payment").await;
    assert_eq!(payments["total"], 2);
    assert_eq!(payments["unread_count"], 7);
    let billed = inbox(&app, &buyer, "?type=chat").await;
    assert!(
        billed["notifications"][0]["content"]
            .as_str()
            .unwrap()
            .contains("20.00")
    );
}

#[tokio::test]
async fn reading_and_deleting_work_on_own_notifications_only() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("reader").await;
    let (other_id, other) = app.user_with_token("snoop").await;
    for order in 1..=3 {
        publish(&app, paid(order, user_id, 999)).await;
    }
    publish(&app, paid(50, other_id, 999)).await;
    assert!(wait_for_total(&app, &token, 3).await);
    assert!(wait_for_total(&app, &other, 1).await);
    let mine = inbox(&app, &token, "").await;
    let ids: Vec<i64> = mine["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    let theirs = inbox(&app, &other, "").await["notifications"][0]["id"]
        .as_i64()
        .unwrap();

    // Someone else's notification is as unknown as a missing one.
    for path in [
        format!("/api/notification/{theirs}/read"),
        "/api/notification/999999/read".to_owned(),
        "/api/notification/abc/read".to_owned(),
    ] {
        let reply = app.post(Api::User, &path, json!({}), Some(&token)).await;
        reply.assert_status(404);
        assert_eq!(reply.msg(), "通知不存在");
    }
    app.delete(
        Api::User,
        &format!("/api/notification/{theirs}"),
        Some(&token),
    )
    .await
    .assert_status(404);
    assert_eq!(inbox(&app, &other, "").await["unread_count"], 1);

    app.post(
        Api::User,
        &format!("/api/notification/{}/read", ids[0]),
        json!({}),
        Some(&token),
    )
    .await
    .assert_status(200);
    let data = inbox(&app, &token, "").await;
    assert_eq!(data["unread_count"], 2);
    let read = inbox(&app, &token, "?is_read=true").await;
    assert_eq!(read["total"], 1);
    assert!(read["notifications"][0]["read_time"].is_string());
    assert_eq!(inbox(&app, &token, "?is_read=false").await["total"], 2);

    app.post(
        Api::User,
        "/api/notification/read-all",
        json!({}),
        Some(&token),
    )
    .await
    .assert_status(200);
    assert_eq!(inbox(&app, &token, "").await["unread_count"], 0);
    assert_eq!(inbox(&app, &other, "").await["unread_count"], 1);

    app.delete(
        Api::User,
        &format!("/api/notification/{}", ids[1]),
        Some(&token),
    )
    .await
    .assert_status(200);
    assert_eq!(inbox(&app, &token, "").await["total"], 2);
    app.delete(
        Api::User,
        &format!("/api/notification/{}", ids[1]),
        Some(&token),
    )
    .await
    .assert_status(404);

    let paged = inbox(&app, &token, "?page=2&page_size=1").await;
    assert_eq!(paged["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(paged["total"], 2);
    assert_eq!(
        inbox(&app, &token, "?type=review").await["notifications"],
        json!([])
    );
}

#[tokio::test]
async fn notification_routes_need_a_login() {
    let app = spawn_app().await;
    app.get(Api::User, "/api/notification/list", None)
        .await
        .assert_status(401);
    app.post(Api::User, "/api/notification/read-all", json!({}), None)
        .await
        .assert_status(401);
    app.post(Api::User, "/api/notification/1/read", json!({}), None)
        .await
        .assert_status(401);
    app.delete(Api::User, "/api/notification/1", None)
        .await
        .assert_status(401);
}

#[tokio::test]
async fn creating_a_notification_announces_it_for_the_websocket_push() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("pushme").await;
    publish(&app, paid(5, user_id, 1)).await;
    assert!(wait_for_total(&app, &token, 1).await);
    use mychat::bus::outbox;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let announced = outbox::Entity::find()
        .filter(outbox::Column::EventType.eq("notification_created"))
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(announced.len(), 1);
    assert!(
        announced[0]
            .payload
            .contains(&format!("\"user_id\":{user_id}"))
    );
}
