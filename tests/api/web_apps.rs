//! The built web apps served from the user and admin ports (`server.static_dir_user` /
//! `server.static_dir_admin`), with a small fixture app made in a temp dir.

use std::path::Path;

use mychat::app::Application;
use serde_json::json;

use crate::helpers::{Api, TestApp, spawn_app_with, test_settings};

const INDEX: &str = "<!doctype html><title>fixture</title><div id=app></div>";
const ASSET: &str = "console.log('app')";

/// A Vite-like build: `index.html`, a hashed asset with precompressed siblings, and a plain file.
fn fixture_app(dir: &Path, index: &str) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), index).unwrap();
    std::fs::write(dir.join("assets/index-4f2a9c1b.js"), ASSET).unwrap();
    std::fs::write(dir.join("assets/index-4f2a9c1b.js.gz"), b"gzip-bytes").unwrap();
    std::fs::write(dir.join("assets/index-4f2a9c1b.js.br"), b"brotli-bytes").unwrap();
    std::fs::write(dir.join("robots.txt"), "User-agent: *").unwrap();
}

struct Served {
    app: TestApp,
    _dirs: tempfile::TempDir,
}

async fn serve_both() -> Served {
    let dirs = tempfile::tempdir().unwrap();
    fixture_app(&dirs.path().join("user"), INDEX);
    fixture_app(&dirs.path().join("admin"), "<title>console</title>");
    let app = spawn_app_with(&[
        (
            "server.static_dir_user",
            json!(dirs.path().join("user").display().to_string()),
        ),
        (
            "server.static_dir_admin",
            json!(dirs.path().join("admin").display().to_string()),
        ),
    ])
    .await;
    Served { app, _dirs: dirs }
}

async fn get(app: &TestApp, api: Api, path: &str, accept: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(api, path));
    if let Some(accept) = accept {
        req = req.header("accept-encoding", accept);
    }
    req.send().await.unwrap()
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn the_user_port_serves_the_app_with_an_spa_fallback() {
    let served = serve_both().await;
    let app = &served.app;
    for path in [
        "/",
        "/counselor/12",
        "/chat/3?x=1",
        "/../../etc/passwd",
        "/.env",
    ] {
        let res = get(app, Api::User, path, None).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            header(&res, "content-type").starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&res, "cache-control"), "no-cache", "{path}");
        assert_eq!(res.text().await.unwrap(), INDEX, "{path}");
    }

    let plain = get(app, Api::User, "/assets/index-4f2a9c1b.js", None).await;
    assert_eq!(plain.status(), 200);
    assert!(header(&plain, "content-type").contains("javascript"));
    assert!(header(&plain, "cache-control").contains("immutable"));
    assert_eq!(header(&plain, "content-encoding"), "");
    assert!(
        plain
            .headers()
            .get_all("vary")
            .iter()
            .any(|v| v == "accept-encoding")
    );
    assert_eq!(plain.text().await.unwrap(), ASSET);
    let br = get(
        app,
        Api::User,
        "/assets/index-4f2a9c1b.js",
        Some("gzip, br"),
    )
    .await;
    assert_eq!(header(&br, "content-encoding"), "br");
    assert!(header(&br, "content-type").contains("javascript"));
    assert!(header(&br, "cache-control").contains("immutable"));
    assert_eq!(br.bytes().await.unwrap().as_ref(), b"brotli-bytes");
    let gz = get(app, Api::User, "/assets/index-4f2a9c1b.js", Some("gzip")).await;
    assert_eq!(header(&gz, "content-encoding"), "gzip");
    assert_eq!(gz.bytes().await.unwrap().as_ref(), b"gzip-bytes");

    let robots = get(app, Api::User, "/robots.txt", None).await;
    assert!(header(&robots, "content-type").starts_with("text/plain"));
    assert_eq!(header(&robots, "cache-control"), "no-cache");
}

#[tokio::test]
async fn api_paths_are_never_shadowed_by_the_apps() {
    let served = serve_both().await;
    let app = &served.app;
    for (api, path) in [
        (Api::User, "/api/no-such-route"),
        (Api::User, "/api"),
        (Api::User, "/uploads/missing.png"),
        (Api::User, "/ws/anything"),
        (Api::Admin, "/api/admin/no-such-route"),
        (Api::Admin, "/admin/online/nothing"),
    ] {
        let reply = app.get(api, path, None).await;
        assert!(
            reply.status == 404 || reply.status == 401,
            "{path}: {}",
            reply.status
        );
        assert_eq!(
            reply.code(),
            i64::from(reply.status.as_u16()),
            "{path}: the envelope"
        );
    }
    // Real routes still answer.
    let health = get(app, Api::User, "/health", None).await;
    assert_eq!(health.status(), 200);
    assert!(header(&health, "content-type").contains("json"));
    app.get(Api::User, "/api/counselor/list", None)
        .await
        .assert_status(200);
    // Only GET falls back to the app.
    app.post(Api::User, "/counselor/12", json!({}), None)
        .await
        .assert_status(404);
    let console = get(app, Api::Admin, "/system/config", None).await;
    assert_eq!(console.status(), 200);
    assert_eq!(console.text().await.unwrap(), "<title>console</title>");
}

#[tokio::test]
async fn without_a_web_app_unknown_paths_answer_the_404_envelope() {
    let app = spawn_app_with(&[]).await;
    let reply = app.get(Api::User, "/counselor/12", None).await;
    reply.assert_status(404);
    assert_eq!(reply.body["code"], 404);
}

#[tokio::test]
async fn a_missing_web_app_directory_stops_start_up() {
    let data = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", data.path().join("t.db").display());
    let empty = tempfile::tempdir().unwrap();
    for (key, dir) in [
        ("server.static_dir_user", "/no/such/dir".to_owned()),
        (
            "server.static_dir_admin",
            empty.path().display().to_string(),
        ),
    ] {
        let settings = test_settings(data.path(), &url, &[(key, json!(dir))]);
        let err = match Application::build(settings).await {
            Ok(_) => panic!("{key} = {dir} must not start"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(key), "{err}");
    }
}

/// The user web app opens `ws://<page host>/ws/chat/<id>?token=…` on its own origin: the user port takes
/// the same upgrades as the WebSocket port, and both ends of a chat meet whichever port they used.
#[tokio::test]
async fn the_user_port_takes_the_chat_websocket_upgrades() {
    use crate::chat_fixtures::{booking, connect, next_of, send, start_session};

    let app = spawn_app_with(&[]).await;
    let b = booking(&app, 30, 100).await;
    let session_id = start_session(&app, b.order_id, &b.buyer_token).await;
    let url = |path: &str, token: &str| {
        format!("ws://127.0.0.1:{}{path}?token={token}", app.port(Api::User))
    };
    let (mut user, _) =
        tokio_tungstenite::connect_async(url(&format!("/ws/chat/{session_id}"), &b.buyer_token))
            .await
            .expect("the user port upgrades /ws/chat/<id>");
    assert_eq!(
        next_of(&mut user, "join_success", 5).await["data"]["session_id"],
        session_id
    );
    let mut counselor = connect(&app, &format!("/ws/chat/{session_id}"), &b.counselor_token).await;
    next_of(&mut counselor, "session_start", 5).await;
    send(
        &mut user,
        json!({"type": "message", "session_id": session_id, "data": {"content": "你好"}}),
    )
    .await;
    let got = next_of(&mut counselor, "message", 5).await;
    assert_eq!(got["data"]["content"], "你好");

    // The same admission as port 8082: a bad token or a path with no socket is refused.
    for (path, token, status) in [
        (format!("/ws/chat/{session_id}"), "not-a-token", 401),
        (
            "/api/counselor/list".to_owned(),
            b.buyer_token.as_str(),
            404,
        ),
    ] {
        match tokio_tungstenite::connect_async(url(&path, token)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status().as_u16(), status, "{path}")
            }
            other => panic!("{path}: expected a refusal, got {other:?}"),
        }
    }
}
