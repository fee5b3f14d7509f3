//! The admin side of chat and finance: session lists with the keys the console reads, presence actions
//! that reach real sockets (kick, broadcast, send-to-user, mute), reports, and two instances sharing one
//! database and Redis.

use serde_json::json;

use crate::chat_fixtures::*;
use crate::helpers::{Api, TestApp, spawn_app};

#[tokio::test]
async fn the_console_sees_sessions_messages_and_statistics() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    send(
        &mut user,
        json!({"type": "message", "data": {"content": "需要帮助 50%_off"}}),
    )
    .await;
    next_of(&mut counselor, "message", 5).await;
    let admin = app.admin_token().await;

    let list = app
        .get(
            Api::Admin,
            "/api/admin/chat/sessions?page=1&page_size=10",
            Some(&admin),
        )
        .await;
    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 1);
    assert_eq!(list.body["data"]["list"], list.body["data"]["sessions"]);
    let row = &list.body["data"]["sessions"][0];
    assert_eq!(row["counselor"]["name"], "李老师");
    assert!(
        row["user"]["username"]
            .as_str()
            .unwrap()
            .starts_with("buyer")
    );
    assert_eq!(row["status"], 1);

    let by_name = app
        .get(
            Api::Admin,
            "/api/admin/chat/sessions?keyword=%E6%9D%8E",
            Some(&admin),
        )
        .await;
    assert_eq!(by_name.body["data"]["total"], 1);
    let nobody = app
        .get(
            Api::Admin,
            "/api/admin/chat/sessions?keyword=zzz&status=1",
            Some(&admin),
        )
        .await;
    assert_eq!(nobody.body["data"]["total"], 0);
    assert_eq!(nobody.body["data"]["sessions"], json!([]));
    app.get(
        Api::Admin,
        "/api/admin/chat/sessions?status=abc",
        Some(&admin),
    )
    .await
    .assert_status(400);

    let messages = app
        .get(
            Api::Admin,
            &format!("/api/admin/chat/sessions/{session_id}/messages"),
            Some(&admin),
        )
        .await;
    messages.assert_status(200);
    assert_eq!(messages.body["messages"], messages.body["data"]["messages"]);
    assert_eq!(messages.body["total"], 1);
    assert_eq!(messages.body["messages"][0]["sender_type"], "user");

    // LIKE wildcards in the term are literal.
    let found = app
        .get(
            Api::Admin,
            "/api/admin/chat/messages/search?keyword=50%25_",
            Some(&admin),
        )
        .await;
    assert_eq!(found.body["data"]["total"], 1);
    let literal = app
        .get(
            Api::Admin,
            "/api/admin/chat/messages/search?keyword=%25",
            Some(&admin),
        )
        .await;
    assert_eq!(literal.body["data"]["total"], 1);
    let none = app
        .get(
            Api::Admin,
            "/api/admin/chat/messages/search?keyword=5_0",
            Some(&admin),
        )
        .await;
    assert_eq!(none.body["data"]["total"], 0);
    app.get(Api::Admin, "/api/admin/chat/messages/search", Some(&admin))
        .await
        .assert_status(400);

    let stats = app
        .get(Api::Admin, "/api/admin/chat/statistics", Some(&admin))
        .await;
    assert_eq!(stats.body["data"]["active_sessions"], 1);
    assert_eq!(stats.body["data"]["total_messages"], 1);
    assert_eq!(stats.body["data"]["today_messages"], 1);
    let live = app
        .get(Api::Admin, "/api/admin/session/stats", Some(&admin))
        .await;
    assert_eq!(live.body["data"]["active_sessions"], 1);
    let ws_stats = app.get(Api::Ws, "/ws/stats", None).await;
    assert_eq!(ws_stats.body["data"]["active_sessions"], 1);

    // Deleting an open session ends and bills it first; its billing stays.
    app.delete(
        Api::Admin,
        &format!("/api/admin/chat/sessions/{session_id}"),
        Some(&admin),
    )
    .await
    .assert_status(200);
    next_of(&mut user, "billing", 5).await;
    app.delete(
        Api::Admin,
        &format!("/api/admin/chat/sessions/{session_id}"),
        Some(&admin),
    )
    .await
    .assert_status(404);
    let order = mychat::modules::orders::service::get_order(app.db(), b.order_id)
        .await
        .unwrap();
    assert_eq!(order.status, 2);
    // A user token never opens these.
    app.get(Api::Admin, "/api/admin/chat/sessions", Some(&b.buyer_token))
        .await
        .assert_status(401);
}

#[tokio::test]
async fn kick_broadcast_and_direct_messages_reach_the_sockets() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("watched").await;
    let (_, other_token) = app.user_with_token("bystander").await;
    let mut ws = connect(&app, "/ws", &token).await;
    let mut other = connect(&app, "/ws", &other_token).await;
    send(&mut ws, json!({"type": "ping"})).await;
    next_of(&mut ws, "pong", 5).await;
    let admin = app.admin_token().await;

    let online = app
        .get(Api::Admin, "/api/admin/online/users", Some(&admin))
        .await;
    assert_eq!(online.body["data"]["count"], 2);
    let detailed = app
        .get(Api::Admin, "/admin/online/users/detailed", Some(&admin))
        .await;
    detailed.assert_status(200);
    assert_eq!(detailed.body["data"]["total"], 2);
    assert_eq!(detailed.body["data"]["users"][0]["role"], "user");
    let stats = app
        .get(Api::Admin, "/admin/online/statistics", Some(&admin))
        .await;
    assert_eq!(stats.body["data"]["total_online"], 2);

    app.post(
        Api::Admin,
        "/admin/broadcast",
        json!({"content": "系统维护通知"}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    for socket in [&mut ws, &mut other] {
        let notice = next_of(socket, "system_message", 5).await;
        assert_eq!(notice["data"]["content"], "系统维护通知");
    }
    app.post(
        Api::Admin,
        "/api/admin/broadcast",
        json!({"content": ""}),
        Some(&admin),
    )
    .await
    .assert_status(400);

    app.post(
        Api::Admin,
        &format!("/api/admin/online/users/{user_id}/message"),
        json!({"content": "请注意"}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    assert_eq!(
        next_of(&mut ws, "admin_message", 5).await["data"]["content"],
        "请注意"
    );
    assert_no_frame(&mut other, "admin_message", 300).await;

    app.post(
        Api::Admin,
        "/admin/online/mute",
        json!({"user_id": user_id, "is_muted": true}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    let detailed = app
        .get(Api::Admin, "/api/admin/online/users/detailed", Some(&admin))
        .await;
    let me = detailed.body["data"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == user_id)
        .unwrap()
        .clone();
    assert_eq!(me["is_muted"], true);

    app.post(
        Api::Admin,
        &format!("/admin/online/users/{user_id}/kick"),
        json!({}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    // The `force_logout` frame first, then a policy close (1008); the token it used no longer works.
    next_of(&mut ws, "force_logout", 5).await;
    let (code, _) = crate::ws_credentials::close_frame(&mut ws).await;
    assert_eq!(code, 1008);
    app.get(Api::User, "/api/user/info", Some(&token))
        .await
        .assert_status(401);
    let again = app
        .post(
            Api::Admin,
            &format!("/admin/online/users/{user_id}/kick"),
            json!({}),
            Some(&admin),
        )
        .await;
    again.assert_status(400);
    assert_eq!(again.msg(), "用户不在线");
}

#[tokio::test]
async fn finance_reports_follow_billed_sessions_and_withdrawals() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 200).await;
    let (session_id, _user, _counselor) = active_chat(&app, &b).await;
    end_as_buyer(&app, &b, session_id).await;
    let admin = app.admin_token().await;

    let account = app
        .get(
            Api::User,
            "/api/chat/counselor/account",
            Some(&b.counselor_token),
        )
        .await;
    account.assert_status(200);
    assert_eq!(
        account.body["data"]["account"]["balance"], 1.4,
        "70% of one 2-yuan minute"
    );
    app.get(
        Api::User,
        "/api/chat/counselor/account",
        Some(&b.buyer_token),
    )
    .await
    .assert_status(403);
    let billings = app
        .get(Api::User, "/api/chat/billings", Some(&b.buyer_token))
        .await;
    assert_eq!(billings.body["data"]["total"], 1);
    assert_eq!(billings.body["data"]["billings"][0]["total_amount"], 2.0);
    let theirs = app
        .get(
            Api::User,
            "/api/chat/counselor/billings",
            Some(&b.counselor_token),
        )
        .await;
    assert_eq!(theirs.body["data"]["billings"][0]["counselor_fee"], 1.4);

    for bad in [
        json!({"amount": 0, "bank_name": "a", "bank_account": "b", "account_name": "c"}),
        json!({"amount": -1, "bank_name": "a", "bank_account": "b", "account_name": "c"}),
        json!({"amount": 1.234, "bank_name": "a", "bank_account": "b", "account_name": "c"}),
        json!({"amount": 1, "bank_name": "", "bank_account": "b", "account_name": "c"}),
        json!({"amount": "1"}),
    ] {
        app.post(
            Api::User,
            "/api/chat/counselor/withdraw",
            bad,
            Some(&b.counselor_token),
        )
        .await
        .assert_status(400);
    }
    let too_much = app
        .post(
            Api::User,
            "/api/chat/counselor/withdraw",
            json!({"amount": 2, "bank_name": "a", "bank_account": "b", "account_name": "c"}),
            Some(&b.counselor_token),
        )
        .await;
    too_much.assert_status(400);
    assert_eq!(too_much.msg(), "余额不足");
    let w = app
        .post(
            Api::User,
            "/api/chat/counselor/withdraw",
            json!({"amount": 1, "bank_name": "a", "bank_account": "b", "account_name": "c"}),
            Some(&b.counselor_token),
        )
        .await;
    w.assert_status(200);
    let wid = w.body["data"]["withdraw"]["id"].as_i64().unwrap();
    let mine = app
        .get(
            Api::User,
            "/api/chat/counselor/withdraws",
            Some(&b.counselor_token),
        )
        .await;
    assert_eq!(mine.body["data"]["total"], 1);

    let pending = app
        .get(Api::Admin, "/api/admin/withdraws/pending", Some(&admin))
        .await;
    assert_eq!(
        pending.body["data"]["withdraws"][0]["counselor"]["name"],
        "李老师"
    );
    // Transfer needs approval first; rejection needs a reason.
    app.post(
        Api::Admin,
        &format!("/api/admin/withdraw/{wid}/transfer"),
        json!({}),
        Some(&admin),
    )
    .await
    .assert_status(400);
    app.post(
        Api::Admin,
        &format!("/api/admin/withdraw/{wid}/approve"),
        json!({"approved": false}),
        Some(&admin),
    )
    .await
    .assert_status(400);
    app.post(
        Api::Admin,
        &format!("/api/admin/withdraw/{wid}/approve"),
        json!({"approved": "yes"}),
        Some(&admin),
    )
    .await
    .assert_status(400);
    app.post(
        Api::Admin,
        &format!("/api/admin/withdraw/{wid}/approve"),
        json!({"approved": true}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    app.post(
        Api::Admin,
        &format!("/api/admin/withdraw/{wid}/transfer"),
        json!({}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    app.post(
        Api::Admin,
        "/api/admin/withdraw/99999/transfer",
        json!({}),
        Some(&admin),
    )
    .await
    .assert_status(404);
    let listed = app
        .get(Api::Admin, "/api/admin/withdraws?status=3", Some(&admin))
        .await;
    assert_eq!(listed.body["data"]["total"], 1);

    let stats = app
        .get(Api::Admin, "/api/admin/finance/stats", Some(&admin))
        .await;
    stats.assert_status(200);
    // 60 yuan prepaid, 58 refunded to the wallet: 2 yuan of revenue.
    assert_eq!(stats.body["data"]["total_revenue"], 2.0);
    assert_eq!(
        stats.body["total_revenue"], 2.0,
        "mirrored at the top level"
    );
    assert_eq!(stats.body["data"]["total_withdrawn"], 1.0);
    assert_eq!(stats.body["data"]["approved_withdraws"], 1);
    assert_eq!(stats.body["data"]["today_orders"], 1);
    let revenue = app
        .get(
            Api::Admin,
            "/api/admin/finance/revenue?group_by=week",
            Some(&admin),
        )
        .await;
    revenue.assert_status(200);
    assert_eq!(revenue.body["data"]["revenue_data"][0]["amount"], 2.0);
    assert_eq!(
        revenue.body["revenue_data"],
        revenue.body["data"]["revenue_data"]
    );
    app.get(
        Api::Admin,
        "/api/admin/finance/revenue?start_date=yesterday",
        Some(&admin),
    )
    .await
    .assert_status(400);
    for kind in ["income", "withdraw", "account"] {
        let report = app
            .get(
                Api::Admin,
                &format!("/api/admin/finance/reports?type={kind}"),
                Some(&admin),
            )
            .await;
        report.assert_status(200);
        assert_eq!(
            report.body["data"]["records"].as_array().unwrap().len(),
            1,
            "{kind}"
        );
    }
    let accounts = app
        .get(Api::Admin, "/api/admin/finance/accounts", Some(&admin))
        .await;
    assert_eq!(accounts.body["data"]["accounts"][0]["withdrawn"], 1.0);
    let detail = app
        .get(
            Api::Admin,
            &format!("/api/admin/finance/accounts/{}", b.counselor_id),
            Some(&admin),
        )
        .await;
    assert_eq!(detail.body["data"]["withdraw_count"], 1);
    app.get(
        Api::Admin,
        "/api/admin/finance/accounts/424242",
        Some(&admin),
    )
    .await
    .assert_status(404);
}

/// A second instance on the same database, Redis and secrets as `app`.
async fn peer(app: &TestApp) -> mychat::RunningApp {
    let mut settings = (*app.running.state.settings).clone();
    settings.server.user_port = 0;
    settings.server.admin_port = 0;
    settings.server.ws_port = 0;
    mychat::Application::build(settings).await.unwrap().start()
}

#[tokio::test]
async fn two_instances_on_one_database_and_redis_deliver_to_each_other() {
    if std::env::var("MYCHAT_TEST_REDIS_URL").map_or(true, |v| v.is_empty())
        || std::env::var("MYCHAT_TEST_DATABASE_URL").map_or(true, |v| v.is_empty())
    {
        eprintln!("skipped: needs MYCHAT_TEST_DATABASE_URL and MYCHAT_TEST_REDIS_URL");
        return;
    }
    let app = spawn_app().await;
    let other = peer(&app).await;
    let b = booking(&app, 30, 100).await;
    let session_id = start_session(&app, b.order_id, &b.buyer_token).await;
    // The user is on instance A, the counselor on instance B.
    let mut user = connect(&app, &format!("/ws/chat/{session_id}"), &b.buyer_token).await;
    next_of(&mut user, "join_success", 5).await;
    let url = format!(
        "ws://127.0.0.1:{}/ws/chat/{session_id}?token={}",
        other.ws_port, b.counselor_token
    );
    let (mut counselor, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    next_of(&mut counselor, "join_success", 5).await;
    next_of(&mut user, "session_start", 5).await;
    send(
        &mut user,
        json!({"type": "message", "data": {"content": "跨实例"}}),
    )
    .await;
    assert_eq!(
        next_of(&mut user, "message", 5).await["data"]["seq"],
        1,
        "the ack"
    );
    assert_eq!(
        next_of(&mut counselor, "message", 5).await["data"]["content"],
        "跨实例"
    );
    send(
        &mut counselor,
        json!({"type": "message", "data": {"content": "收到"}}),
    )
    .await;
    assert_eq!(next_of(&mut user, "message", 5).await["data"]["seq"], 2);

    // Presence, broadcast and kick travel too: the admin API of A acts on B's socket.
    let admin = app.admin_token().await;
    let online = app
        .get(Api::Admin, "/api/admin/online/users", Some(&admin))
        .await;
    assert_eq!(online.body["data"]["count"], 2);
    app.post(
        Api::Admin,
        "/api/admin/broadcast",
        json!({"content": "全体通知"}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    next_of(&mut counselor, "system_message", 5).await;
    next_of(&mut user, "system_message", 5).await;
    app.post(
        Api::Admin,
        &format!("/api/admin/online/users/{}/kick", b.counselor_user_id),
        json!({}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    next_of(&mut counselor, "force_logout", 5).await;

    // A token revoked through A closes the socket opened with it on B.
    let url = format!(
        "ws://127.0.0.1:{}/ws?token={}",
        other.ws_port, b.buyer_token
    );
    let (mut on_b, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(&mut on_b, json!({"type": "ping"})).await;
    next_of(&mut on_b, "pong", 5).await;
    app.post(
        Api::User,
        "/api/token/refresh",
        json!({ "token": b.buyer_token }),
        None,
    )
    .await
    .assert_status(200);
    let (code, _) = crate::ws_credentials::close_frame(&mut on_b).await;
    assert_eq!(code, 1008);
    other.stop().await;
}
