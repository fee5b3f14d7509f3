//! Privacy of counselling records: every staff read of chat content is audited (with its reason, which
//! `privacy.require_reason` makes mandatory), the audit rows are append-only, the console's
//! `message_retention_days` purges old content after a visible dry run while money rows stay, and a user
//! can export everything about them and erase their account.

use std::time::Duration;

use futures_util::StreamExt;
use mychat::modules::chat::entity::{billing, message};
use mychat::modules::payments::entity::user_transaction;
use mychat::modules::users::entity as user;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::chat_fixtures::{Booking, Ws, active_chat, booking, end_as_buyer};
use crate::files::form;
use crate::helpers::{Api, Reply, TestApp, spawn_app, spawn_app_with, tiny_png};

/// Sends a text message over REST as `token`'s owner.
async fn say(app: &TestApp, session_id: i64, token: &str, text: &str) {
    app.post(
        Api::User,
        &format!("/api/chat/session/{session_id}/message"),
        json!({ "content": text }),
        Some(token),
    )
    .await
    .assert_status(200);
}

/// A finished session of `b` with one message from each side; returns the session id and both sockets.
async fn finished_chat(app: &TestApp, b: &Booking) -> (i64, Ws, Ws) {
    let (session_id, user_ws, counselor_ws) = active_chat(app, b).await;
    say(app, session_id, &b.buyer_token, "我最近很焦虑").await;
    say(app, session_id, &b.counselor_token, "我们慢慢聊").await;
    end_as_buyer(app, b, session_id).await;
    (session_id, user_ws, counselor_ws)
}

async fn logs(app: &TestApp, admin: &str, query: &str) -> Reply {
    let reply = app
        .get(Api::Admin, &format!("/api/admin/logs?{query}"), Some(admin))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
}

async fn chat_file(app: &TestApp, token: &str, session_id: i64) -> (i64, String) {
    let reply = app
        .send(
            app.request(Method::POST, Api::User, "/api/upload", Some(token))
                .multipart(form(
                    "scan.png",
                    tiny_png(),
                    &[
                        ("file_type", "image"),
                        ("relation_type", "session"),
                        ("relation_id", &session_id.to_string()),
                    ],
                )),
        )
        .await;
    reply.assert_status(200);
    (
        reply.body["data"]["id"].as_i64().unwrap(),
        reply.body["data"]["file_url"].as_str().unwrap().to_owned(),
    )
}

async fn status_of_url(app: &TestApp, url: &str) -> u16 {
    app.client
        .get(app.url(Api::User, url))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn staff_reads_of_chat_content_are_audited_with_who_which_session_and_why() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, _u, _c) = finished_chat(&app, &b).await;
    let admin = app.admin_token().await;
    let before = logs(&app, &admin, "action=chat:read").await.body["total"]
        .as_u64()
        .unwrap();
    assert_eq!(before, 0);

    // A list of sessions shows no content and is not a read of records.
    app.get(Api::Admin, "/api/admin/chat/sessions", Some(&admin))
        .await
        .assert_status(200);
    app.get(
        Api::Admin,
        &format!(
            "/api/admin/chat/sessions/{session_id}/messages?reason=%E6%8A%95%E8%AF%89%E6%A0%B8%E6%9F%A5"
        ),
        Some(&admin),
    )
    .await
    .assert_status(200);
    let search = app
        .get(
            Api::Admin,
            "/api/admin/chat/messages/search?keyword=%E7%84%A6%E8%99%91",
            Some(&admin),
        )
        .await;
    search.assert_status(200);
    assert_eq!(search.body["data"]["total"], 1);
    app.get(Api::Admin, "/api/admin/chat/statistics", Some(&admin))
        .await
        .assert_status(200);

    let reads = logs(&app, &admin, "action=chat:read&page_size=100").await;
    assert_eq!(reads.body["total"], 3, "{}", reads.body);
    for row in reads.body["list"].as_array().unwrap() {
        assert_eq!(row["operator"], "admin");
        assert_eq!(row["module"], "privacy");
        assert_eq!(row["target"], session_id.to_string());
        assert_eq!(row["method"], "GET");
        assert!(row["created_at"].is_string());
    }
    let with_reason = logs(
        &app,
        &admin,
        &format!("session_id={session_id}&path=x&action=chat:read"),
    )
    .await;
    let rows = with_reason.body["list"].as_array().unwrap();
    let messages_read = rows
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("/messages"))
        .expect("the messages read");
    assert!(
        messages_read["description"]
            .as_str()
            .unwrap()
            .contains("投诉核查")
    );
    let data: Value =
        serde_json::from_str(messages_read["request_data"].as_str().unwrap()).unwrap();
    assert_eq!(data["reason"], "投诉核查");
    assert_eq!(data["route"], "session_messages");
    // Another session has no reads.
    let other = logs(&app, &admin, "session_id=999999").await;
    assert_eq!(other.body["total"], 0);
    app.get(Api::Admin, "/api/admin/logs?session_id=abc", Some(&admin))
        .await
        .assert_status(400);

    // Append-only: no route deletes or edits audit rows.
    let id = rows[0]["id"].as_i64().unwrap();
    for (method, path) in [
        (Method::DELETE, "/api/admin/logs".to_owned()),
        (Method::DELETE, format!("/api/admin/logs/{id}")),
        (Method::PUT, format!("/api/admin/logs/{id}")),
        (Method::POST, "/api/admin/logs/clear".to_owned()),
    ] {
        let reply = app
            .send(app.request(method.clone(), Api::Admin, &path, Some(&admin)))
            .await;
        assert!(
            [404, 405].contains(&reply.status.as_u16()),
            "{method} {path}: {}",
            reply.status
        );
    }
    let after = logs(&app, &admin, "action=chat:read").await;
    assert_eq!(after.body["total"], 3);
}

#[tokio::test]
async fn with_require_reason_a_content_read_without_a_reason_is_refused() {
    let app = spawn_app_with(&[("privacy.require_reason", json!(true))]).await;
    let b = booking(&app, 30, 100).await;
    let (session_id, _u, _c) = finished_chat(&app, &b).await;
    let admin = app.admin_token().await;
    for path in [
        format!("/api/admin/chat/sessions/{session_id}/messages"),
        format!("/api/admin/chat/sessions/{session_id}/messages?reason=%20"),
        "/api/admin/chat/messages/search?keyword=abc".to_owned(),
        "/api/admin/chat/statistics".to_owned(),
    ] {
        let reply = app.get(Api::Admin, &path, Some(&admin)).await;
        reply.assert_status(400);
        assert!(reply.msg().contains("reason"), "{path}: {}", reply.body);
    }
    assert_eq!(
        logs(&app, &admin, "action=chat:read").await.body["total"],
        0,
        "a refused read discloses nothing and is not logged as one"
    );
    let ok = app
        .get(
            Api::Admin,
            &format!("/api/admin/chat/sessions/{session_id}/messages?reason=audit-42"),
            Some(&admin),
        )
        .await;
    ok.assert_status(200);
    assert_eq!(ok.body["total"], 2);
    let reads = logs(&app, &admin, "action=chat:read").await;
    assert_eq!(reads.body["total"], 1);
    assert!(
        reads.body["list"][0]["description"]
            .as_str()
            .unwrap()
            .contains("audit-42")
    );
    // The list of sessions carries no content and needs no reason.
    app.get(Api::Admin, "/api/admin/chat/sessions", Some(&admin))
        .await
        .assert_status(200);
}

async fn retention(app: &TestApp, admin: &str) -> Value {
    let reply = app
        .get(Api::Admin, "/api/admin/privacy/retention", Some(admin))
        .await;
    reply.assert_status(200);
    reply.body["data"].clone()
}

#[tokio::test]
async fn retention_shows_a_dry_run_then_purges_old_content_and_keeps_the_money_rows() {
    let app = spawn_app_with(&[
        ("privacy.retention_grace_secs", json!(3)),
        ("privacy.retention_interval_secs", json!(1)),
        ("privacy.retention_batch", json!(1)),
    ])
    .await;
    let b = booking(&app, 30, 100).await;
    let (session_id, _u, _c) = finished_chat(&app, &b).await;
    let (file_id, file_url) = chat_file(&app, &b.buyer_token, session_id).await;
    // The first message and the file are 40 days old; the second message is new.
    let old = chrono::Utc::now() - chrono::Duration::days(40);
    app.exec_sql(
        "UPDATE chat_messages SET created_at = ? WHERE session_id = ? AND seq = 1",
        vec![old.into(), session_id.into()],
    )
    .await;
    app.exec_sql(
        "UPDATE files SET created_at = ? WHERE id = ?",
        vec![old.into(), file_id.into()],
    )
    .await;
    let admin = app.admin_token().await;

    // Off by default: nothing to purge, and a manual purge is refused.
    let off = retention(&app, &admin).await;
    assert_eq!(off["retention_days"], 0);
    assert_eq!(off["messages"], 0);
    assert!(off["cutoff"].is_null());
    app.post(
        Api::Admin,
        "/api/admin/privacy/retention/purge",
        json!({}),
        Some(&admin),
    )
    .await
    .assert_status(400);

    // Set through the console's route, as it saves the chat tab.
    app.post(
        Api::Admin,
        "/api/admin/configs",
        json!({ "key": "chat.message_retention_days", "value": "30", "category": "chat",
            "label": "消息保留天数", "type": "number", "is_system": true, "sort": 0, "remark": "" }),
        Some(&admin),
    )
    .await
    .assert_status(200);
    let dry_run = retention(&app, &admin).await;
    assert_eq!(dry_run["retention_days"], 30);
    assert_eq!(dry_run["messages"], 1, "{dry_run}");
    assert_eq!(dry_run["files"], 1);
    assert_eq!(dry_run["purge_allowed"], false);
    assert!(dry_run["purge_allowed_from"].is_string());
    assert!(dry_run["last_purge_at"].is_null());
    app.post(
        Api::Admin,
        "/api/admin/privacy/retention/purge",
        json!({}),
        Some(&admin),
    )
    .await
    .assert_status(409);
    let content = message::Entity::find()
        .filter(message::Column::SessionId.eq(session_id))
        .filter(message::Column::Seq.eq(1))
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    // Still there (sealed at rest), and it opens.
    let opened =
        mychat::modules::chat::service::open_message(&app.running.state.chat_keys, content);
    assert_eq!(opened.content.as_deref(), Some("我最近很焦虑"));

    // After the grace period the job purges on its own.
    let mut purged = Value::Null;
    for _ in 0..60 {
        let now = retention(&app, &admin).await;
        if !now["last_purge_at"].is_null() {
            purged = now;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(!purged.is_null(), "the job purged within 15 s");
    assert_eq!(purged["messages"], 0);
    assert_eq!(purged["files"], 0);
    assert_eq!(purged["last_purge"]["messages"], 1);
    assert_eq!(purged["last_purge"]["files"], 1);

    // The message rows stay in sequence; only the old one lost its content.
    let history = app
        .get(
            Api::User,
            &format!("/api/chat/messages/{session_id}"),
            Some(&b.buyer_token),
        )
        .await;
    history.assert_status(200);
    let list = history.body["data"]["messages"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{}", history.body);
    assert_eq!(list[0]["seq"], 1);
    assert_eq!(list[0]["content"], "");
    assert_eq!(list[1]["content"], "我们慢慢聊");
    app.get(
        Api::User,
        &format!("/api/file/{file_id}"),
        Some(&b.buyer_token),
    )
    .await
    .assert_status(404);
    assert_eq!(status_of_url(&app, &file_url).await, 404);

    // Billing, ledger and order rows stay, and the purge is in the audit log.
    assert_eq!(
        billing::Entity::find()
            .filter(billing::Column::SessionId.eq(session_id))
            .count(app.db())
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.order_status(b.order_id).await, 2);
    assert!(
        user_transaction::Entity::find()
            .filter(user_transaction::Column::UserId.eq(b.buyer_id))
            .count(app.db())
            .await
            .unwrap()
            > 0
    );
    let purges = logs(&app, &admin, "action=privacy:retention").await;
    assert_eq!(purges.body["total"], 1);
}

#[tokio::test]
async fn a_user_exports_their_account_orders_money_and_conversations_as_one_document() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, _u, _c) = finished_chat(&app, &b).await;
    app.fund_wallet(&b.buyer_token, 5.0).await;

    let res = app
        .client
        .get(app.url(Api::User, "/api/user/export"))
        .bearer_auth(&b.buyer_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let disposition = res.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], 200);
    let doc = &body["data"];
    assert_eq!(doc["account"]["id"], b.buyer_id);
    assert!(doc["account"].get("password").is_none());
    assert!(
        doc["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == b.order_id)
    );
    assert!(!doc["payments"].as_array().unwrap().is_empty());
    assert!(!doc["wallet_transactions"].as_array().unwrap().is_empty());
    assert!(doc["reviews"].is_array());
    assert!(doc["counselor"].is_null());
    assert!(doc["counselor_finance"].is_null());
    let sessions = doc["chat_sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["id"], session_id);
    assert_eq!(sessions[0]["role"], "user");
    let texts: Vec<&str> = sessions[0]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["我最近很焦虑", "我们慢慢聊"]);

    // The counselor's export has the same session, as counselor, and their profile.
    let theirs = app
        .get(Api::User, "/api/user/export", Some(&b.counselor_token))
        .await;
    theirs.assert_status(200);
    assert_eq!(theirs.body["data"]["chat_sessions"][0]["role"], "counselor");
    assert_eq!(
        theirs.body["data"]["chat_sessions"][0]["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(theirs.body["data"]["counselor"]["id"], b.counselor_id);
    // Their money: the session's income, then a withdrawal with the bank details they gave.
    let finance = &theirs.body["data"]["counselor_finance"];
    assert_eq!(finance["account"]["counselor_id"], b.counselor_id);
    let earned = finance["account"]["balance"].as_f64().unwrap();
    assert!(earned > 0.0, "{finance}");
    let kinds = |f: &Value| -> Vec<String> {
        f["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(finance), ["income"]);
    app.post(
        Api::User,
        "/api/chat/counselor/withdraw",
        json!({"amount": earned, "bank_name": "银行", "bank_account": "6222000000001234", "account_name": "李"}),
        Some(&b.counselor_token),
    )
    .await
    .assert_status(200);
    let after = app
        .get(Api::User, "/api/user/export", Some(&b.counselor_token))
        .await;
    let finance = &after.body["data"]["counselor_finance"];
    assert_eq!(kinds(finance), ["income", "withdraw_freeze"]);
    assert_eq!(finance["account"]["balance"], 0.0);
    assert_eq!(
        finance["withdrawals"][0]["bank_account"],
        "6222000000001234"
    );
    assert_eq!(finance["withdrawals"][0]["amount"], earned);
    assert!(
        theirs.body["data"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["id"] == b.order_id)
    );

    app.get(Api::User, "/api/user/export", None)
        .await
        .assert_status(401);
}

/// Waits for the socket to be closed by the server.
async fn closed(ws: &mut Ws) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_))) => return true,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

#[tokio::test]
async fn erasing_an_account_removes_personal_data_and_keeps_the_money_records() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user_ws, _c) = active_chat(&app, &b).await;
    say(&app, session_id, &b.buyer_token, "我最近很焦虑").await;
    say(&app, session_id, &b.counselor_token, "我们慢慢聊").await;
    let (file_id, file_url) = chat_file(&app, &b.counselor_token, session_id).await;
    let erase = |password: &'static str| {
        app.post(
            Api::User,
            "/api/user/delete",
            json!({ "password": password }),
            Some(&b.buyer_token),
        )
    };

    let live = erase("secret123").await;
    live.assert_status(409);
    assert!(live.msg().contains("会话"), "{}", live.body);
    end_as_buyer(&app, &b, session_id).await;
    erase("wrong-password").await.assert_status(400);
    app.post(
        Api::User,
        "/api/user/delete",
        json!({}),
        Some(&b.buyer_token),
    )
    .await
    .assert_status(400);
    let username = app
        .get(Api::User, "/api/user/info", Some(&b.buyer_token))
        .await
        .body["data"]["username"]
        .as_str()
        .unwrap()
        .to_owned();

    erase("secret123").await.assert_status(200);

    // Signed out everywhere: the token is refused, the socket is closed, the password no longer logs in.
    app.get(Api::User, "/api/user/info", Some(&b.buyer_token))
        .await
        .assert_status(401);
    assert!(closed(&mut user_ws).await, "the user's socket is closed");
    assert_ne!(app.login(&username, "secret123").await.status, 200);
    assert_ne!(
        app.login(&format!("deleted_{}", b.buyer_id), "")
            .await
            .status,
        200
    );

    let row = user::Entity::find_by_id(b.buyer_id)
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.username, format!("deleted_{}", b.buyer_id));
    assert_eq!(row.email, None);
    assert_eq!(row.phone, "");
    assert_eq!(row.avatar, "");
    assert_eq!(row.status, 0);

    // The conversation and the files shared in it are gone.
    assert_eq!(
        message::Entity::find()
            .filter(message::Column::SessionId.eq(session_id))
            .count(app.db())
            .await
            .unwrap(),
        0
    );
    app.get(
        Api::User,
        &format!("/api/file/{file_id}"),
        Some(&b.counselor_token),
    )
    .await
    .assert_status(404);
    assert_eq!(status_of_url(&app, &file_url).await, 404);

    // Orders, billing and the wallet ledger stay.
    assert_eq!(app.order_status(b.order_id).await, 2);
    assert_eq!(
        billing::Entity::find()
            .filter(billing::Column::SessionId.eq(session_id))
            .count(app.db())
            .await
            .unwrap(),
        1
    );
    assert!(
        user_transaction::Entity::find()
            .filter(user_transaction::Column::UserId.eq(b.buyer_id))
            .count(app.db())
            .await
            .unwrap()
            > 0
    );
    let admin = app.admin_token().await;
    let erasures = logs(
        &app,
        &admin,
        &format!("action=privacy:erasure&target={}", b.buyer_id),
    )
    .await;
    assert_eq!(erasures.body["total"], 1);
}

#[tokio::test]
async fn an_erased_counselor_is_anonymised_and_their_clients_keep_their_own_messages() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, _u, _c) = finished_chat(&app, &b).await;

    app.post(
        Api::User,
        "/api/user/delete",
        json!({ "password": "secret123" }),
        Some(&b.counselor_token),
    )
    .await
    .assert_status(200);

    let admin = app.admin_token().await;
    let profile = app
        .get(
            Api::Admin,
            &format!("/api/admin/counselors/{}", b.counselor_id),
            Some(&admin),
        )
        .await;
    profile.assert_status(200);
    assert_eq!(profile.body["data"]["name"], "已注销咨询师");
    assert_eq!(profile.body["data"]["status"], 0);
    assert_eq!(profile.body["data"]["avatar"], "");
    let public = app
        .get(Api::User, "/api/counselor/list", Some(&b.buyer_token))
        .await;
    assert_eq!(public.body["data"]["total"], 0, "{}", public.body);

    let history = app
        .get(
            Api::User,
            &format!("/api/chat/messages/{session_id}"),
            Some(&b.buyer_token),
        )
        .await;
    history.assert_status(200);
    let list = history.body["data"]["messages"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["content"], "我最近很焦虑");
    assert_eq!(app.order_status(b.order_id).await, 2);
}

#[tokio::test]
async fn an_account_with_a_paid_order_in_progress_cannot_be_erased() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let reply = app
        .post(
            Api::User,
            "/api/user/delete",
            json!({ "password": "secret123" }),
            Some(&b.buyer_token),
        )
        .await;
    reply.assert_status(409);
    assert!(reply.msg().contains("订单"), "{}", reply.body);
    // Nor its counselor.
    app.post(
        Api::User,
        "/api/user/delete",
        json!({ "password": "secret123" }),
        Some(&b.counselor_token),
    )
    .await
    .assert_status(409);
    app.get(Api::User, "/api/user/info", Some(&b.buyer_token))
        .await
        .assert_status(200);
}
