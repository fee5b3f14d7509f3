//! What every port does: health, the envelope for unknown routes and bad input, CORS, request ids,
//! Swagger UI, metrics, static uploads and graceful shutdown.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Api, spawn_app};

#[tokio::test]
async fn health_reports_database_and_redis_on_every_port() {
    let app = spawn_app().await;
    let redis_expected = if std::env::var("MYCHAT_TEST_REDIS_URL").is_ok_and(|v| !v.is_empty()) {
        "connected"
    } else {
        "not_configured"
    };
    for api in [Api::User, Api::Admin, Api::Ws] {
        let reply = app.get(api, "/health", None).await;
        assert_eq!(reply.status, 200, "{api:?}: {}", reply.body);
        assert_eq!(reply.body["status"], "ok");
        assert_eq!(reply.body["database"], "connected");
        assert_eq!(reply.body["redis"], redis_expected);
    }
}

#[tokio::test]
async fn unknown_routes_answer_the_json_envelope_on_every_port() {
    let app = spawn_app().await;
    for api in [Api::User, Api::Admin, Api::Ws] {
        let reply = app.get(api, "/api/definitely/not/here", None).await;
        // No token needed to learn that nothing is here, on the admin port too.
        reply.assert_status(404);
        assert!(!reply.msg().is_empty());
    }
    let admin = app.admin_token().await;
    app.get(Api::Admin, "/api/definitely/not/here", Some(&admin))
        .await
        .assert_status(404);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let ok = app.get(Api::User, "/health", None).await;
    let missing = app.get(Api::User, "/nope", None).await;
    let a = ok
        .headers
        .get("x-request-id")
        .expect("request id on success");
    let b = missing
        .headers
        .get("x-request-id")
        .expect("request id on error");
    assert_ne!(a, b);
}

#[tokio::test]
async fn options_is_204_with_cors_headers_on_any_path() {
    let app = spawn_app().await;
    for path in ["/api/login", "/unknown/path"] {
        let res = app
            .client
            .request(Method::OPTIONS, app.url(Api::User, path))
            .header("Origin", "http://localhost:3000")
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        // `["*"]` (the default) allows any origin, but never with credentials.
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert!(
            res.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        assert!(
            res.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("Authorization")
        );
    }
    let res = app
        .client
        .get(app.url(Api::User, "/health"))
        .header("Origin", "http://example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    assert!(
        res.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
}

#[tokio::test]
async fn cors_only_answers_configured_origins() {
    let app = crate::helpers::spawn_app_with(&[(
        "server.cors_origins",
        json!(["https://console.example"]),
    )])
    .await;
    let allowed = app
        .client
        .get(app.url(Api::Admin, "/health"))
        .header("Origin", "https://console.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://console.example"
    );
    // An origin listed by name may send credentials.
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let other = app
        .client
        .get(app.url(Api::Admin, "/health"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn malformed_json_wrong_types_and_missing_fields_are_400_envelopes() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{not json".to_vec()),
        (
            "application/json",
            br#"{"username": 5, "password": "x"}"#.to_vec(),
        ),
        ("application/json", br#"{"username": "bob"}"#.to_vec()),
        ("application/json", b"".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("text/plain", br#"{"username":"a","password":"b"}"#.to_vec()),
    ];
    for (content_type, body) in cases {
        let reply = app
            .post_raw(Api::User, "/api/login", content_type, body.clone(), None)
            .await;
        reply.assert_status(400);
        assert!(
            reply.msg().starts_with("参数错误"),
            "{}: {}",
            String::from_utf8_lossy(&body),
            reply.body
        );
    }
}

#[tokio::test]
async fn a_ten_megabyte_body_is_refused_with_413_in_the_envelope() {
    let app = spawn_app().await;
    let huge = format!(
        r#"{{"username":"{}","password":"x"}}"#,
        "a".repeat(10 * 1024 * 1024)
    );
    let reply = app
        .post_raw(
            Api::User,
            "/api/register",
            "application/json",
            huge.into_bytes(),
            None,
        )
        .await;
    reply.assert_status(413);
    let token = app.admin_token().await;
    let huge = format!(r#"{{"real_name":"{}"}}"#, "a".repeat(10 * 1024 * 1024));
    app.send(
        app.request(Method::PUT, Api::Admin, "/api/admin2/profile", Some(&token))
            .header("content-type", "application/json")
            .body(huge),
    )
    .await
    .assert_status(413);
}

#[tokio::test]
async fn swagger_ui_and_openapi_documents_are_served_offline() {
    let app = spawn_app().await;
    for (api, path) in [(Api::User, "/api/login"), (Api::Admin, "/api/admin2/login")] {
        let redirect = app.get(api, "/swagger", None).await;
        assert!(redirect.status.is_redirection());
        let ui = app
            .client
            .get(app.url(api, "/swagger/"))
            .send()
            .await
            .unwrap();
        assert_eq!(ui.status(), 200);
        assert!(ui.text().await.unwrap().contains("swagger-ui"));
        let doc = app.get(api, "/api-docs/openapi.json", None).await;
        assert_eq!(doc.status, 200);
        assert!(doc.body["paths"][path].is_object(), "{path} documented");
    }
}

#[tokio::test]
async fn metrics_need_the_configured_token_and_are_off_without_one() {
    let off = spawn_app().await;
    let reply = off.get(Api::Admin, "/metrics", None).await;
    reply.assert_status(404);
    assert_eq!(reply.code(), 404);

    let app = crate::helpers::spawn_app_with(&[("server.metrics_token", json!("scrape-me"))]).await;
    app.get(Api::User, "/health", None).await;
    app.get(Api::Admin, "/health", None).await;
    let root = app.admin_token().await;
    for token in [None, Some("wrong"), Some(root.as_str())] {
        let reply = app.get(Api::Admin, "/metrics", token).await;
        reply.assert_status(401);
        assert_eq!(reply.code(), 401);
    }
    let res = app
        .client
        .get(app.url(Api::Admin, "/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("mychat_user_api_http_requests_total"),
        "{text}"
    );
    assert!(text.contains("mychat_admin_api_http_requests_total"));
}

#[tokio::test]
async fn ws_stats_needs_an_admin_token() {
    let app = spawn_app().await;
    let (_, user) = app.user_with_token("statsreader").await;
    for token in [None, Some(user.as_str()), Some("garbage")] {
        let reply = app.get(Api::Ws, "/ws/stats", token).await;
        reply.assert_status(401);
        assert_eq!(reply.code(), 401);
    }
    let admin = app.admin_token().await;
    let reply = app.get(Api::Ws, "/ws/stats", Some(&admin)).await;
    reply.assert_status(200);
    assert_eq!(reply.body["data"]["active_sessions"], 0);
}

#[tokio::test]
async fn stopping_closes_all_three_ports() {
    let app = spawn_app().await;
    let ports = [app.port(Api::User), app.port(Api::Admin), app.port(Api::Ws)];
    let client = app.client.clone();
    app.running.stop().await;
    for port in ports {
        let result = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await;
        assert!(result.is_err(), "port {port} still answers");
    }
}
