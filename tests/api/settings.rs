//! Console settings take effect: each one is changed the way the console saves it (`POST
//! /api/admin/configs` with `<category>.<name>`) and its effect is observed over HTTP or WebSocket.

use mychat::modules::chat::entity::billing;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::chat_fixtures::{active_chat, booking, end_as_buyer, next_of, send};
use crate::helpers::{Api, Reply, TestApp, spawn_app};

/// Saves setting `name` of `category` as the console does: `<category>.<name>`, the value as JSON text.
async fn save(app: &TestApp, root: &str, category: &str, name: &str, value: Value) -> Reply {
    let kind = match &value {
        Value::Bool(_) => "switch",
        Value::Number(_) => "number",
        _ => "string",
    };
    app.post(
        Api::Admin,
        "/api/admin/configs",
        json!({
            "key": format!("{category}.{name}"), "value": value.to_string(), "category": category,
            "label": name, "type": kind, "is_system": true, "sort": 0, "remark": "系统配置",
        }),
        Some(root),
    )
    .await
}

/// The rows of the config list the console loads.
async fn rows(app: &TestApp, root: &str) -> Vec<Value> {
    app.get(
        Api::Admin,
        "/api/admin/configs?page=1&pageSize=100",
        Some(root),
    )
    .await
    .body["list"]
        .as_array()
        .unwrap()
        .clone()
}

fn row<'a>(rows: &'a [Value], key: &str) -> &'a Value {
    rows.iter().find(|r| r["key"] == key).unwrap()
}

#[tokio::test]
async fn the_consoles_prefixed_keys_save_the_setting_and_round_trip() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let before = rows(&app, &root).await;
    let id = row(&before, "system_name")["id"].as_i64().unwrap();

    let saved = save(&app, &root, "basic", "system_name", json!("新平台")).await;
    saved.assert_status(200);
    assert_eq!(saved.body["data"]["id"], id, "the seeded row is updated");
    assert_eq!(saved.body["data"]["key"], "system_name");
    // The console remembers that id and saves through PUT with the prefixed key next time.
    app.put(
        Api::Admin,
        &format!("/api/admin/configs/{id}"),
        json!({"key": "basic.system_name", "value": "\"又一个\"", "category": "basic"}),
        Some(&root),
    )
    .await
    .assert_status(200);

    let after = rows(&app, &root).await;
    assert_eq!(after.len(), before.len(), "no extra row");
    let name = row(&after, "system_name");
    assert_eq!(name["value"], "\"又一个\"");
    assert_eq!(name["category"], "basic");
    assert_eq!(name["type"], "string", "the stored type is kept");
    assert!(!after.iter().any(|r| r["key"] == "basic.system_name"));
}

#[tokio::test]
async fn a_value_of_the_wrong_type_or_out_of_range_changes_nothing() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    for (category, name, bad) in [
        ("user", "password_min_length", json!(3)),
        ("user", "password_min_length", json!(7.5)),
        ("user", "password_min_length", json!("8")),
        ("user", "allow_register", json!(1)),
        ("user", "login_max_attempts", json!(-1)),
        ("chat", "billing_cycle", json!(0)),
        ("chat", "session_timeout", json!(0)),
        ("chat", "allow_image_message", json!("no")),
        ("payment", "platform_commission", json!(1.5)),
    ] {
        let reply = save(&app, &root, category, name, bad.clone()).await;
        assert_eq!(reply.status, 400, "{name} = {bad}: {}", reply.body);
    }
    let id = row(&rows(&app, &root).await, "password_min_length")["id"]
        .as_i64()
        .unwrap();
    app.put(
        Api::Admin,
        &format!("/api/admin/configs/{id}"),
        json!({"value": "200"}),
        Some(&root),
    )
    .await
    .assert_status(400);
    let after = rows(&app, &root).await;
    assert_eq!(row(&after, "password_min_length")["value"], "6");
    assert_eq!(row(&after, "allow_register")["value"], "true");
    assert_eq!(row(&after, "billing_cycle")["value"], "60");
    // Registration still follows the unchanged values.
    app.register("stillsix", "abcdef").await.assert_status(200);
}

#[tokio::test]
async fn allow_register_false_closes_registration() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    save(&app, &root, "user", "allow_register", json!(false))
        .await
        .assert_status(200);
    let closed = app.register("latecomer", "secret123").await;
    closed.assert_status(403);
    assert_eq!(closed.msg(), "系统暂未开放注册");
    save(&app, &root, "user", "allow_register", json!(true))
        .await
        .assert_status(200);
    app.register("latecomer", "secret123")
        .await
        .assert_status(200);
}

#[tokio::test]
async fn password_min_length_applies_to_registration_and_password_changes() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (_, token) = app.user_with_token("lengthy").await;
    save(&app, &root, "user", "password_min_length", json!(10))
        .await
        .assert_status(200);
    let short = app.register("shorty", "nine_char").await;
    short.assert_status(400);
    assert!(short.msg().contains("10"), "{}", short.msg());
    app.register("shorty", "ten_chars!")
        .await
        .assert_status(200);
    let change = |new: &'static str| {
        app.post(
            Api::User,
            "/api/user/password",
            json!({"old_password": "secret123", "new_password": new}),
            Some(&token),
        )
    };
    change("nine_char").await.assert_status(400);
    change("ten_chars!").await.assert_status(200);
}

#[tokio::test]
async fn login_max_attempts_and_lock_time_lock_the_account() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    app.user_with_token("lockme").await;
    save(&app, &root, "user", "login_max_attempts", json!(2))
        .await
        .assert_status(200);
    save(&app, &root, "user", "login_lock_time", json!(7))
        .await
        .assert_status(200);
    app.login("lockme", "wrong-one").await.assert_status(401);
    app.login("lockme", "wrong-two").await.assert_status(401);
    let locked = app.login("lockme", "secret123").await;
    locked.assert_status(403);
    assert!(
        locked.msg().contains("锁定") && locked.msg().contains('7'),
        "{}",
        locked.msg()
    );
    // Another account is not affected, and 0 turns the lockout off.
    app.user_with_token("other").await;
    save(&app, &root, "user", "login_max_attempts", json!(0))
        .await
        .assert_status(200);
    app.login("lockme", "secret123").await.assert_status(200);
}

/// Sets chat setting `name` to `value`, then runs a chat of a few seconds and returns its billing.
async fn bill_a_short_chat_with(name: &str, value: Value) -> (billing::Model, i64) {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    save(&app, &root, "chat", name, value)
        .await
        .assert_status(200);
    let b = booking(&app, 30, 100).await;
    let (session_id, _user, _counselor) = active_chat(&app, &b).await;
    end_as_buyer(&app, &b, session_id).await;
    let bill = billing::Entity::find()
        .filter(billing::Column::SessionId.eq(session_id))
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    (bill, b.amount)
}

#[tokio::test]
async fn free_chat_duration_makes_a_short_chat_free() {
    let (bill, prepaid) = bill_a_short_chat_with("free_chat_duration", json!(10)).await;
    assert_eq!((bill.billed_minutes, bill.total_amount), (0, 0));
    assert_eq!(bill.refund_amount, prepaid);
}

#[tokio::test]
async fn billing_cycle_sets_the_billing_unit() {
    // Ten-minute cycles: a chat of a few seconds is billed one whole cycle.
    let (bill, prepaid) = bill_a_short_chat_with("billing_cycle", json!(600)).await;
    assert_eq!((bill.billed_minutes, bill.total_amount), (10, 1000));
    assert_eq!(bill.refund_amount, prepaid - 1000);
}

#[tokio::test]
async fn session_timeout_is_the_idle_timeout_of_a_chat() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let state = &app.running.state;
    let b = booking(&app, 30, 100).await;
    let (session_id, _user, _counselor) = active_chat(&app, &b).await;
    // Silent for two minutes: within the default 30, so the watchdog leaves it alone.
    let two_minutes_ago = chrono::Utc::now() - chrono::Duration::minutes(2);
    let backdate = || async {
        app.exec_sql(
            "UPDATE chat_sessions SET updated_at = ? WHERE id = ?",
            vec![two_minutes_ago.into(), session_id.into()],
        )
        .await;
        state
            .infra
            .cache
            .delete(&format!("chat:activity:{session_id}"))
            .await
            .unwrap();
    };
    backdate().await;
    mychat::modules::chat::service::watchdog_pass(state)
        .await
        .unwrap();
    let s = mychat::modules::chat::service::get_session(app.db(), session_id)
        .await
        .unwrap();
    assert_eq!(s.status, 1, "still active under the default timeout");

    save(&app, &root, "chat", "session_timeout", json!(1))
        .await
        .assert_status(200);
    backdate().await;
    mychat::modules::chat::service::watchdog_pass(state)
        .await
        .unwrap();
    let s = mychat::modules::chat::service::get_session(app.db(), session_id)
        .await
        .unwrap();
    assert_eq!(s.status, 3, "timed out after one idle minute");
}

#[tokio::test]
async fn image_and_voice_messages_can_be_switched_off() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, _counselor) = active_chat(&app, &b).await;
    let path = format!("/api/chat/session/{session_id}/message");
    let post = |content_type: &'static str| {
        app.post(
            Api::User,
            &path,
            json!({"content_type": content_type, "content": "x", "file_url": "/uploads/a.png"}),
            Some(&b.buyer_token),
        )
    };
    post("image").await.assert_status(200);
    post("voice").await.assert_status(200);

    save(&app, &root, "chat", "allow_image_message", json!(false))
        .await
        .assert_status(200);
    let refused = post("image").await;
    refused.assert_status(403);
    assert!(refused.msg().contains("图片"), "{}", refused.msg());
    post("voice").await.assert_status(200);
    post("text").await.assert_status(200);
    send(
        &mut user,
        json!({"type": "message", "session_id": session_id,
               "data": {"content_type": "image", "content": "x", "file_url": "/uploads/a.png"}}),
    )
    .await;
    let error = next_of(&mut user, "error", 5).await;
    assert!(
        error["data"]["error"].as_str().unwrap().contains("图片"),
        "{error}"
    );

    save(&app, &root, "chat", "allow_voice_message", json!(false))
        .await
        .assert_status(200);
    let refused = post("voice").await;
    refused.assert_status(403);
    assert!(refused.msg().contains("语音"), "{}", refused.msg());
    send(
        &mut user,
        json!({"type": "message", "session_id": session_id,
               "data": {"content_type": "voice", "content": "x", "file_url": "/uploads/a.mp3"}}),
    )
    .await;
    let error = next_of(&mut user, "error", 5).await;
    assert!(
        error["data"]["error"].as_str().unwrap().contains("语音"),
        "{error}"
    );
}

#[tokio::test]
async fn payment_channel_keys_cannot_be_changed_from_the_console() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    // Saving the payment tab unchanged still works, with the settings beside the channel keys.
    save(&app, &root, "payment", "wechat_api_key", json!(""))
        .await
        .assert_status(200);
    save(&app, &root, "payment", "platform_commission", json!(0.25))
        .await
        .assert_status(200);
    for (name, value) in [
        ("wechat_api_key", "k3y"),
        ("wechat_mch_id", "1900000001"),
        ("alipay_app_id", "2021000000"),
    ] {
        let refused = save(&app, &root, "payment", name, json!(value)).await;
        refused.assert_status(400);
        assert!(refused.msg().contains("payments."), "{}", refused.msg());
    }
    let after = rows(&app, &root).await;
    assert_eq!(row(&after, "wechat_api_key")["value"], "\"\"");
    assert_eq!(row(&after, "platform_commission")["value"], "0.25");
}
