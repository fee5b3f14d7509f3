//! An open WebSocket lives only as long as the credentials it was opened with: a revoked token, a
//! disabled account, a password reset or the token's expiry close it with 1008, as REST answers 401.
//! A token that cannot be checked (database or Redis down) is refused with 503, not 401.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::chat_fixtures::{Ws, connect, next_of, send};
use crate::helpers::{Api, spawn_app, spawn_app_with};

/// Waits for the server's close frame: its code and reason.
pub async fn close_frame(ws: &mut Ws) -> (u16, String) {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => panic!("an empty close frame"),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame in time")
}

/// The socket still answers.
async fn still_open(ws: &mut Ws) {
    send(ws, json!({"type": "ping"})).await;
    next_of(ws, "pong", 5).await;
}

#[tokio::test]
async fn refreshing_a_token_closes_the_sockets_opened_with_it_only() {
    let app = spawn_app().await;
    let (_, old) = app.user_with_token("rotating").await;
    let mut with_old = connect(&app, "/ws", &old).await;
    still_open(&mut with_old).await;
    let reply = app
        .post(
            Api::User,
            "/api/token/refresh",
            json!({ "token": old }),
            None,
        )
        .await;
    reply.assert_status(200);
    let new = reply.body["data"]["token"].as_str().unwrap().to_owned();
    let mut with_new = connect(&app, "/ws", &new).await;
    still_open(&mut with_new).await;
    let (code, reason) = close_frame(&mut with_old).await;
    assert_eq!((code, reason.as_str()), (1008, "token revoked"));
    still_open(&mut with_new).await;
}

#[tokio::test]
async fn disabling_the_account_or_resetting_its_password_closes_its_sockets() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (id, token) = app.user_with_token("closing").await;
    let (_, other_token) = app.user_with_token("bystander").await;
    let mut bystander = connect(&app, "/ws", &other_token).await;

    let mut ws = connect(&app, "/ws", &token).await;
    still_open(&mut ws).await;
    app.put(
        Api::Admin,
        &format!("/api/admin/users/{id}"),
        json!({"status": 0}),
        Some(&root),
    )
    .await
    .assert_status(200);
    assert_eq!(
        close_frame(&mut ws).await,
        (1008, "account disabled".into())
    );

    app.put(
        Api::Admin,
        &format!("/api/admin/users/{id}"),
        json!({"status": 1}),
        Some(&root),
    )
    .await
    .assert_status(200);
    let mut ws = connect(&app, "/ws", &token).await;
    still_open(&mut ws).await;
    app.post(
        Api::Admin,
        &format!("/api/admin/users/{id}/password"),
        json!({"password": "brandnew1"}),
        Some(&root),
    )
    .await
    .assert_status(200);
    assert_eq!(
        close_frame(&mut ws).await,
        (1008, "password changed".into())
    );
    still_open(&mut bystander).await;
}

#[tokio::test]
async fn a_socket_closes_when_its_token_expires() {
    let app = spawn_app_with(&[("chat.ws_ping_interval_secs", json!(1))]).await;
    let (id, token) = app.user_with_token("brief").await;
    let mut lasting = connect(&app, "/ws", &token).await;
    let mut ws = connect(&app, "/ws", &app.signed_user_token(id, "brief", 3)).await;
    still_open(&mut ws).await;
    assert_eq!(close_frame(&mut ws).await, (1008, "token expired".into()));
    still_open(&mut lasting).await;
}

#[tokio::test]
async fn a_token_that_cannot_be_checked_is_refused_with_503_not_401() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("unlucky").await;
    // The database goes away: the token may well be valid, but nobody can tell.
    app.db().close_by_ref().await.unwrap();
    let url = format!("ws://127.0.0.1:{}/ws?token={token}", app.port(Api::Ws));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(body["error"], "认证服务暂时不可用，请稍后重试");
        }
        other => panic!("expected a refused handshake, got {other:?}"),
    }
    app.get(Api::User, "/api/user/info", Some(&token))
        .await
        .assert_status(503);
}
