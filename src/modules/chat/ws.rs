//! The WebSocket endpoints on 8082: `/ws`, `/ws/chat/{sessionId}`, `/ws/counselor/{id}` and `/ws/stats`.
//!
//! The token comes in the query string; errors before the upgrade answer the original's `{"error": …}`
//! bodies. Frames are `{type, session_id, data}`; `payload` is accepted for `data`, and on
//! `/ws/chat/{id}` a missing or zero `session_id` means the path's session, which the socket joins on
//! connect.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::hub::{Registration, Target, error_frame, frame};
use super::service::{self as chat, EndReason, NewMessage, Session, status};
use crate::bus::Realm;
use crate::error::AppError;
use crate::modules::auth::{Principal, authenticate_token};
use crate::modules::counselors::service as counselors;
use crate::state::AppState;

const MAX_FRAME_BYTES: usize = 64 * 1024;
/// How long one write may take before the peer counts as stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(ws_generic))
        .route("/ws/chat/{session_id}", web::get().to(ws_chat))
        .route("/ws/counselor/{counselor_id}", web::get().to(ws_counselor))
        .route("/ws/stats", web::get().to(ws_stats));
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn refuse(status: actix_web::http::StatusCode, msg: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": msg }))
}

/// The user behind `?token=`, or the original's pre-upgrade refusal.
async fn principal(state: &AppState, req: &HttpRequest) -> Result<Principal, HttpResponse> {
    use actix_web::http::StatusCode;
    let token = web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
        .filter(|t| !t.is_empty() && t != "null");
    let Some(token) = token else {
        return Err(refuse(StatusCode::UNAUTHORIZED, "缺少token"));
    };
    authenticate_token(state, Realm::User, &token)
        .await
        .map_err(|_| refuse(StatusCode::UNAUTHORIZED, "token无效"))
}

async fn ws_generic(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let who = match principal(&state, &req).await {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal),
    };
    upgrade(state, &req, body, who, None, None)
}

async fn ws_chat(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
) -> Result<HttpResponse, actix_web::Error> {
    use actix_web::http::StatusCode;
    let who = match principal(&state, &req).await {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal),
    };
    let Ok(session_id) = path.parse::<i64>() else {
        return Ok(refuse(StatusCode::BAD_REQUEST, "无效的会话ID"));
    };
    let session = match chat::find_session(&state.db, session_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(refuse(StatusCode::NOT_FOUND, chat::MSG_SESSION_NOT_FOUND)),
        Err(e) => return Err(e.into()),
    };
    if chat::role_of(&session, who.id).is_none() {
        return Ok(refuse(StatusCode::FORBIDDEN, "无权加入此会话"));
    }
    upgrade(state, &req, body, who, Some(session), None)
}

async fn ws_counselor(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    path: web::Path<String>,
) -> Result<HttpResponse, actix_web::Error> {
    use actix_web::http::StatusCode;
    let who = match principal(&state, &req).await {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal),
    };
    let Ok(counselor_id) = path.parse::<i64>() else {
        return Ok(refuse(StatusCode::BAD_REQUEST, "无效的咨询师ID"));
    };
    let owns = counselors::find_counselor(&state.db, counselor_id)
        .await?
        .is_some_and(|c| c.user_id == Some(who.id));
    if !owns {
        return Ok(refuse(StatusCode::FORBIDDEN, "无权访问"));
    }
    let welcome = frame(
        "connected",
        0,
        json!({ "counselor_id": counselor_id, "timestamp": chrono::Utc::now().timestamp() }),
    );
    upgrade(state, &req, body, who, None, Some(welcome))
}

/// Live totals of the active sessions, as the original's unauthenticated `/ws/stats`.
async fn ws_stats(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let stats = chat::active_session_totals(&state.db).await?;
    Ok(HttpResponse::Ok().json(json!({ "code": 200, "msg": "获取成功", "data": stats })))
}

fn upgrade(
    state: web::Data<AppState>,
    req: &HttpRequest,
    body: web::Payload,
    who: Principal,
    path_session: Option<Session>,
    welcome: Option<Value>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, session, stream) = actix_ws::handle(req, body)?;
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    actix_web::rt::spawn(async move {
        let reg = state
            .realtime
            .register(
                who.id,
                path_session.as_ref().map(|s| s.id),
                who.jti.clone(),
                Duration::from_secs(who.remaining_secs),
                session.clone(),
            )
            .await;
        let mut conn = Conn {
            state,
            user_id: who.id,
            id: reg.id,
            session: path_session.as_ref().map(|s| s.id),
            joined: None,
            ws: session,
        };
        conn.run(stream, reg, path_session, welcome).await;
    });
    Ok(response)
}

/// One socket's task.
struct Conn {
    state: web::Data<AppState>,
    user_id: i64,
    id: u64,
    /// The session this socket speaks for when a frame names none.
    session: Option<i64>,
    /// The parties of the session it joined last, so frames for it need no session read.
    joined: Option<chat::Parties>,
    ws: actix_ws::Session,
}

/// An inbound frame. `payload` is the Vue client's name for `data`.
#[derive(Deserialize)]
struct Inbound {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    session_id: Option<Value>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    payload: Option<Value>,
}

impl Conn {
    async fn send(&mut self, value: &Value) -> bool {
        matches!(
            tokio::time::timeout(WRITE_TIMEOUT, self.ws.text(value.to_string())).await,
            Ok(Ok(()))
        )
    }

    async fn run(
        &mut self,
        mut stream: actix_ws::AggregatedMessageStream,
        reg: Registration,
        path_session: Option<Session>,
        welcome: Option<Value>,
    ) {
        let settings = self.state.settings.chat.clone();
        let idle_limit = Duration::from_secs(settings.ws_idle_timeout_secs.max(1));
        let mut ticker =
            tokio::time::interval(Duration::from_secs(settings.ws_ping_interval_secs.max(1)));
        ticker.tick().await;
        let mut last_seen = Instant::now();
        let mut close = None;
        if let Some(welcome) = welcome {
            self.send(&welcome).await;
        }
        if let Some(session) = path_session {
            Box::pin(self.join_loaded(session)).await;
        }
        loop {
            tokio::select! {
                // The hub either closed the socket already (kick, shutdown: this close is then a no-op)
                // or found its queue full.
                _ = reg.kill.notified() => {
                    close = Some(CloseReason { code: CloseCode::Policy, description: Some("too slow".into()) });
                    break;
                }
                _ = ticker.tick() => {
                    if last_seen.elapsed() > idle_limit {
                        close = Some(CloseReason { code: CloseCode::Away, description: Some("idle".into()) });
                        break;
                    }
                    if self.ws.ping(b"").await.is_err() {
                        break;
                    }
                    self.state.realtime.heartbeat(self.id).await;
                    self.mark_present().await;
                }
                msg = stream.next() => {
                    last_seen = Instant::now();
                    match msg {
                        // Boxed: the frame handlers' futures are large, and an idle socket should not carry them.
                        Some(Ok(AggregatedMessage::Text(text))) => Box::pin(self.on_text(&text)).await,
                        Some(Ok(AggregatedMessage::Binary(_))) => {
                            self.send(&error_frame("不支持二进制消息")).await;
                        }
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            if self.ws.pong(&bytes).await.is_err() {
                                break;
                            }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(_))) | None => break,
                        Some(Err(_)) => {
                            close = Some(CloseReason { code: CloseCode::Protocol, description: None });
                            break;
                        }
                    }
                }
            }
        }
        self.state.realtime.unregister(self.id).await;
        if let Some(session_id) = self.session {
            let _ = self
                .state
                .infra
                .cache
                .delete(&present_key(session_id, self.user_id))
                .await;
        }
        // A stuck peer's queue may stay full: the close frame is best effort.
        let ws = self.ws.clone();
        let _ = tokio::time::timeout(WRITE_TIMEOUT, ws.close(close)).await;
    }

    /// Keeps this user's "connected to the session" mark alive.
    async fn mark_present(&self) {
        if let Some(session_id) = self.session {
            let ttl = super::hub::PRESENCE_TTL;
            let _ = self
                .state
                .infra
                .cache
                .set(&present_key(session_id, self.user_id), "1", ttl)
                .await;
        }
    }

    async fn on_text(&mut self, text: &str) {
        let Ok(frame_in) = serde_json::from_str::<Inbound>(text) else {
            self.send(&error_frame("消息格式错误")).await;
            return;
        };
        let data = frame_in.data.or(frame_in.payload).unwrap_or(Value::Null);
        let named = frame_in
            .session_id
            .as_ref()
            .and_then(Value::as_i64)
            .filter(|id| *id > 0);
        let session_id = named.or(self.session);
        // A stored message marks the session active itself; other frames do it here.
        if let Some(id) = session_id
            && frame_in.kind != "message"
        {
            chat::touch(&self.state, id).await;
        }
        match frame_in.kind.as_str() {
            "ping" => {
                let pong = frame(
                    "pong",
                    0,
                    json!({ "timestamp": chrono::Utc::now().timestamp() }),
                );
                self.send(&pong).await;
            }
            "join" => match session_id {
                Some(id) => self.join(id).await,
                None => {
                    self.send(&error_frame(chat::MSG_SESSION_NOT_FOUND)).await;
                }
            },
            "message" => self.on_message(session_id, &data).await,
            "leave" => self.on_leave(session_id).await,
            "typing" | "typing_stop" => self.on_typing(&frame_in.kind, session_id).await,
            "read" => self.on_read(session_id, &data).await,
            _ => {
                self.send(&error_frame("未知消息类型")).await;
            }
        }
    }

    /// The session if this user takes part in it, else an `error` frame.
    async fn participant_session(&mut self, session_id: Option<i64>) -> Option<Session> {
        let Some(id) = session_id else {
            self.send(&error_frame(chat::MSG_SESSION_NOT_FOUND)).await;
            return None;
        };
        match chat::find_session(&self.state.db, id).await {
            Ok(Some(s)) if chat::role_of(&s, self.user_id).is_some() => Some(s),
            Ok(Some(_)) => {
                self.send(&error_frame("无权访问此会话")).await;
                None
            }
            Ok(None) => {
                self.send(&error_frame(chat::MSG_SESSION_NOT_FOUND)).await;
                None
            }
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "session lookup failed");
                self.send(&error_frame("服务器内部错误")).await;
                None
            }
        }
    }

    /// The parties of a session this user takes part in (known without a read for the joined one),
    /// else an `error` frame.
    async fn parties(&mut self, session_id: Option<i64>) -> Option<chat::Parties> {
        if let Some(joined) = self.joined
            && session_id == Some(joined.session_id)
        {
            return Some(joined);
        }
        let session = self.participant_session(session_id).await?;
        Some(chat::Parties::of(&session))
    }

    async fn join(&mut self, session_id: i64) {
        if let Some(session) = self.participant_session(Some(session_id)).await {
            self.join_loaded(session).await;
        }
    }

    /// Attaches the socket to a session it takes part in.
    async fn join_loaded(&mut self, session: Session) {
        let session_id = session.id;
        if session.status != status::WAITING && session.status != status::ACTIVE {
            self.send(&error_frame(chat::MSG_ENDED)).await;
            return;
        }
        self.session = Some(session_id);
        self.joined = Some(chat::Parties::of(&session));
        self.state.realtime.set_session(self.id, session_id);
        self.mark_present().await;
        let reply = frame(
            "join_success",
            0,
            json!({ "session_id": session_id, "status": session.status, "last_seq": session.last_seq }),
        );
        self.send(&reply).await;
        if session.status == status::WAITING {
            let other = if session.user_id == self.user_id {
                session.counselor_user_id
            } else {
                session.user_id
            };
            let other_present = matches!(
                self.state
                    .infra
                    .cache
                    .get(&present_key(session_id, other))
                    .await,
                Ok(Some(_))
            );
            if other_present && let Err(e) = chat::activate(&self.state, &session).await {
                tracing::error!(error.cause_chain = ?e, "session start failed");
            }
        }
    }

    async fn on_message(&mut self, session_id: Option<i64>, data: &Value) {
        let Some(parties) = self.parties(session_id).await else {
            return;
        };
        let text = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let content_type = Some(text("content_type"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "text".into());
        let client_msg_id = data
            .get("client_msg_id")
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty());
        let msg = NewMessage {
            content: text("content"),
            content_type,
            file_url: text("file_url"),
            client_msg_id,
        };
        match chat::send_message(&self.state, self.user_id, &parties, msg).await {
            // A fresh message reached every connection of both parties, this one included (the ack).
            Ok((_, true)) => {}
            Ok((stored, false)) => {
                self.send(&chat::message_frame(&stored)).await;
            }
            Err(e) => {
                self.send(&error_frame(&public_message(&e))).await;
            }
        }
    }

    async fn on_leave(&mut self, session_id: Option<i64>) {
        let Some(session) = self.participant_session(session_id).await else {
            return;
        };
        if session.status != status::ACTIVE && session.status != status::WAITING {
            self.send(&error_frame(chat::MSG_NOT_ACTIVE)).await;
            return;
        }
        if let Err(e) = chat::end_session(&self.state, session.id, EndReason::WsLeave).await {
            self.send(&error_frame(&public_message(&e))).await;
        }
    }

    async fn on_typing(&mut self, kind: &str, session_id: Option<i64>) {
        let Some(parties) = self.parties(session_id).await else {
            return;
        };
        let relay = frame(kind, parties.session_id, json!({ "user_id": self.user_id }));
        self.state
            .realtime
            .send(
                Target::Users(vec![parties.other_than(self.user_id)]),
                &relay,
            )
            .await;
    }

    async fn on_read(&mut self, session_id: Option<i64>, data: &Value) {
        let Some(session) = self.participant_session(session_id).await else {
            return;
        };
        let seq = match (
            data.get("seq").and_then(Value::as_i64),
            data.get("message_id").and_then(Value::as_i64),
        ) {
            (Some(seq), _) => Some(seq),
            (None, Some(message_id)) => {
                chat::seq_of_message(&self.state.db, session.id, message_id)
                    .await
                    .ok()
                    .flatten()
            }
            _ => None,
        };
        let Some(seq) = seq else {
            self.send(&error_frame("缺少message_id或seq")).await;
            return;
        };
        if let Err(e) = chat::mark_read(&self.state, self.user_id, session.id, seq).await {
            self.send(&error_frame(&public_message(&e))).await;
        }
    }
}

fn present_key(session_id: i64, user_id: i64) -> String {
    format!("chat:present:{session_id}:{user_id}")
}

/// What an error may tell a socket: the message, except for internal errors.
fn public_message(e: &AppError) -> String {
    match e {
        AppError::Internal(cause) => {
            tracing::error!(error.cause_chain = ?cause, "websocket handler failed");
            crate::error::INTERNAL_MESSAGE.to_owned()
        }
        other => other.to_string(),
    }
}
