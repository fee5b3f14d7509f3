//! Fixtures for chat tests: a counselor with a user account, a paid order, and WebSocket clients.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mychat::modules::counselors::entity::counselor;
use mychat::modules::orders::entity::order;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Api, TestApp};

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A buyer, a counselor (with their own user account) and a paid order between them.
pub struct Booking {
    pub buyer_id: i64,
    pub buyer_token: String,
    pub counselor_user_id: i64,
    pub counselor_token: String,
    pub counselor_id: i64,
    pub order_id: i64,
    /// Prepaid fen.
    pub amount: i64,
}

pub async fn create_counselor(app: &TestApp, user_id: Option<i64>, price_fen: i64) -> i64 {
    let now = chrono::Utc::now();
    counselor::ActiveModel {
        user_id: Set(user_id),
        name: Set("李老师".into()),
        title: Set("心理咨询师".into()),
        avatar: Set(String::new()),
        bio: Set(None),
        specialty: Set("情绪管理".into()),
        price: Set(price_fen),
        years_exp: Set(5),
        rating: Set(500),
        status: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(app.db())
    .await
    .unwrap()
    .id
}

pub async fn paid_order(
    app: &TestApp,
    buyer_id: i64,
    counselor_id: i64,
    minutes: i32,
    price_fen: i64,
) -> i64 {
    let now = chrono::Utc::now();
    order::ActiveModel {
        order_no: Set(format!("T{}", uuid::Uuid::new_v4().simple())[..30].to_owned()),
        user_id: Set(buyer_id),
        counselor_id: Set(counselor_id),
        duration: Set(minutes),
        price_per_minute: Set(price_fen),
        amount: Set(i64::from(minutes) * price_fen),
        refunded_amount: Set(0),
        status: Set(1),
        schedule_time: Set(now),
        notes: Set(None),
        pay_time: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(app.db())
    .await
    .unwrap()
    .id
}

/// A booking of `minutes` at `price_fen` per minute.
pub async fn booking(app: &TestApp, minutes: i32, price_fen: i64) -> Booking {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let (buyer_id, buyer_token) = app.user_with_token(&format!("buyer{}", &tag[..8])).await;
    let (counselor_user_id, counselor_token) =
        app.user_with_token(&format!("coun{}", &tag[..8])).await;
    let counselor_id = create_counselor(app, Some(counselor_user_id), price_fen).await;
    let order_id = paid_order(app, buyer_id, counselor_id, minutes, price_fen).await;
    Booking {
        buyer_id,
        buyer_token,
        counselor_user_id,
        counselor_token,
        counselor_id,
        order_id,
        amount: i64::from(minutes) * price_fen,
    }
}

/// Starts the session as `token`'s owner and returns its id.
pub async fn start_session(app: &TestApp, order_id: i64, token: &str) -> i64 {
    let reply = app
        .post(
            Api::User,
            &format!("/api/chat/start/{order_id}"),
            json!({}),
            Some(token),
        )
        .await;
    reply.assert_status(200);
    reply.body["data"]["session_id"].as_i64().unwrap()
}

pub async fn connect(app: &TestApp, path: &str, token: &str) -> Ws {
    let url = format!(
        "ws://127.0.0.1:{}{}?token={}",
        app.port(Api::Ws),
        path,
        token
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("ws connects");
    ws
}

pub async fn send(ws: &mut Ws, value: Value) {
    ws.send(Message::text(value.to_string())).await.unwrap();
}

/// The next JSON text frame, skipping control frames; panics after `secs` seconds.
pub async fn next_frame(ws: &mut Ws, secs: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame ok");
        if let Message::Text(text) = msg {
            return serde_json::from_str(&text).unwrap();
        }
        if let Message::Close(_) = msg {
            panic!("socket closed while waiting for a frame");
        }
    }
}

/// The next frame of `kind`, skipping others.
pub async fn next_of(ws: &mut Ws, kind: &str, secs: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "no {kind} frame in time");
        let frame = next_frame(ws, left.as_secs().max(1)).await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

/// Asserts that no frame of `kind` arrives within `millis`.
pub async fn assert_no_frame(ws: &mut Ws, kind: &str, millis: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(millis);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return;
        }
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return,
            Ok(Some(Ok(Message::Text(text)))) => {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_ne!(v["type"], kind, "unexpected frame {v}");
            }
            Ok(_) => {}
        }
    }
}

/// Ends the session over REST as the buyer, expecting 200.
pub async fn end_as_buyer(app: &TestApp, b: &Booking, session_id: i64) {
    app.post(
        Api::User,
        &format!("/api/chat/end/{session_id}"),
        json!({}),
        Some(&b.buyer_token),
    )
    .await
    .assert_status(200);
}

/// Connects both parties to the session's chat path and waits until it is active.
pub async fn active_chat(app: &TestApp, b: &Booking) -> (i64, Ws, Ws) {
    let session_id = start_session(app, b.order_id, &b.buyer_token).await;
    let mut user = connect(app, &format!("/ws/chat/{session_id}"), &b.buyer_token).await;
    let joined = next_of(&mut user, "join_success", 5).await;
    assert_eq!(joined["data"]["session_id"], session_id);
    let mut counselor = connect(app, &format!("/ws/chat/{session_id}"), &b.counselor_token).await;
    next_of(&mut counselor, "join_success", 5).await;
    let started = next_of(&mut user, "session_start", 5).await;
    assert_eq!(started["session_id"], session_id);
    next_of(&mut counselor, "session_start", 5).await;
    (session_id, user, counselor)
}
