//! The wallet: recharges credit only once paid, balance payments debit conditionally, the ledger always
//! sums to the balance, and `credit_refund` is idempotent per dedupe key.

use mychat::modules::payments::wallet;
use sea_orm::TransactionTrait;
use serde_json::json;

use crate::helpers::{Api, TestApp, spawn_app};

async fn ledger_sum(app: &TestApp, user_id: i64) -> i64 {
    use mychat::modules::payments::entity::user_transaction;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    user_transaction::Entity::find()
        .filter(user_transaction::Column::UserId.eq(user_id))
        .all(app.db())
        .await
        .unwrap()
        .iter()
        .map(|t| t.amount)
        .sum()
}

#[tokio::test]
async fn a_recharge_credits_the_wallet_only_once_its_payment_is_confirmed() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("alice").await;

    let created = app
        .post(
            Api::User,
            "/api/user/recharge",
            json!({"amount": 100.5}),
            Some(&token),
        )
        .await;

    created.assert_status(200);
    let data = &created.body["data"];
    assert_eq!(data["balance"], 0.0);
    assert_eq!(data["amount"], 100.5);
    assert!(
        data["pay_url"]
            .as_str()
            .unwrap()
            .contains("/api/payment/sandbox/checkout/")
    );
    assert_eq!(app.balance(&token).await, 0.0, "nothing before payment");
    let action = app.checkout_action(data["pay_url"].as_str().unwrap()).await;
    let pay = app.press_pay(&action).await;
    assert_eq!(pay.status(), 200);
    let replay = app.press_pay(&action).await;
    assert_eq!(replay.status(), 409);
    assert_eq!(app.balance(&token).await, 100.5);
    assert_eq!(ledger_sum(&app, user_id).await, 10050);
    let tx = app
        .get(Api::User, "/api/user/transactions", Some(&token))
        .await;
    tx.assert_status(200);
    assert_eq!(tx.body["data"]["total"], 1);
    let row = &tx.body["data"]["transactions"][0];
    assert_eq!(row["type"], "recharge");
    assert_eq!(row["amount"], 100.5);
    assert_eq!(row["description"], "账户充值");
    assert!(row["created_at"].is_string());
    assert!(row.get("order_id").is_none());
}

#[tokio::test]
async fn recharge_rejects_bad_amounts_and_methods() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("alice").await;
    for body in [
        json!({"amount": 0}),
        json!({"amount": -10}),
        json!({"amount": "10"}),
        json!({}),
        json!({"amount": 1.001}),
        json!({"amount": 10, "payment_method": "balance"}),
        json!({"amount": 10, "payment_method": "bitcoin"}),
        json!({"amount": 1e12}),
    ] {
        let r = app
            .post(Api::User, "/api/user/recharge", body.clone(), Some(&token))
            .await;
        r.assert_status(400);
    }
    app.post(Api::User, "/api/user/recharge", json!({"amount": 10}), None)
        .await
        .assert_status(401);
    assert_eq!(app.balance(&token).await, 0.0);
}

#[tokio::test]
async fn a_balance_payment_debits_the_wallet_once_and_the_ledger_matches_the_balance() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("alice").await;
    let counselor_id = app.insert_counselor(100, None, 1).await;
    app.fund_wallet(&token, 100.0).await;
    let first = app.new_order(&token, counselor_id).await;
    let second = app.new_order(&token, counselor_id).await;

    let paid = app
        .post(
            Api::User,
            "/api/payment/create",
            json!({"order_id": first, "payment_method": "balance"}),
            Some(&token),
        )
        .await;
    let short = app
        .post(
            Api::User,
            "/api/payment/create",
            json!({"order_id": second, "payment_method": "balance"}),
            Some(&token),
        )
        .await;

    paid.assert_status(200);
    assert_eq!(paid.body["data"]["status"], 1);
    assert_eq!(paid.body["data"]["balance"], 40.0);
    assert_eq!(app.order_status(first).await, 1);
    short.assert_status(400);
    assert_eq!(short.msg(), "余额不足");
    assert_eq!(app.order_status(second).await, 0);
    assert_eq!(app.balance(&token).await, 40.0);
    assert_eq!(ledger_sum(&app, user_id).await, 4000);
    let consume = app
        .get(
            Api::User,
            "/api/user/transactions?type=consume",
            Some(&token),
        )
        .await;
    assert_eq!(consume.body["data"]["total"], 1);
    assert_eq!(consume.body["data"]["transactions"][0]["amount"], 60.0);
    assert_eq!(consume.body["data"]["transactions"][0]["order_id"], first);
    let recharge = app
        .get(
            Api::User,
            "/api/user/transactions?type=recharge&page=1&page_size=1",
            Some(&token),
        )
        .await;
    assert_eq!(recharge.body["data"]["total"], 1);
    let none = app
        .get(
            Api::User,
            "/api/user/transactions?type=refund",
            Some(&token),
        )
        .await;
    assert_eq!(none.body["data"]["transactions"], json!([]));
}

#[tokio::test]
async fn concurrent_balance_payments_never_overdraw() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("alice").await;
    let counselor_id = app.insert_counselor(100, None, 1).await;
    app.fund_wallet(&token, 100.0).await;
    let mut orders = Vec::new();
    for _ in 0..5 {
        orders.push(app.new_order(&token, counselor_id).await);
    }

    let replies = futures_util::future::join_all(orders.iter().map(|id| {
        app.post(
            Api::User,
            "/api/payment/create",
            json!({"order_id": id, "payment_method": "balance"}),
            Some(&token),
        )
    }))
    .await;

    assert_eq!(replies.iter().filter(|r| r.status == 200).count(), 1);
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 400),
        "{replies:?}"
    );
    assert_eq!(app.balance(&token).await, 40.0);
    assert_eq!(ledger_sum(&app, user_id).await, 4000);
}

#[tokio::test]
async fn credit_refund_is_a_no_op_for_a_repeated_dedupe_key() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("alice").await;

    let txn = app.db().begin().await.unwrap();
    let first = wallet::credit_refund(
        &txn,
        user_id,
        1234,
        None,
        "未使用的咨询时长退款",
        "chat-refund:1",
    )
    .await
    .unwrap();
    let again = wallet::credit_refund(
        &txn,
        user_id,
        1234,
        None,
        "未使用的咨询时长退款",
        "chat-refund:1",
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    let other = wallet::credit_refund(app.db(), user_id, 100, None, "x", "chat-refund:2")
        .await
        .unwrap();

    assert_eq!(first, 1234);
    assert_eq!(again, 1234);
    assert_eq!(other, 1334);
    assert_eq!(app.balance(&token).await, 13.34);
    assert_eq!(ledger_sum(&app, user_id).await, 1334);
    let tx = app
        .get(
            Api::User,
            "/api/user/transactions?type=refund",
            Some(&token),
        )
        .await;
    assert_eq!(tx.body["data"]["total"], 2);
    assert!(
        wallet::credit_refund(app.db(), user_id, 0, None, "x", "chat-refund:3")
            .await
            .is_err()
    );
}
