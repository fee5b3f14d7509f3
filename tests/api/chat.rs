//! Chat over WebSocket and REST: two real clients, both frame dialects, seq and idempotent resends,
//! catch-up, outsiders, and billing exactly once whichever path ends a session.

use std::time::Duration;

use mychat::modules::chat::entity::billing;
use mychat::modules::finance::service as finance;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Statement};
use serde_json::json;

use crate::chat_fixtures::*;
use crate::helpers::{Api, spawn_app, spawn_app_with};
use crate::user_auth::sql;

#[tokio::test]
async fn two_clients_chat_in_both_dialects_with_seq_and_acks() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 200).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;

    // The Vue client's dialect: `payload`, no session_id.
    send(
        &mut user,
        json!({"type": "message", "payload": {"content_type": "text", "content": "你好"}}),
    )
    .await;
    let ack = next_of(&mut user, "message", 5).await;
    let got = next_of(&mut counselor, "message", 5).await;
    assert_eq!(ack["data"]["seq"], 1);
    assert_eq!(ack["session_id"], session_id);
    assert_eq!(got["data"]["content"], "你好");
    assert_eq!(got["data"]["sender_type"], "user");
    assert_eq!(got["data"]["sender_id"], b.buyer_id);
    assert_eq!(got["payload"], got["data"], "payload mirrors data");

    // The original dialect, with a client id.
    let frame = json!({"type": "message", "session_id": session_id, "data": {"content": "您好", "client_msg_id": "c-1"}});
    send(&mut counselor, frame.clone()).await;
    let first = next_of(&mut counselor, "message", 5).await;
    let seen = next_of(&mut user, "message", 5).await;
    assert_eq!(first["data"]["seq"], 2);
    assert_eq!(seen["data"]["sender_type"], "counselor");
    // A resend is answered with the stored message and not delivered or stored again.
    send(&mut counselor, frame).await;
    let again = next_of(&mut counselor, "message", 5).await;
    assert_eq!(again["data"]["message_id"], first["data"]["message_id"]);
    assert_no_frame(&mut user, "message", 400).await;

    let history = app
        .get(
            Api::User,
            &format!("/api/chat/messages/{session_id}?page=1&page_size=100"),
            Some(&b.buyer_token),
        )
        .await;
    history.assert_status(200);
    let messages = history.body["data"]["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["seq"], 1);
    assert_eq!(messages[1]["seq"], 2);
    assert!(
        messages[0]["sender"]["username"]
            .as_str()
            .unwrap()
            .starts_with("buyer")
    );
    assert_eq!(messages[0]["session"]["counselor"]["name"], "李老师");
    assert_eq!(
        messages[0]["session"]["duration"], 30,
        "booked minutes for the countdown"
    );
    assert!(messages[0]["session"]["start_time"].is_string());
}

#[tokio::test]
async fn a_reconnecting_client_catches_up_after_its_last_seq() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    for text in ["一", "二", "三"] {
        send(
            &mut counselor,
            json!({"type": "message", "data": {"content": text}}),
        )
        .await;
        next_of(&mut counselor, "message", 5).await;
    }
    let _ = next_of(&mut user, "message", 5).await;
    drop(user);
    let reply = app
        .get(
            Api::User,
            &format!("/api/chat/session/{session_id}/messages?after_seq=1"),
            Some(&b.buyer_token),
        )
        .await;
    reply.assert_status(200);
    let seqs: Vec<i64> = reply.body["data"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![2, 3]);
    assert_eq!(reply.body["data"]["last_seq"], 3);
}

#[tokio::test]
async fn every_connection_of_a_user_gets_every_frame() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    let mut second_tab = connect(&app, "/ws", &b.buyer_token).await;
    send(&mut second_tab, json!({"type": "ping"})).await;
    next_of(&mut second_tab, "pong", 5).await;
    send(
        &mut counselor,
        json!({"type": "message", "session_id": session_id, "data": {"content": "hi"}}),
    )
    .await;
    next_of(&mut user, "message", 5).await;
    let copy = next_of(&mut second_tab, "message", 5).await;
    assert_eq!(copy["data"]["content"], "hi");
}

#[tokio::test]
async fn outsiders_are_refused_before_and_after_the_upgrade() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let session_id = start_session(&app, b.order_id, &b.buyer_token).await;
    let (_, outsider) = app.user_with_token("outsider").await;
    let base = format!(
        "http://127.0.0.1:{}/ws/chat/{session_id}",
        app.port(Api::Ws)
    );
    let cases = [
        (base.clone(), 401, "缺少token"),
        (format!("{base}?token=garbage"), 401, "token无效"),
        (format!("{base}?token={outsider}"), 403, "无权加入此会话"),
        (
            format!(
                "http://127.0.0.1:{}/ws/chat/999999?token={outsider}",
                app.port(Api::Ws)
            ),
            404,
            "会话不存在",
        ),
    ];
    for (url, status, error) in cases {
        // A plain GET, as the original's tests did, and a real handshake, as a browser does.
        let res = app.client.get(&url).send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{url}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], error);
        let refused = tokio_tungstenite::connect_async(url.replacen("http://", "ws://", 1)).await;
        let Err(tokio_tungstenite::tungstenite::Error::Http(res)) = refused else {
            panic!("{url}: the handshake was not refused: {refused:?}");
        };
        assert_eq!(res.status().as_u16(), status, "{url}");
        let body: serde_json::Value =
            serde_json::from_slice(res.body().as_deref().unwrap_or_default()).unwrap();
        assert_eq!(body["error"], error, "{url}");
    }
    // A socket path with a bad id, and a path that takes no sockets.
    for (path, status) in [("/ws/chat/abc", 400), ("/ws/nowhere", 404)] {
        let url = format!(
            "ws://127.0.0.1:{}{path}?token={outsider}",
            app.port(Api::Ws)
        );
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status().as_u16(), status, "{url}")
            }
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }
    // An admin token is not a user token.
    let admin = app.admin_token().await;
    let res = app
        .client
        .get(format!("{base}?token={admin}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    for path in [
        format!("/api/chat/messages/{session_id}"),
        format!("/api/chat/session/{session_id}/messages"),
    ] {
        app.get(Api::User, &path, Some(&outsider))
            .await
            .assert_status(403);
    }
    app.post(
        Api::User,
        &format!("/api/chat/session/{session_id}/message"),
        json!({"content": "x"}),
        Some(&outsider),
    )
    .await
    .assert_status(403);
    app.post(
        Api::User,
        &format!("/api/chat/end/{session_id}"),
        json!({}),
        Some(&outsider),
    )
    .await
    .assert_status(403);
    app.post(
        Api::User,
        &format!("/api/chat/start/{}", b.order_id),
        json!({}),
        Some(&outsider),
    )
    .await
    .assert_status(403);

    // Over a generic socket, an outsider's join and message get error frames.
    let mut ws = connect(&app, "/ws", &outsider).await;
    send(&mut ws, json!({"type": "join", "session_id": session_id})).await;
    assert_eq!(
        next_of(&mut ws, "error", 5).await["data"]["error"],
        "无权访问此会话"
    );
    send(
        &mut ws,
        json!({"type": "message", "session_id": session_id, "data": {"content": "x"}}),
    )
    .await;
    assert_eq!(
        next_of(&mut ws, "error", 5).await["data"]["error"],
        "无权访问此会话"
    );
}

#[tokio::test]
async fn messages_need_an_active_session_and_an_unmuted_sender() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let session_id = start_session(&app, b.order_id, &b.buyer_token).await;
    // Waiting: the counselor has not joined.
    let mut user = connect(&app, &format!("/ws/chat/{session_id}"), &b.buyer_token).await;
    next_of(&mut user, "join_success", 5).await;
    send(
        &mut user,
        json!({"type": "message", "data": {"content": "早"}}),
    )
    .await;
    assert_eq!(
        next_of(&mut user, "error", 5).await["data"]["error"],
        "会话未进行中"
    );
    let rest = app
        .post(
            Api::User,
            &format!("/api/chat/session/{session_id}/message"),
            json!({"content": "早", "sender_type": "user"}),
            Some(&b.buyer_token),
        )
        .await;
    rest.assert_status(400);

    // The counselor opening it starts it; then a muted user is refused.
    app.post(
        Api::User,
        &format!("/api/chat/start/{}", b.order_id),
        json!({}),
        Some(&b.counselor_token),
    )
    .await
    .assert_status(200);
    next_of(&mut user, "session_start", 5).await;
    mychat::modules::chat::service::set_muted(&app.running.state, b.buyer_id, true)
        .await
        .unwrap();
    send(
        &mut user,
        json!({"type": "message", "data": {"content": "早"}}),
    )
    .await;
    assert_eq!(
        next_of(&mut user, "error", 5).await["data"]["error"],
        "您已被禁言"
    );
    mychat::modules::chat::service::set_muted(&app.running.state, b.buyer_id, false)
        .await
        .unwrap();
    send(
        &mut user,
        json!({"type": "message", "data": {"content": "早"}}),
    )
    .await;
    assert_eq!(next_of(&mut user, "message", 5).await["data"]["seq"], 1);

    // Bad frames get error frames, not a dropped socket.
    send(
        &mut user,
        json!({"type": "message", "data": {"content": ""}}),
    )
    .await;
    next_of(&mut user, "error", 5).await;
    send(&mut user, json!({"type": "bogus"})).await;
    assert_eq!(
        next_of(&mut user, "error", 5).await["data"]["error"],
        "未知消息类型"
    );
    use futures_util::SinkExt;
    user.send(tokio_tungstenite::tungstenite::Message::text("{not json"))
        .await
        .unwrap();
    next_of(&mut user, "error", 5).await;
    send(&mut user, json!({"type": "ping"})).await;
    next_of(&mut user, "pong", 5).await;
}

#[tokio::test]
async fn typing_is_relayed_and_read_markers_reach_the_sender() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    send(
        &mut user,
        json!({"type": "typing", "payload": {"is_typing": true}}),
    )
    .await;
    let typing = next_of(&mut counselor, "typing", 5).await;
    assert_eq!(typing["data"]["user_id"], b.buyer_id);
    send(
        &mut user,
        json!({"type": "message", "data": {"content": "在吗"}}),
    )
    .await;
    let msg = next_of(&mut counselor, "message", 5).await;
    send(&mut counselor, json!({"type": "read", "session_id": session_id, "data": {"message_id": msg["data"]["message_id"]}})).await;
    let read = next_of(&mut user, "message_read", 5).await;
    assert_eq!(read["data"]["read_by"], b.counselor_user_id);
    assert_eq!(read["data"]["read_seq"], 1);
}

/// Asserts the money of one ended session: one billing row, the counselor credited, the rest refunded.
async fn assert_billed_once(app: &crate::helpers::TestApp, b: &Booking, session_id: i64) {
    let rows = billing::Entity::find()
        .filter(billing::Column::SessionId.eq(session_id))
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "exactly one billing row");
    let bill = &rows[0];
    assert_eq!(bill.total_amount + bill.refund_amount, b.amount);
    assert_eq!(bill.platform_fee + bill.counselor_fee, bill.total_amount);
    let account = finance::get_account(app.db(), b.counselor_id)
        .await
        .unwrap();
    assert_eq!(account.balance, bill.counselor_fee);
    assert_eq!(account.total_income, bill.counselor_fee);
    assert_eq!(
        finance::ledger_sums(app.db(), b.counselor_id)
            .await
            .unwrap(),
        (account.balance, 0)
    );
    let info = app
        .get(Api::User, "/api/user/info", Some(&b.buyer_token))
        .await;
    assert_eq!(
        info.body["data"]["balance"].as_f64().unwrap(),
        bill.refund_amount as f64 / 100.0,
        "unused minutes return to the wallet"
    );
    let order = mychat::modules::orders::service::get_order(app.db(), b.order_id)
        .await
        .unwrap();
    assert_eq!(
        order.status, 2,
        "the order completes when the session is billed"
    );
}

#[tokio::test]
async fn ending_over_rest_bills_once_and_a_second_end_is_refused() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 250).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    let reply = app
        .post(
            Api::User,
            &format!("/api/chat/end/{session_id}"),
            json!({}),
            Some(&b.buyer_token),
        )
        .await;
    reply.assert_status(200);
    let billing_frame = next_of(&mut user, "billing", 5).await;
    assert_eq!(billing_frame["data"]["duration_minutes"], 1);
    assert_eq!(billing_frame["data"]["total_amount"], 2.5);
    assert_eq!(billing_frame["data"]["counselor_fee"], 1.75);
    next_of(&mut user, "session_end", 5).await;
    next_of(&mut counselor, "session_end", 5).await;
    assert_billed_once(&app, &b, session_id).await;
    app.post(
        Api::User,
        &format!("/api/chat/session/{session_id}/end"),
        json!({}),
        Some(&b.counselor_token),
    )
    .await
    .assert_status(400);
    send(
        &mut user,
        json!({"type": "message", "data": {"content": "还在吗"}}),
    )
    .await;
    assert_eq!(
        next_of(&mut user, "error", 5).await["data"]["error"],
        "会话未进行中"
    );
}

#[tokio::test]
async fn ending_after_a_partial_refund_returns_only_what_is_left_of_the_order() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, _user, _counselor) = active_chat(&app, &b).await;
    // 20.00 of the 30.00 prepaid went back while the session ran.
    app.exec_sql(
        "UPDATE orders SET refunded_amount = ? WHERE id = ?",
        vec![2000_i64.into(), b.order_id.into()],
    )
    .await;

    end_as_buyer(&app, &b, session_id).await;

    let bill = billing::Entity::find()
        .filter(billing::Column::SessionId.eq(session_id))
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((bill.total_amount, bill.refund_amount), (100, 900));
    let order = mychat::modules::orders::service::get_order(app.db(), b.order_id)
        .await
        .unwrap();
    assert_eq!(order.refunded_amount, b.amount - bill.total_amount);
    assert_eq!(order.status, 2);
}

#[tokio::test]
async fn leaving_over_the_socket_bills_once() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    send(
        &mut counselor,
        json!({"type": "leave", "session_id": session_id}),
    )
    .await;
    next_of(&mut counselor, "session_end", 5).await;
    next_of(&mut user, "billing", 5).await;
    assert_billed_once(&app, &b, session_id).await;
    send(
        &mut counselor,
        json!({"type": "leave", "session_id": session_id}),
    )
    .await;
    next_of(&mut counselor, "error", 5).await;
}

#[tokio::test]
async fn two_ends_racing_bill_once() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, _user, _counselor) = active_chat(&app, &b).await;
    let path = format!("/api/chat/end/{session_id}");
    let (a, c) = tokio::join!(
        app.post(Api::User, &path, json!({}), Some(&b.buyer_token)),
        app.post(Api::User, &path, json!({}), Some(&b.counselor_token)),
    );
    let mut statuses = [a.status.as_u16(), c.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
    assert_billed_once(&app, &b, session_id).await;
}

async fn backdate_start(app: &crate::helpers::TestApp, session_id: i64, minutes: i64) {
    let backend = app.db().get_database_backend();
    let start = chrono::Utc::now() - chrono::Duration::minutes(minutes);
    app.db()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "UPDATE chat_sessions SET start_time = ?, updated_at = ? WHERE id = ?",
            ),
            [start.into(), start.into(), session_id.into()],
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_booked_duration_ending_bills_the_full_time_once() {
    let app = spawn_app_with(&[("chat.watchdog_interval_secs", json!(3600))]).await;
    let b = booking(&app, 15, 100).await;
    let (session_id, mut user, _counselor) = active_chat(&app, &b).await;
    backdate_start(&app, session_id, 20).await;
    let state = &app.running.state;
    assert_eq!(
        mychat::modules::chat::service::watchdog_pass(state)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        mychat::modules::chat::service::watchdog_pass(state)
            .await
            .unwrap(),
        0
    );
    let frame = next_of(&mut user, "billing", 5).await;
    assert_eq!(
        frame["data"]["duration_minutes"], 15,
        "capped at the booked minutes"
    );
    assert_billed_once(&app, &b, session_id).await;
}

#[tokio::test]
async fn both_parties_are_warned_five_minutes_before_the_end() {
    let app = spawn_app_with(&[("chat.watchdog_interval_secs", json!(3600))]).await;
    let b = booking(&app, 15, 100).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    backdate_start(&app, session_id, 11).await;
    let state = &app.running.state;
    mychat::modules::chat::service::watchdog_pass(state)
        .await
        .unwrap();
    for ws in [&mut user, &mut counselor] {
        let warning = next_of(ws, "system_message", 5).await;
        assert!(
            warning["data"]["content"]
                .as_str()
                .unwrap()
                .contains("分钟后结束")
        );
    }
    mychat::modules::chat::service::watchdog_pass(state)
        .await
        .unwrap();
    assert_no_frame(&mut user, "system_message", 300).await;
}

#[tokio::test]
async fn an_idle_session_times_out_and_bills_once() {
    let app = spawn_app_with(&[("chat.watchdog_interval_secs", json!(1))]).await;
    let b = booking(&app, 30, 100).await;
    let session_id = start_session(&app, b.order_id, &b.counselor_token).await;
    // Both have joined (the clock runs), then nobody sends anything for longer than the 30-minute
    // session_timeout: the watchdog times the session out on its own.
    start_session(&app, b.order_id, &b.buyer_token).await;
    app.exec_sql(
        "UPDATE chat_sessions SET updated_at = ? WHERE id = ?",
        vec![
            (chrono::Utc::now() - chrono::Duration::minutes(31)).into(),
            session_id.into(),
        ],
    )
    .await;
    let mut ended = false;
    for _ in 0..40 {
        let s = mychat::modules::chat::service::get_session(app.db(), session_id)
            .await
            .unwrap();
        if s.status == 3 {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ended, "the idle session timed out (status 3)");
    assert_billed_once(&app, &b, session_id).await;
}

#[tokio::test]
async fn a_session_that_never_started_refunds_the_order_in_full() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let session_id = start_session(&app, b.order_id, &b.buyer_token).await;
    end_as_buyer(&app, &b, session_id).await;
    let order = mychat::modules::orders::service::get_order(app.db(), b.order_id)
        .await
        .unwrap();
    assert_eq!(order.status, 4);
    let info = app
        .get(Api::User, "/api/user/info", Some(&b.buyer_token))
        .await;
    assert_eq!(info.body["data"]["balance"], 30.0);
    assert_eq!(
        finance::get_account(app.db(), b.counselor_id)
            .await
            .unwrap()
            .balance,
        0
    );
}

#[tokio::test]
async fn starting_needs_a_paid_order_and_returns_the_existing_session() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let first = start_session(&app, b.order_id, &b.buyer_token).await;
    let again = app
        .post(
            Api::User,
            &format!("/api/chat/session/{}/start", b.order_id),
            json!({}),
            Some(&b.counselor_token),
        )
        .await;
    again.assert_status(200);
    assert_eq!(again.body["data"]["session_id"], first);
    let lookup = app
        .get(
            Api::User,
            &format!("/api/chat/order/{}/session", b.order_id),
            Some(&b.buyer_token),
        )
        .await;
    assert_eq!(lookup.body["data"]["session_id"], first);
    let listed = app
        .get(Api::User, "/api/chat/sessions", Some(&b.counselor_token))
        .await;
    assert_eq!(listed.body["data"]["total"], 1);

    let unpaid = paid_order(&app, b.buyer_id, b.counselor_id, 30, 100).await;
    let backend = app.db().get_database_backend();
    app.db()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(backend, "UPDATE orders SET status = 0 WHERE id = ?"),
            [unpaid.into()],
        ))
        .await
        .unwrap();
    app.post(
        Api::User,
        &format!("/api/chat/start/{unpaid}"),
        json!({}),
        Some(&b.buyer_token),
    )
    .await
    .assert_status(400);
    app.get(
        Api::User,
        &format!("/api/chat/order/{unpaid}/session"),
        Some(&b.buyer_token),
    )
    .await
    .assert_status(404);
    app.post(
        Api::User,
        "/api/chat/start/999999",
        json!({}),
        Some(&b.buyer_token),
    )
    .await
    .assert_status(404);
    app.post(
        Api::User,
        "/api/chat/start/abc",
        json!({}),
        Some(&b.buyer_token),
    )
    .await
    .assert_status(404);
}

#[tokio::test]
async fn concurrent_withdrawals_approvals_and_rejections_keep_the_ledger_equal_to_the_balance() {
    let app = spawn_app().await;
    let b = booking(&app, 60, 1000).await;
    let (session_id, _u, _c) = active_chat(&app, &b).await;
    backdate_start(&app, session_id, 60).await;
    mychat::modules::chat::service::watchdog_pass(&app.running.state)
        .await
        .unwrap();
    let income = finance::get_account(app.db(), b.counselor_id)
        .await
        .unwrap()
        .balance;
    assert_eq!(income, 42_000, "70% of 60 × 10 yuan");

    // 50 withdrawal requests of 10 yuan race for 420 yuan: exactly 42 succeed.
    let requests = (0..50).map(|_| {
        app.post(
            Api::User,
            "/api/chat/counselor/withdraw",
            json!({"amount": 10, "bank_name": "工商银行", "bank_account": "6222", "account_name": "李"}),
            Some(&b.counselor_token),
        )
    });
    let replies = futures_util::future::join_all(requests).await;
    let ok_ids: Vec<i64> = replies
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.body["data"]["withdraw"]["id"].as_i64().unwrap())
        .collect();
    let unexpected: Vec<_> = replies
        .iter()
        .filter(|r| r.status != 200 && r.msg() != "余额不足")
        .map(|r| (r.status, r.body.to_string()))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert_eq!(ok_ids.len(), 42);

    // Approve half, reject the other half, twice over concurrently: each applies once.
    let admin = app.admin_token().await;
    let review_calls: Vec<(String, serde_json::Value)> = ok_ids
        .iter()
        .enumerate()
        .flat_map(|(i, id)| {
            let body = if i % 2 == 0 {
                json!({"approved": true})
            } else {
                json!({"approved": false, "rejected_reason": "信息有误"})
            };
            let path = format!("/api/admin/withdraw/{id}/approve");
            [(path.clone(), body.clone()), (path, body)]
        })
        .collect();
    let reviews = review_calls
        .iter()
        .map(|(path, body)| app.post(Api::Admin, path, body.clone(), Some(&admin)));
    let reviewed = futures_util::future::join_all(reviews).await;
    assert_eq!(reviewed.iter().filter(|r| r.status == 200).count(), 42);
    let transfer_paths: Vec<String> = ok_ids
        .iter()
        .step_by(2)
        .map(|id| format!("/api/admin/withdraw/{id}/transfer"))
        .collect();
    let transfers = transfer_paths
        .iter()
        .map(|path| app.post(Api::Admin, path, json!({}), Some(&admin)));
    for r in futures_util::future::join_all(transfers).await {
        r.assert_status(200);
    }

    let account = finance::get_account(app.db(), b.counselor_id)
        .await
        .unwrap();
    let (ledger_balance, ledger_frozen) = finance::ledger_sums(app.db(), b.counselor_id)
        .await
        .unwrap();
    assert_eq!(
        (account.balance, account.frozen_amount),
        (ledger_balance, ledger_frozen)
    );
    assert_eq!(account.withdrawn, 21 * 1000);
    assert_eq!(account.frozen_amount, 0);
    assert_eq!(
        account.balance,
        income - 21 * 1000,
        "rejected ones returned"
    );
    let count = mychat::modules::finance::entity::withdrawal::Entity::find()
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(count, 42);
}

#[tokio::test]
async fn a_silent_socket_is_closed_but_any_inbound_frame_keeps_it_open() {
    use futures_util::StreamExt;
    let app = spawn_app_with(&[
        ("chat.ws_ping_interval_secs", json!(1)),
        ("chat.ws_idle_timeout_secs", json!(2)),
    ])
    .await;
    let (_, token) = app.user_with_token("sleepy").await;
    let mut chatty = connect(&app, "/ws", &token).await;
    let mut silent = connect(&app, "/ws", &token).await;
    // The chatty client sends an application frame every half second for four seconds.
    for _ in 0..8 {
        send(&mut chatty, json!({"type": "ping"})).await;
        next_of(&mut chatty, "pong", 5).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The silent one never read, so it never answered the protocol pings: it was closed.
    let mut closed = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(3), silent.next()).await {
        match msg {
            Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "the idle socket was closed");
    send(&mut chatty, json!({"type": "ping"})).await;
    next_of(&mut chatty, "pong", 5).await;
}

#[tokio::test]
async fn stopping_the_server_closes_sockets_with_1001() {
    use futures_util::StreamExt;
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("leaving").await;
    let mut ws = connect(&app, "/ws", &token).await;
    send(&mut ws, json!({"type": "ping"})).await;
    next_of(&mut ws, "pong", 5).await;
    let stop = tokio::spawn(app.running.stop());
    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(reason))) => return reason,
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("close frame in time");
    // 1001 (going away): clients reconnect, where some give up after a normal 1000.
    let frame = frame.expect("a close code");
    assert_eq!(u16::from(frame.code), 1001);
    assert!(frame.reason.contains("shutting down"));
    stop.await.unwrap();
}

#[tokio::test]
async fn notifications_are_pushed_to_the_receivers_socket() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, _user, _counselor) = active_chat(&app, &b).await;
    let mut inbox = connect(&app, "/ws", &b.buyer_token).await;
    send(&mut inbox, json!({"type": "ping"})).await;
    next_of(&mut inbox, "pong", 5).await;
    end_as_buyer(&app, &b, session_id).await;
    let pushed = next_of(&mut inbox, "notification", 10).await;
    assert!(pushed["data"]["id"].as_i64().unwrap() > 0);
    assert!(!pushed["data"]["title"].as_str().unwrap().is_empty());
    let listed = app
        .get(Api::User, "/api/notification/list", Some(&b.buyer_token))
        .await;
    let ids: Vec<i64> = listed.body["data"]["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&pushed["data"]["id"].as_i64().unwrap()));
}
