//! Payments beyond the happy path of each channel: the payment list's preloaded orders, WeChat refund
//! notifications, platform certificates, and the providers' signatures on their replies to our calls.

use serde_json::{Value, json};

use crate::fake_provider::{
    self, ALI_APP_ID, FakeProvider, PLATFORM_SERIAL, ReplySigning, WechatNotifySpec,
    WechatRefundSpec, keys, post_alipay, post_wechat, stranger_key,
};
use crate::helpers::{Api, Reply, TestApp, spawn_app, spawn_app_with};

/// The serial of the platform certificate made in these tests (hex, as WeChat shows it).
const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

async fn buyer_with_order(app: &TestApp) -> (String, i64) {
    let (_, buyer) = app.user_with_token("buyer").await;
    let counselor_id = app.insert_counselor(250, None, 1).await;
    let order_id = app.new_order(&buyer, counselor_id).await;
    (buyer, order_id)
}

async fn create_payment(app: &TestApp, token: &str, order_id: i64, method: &str) -> Reply {
    app.post(
        Api::User,
        "/api/payment/create",
        json!({"order_id": order_id, "payment_method": method, "trade_type": "NATIVE", "client_ip": "127.0.0.1"}),
        Some(token),
    )
    .await
}

async fn with_channels() -> (TestApp, FakeProvider) {
    let fake = fake_provider::start().await;
    let app = spawn_app_with(&fake_provider::channel_config(&fake, false)).await;
    (app, fake)
}

async fn payment(app: &TestApp, token: &str, id: i64) -> Value {
    let r = app
        .get(Api::User, &format!("/api/payment/{id}"), Some(token))
        .await;
    r.assert_status(200);
    r.body["data"].clone()
}

/// A WeChat order payment of 150 yuan, paid through a genuine callback: (buyer, order, payment id, payment no).
async fn paid_wechat_order(app: &TestApp) -> (String, i64, i64, String) {
    let (buyer, order_id) = buyer_with_order(app).await;
    let created = create_payment(app, &buyer, order_id, "wechat").await;
    created.assert_status(200);
    let id = created.body["data"]["payment_id"].as_i64().unwrap();
    let no = created.body["data"]["payment_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = post_wechat(app, &WechatNotifySpec::valid(&no, 15000).build()).await;
    assert_eq!(status, 200);
    assert_eq!(app.order_status(order_id).await, 1);
    (buyer, order_id, id, no)
}

async fn refund(app: &TestApp, token: &str, payment_id: i64, yuan: f64) -> Reply {
    app.post(
        Api::User,
        "/api/payment/refund",
        json!({"payment_id": payment_id, "refund_amount": yuan, "refund_reason": "schedule"}),
        Some(token),
    )
    .await
}

#[tokio::test]
async fn the_payment_list_carries_each_payment_order_and_a_zero_order_for_recharges() {
    let app = spawn_app().await;
    let (buyer, order_id) = buyer_with_order(&app).await;
    let counselor_id = app.insert_counselor(100, None, 1).await;
    let other_order = app.new_order(&buyer, counselor_id).await;
    let paid_id = app.pay_order_sandbox(&buyer, order_id).await;
    create_payment(&app, &buyer, other_order, "sandbox")
        .await
        .assert_status(200);
    let recharge = app
        .post(
            Api::User,
            "/api/user/recharge",
            json!({"amount": 20}),
            Some(&buyer),
        )
        .await;
    recharge.assert_status(200);

    let list = app.get(Api::User, "/api/payment/list", Some(&buyer)).await;

    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 3);
    let items = list.body["data"]["payments"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let by_order = |id: i64| {
        items
            .iter()
            .find(|p| p["order_id"] == id)
            .unwrap_or_else(|| panic!("no payment for order {id}: {items:?}"))
    };
    let paid = by_order(order_id);
    assert_eq!(paid["id"], paid_id);
    let order = &paid["order"];
    assert_eq!(order["id"], order_id);
    assert_eq!(order["order_no"], paid["order_no"]);
    assert_eq!(order["status"], 1);
    assert_eq!(order["amount"], 150.0);
    assert_eq!(order["duration"], 60);
    assert!(order["pay_time"].is_string());
    assert!(order["user"].is_object() && order["counselor"].is_object());
    assert!(paid["notify_data"].is_string(), "every §4.4 key: {paid}");
    for key in [
        "payment_no",
        "user_id",
        "payment_method",
        "trade_type",
        "transaction_id",
        "amount",
        "status",
        "pay_time",
        "notify_time",
        "failure_reason",
        "created_at",
        "updated_at",
    ] {
        assert!(paid.get(key).is_some(), "missing {key}: {paid}");
    }
    assert_eq!(by_order(other_order)["order"]["id"], other_order);
    assert_eq!(by_order(other_order)["order"]["status"], 0);

    // A recharge has no order: the association is still there, zero-valued.
    let zero = &by_order(0)["order"];
    assert_eq!(zero["id"], 0);
    assert_eq!(zero["order_no"], "");
    assert_eq!(zero["created_at"], "0001-01-01T00:00:00Z");
    assert_eq!(zero["schedule_time"], "0001-01-01T00:00:00Z");
    assert_eq!(zero["user"]["id"], 0);
    assert_eq!(zero["counselor"]["id"], 0);
    assert!(zero["pay_time"].is_null());

    // The detail answers the keys of §7.6.2.
    let detail = payment(&app, &buyer, paid_id).await;
    for key in [
        "id",
        "payment_no",
        "order_id",
        "order_no",
        "amount",
        "payment_method",
        "trade_type",
        "status",
        "status_text",
        "pay_time",
        "transaction_id",
        "created_at",
    ] {
        assert!(detail.get(key).is_some(), "missing {key}: {detail}");
    }
    assert_eq!(detail["order_id"], order_id);
    assert_eq!(detail["amount"], 150.0);
    assert_eq!(detail["status_text"], "已支付");
    let filtered = app
        .get(
            Api::User,
            "/api/payment/list?status=1&page_size=1",
            Some(&buyer),
        )
        .await;
    assert_eq!(filtered.body["data"]["total"], 1);
    assert_eq!(
        filtered.body["data"]["payments"][0]["order"]["id"],
        order_id
    );
}

#[tokio::test]
async fn a_processing_wechat_refund_is_settled_once_by_its_refund_notification() {
    let (app, fake) = with_channels().await;
    let (buyer, order_id, payment_id, payment_no) = paid_wechat_order(&app).await;
    fake.behaviour.lock().unwrap().wechat_refund_status = "PROCESSING";

    let requested = refund(&app, &buyer, payment_id, 150.0).await;

    requested.assert_status(200);
    assert_eq!(requested.body["data"]["status"], 0, "processing");
    let refund_no = requested.body["data"]["refund_no"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.order_status(order_id).await, 1);
    assert_eq!(payment(&app, &buyer, payment_id).await["status"], 1);
    assert_eq!(app.event_count("payment_refunded").await, 0);
    // The amount stays reserved meanwhile: no second refund of the same money.
    refund(&app, &buyer, payment_id, 1.0)
        .await
        .assert_status(400);

    // Forgeries and mismatches change nothing.
    let mut forged = WechatRefundSpec::valid(&payment_no, &refund_no, "SUCCESS", 15000, 15000);
    forged.signer = stranger_key();
    let mut stale = WechatRefundSpec::valid(&payment_no, &refund_no, "SUCCESS", 15000, 15000);
    stale.timestamp -= 600;
    let mut foreign = WechatRefundSpec::valid(&payment_no, &refund_no, "SUCCESS", 15000, 15000);
    foreign.mchid = "1900000000";
    let short = WechatRefundSpec::valid(&payment_no, &refund_no, "SUCCESS", 100, 15000);
    let unknown = WechatRefundSpec::valid(&payment_no, "RFD000", "SUCCESS", 15000, 15000);
    let other_payment =
        WechatRefundSpec::valid("PAY20240101000000999", &refund_no, "SUCCESS", 15000, 15000);
    for (spec, expected) in [
        (forged, 401),
        (stale, 401),
        (foreign, 400),
        (short, 400),
        (unknown, 404),
        (other_payment, 400),
    ] {
        let (status, body) = post_wechat(&app, &spec.build()).await;
        assert_eq!(status, expected, "{body}");
        assert_eq!(body["code"], "FAIL");
    }
    assert_eq!(app.order_status(order_id).await, 1);
    assert_eq!(app.event_count("payment_refunded").await, 0);

    // Twenty concurrent copies of the genuine notification apply it once.
    let genuine = WechatRefundSpec::valid(&payment_no, &refund_no, "SUCCESS", 15000, 15000).build();
    let results =
        futures_util::future::join_all((0..20).map(|_| post_wechat(&app, &genuine))).await;

    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    assert_eq!(app.order_status(order_id).await, 4);
    let row = payment(&app, &buyer, payment_id).await;
    assert_eq!(row["status"], 3);
    assert_eq!(row["refunded_amount"], 150.0);
    assert_eq!(app.event_count("payment_refunded").await, 1);
    assert_eq!(
        app.event_count("order_status_changed").await,
        2,
        "paid, then refunded"
    );
    // A late contradicting notice for a settled refund is acknowledged and ignored.
    let late = WechatRefundSpec::valid(&payment_no, &refund_no, "ABNORMAL", 15000, 15000).build();
    assert_eq!(post_wechat(&app, &late).await.0, 200);
    assert_eq!(app.order_status(order_id).await, 4);
    assert_eq!(app.event_count("payment_refund_failed").await, 0);
    assert_eq!(app.balance(&buyer).await, 0.0, "the channel paid it back");
}

#[tokio::test]
async fn abnormal_or_closed_wechat_refunds_release_what_they_reserved() {
    let (app, fake) = with_channels().await;
    let (buyer, order_id, payment_id, payment_no) = paid_wechat_order(&app).await;
    fake.behaviour.lock().unwrap().wechat_refund_status = "PROCESSING";

    for status in ["ABNORMAL", "CLOSED"] {
        let requested = refund(&app, &buyer, payment_id, 50.0).await;
        requested.assert_status(200);
        let refund_no = requested.body["data"]["refund_no"].as_str().unwrap();
        assert_eq!(
            payment(&app, &buyer, payment_id).await["refunded_amount"],
            50.0
        );

        let notice = WechatRefundSpec::valid(&payment_no, refund_no, status, 5000, 15000).build();
        assert_eq!(post_wechat(&app, &notice).await.0, 200);
        assert_eq!(post_wechat(&app, &notice).await.0, 200);

        let row = payment(&app, &buyer, payment_id).await;
        assert_eq!(row["status"], 1);
        assert_eq!(row["refunded_amount"], 0.0, "released");
    }
    assert_eq!(app.event_count("payment_refund_failed").await, 2);
    assert_eq!(app.event_count("payment_refunded").await, 0);
    assert_eq!(app.order_status(order_id).await, 1);

    // Cancelling the paid order now: the order moves when the channel confirms the refund.
    let cancel = app
        .post(
            Api::User,
            &format!("/api/order/{order_id}/cancel"),
            json!({}),
            Some(&buyer),
        )
        .await;
    cancel.assert_status(200);
    assert_eq!(app.order_status(order_id).await, 1);
    let refund_no = {
        use mychat::modules::payments::entity::refund;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        refund::Entity::find()
            .filter(refund::Column::PaymentId.eq(payment_id))
            .filter(refund::Column::Status.eq(0))
            .one(app.db())
            .await
            .unwrap()
            .unwrap()
            .refund_no
    };
    let success = WechatRefundSpec::valid(&payment_no, &refund_no, "SUCCESS", 15000, 15000).build();
    assert_eq!(post_wechat(&app, &success).await.0, 200);
    assert_eq!(app.order_status(order_id).await, 4);
    assert_eq!(app.event_count("payment_refunded").await, 1);
}

#[tokio::test]
async fn a_wechat_platform_certificate_verifies_callbacks_and_replies_under_its_serial() {
    let fake = fake_provider::start().await;
    fake.behaviour.lock().unwrap().wechat_serial = CERT_SERIAL.to_owned();
    let mut config = fake_provider::channel_config(&fake, false);
    let certificate = fake_provider::platform_certificate(CERT_SERIAL, (2024, 1, 1), (2099, 1, 1));
    assert!(certificate.starts_with("-----BEGIN CERTIFICATE-----"));
    // Figment merges maps: drop the bare key configured by default, so only the certificate counts.
    config.retain(|(key, _)| *key != "payments.wechat.platform_public_keys");
    config.push((
        "payments.wechat.platform_public_keys",
        json!({ CERT_SERIAL: certificate }),
    ));
    let app = spawn_app_with(&config).await;
    let (buyer, order_id) = buyer_with_order(&app).await;

    let created = create_payment(&app, &buyer, order_id, "wechat").await;

    created.assert_status(200);
    assert_eq!(
        created.body["data"]["pay_url"],
        "weixin://wxpay/bizpayurl?pr=fake123"
    );
    let payment_no = created.body["data"]["payment_no"].as_str().unwrap();
    let mut under_bare_serial = WechatNotifySpec::valid(payment_no, 15000);
    under_bare_serial.serial = PLATFORM_SERIAL;
    assert_eq!(post_wechat(&app, &under_bare_serial.build()).await.0, 401);
    let mut forged = WechatNotifySpec::valid(payment_no, 15000);
    forged.serial = CERT_SERIAL;
    forged.signer = stranger_key();
    assert_eq!(post_wechat(&app, &forged.build()).await.0, 401);
    assert_eq!(app.order_status(order_id).await, 0);
    let mut genuine = WechatNotifySpec::valid(payment_no, 15000);
    genuine.serial = CERT_SERIAL;
    assert_eq!(post_wechat(&app, &genuine.build()).await.0, 200);
    assert_eq!(app.order_status(order_id).await, 1);
}

#[tokio::test]
async fn an_expired_or_misfiled_platform_certificate_verifies_nothing() {
    let fake = fake_provider::start().await;
    let mut config = fake_provider::channel_config(&fake, false);
    let expired = fake_provider::platform_certificate(CERT_SERIAL, (2015, 1, 1), (2020, 1, 1));
    let valid = fake_provider::platform_certificate(CERT_SERIAL, (2024, 1, 1), (2099, 1, 1));
    // Figment merges maps: drop the bare key configured by default, so only the certificate counts.
    config.retain(|(key, _)| *key != "payments.wechat.platform_public_keys");
    config.push((
        "payments.wechat.platform_public_keys",
        json!({ CERT_SERIAL: expired, "OTHER_SERIAL": valid }),
    ));
    let app = spawn_app_with(&config).await;
    let (buyer, order_id) = buyer_with_order(&app).await;

    fake.behaviour.lock().unwrap().wechat_serial = CERT_SERIAL.to_owned();
    let refused = create_payment(&app, &buyer, order_id, "wechat").await;
    refused.assert_status(503);
    fake.behaviour.lock().unwrap().wechat_serial = "OTHER_SERIAL".to_owned();
    create_payment(&app, &buyer, order_id, "wechat")
        .await
        .assert_status(503);

    let list = app.get(Api::User, "/api/payment/list", Some(&buyer)).await;
    let payment_no = list.body["data"]["payments"][0]["payment_no"]
        .as_str()
        .unwrap()
        .to_owned();
    for serial in [CERT_SERIAL, "OTHER_SERIAL"] {
        let mut spec = WechatNotifySpec::valid(&payment_no, 15000);
        spec.serial = serial;
        assert_eq!(post_wechat(&app, &spec.build()).await.0, 401, "{serial}");
    }
    assert_eq!(app.order_status(order_id).await, 0);
}

#[tokio::test]
async fn wechat_replies_with_a_bad_or_missing_signature_are_refused() {
    let (app, fake) = with_channels().await;
    let (buyer, order_id, payment_id, payment_no) = paid_wechat_order(&app).await;
    let counselor_id = app.insert_counselor(100, None, 1).await;
    let unpaid = app.new_order(&buyer, counselor_id).await;

    for signing in [ReplySigning::WrongKey, ReplySigning::Missing] {
        fake.set_signing(signing);
        let prepay = create_payment(&app, &buyer, unpaid, "wechat").await;
        prepay.assert_status(503);
        assert_eq!(prepay.msg(), "支付渠道应答验签失败");
        assert!(prepay.body.get("data").is_none(), "no pay_url leaks");

        let r = refund(&app, &buyer, payment_id, 150.0).await;
        if signing == ReplySigning::WrongKey {
            r.assert_status(503);
            assert_eq!(r.msg(), "支付渠道应答验签失败");
        } else {
            // The first untrusted reply left its refund reserved: nothing is left to refund.
            r.assert_status(400);
        }
    }
    assert_eq!(app.order_status(unpaid).await, 0);
    assert_eq!(app.order_status(order_id).await, 1);
    let row = payment(&app, &buyer, payment_id).await;
    assert_eq!(row["status"], 1);
    assert_eq!(app.event_count("payment_refunded").await, 0);
    let list = app
        .get(Api::User, "/api/payment/list?status=2", Some(&buyer))
        .await;
    assert_eq!(list.body["data"]["total"], 2, "both prepay attempts failed");

    // The refund's real outcome arrives by notification, verified as usual.
    fake.set_signing(ReplySigning::Genuine);
    let refund_no = {
        use mychat::modules::payments::entity::refund;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        refund::Entity::find()
            .filter(refund::Column::PaymentId.eq(payment_id))
            .one(app.db())
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(refund_no.status, 0, "still processing");
    let success =
        WechatRefundSpec::valid(&payment_no, &refund_no.refund_no, "SUCCESS", 15000, 15000).build();
    assert_eq!(post_wechat(&app, &success).await.0, 200);
    assert_eq!(app.order_status(order_id).await, 4);
    // With genuine replies again, prepay works.
    create_payment(&app, &buyer, unpaid, "wechat")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn alipay_replies_with_a_bad_or_missing_signature_are_refused() {
    let (app, fake) = with_channels().await;
    let (buyer, order_id) = buyer_with_order(&app).await;

    for signing in [ReplySigning::WrongKey, ReplySigning::Missing] {
        fake.set_signing(signing);
        let r = create_payment(&app, &buyer, order_id, "alipay").await;
        r.assert_status(503);
        assert_eq!(r.msg(), "支付渠道应答验签失败");
    }
    fake.set_signing(ReplySigning::Genuine);
    let created = create_payment(&app, &buyer, order_id, "alipay").await;
    created.assert_status(200);
    assert_eq!(
        created.body["data"]["pay_url"],
        "https://qr.alipay.com/bax08431fake"
    );
    let payment_id = created.body["data"]["payment_id"].as_i64().unwrap();
    let payment_no = created.body["data"]["payment_no"].as_str().unwrap();
    let form = fake_provider::alipay_notify(
        &[
            ("app_id", ALI_APP_ID),
            ("out_trade_no", payment_no),
            ("trade_no", "2024010122001400000000000009"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "150.00"),
        ],
        &keys().ali_platform,
    );
    assert_eq!(post_alipay(&app, form).await, "success");
    assert_eq!(app.order_status(order_id).await, 1);

    fake.set_signing(ReplySigning::WrongKey);
    let r = refund(&app, &buyer, payment_id, 50.0).await;
    r.assert_status(503);
    assert_eq!(app.order_status(order_id).await, 1);
    assert_eq!(app.event_count("payment_refunded").await, 0);

    // Alipay answers refunds synchronously: a verified reply settles the refund, its payment and order
    // together, with the event.
    fake.set_signing(ReplySigning::Genuine);
    let rest = refund(&app, &buyer, payment_id, 100.0).await;
    rest.assert_status(200);
    assert_eq!(rest.body["data"]["status"], 1);
    assert_eq!(app.event_count("payment_refunded").await, 1);
    assert_eq!(payment(&app, &buyer, payment_id).await["status"], 1);
    assert_eq!(app.order_status(order_id).await, 1);
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.bad_signatures, 0);
}

#[tokio::test]
async fn an_alipay_refund_left_processing_is_settled_by_the_query_job() {
    let fake = fake_provider::start().await;
    let mut config = fake_provider::channel_config(&fake, false);
    config.push(("payments.refund_query_interval_secs", json!(1)));
    let app = spawn_app_with(&config).await;
    let (buyer, order_id) = buyer_with_order(&app).await;
    let created = create_payment(&app, &buyer, order_id, "alipay").await;
    created.assert_status(200);
    let payment_id = created.body["data"]["payment_id"].as_i64().unwrap();
    let payment_no = created.body["data"]["payment_no"].as_str().unwrap();
    let form = fake_provider::alipay_notify(
        &[
            ("app_id", ALI_APP_ID),
            ("out_trade_no", payment_no),
            ("trade_no", "2024010122001400000000000010"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "150.00"),
        ],
        &keys().ali_platform,
    );
    assert_eq!(post_alipay(&app, form).await, "success");

    // The refund reply cannot be verified: the outcome is unknown, the amount stays reserved.
    fake.set_signing(ReplySigning::WrongKey);
    refund(&app, &buyer, payment_id, 150.0)
        .await
        .assert_status(503);
    assert_eq!(app.order_status(order_id).await, 1);
    assert_eq!(
        payment(&app, &buyer, payment_id).await["refunded_amount"],
        150.0
    );
    // Once Alipay answers verifiably again, the job asks and settles it once.
    fake.set_signing(ReplySigning::Genuine);
    let mut settled = false;
    for _ in 0..120 {
        if app.order_status(order_id).await == 4 {
            settled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(settled, "the query job settled the refund and the order");
    let row = payment(&app, &buyer, payment_id).await;
    assert_eq!(row["status"], 3);
    assert_eq!(row["refunded_amount"], 150.0);
    assert_eq!(app.event_count("payment_refunded").await, 1);
    assert!(
        fake.seen
            .lock()
            .unwrap()
            .requests
            .iter()
            .any(|(method, _)| method == "alipay.trade.fastpay.refund.query")
    );
}

#[tokio::test]
async fn a_transaction_id_already_bound_to_another_payment_is_refused_with_409_not_500() {
    let (app, _fake) = with_channels().await;
    let (_, _, _, first_no) = paid_wechat_order(&app).await;
    let (_, buyer) = app.user_with_token("second_buyer").await;
    let counselor_id = app.insert_counselor(250, None, 1).await;
    let order_id = app.new_order(&buyer, counselor_id).await;
    let created = create_payment(&app, &buyer, order_id, "wechat").await;
    created.assert_status(200);
    let second_no = created.body["data"]["payment_no"].as_str().unwrap();
    assert_ne!(first_no, second_no);

    // The same transaction id as the first payment: a provider mix-up that retrying cannot fix.
    let (status, body) =
        post_wechat(&app, &WechatNotifySpec::valid(second_no, 15000).build()).await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "FAIL");
    assert_eq!(app.order_status(order_id).await, 0, "still unpaid");
}
