//! Payments: the sandbox gateway end to end, real WeChat Pay v3 and Alipay signatures against a local
//! fake provider, forged callbacks, exactly-once application under concurrency, refunds, and IDOR.

use std::collections::BTreeMap;

use mychat::modules::payments::{alipay, crypto};
use serde_json::{Value, json};

use crate::fake_provider::{
    self, ALI_APP_ID, FakeProvider, WechatNotifySpec, keys, post_alipay, post_wechat,
};
use crate::helpers::{Api, Reply, TestApp, spawn_app, spawn_app_with};

async fn buyer_with_order(app: &TestApp) -> (String, i64) {
    let (_, buyer) = app.user_with_token("buyer").await;
    let counselor_id = app.insert_counselor(250, None, 1).await;
    let order_id = app.new_order(&buyer, counselor_id).await;
    (buyer, order_id)
}

async fn create_payment(
    app: &TestApp,
    token: &str,
    order_id: i64,
    method: &str,
    trade_type: &str,
) -> Reply {
    app.post(
        Api::User,
        "/api/payment/create",
        json!({"order_id": order_id, "payment_method": method, "trade_type": trade_type, "client_ip": "127.0.0.1", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}),
        Some(token),
    )
    .await
}

async fn payment_row(app: &TestApp, token: &str, id: i64) -> Value {
    let r = app
        .get(Api::User, &format!("/api/payment/{id}"), Some(token))
        .await;
    r.assert_status(200);
    r.body["data"].clone()
}

async fn with_channels(sandbox: bool) -> (TestApp, FakeProvider) {
    let fake = fake_provider::start().await;
    let app = spawn_app_with(&fake_provider::channel_config(&fake, sandbox)).await;
    (app, fake)
}

#[tokio::test]
async fn an_order_is_paid_end_to_end_through_the_sandbox_checkout() {
    let app = spawn_app().await;
    let (buyer, order_id) = buyer_with_order(&app).await;

    let created = create_payment(&app, &buyer, order_id, "wechat", "NATIVE").await;
    created.assert_status(200);
    let data = &created.body["data"];
    for key in [
        "payment_id",
        "payment_no",
        "amount",
        "pay_url",
        "trade_type",
        "expired_at",
    ] {
        assert!(!data[key].is_null(), "missing {key}");
    }
    assert!(data.get("pay_params").is_some());
    assert_eq!(data["amount"], 150.0);
    let pay_url = data["pay_url"].as_str().unwrap();
    let payment_no = data["payment_no"].as_str().unwrap();
    assert!(
        pay_url.contains(&format!(
            "/api/payment/sandbox/checkout/{payment_no}?token="
        )),
        "{pay_url}"
    );
    let action = app.checkout_action(pay_url).await;
    assert!(action.starts_with(&format!("/api/payment/sandbox/pay/{payment_no}?token=")));
    assert_eq!(app.order_status(order_id).await, 0);

    let paid = app.press_pay(&action).await;
    assert_eq!(paid.status(), 200);
    let again = app.press_pay(&action).await;
    assert_eq!(again.status(), 409, "the link's token is spent");

    assert_eq!(app.order_status(order_id).await, 1);
    let payment = payment_row(&app, &buyer, data["payment_id"].as_i64().unwrap()).await;
    assert_eq!(payment["status"], 1);
    assert_eq!(payment["status_text"], "已支付");
    assert!(
        payment["transaction_id"]
            .as_str()
            .unwrap()
            .starts_with("SBX")
    );
    assert_eq!(app.event_count("payment_confirmed").await, 1);
    let list = app
        .get(Api::User, "/api/payment/list?status=1", Some(&buyer))
        .await;
    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 1);
    assert_eq!(list.body["data"]["payments"][0]["order_id"], order_id);
    let detail = app
        .get(Api::User, &format!("/api/order/{order_id}"), Some(&buyer))
        .await;
    assert!(detail.body["data"]["pay_time"].is_string());
    // A second payment for a paid order is refused.
    let second = create_payment(&app, &buyer, order_id, "alipay", "NATIVE").await;
    second.assert_status(400);
    assert_eq!(second.msg(), "订单状态不允许创建支付");
}

#[tokio::test]
async fn without_keys_and_without_the_sandbox_a_channel_is_not_configured() {
    let app = spawn_app_with(&[("payments.sandbox_enabled", json!(false))]).await;
    let (buyer, order_id) = buyer_with_order(&app).await;

    for method in ["wechat", "alipay", "sandbox"] {
        let r = create_payment(&app, &buyer, order_id, method, "NATIVE").await;
        r.assert_status(400);
        assert_eq!(r.msg(), "支付方式未配置");
    }
    let page = app
        .get(Api::User, "/api/payment/sandbox/checkout/PAY1", None)
        .await;
    page.assert_status(404);
    let recharge = app
        .post(
            Api::User,
            "/api/user/recharge",
            json!({"amount": 10}),
            Some(&buyer),
        )
        .await;
    recharge.assert_status(400);
    assert_eq!(recharge.msg(), "支付方式未配置");
}

#[tokio::test]
async fn payment_creation_refuses_foreign_orders_unknown_methods_and_bad_bodies() {
    let app = spawn_app().await;
    let (buyer, order_id) = buyer_with_order(&app).await;
    let (_, stranger) = app.user_with_token("stranger").await;

    let foreign = create_payment(&app, &stranger, order_id, "wechat", "NATIVE").await;
    foreign.assert_status(403);
    assert_eq!(foreign.msg(), "无权操作此订单");
    create_payment(&app, &buyer, 999_999, "wechat", "NATIVE")
        .await
        .assert_status(404);
    create_payment(&app, &buyer, order_id, "paypal", "NATIVE")
        .await
        .assert_status(400);
    for body in [
        json!({}),
        json!({"order_id": "1", "payment_method": "wechat"}),
        json!({"order_id": order_id, "payment_method": ""}),
    ] {
        app.post(Api::User, "/api/payment/create", body, Some(&buyer))
            .await
            .assert_status(400);
    }
    app.post_raw(
        Api::User,
        "/api/payment/create",
        "application/json",
        b"[".to_vec(),
        Some(&buyer),
    )
    .await
    .assert_status(400);
    app.post(
        Api::User,
        "/api/payment/create",
        json!({"order_id": order_id, "payment_method": "wechat"}),
        None,
    )
    .await
    .assert_status(401);
    let poor = create_payment(&app, &buyer, order_id, "balance", "").await;
    poor.assert_status(400);
    assert_eq!(poor.msg(), "余额不足");
    assert_eq!(app.order_status(order_id).await, 0);
    let list = app.get(Api::User, "/api/payment/list", Some(&buyer)).await;
    assert_eq!(
        list.body["data"]["total"], 0,
        "a refused wallet payment leaves no row"
    );
}

#[tokio::test]
async fn a_payment_is_visible_to_its_owner_only() {
    let app = spawn_app().await;
    let (buyer, order_id) = buyer_with_order(&app).await;
    let (_, stranger) = app.user_with_token("stranger").await;
    let created = create_payment(&app, &buyer, order_id, "sandbox", "").await;
    let id = created.body["data"]["payment_id"].as_i64().unwrap();

    let foreign = app
        .get(Api::User, &format!("/api/payment/{id}"), Some(&stranger))
        .await;
    foreign.assert_status(403);
    assert_eq!(foreign.msg(), "无权访问此支付记录");
    for p in ["/api/payment/abc", "/api/payment/999999"] {
        let r = app.get(Api::User, p, Some(&buyer)).await;
        r.assert_status(404);
        assert_eq!(r.msg(), "支付记录不存在");
    }
    let theirs = app
        .get(Api::User, "/api/payment/list", Some(&stranger))
        .await;
    assert_eq!(theirs.body["data"]["payments"], json!([]));
    let mine = app
        .get(
            Api::User,
            "/api/payment/list?payment_method=sandbox",
            Some(&buyer),
        )
        .await;
    assert_eq!(mine.body["data"]["total"], 1);
}

#[tokio::test]
async fn forged_sandbox_callbacks_change_nothing() {
    let app = spawn_app().await;
    let (buyer, order_id) = buyer_with_order(&app).await;
    let created = create_payment(&app, &buyer, order_id, "sandbox", "").await;
    let payment_no = created.body["data"]["payment_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now().timestamp();

    let unsigned = json!({"payment_no": payment_no, "transaction_id": "SBXforged", "amount": 15000, "timestamp": now, "signature": "00"});
    let wrong_key = {
        let content = format!("{payment_no}\nSBXforged\n15000\n{now}\n");
        json!({"payment_no": payment_no, "transaction_id": "SBXforged", "amount": 15000, "timestamp": now,
               "signature": crypto::hmac_hex(b"guessed-secret", content.as_bytes())})
    };
    for body in [unsigned, wrong_key, json!({"garbage": true})] {
        let r = app
            .post(Api::User, "/api/payment/sandbox/callback", body, None)
            .await;
        assert!(r.status.is_client_error(), "{:?}", r.body);
        assert_eq!(r.body["code"], "FAIL");
    }
    assert_eq!(app.order_status(order_id).await, 0);
    assert_eq!(app.event_count("payment_confirmed").await, 0);
    app.client
        .post(app.url(Api::User, "/api/payment/sandbox/pay/PAY000"))
        .send()
        .await
        .map(|r| assert_eq!(r.status(), 404))
        .unwrap();
}

#[tokio::test]
async fn wechat_native_prepay_is_a_signed_request_and_its_callback_is_verified() {
    let (app, fake) = with_channels(false).await;
    let (buyer, order_id) = buyer_with_order(&app).await;

    let created = create_payment(&app, &buyer, order_id, "wechat", "NATIVE").await;
    created.assert_status(200);
    assert_eq!(
        created.body["data"]["pay_url"],
        "weixin://wxpay/bizpayurl?pr=fake123"
    );
    {
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0);
        let (path, body) = &seen.requests[0];
        assert_eq!(path, "/v3/pay/transactions/native");
        assert_eq!(body["amount"]["total"], 15000);
        assert_eq!(body["mchid"], fake_provider::MCH_ID);
    }
    let payment_no = created.body["data"]["payment_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let payment_id = created.body["data"]["payment_id"].as_i64().unwrap();
    let stranger_key = fake_provider::stranger_key().clone();

    // Forgeries: each is refused and changes nothing.
    let mut bad_sig = WechatNotifySpec::valid(&payment_no, 15000);
    bad_sig.signer = &stranger_key;
    let mut stale = WechatNotifySpec::valid(&payment_no, 15000);
    stale.timestamp -= 600;
    let mut unknown_serial = WechatNotifySpec::valid(&payment_no, 15000);
    unknown_serial.serial = "PUB_KEY_ID_UNKNOWN";
    let mut wrong_mch = WechatNotifySpec::valid(&payment_no, 15000);
    wrong_mch.mchid = "1900000000";
    for (spec, expected) in [
        (bad_sig, 401),
        (stale, 401),
        (unknown_serial, 401),
        (wrong_mch, 400),
    ] {
        let (status, body) = post_wechat(&app, &spec.build()).await;
        assert_eq!(status, expected);
        assert_eq!(body["code"], "FAIL");
    }
    let mut tampered = WechatNotifySpec::valid(&payment_no, 15000).build();
    tampered.body = tampered
        .body
        .replace("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESs");
    assert_eq!(post_wechat(&app, &tampered).await.0, 401);
    let (status, _) = post_wechat(
        &app,
        &WechatNotifySpec::valid("PAY20240101000000999", 15000).build(),
    )
    .await;
    assert_eq!(status, 404, "unknown payment");
    let (status, _) = post_wechat(&app, &WechatNotifySpec::valid(&payment_no, 1).build()).await;
    assert_eq!(status, 400, "wrong amount");
    let mut not_paid = WechatNotifySpec::valid(&payment_no, 15000);
    not_paid.trade_state = "NOTPAY";
    assert_eq!(post_wechat(&app, &not_paid.build()).await.0, 200);
    assert_eq!(app.order_status(order_id).await, 0);
    let row = payment_row(&app, &buyer, payment_id).await;
    assert_eq!(row["status"], 0);
    assert!(
        row["failure_reason"]
            .as_str()
            .unwrap()
            .contains("金额不一致")
    );
    assert_eq!(app.event_count("payment_amount_mismatch").await, 1);
    assert_eq!(app.event_count("payment_confirmed").await, 0);

    // The genuine notification applies; its retry is acknowledged without a second application.
    let genuine = WechatNotifySpec::valid(&payment_no, 15000).build();
    let (status, body) = post_wechat(&app, &genuine).await;
    assert_eq!(status, 200);
    assert_eq!(body["code"], "SUCCESS");
    assert_eq!(post_wechat(&app, &genuine).await.0, 200);
    assert_eq!(app.order_status(order_id).await, 1);
    let row = payment_row(&app, &buyer, payment_id).await;
    assert_eq!(row["transaction_id"], "4200000000202401010000000001");
    assert_eq!(app.event_count("payment_confirmed").await, 1);
}

#[tokio::test]
async fn twenty_concurrent_duplicate_callbacks_are_applied_once() {
    let (app, _fake) = with_channels(false).await;
    let (buyer, order_id) = buyer_with_order(&app).await;
    let created = create_payment(&app, &buyer, order_id, "wechat", "NATIVE").await;
    let payment_no = created.body["data"]["payment_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let recharge = app
        .post(
            Api::User,
            "/api/user/recharge",
            json!({"amount": 88.5, "payment_method": "wechat", "trade_type": "NATIVE"}),
            Some(&buyer),
        )
        .await;
    recharge.assert_status(200);
    let recharge_no = recharge.body["data"]["payment_no"]
        .as_str()
        .unwrap()
        .to_owned();

    let order_notify = WechatNotifySpec::valid(&payment_no, 15000).build();
    let mut recharge_spec = WechatNotifySpec::valid(&recharge_no, 8850);
    recharge_spec.transaction_id = "4200000000202401010000000002";
    let recharge_notify = recharge_spec.build();
    let results = futures_util::future::join_all(
        (0..20)
            .map(|_| post_wechat(&app, &order_notify))
            .chain((0..20).map(|_| post_wechat(&app, &recharge_notify))),
    )
    .await;

    assert!(results.iter().all(|(s, _)| *s == 200), "{results:?}");
    assert_eq!(app.order_status(order_id).await, 1);
    assert_eq!(app.event_count("payment_confirmed").await, 2);
    assert_eq!(app.event_count("order_status_changed").await, 1);
    let tx = app
        .get(Api::User, "/api/user/transactions", Some(&buyer))
        .await;
    assert_eq!(tx.body["data"]["total"], 1, "one ledger row");
    assert_eq!(app.balance(&buyer).await, 88.5);
}

#[tokio::test]
async fn wechat_jsapi_app_and_h5_return_what_each_client_needs() {
    let (app, fake) = with_channels(false).await;
    let (buyer, _) = buyer_with_order(&app).await;
    let counselor_id = app.insert_counselor(100, None, 1).await;

    let mut replies = Vec::new();
    for trade_type in ["JSAPI", "APP", "H5"] {
        let order_id = app.new_order(&buyer, counselor_id).await;
        let r = create_payment(&app, &buyer, order_id, "wechat", trade_type).await;
        r.assert_status(200);
        replies.push(r.body["data"].clone());
    }

    let jsapi = &replies[0]["pay_params"];
    assert_eq!(
        jsapi["package"],
        "prepay_id=wx201410272009395522657a690389285100"
    );
    assert_eq!(jsapi["signType"], "RSA");
    let message = format!(
        "{}\n{}\n{}\n{}\n",
        jsapi["appId"].as_str().unwrap(),
        jsapi["timeStamp"].as_str().unwrap(),
        jsapi["nonceStr"].as_str().unwrap(),
        jsapi["package"].as_str().unwrap()
    );
    assert!(crypto::rsa_verify(
        &keys().merchant.to_public_key(),
        message.as_bytes(),
        jsapi["paySign"].as_str().unwrap()
    ));
    assert_eq!(
        replies[1]["pay_params"]["prepayid"],
        "wx201410272009395522657a690389285100"
    );
    assert_eq!(replies[1]["pay_params"]["partnerid"], fake_provider::MCH_ID);
    assert!(
        replies[2]["pay_url"]
            .as_str()
            .unwrap()
            .starts_with("https://wx.tenpay.com/")
    );
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.bad_signatures, 0);
    assert_eq!(
        seen.requests[0].1["payer"]["openid"],
        "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    );
    assert_eq!(
        seen.requests[2].1["scene_info"]["payer_client_ip"],
        "127.0.0.1"
    );
}

#[tokio::test]
async fn a_misconfigured_merchant_key_is_refused_by_the_provider_and_the_payment_fails() {
    let fake = fake_provider::start().await;
    let mut config = fake_provider::channel_config(&fake, false);
    let other = fake_provider::stranger_key().clone();
    config.push((
        "payments.wechat.private_key",
        json!(fake_provider::private_pem(&other)),
    ));
    let app = spawn_app_with(&config).await;
    let (buyer, order_id) = buyer_with_order(&app).await;

    let r = create_payment(&app, &buyer, order_id, "wechat", "NATIVE").await;

    r.assert_status(400);
    assert_eq!(fake.seen.lock().unwrap().bad_signatures, 1);
    let list = app.get(Api::User, "/api/payment/list", Some(&buyer)).await;
    assert_eq!(list.body["data"]["payments"][0]["status"], 2);
}

#[tokio::test]
async fn alipay_precreate_page_pay_and_callbacks_are_signed_and_verified() {
    let (app, fake) = with_channels(false).await;
    let (buyer, order_id) = buyer_with_order(&app).await;

    let qr = create_payment(&app, &buyer, order_id, "alipay", "NATIVE").await;
    qr.assert_status(200);
    assert_eq!(
        qr.body["data"]["pay_url"],
        "https://qr.alipay.com/bax08431fake"
    );
    let page = create_payment(&app, &buyer, order_id, "alipay", "PAGE").await;
    page.assert_status(200);
    let url = page.body["data"]["pay_url"].as_str().unwrap();
    let (_, query) = url.split_once('?').unwrap();
    let params: BTreeMap<String, String> =
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(params["method"], "alipay.trade.page.pay");
    assert!(crypto::rsa_verify(
        &keys().ali_app.to_public_key(),
        alipay::signing_content(&params, false).as_bytes(),
        &params["sign"]
    ));
    {
        let seen = fake.seen.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0);
        assert_eq!(seen.requests[0].0, "alipay.trade.precreate");
        assert_eq!(seen.requests[0].1["total_amount"], "150.00");
    }
    let payment_no = qr.body["data"]["payment_no"].as_str().unwrap().to_owned();
    let stranger_key = fake_provider::stranger_key().clone();
    let fields = |app_id: &'static str, amount: &'static str, status: &'static str, no: String| {
        vec![
            ("app_id", app_id.to_owned()),
            ("out_trade_no", no),
            ("trade_no", "2024010122001400000000000001".to_owned()),
            ("trade_status", status.to_owned()),
            ("total_amount", amount.to_owned()),
            (
                "notify_id",
                "ac05099524730693a8b330c5ecf72da9786".to_owned(),
            ),
            ("notify_time", "2024-01-01 10:00:00".to_owned()),
            ("charset", "utf-8".to_owned()),
            ("version", "1.0".to_owned()),
        ]
    };
    let sign = |f: Vec<(&str, String)>, key: &rsa::RsaPrivateKey| {
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        fake_provider::alipay_notify(&refs, key)
    };

    let forged = [
        sign(
            fields(ALI_APP_ID, "150.00", "TRADE_SUCCESS", payment_no.clone()),
            &stranger_key,
        ),
        sign(
            fields(
                "2021000000000000",
                "150.00",
                "TRADE_SUCCESS",
                payment_no.clone(),
            ),
            &keys().ali_platform,
        ),
        sign(
            fields(ALI_APP_ID, "1.50", "TRADE_SUCCESS", payment_no.clone()),
            &keys().ali_platform,
        ),
        sign(
            fields(
                ALI_APP_ID,
                "150.00",
                "TRADE_SUCCESS",
                "PAY20240101000000999".into(),
            ),
            &keys().ali_platform,
        ),
        sign(
            fields(ALI_APP_ID, "150.00", "TRADE_SUCCESS", payment_no.clone()),
            &keys().ali_platform,
        )
        .replace("total_amount=150.00", "total_amount=1.00"),
        "not=a&valid=notification".to_owned(),
    ];
    for form in forged {
        assert_eq!(post_alipay(&app, form).await, "fail");
    }
    let waiting = sign(
        fields(ALI_APP_ID, "150.00", "WAIT_BUYER_PAY", payment_no.clone()),
        &keys().ali_platform,
    );
    assert_eq!(post_alipay(&app, waiting).await, "success");
    assert_eq!(app.order_status(order_id).await, 0);
    assert_eq!(app.event_count("payment_confirmed").await, 0);

    let genuine = sign(
        fields(ALI_APP_ID, "150.00", "TRADE_SUCCESS", payment_no.clone()),
        &keys().ali_platform,
    );
    assert_eq!(post_alipay(&app, genuine.clone()).await, "success");
    assert_eq!(post_alipay(&app, genuine).await, "success");
    assert_eq!(app.order_status(order_id).await, 1);
    assert_eq!(app.event_count("payment_confirmed").await, 1);
}

#[tokio::test]
async fn refunds_are_partial_or_full_and_never_negative_excessive_or_foreign() {
    let app = spawn_app().await;
    let (buyer, order_id) = buyer_with_order(&app).await;
    let (_, stranger) = app.user_with_token("stranger").await;
    app.fund_wallet(&buyer, 150.0).await;
    let created = create_payment(&app, &buyer, order_id, "balance", "").await;
    created.assert_status(200);
    let payment_id = created.body["data"]["payment_id"].as_i64().unwrap();
    assert_eq!(app.balance(&buyer).await, 0.0);
    let refund = |token: &str, amount: Value| {
        let app = &app;
        let token = token.to_owned();
        async move {
            app.post(Api::User, "/api/payment/refund", json!({"payment_id": payment_id, "refund_amount": amount, "refund_reason": "schedule"}), Some(&token)).await
        }
    };

    for bad in [
        json!(0),
        json!(-5),
        json!(150.01),
        json!(1.234),
        json!("10"),
    ] {
        refund(&buyer, bad).await.assert_status(400);
    }
    let foreign = refund(&stranger, json!(10)).await;
    foreign.assert_status(403);
    app.post(
        Api::User,
        "/api/payment/refund",
        json!({"payment_id": 999999, "refund_amount": 1}),
        Some(&buyer),
    )
    .await
    .assert_status(404);
    app.post(Api::User, "/api/payment/refund", json!({}), Some(&buyer))
        .await
        .assert_status(400);
    assert_eq!(
        app.balance(&buyer).await,
        0.0,
        "refused refunds move nothing"
    );

    let partial = refund(&buyer, json!(50)).await;
    partial.assert_status(200);
    assert_eq!(partial.body["data"]["kind"], "partial");
    assert_eq!(app.order_status(order_id).await, 1);
    assert_eq!(app.balance(&buyer).await, 50.0);
    let excessive = refund(&buyer, json!(100.01)).await;
    excessive.assert_status(400);
    assert_eq!(excessive.msg(), "退款金额不能超过支付金额");
    let rest = refund(&buyer, json!(100)).await;
    rest.assert_status(200);
    assert_eq!(rest.body["data"]["kind"], "full");
    assert_eq!(app.order_status(order_id).await, 4);
    assert_eq!(app.balance(&buyer).await, 150.0);
    let row = payment_row(&app, &buyer, payment_id).await;
    assert_eq!(row["status"], 3);
    assert_eq!(row["refunded_amount"], 150.0);
    let after = refund(&buyer, json!(1)).await;
    after.assert_status(400);
    assert_eq!(after.msg(), "支付状态不允许退款");
    assert_eq!(app.event_count("payment_refunded").await, 2);
}

#[tokio::test]
async fn channel_refunds_are_signed_requests_to_wechat_and_alipay() {
    let (app, fake) = with_channels(false).await;
    let (buyer, _) = buyer_with_order(&app).await;
    let counselor_id = app.insert_counselor(100, None, 1).await;
    let wx_order = app.new_order(&buyer, counselor_id).await;
    let ali_order = app.new_order(&buyer, counselor_id).await;
    let wx = create_payment(&app, &buyer, wx_order, "wechat", "NATIVE").await;
    let ali = create_payment(&app, &buyer, ali_order, "alipay", "NATIVE").await;
    let wx_no = wx.body["data"]["payment_no"].as_str().unwrap().to_owned();
    let ali_no = ali.body["data"]["payment_no"].as_str().unwrap().to_owned();
    assert_eq!(
        post_wechat(&app, &WechatNotifySpec::valid(&wx_no, 6000).build())
            .await
            .0,
        200
    );
    let form = fake_provider::alipay_notify(
        &[
            ("app_id", ALI_APP_ID),
            ("out_trade_no", &ali_no),
            ("trade_no", "2024010122001400000000000009"),
            ("trade_status", "TRADE_SUCCESS"),
            ("total_amount", "60.00"),
        ],
        &keys().ali_platform,
    );
    assert_eq!(post_alipay(&app, form).await, "success");

    let wx_refund = app
        .post(
            Api::User,
            "/api/payment/refund",
            json!({"payment_id": wx.body["data"]["payment_id"], "refund_amount": 20}),
            Some(&buyer),
        )
        .await;
    let ali_cancel = app
        .post(
            Api::User,
            &format!("/api/order/{ali_order}/cancel"),
            json!({}),
            Some(&buyer),
        )
        .await;

    wx_refund.assert_status(200);
    assert_eq!(wx_refund.body["data"]["kind"], "partial");
    ali_cancel.assert_status(200);
    assert_eq!(app.order_status(ali_order).await, 4);
    assert_eq!(app.order_status(wx_order).await, 1);
    assert_eq!(
        app.balance(&buyer).await,
        0.0,
        "channel refunds go back through the channel"
    );
    let seen = fake.seen.lock().unwrap();
    assert_eq!(seen.bad_signatures, 0);
    let wx_req = seen
        .requests
        .iter()
        .find(|(p, _)| p == "/v3/refund/domestic/refunds")
        .unwrap();
    assert_eq!(wx_req.1["amount"]["refund"], 2000);
    assert_eq!(wx_req.1["amount"]["total"], 6000);
    assert_eq!(wx_req.1["out_trade_no"], wx_no);
    let ali_req = seen
        .requests
        .iter()
        .find(|(m, _)| m == "alipay.trade.refund")
        .unwrap();
    assert_eq!(ali_req.1["refund_amount"], "60.00");
}
