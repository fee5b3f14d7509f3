//! The served OpenAPI documents against the mounted routes: every route actix has mounted on a port is in
//! that port's document, and every documented operation is mounted. The route table is read from actix
//! itself (the resource map of a request), and each method is probed in-process: a route is mounted when
//! the request does not fall through to the "接口不存在" default service.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use actix_web::dev::Service;
use actix_web::test::{TestRequest, call_service, init_service, read_body};
use mychat::servers;
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, spawn_app, spawn_app_with};

/// The documentation itself: Swagger UI, the documents, the AsyncAPI document.
const DOCUMENTATION_ROUTES: [&str; 4] = [
    "/swagger",
    "/swagger/{}",
    "/api-docs/openapi.json",
    "/asyncapi.json",
];

/// One port's route map, as `servers::*::routes` builds it.
type Routes = Box<dyn FnOnce(&mut actix_web::web::ServiceConfig)>;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `{id}`, `{tail:.*}` → `{}`, so actix patterns and OpenAPI templates compare.
fn normalize(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                depth += 1;
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            _ => out.push(c),
        }
    }
    out
}

/// The resource patterns in actix's resource map (its `Debug` form is the only public view of it):
/// `(pattern, is_prefix)`.
fn patterns(resource_map_debug: &str) -> BTreeSet<(String, bool)> {
    let mut found = BTreeSet::new();
    let marker = "patterns: Single(\"";
    let mut rest = resource_map_debug;
    while let Some(start) = rest.find(marker) {
        rest = &rest[start + marker.len()..];
        let end = rest.find("\")").unwrap();
        let pattern = rest[..end].to_owned();
        let is_prefix = rest[end..].starts_with("\"), is_prefix: true");
        if !pattern.is_empty() {
            found.insert((pattern, is_prefix));
        }
    }
    assert!(
        !resource_map_debug.contains("patterns: List("),
        "a resource with several patterns: teach this test to read them"
    );
    found
}

/// A concrete path for a pattern: every parameter is `0`, a prefix gets one more segment.
fn concrete(pattern: &str, is_prefix: bool) -> String {
    let mut path = normalize(pattern).replace("{}", "0");
    if is_prefix {
        path.push_str("/0");
    }
    path
}

/// The `(method, normalized path)` pairs actix has mounted for one port's route map.
async fn mounted(
    app: &TestApp,
    routes: impl FnOnce(&mut actix_web::web::ServiceConfig) + 'static,
    mut tokens: Vec<String>,
) -> BTreeSet<(String, String)> {
    let token = tokens.pop().unwrap();
    let registry = prometheus::Registry::new();
    let metrics = actix_web_prom::PrometheusMetricsBuilder::new("probe")
        .registry(registry)
        .build()
        .unwrap();
    let captured = Rc::new(RefCell::new(String::new()));
    let sink = captured.clone();
    let service = init_service(
        servers::app(app.running.state.clone(), metrics, routes).wrap_fn(move |req, srv| {
            if sink.borrow().is_empty() {
                *sink.borrow_mut() = format!("{:?}", req.request().resource_map());
            }
            srv.call(req)
        }),
    )
    .await;
    call_service(&service, TestRequest::get().uri("/livez").to_request()).await;
    // A prefix resource (the uploads directory) is probed with a file that exists.
    let uploads = app.running.state.settings.uploads_dir();
    std::fs::write(uploads.join("0"), b"probe").unwrap();
    let mut patterns: Vec<(String, bool)> = patterns(&captured.borrow()).into_iter().collect();
    // Logging out revokes the probe's token: probe those last.
    patterns.sort_by_key(|(p, _)| p.contains("logout"));
    let mut found = BTreeSet::new();
    for (pattern, is_prefix) in patterns {
        let path = concrete(&pattern, is_prefix);
        // Each logout route revokes a token of its own.
        let token = if pattern.contains("logout") {
            tokens.pop().unwrap()
        } else {
            token.clone()
        };
        for method in METHODS {
            let req = TestRequest::default()
                .method(method.to_uppercase().parse().unwrap())
                .uri(&path)
                .insert_header(("Authorization", format!("Bearer {token}")))
                .insert_header(("Content-Type", "application/json"))
                .set_payload("{}")
                .to_request();
            // A middleware's refusal (the RBAC guard knows no permission for this method and path)
            // comes back as an error: not a mounted route.
            let Ok(res) = service.call(req).await else {
                continue;
            };
            let status = res.status().as_u16();
            // The pattern of the resource that answered (a probe of `/x/list` may reach `/x/{id}`).
            let served = res.request().match_pattern();
            let body: Value = serde_json::from_slice(&read_body(res).await).unwrap_or(Value::Null);
            let fell_through = (status == 404 && body["msg"] == "接口不存在") || status == 405;
            if let (false, Some(served)) = (fell_through, served) {
                let route = if is_prefix && served == pattern {
                    format!("{}/{{}}", normalize(&served))
                } else {
                    normalize(&served)
                };
                found.insert((method.to_owned(), route));
            }
        }
    }
    found
        .into_iter()
        .filter(|(_, path)| !DOCUMENTATION_ROUTES.contains(&path.as_str()))
        .collect()
}

/// `(method, normalized path)` of every operation in a port's served document.
async fn documented(app: &TestApp, api: Api) -> BTreeSet<(String, String)> {
    let doc = app.get(api, "/api-docs/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let mut found = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                found.insert((method.to_owned(), normalize(path)));
            }
        }
    }
    found
}

#[tokio::test]
async fn every_mounted_route_is_documented_and_every_documented_route_is_mounted() {
    // With a metrics token, so that /metrics is mounted as the document says.
    let app = spawn_app_with(&[("server.metrics_token", json!("route-probe-metrics"))]).await;
    // One token for the probes, and one for each logout route (at most three per port).
    let (_, user_token) = app.user_with_token("route_probe").await;
    let mut user_tokens = vec![user_token];
    let mut admin_tokens = Vec::new();
    for _ in 0..4 {
        user_tokens.push(
            app.login("route_probe", "secret123").await.body["data"]["token"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        admin_tokens.push(app.admin_token().await);
    }
    let state = app.running.state.clone();
    let ports: [(Api, Routes, Vec<String>); 3] = [
        (
            Api::User,
            Box::new(servers::user_api::routes(&state)),
            user_tokens.clone(),
        ),
        (
            Api::Admin,
            Box::new(servers::admin_api::routes(&state)),
            admin_tokens,
        ),
        (Api::Ws, Box::new(servers::ws::routes(&state)), user_tokens),
    ];
    for (api, routes, tokens) in ports {
        let mounted = mounted(&app, routes, tokens).await;
        let documented = documented(&app, api).await;
        assert!(mounted.len() > 3, "{api:?}: the probe found too little");
        let undocumented: Vec<_> = mounted.difference(&documented).collect();
        let unmounted: Vec<_> = documented.difference(&mounted).collect();
        assert!(
            undocumented.is_empty() && unmounted.is_empty(),
            "{api:?}: mounted but not documented: {undocumented:?}; documented but not mounted: {unmounted:?}"
        );
    }
}

#[tokio::test]
async fn every_operation_documents_its_success_schema_and_the_error_envelope() {
    let app = spawn_app().await;
    let mut missing = Vec::new();
    for api in [Api::User, Api::Admin, Api::Ws] {
        let doc = app.get(api, "/api-docs/openapi.json", None).await.body;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let responses = &op["responses"];
                // The WebSocket upgrades answer 101 without a body; their frames are in AsyncAPI.
                let success = if path.starts_with("/ws") && path != "/ws/stats" {
                    responses.get("101").map(|_| true)
                } else {
                    responses.get("200").map(|r| {
                        r["content"]
                            .as_object()
                            .is_some_and(|c| c.values().all(|m| m.get("schema").is_some()))
                    })
                };
                if success != Some(true) {
                    missing.push(format!("{api:?} {method} {path}: no success schema"));
                }
                for status in ["400", "401", "403", "404", "409", "413", "429", "503"] {
                    if responses.get(status).is_none() {
                        missing.push(format!("{api:?} {method} {path}: {status} not documented"));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

/// The frame kinds the server code builds: `frame("kind", …)` and `"type": "kind"` literals.
fn frame_kinds_in_source() -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for dir in ["src/modules/chat", "src/modules/notifications"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for marker in ["frame(\"", "\"type\": \"", "frame(\n"] {
                let mut rest = text.as_str();
                while let Some(i) = rest.find(marker) {
                    rest = &rest[i + marker.len()..];
                    let candidate = rest.trim_start().trim_start_matches('"');
                    let end = candidate
                        .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                        .unwrap_or(0);
                    if end > 0 && candidate[end..].starts_with('"') {
                        kinds.insert(candidate[..end].to_owned());
                    }
                }
            }
        }
    }
    kinds
}

#[tokio::test]
async fn the_asyncapi_document_covers_every_frame_and_is_served_on_the_websocket_and_user_ports() {
    let app = spawn_app().await;
    for api in [Api::Ws, Api::User] {
        let doc = app.get(api, "/asyncapi.json", None).await;
        assert_eq!(doc.status, 200);
        assert_eq!(doc.body["asyncapi"], "3.0.0");
        let messages = doc.body["components"]["messages"].as_object().unwrap();
        for (name, message) in messages {
            let kind = name.split_once('_').unwrap().1;
            assert_eq!(
                message["payload"]["properties"]["type"]["const"], kind,
                "{name}"
            );
        }
        let server: BTreeSet<String> = messages
            .keys()
            .filter_map(|k| k.strip_prefix("server_").map(str::to_owned))
            .collect();
        let mut sent = frame_kinds_in_source();
        // Server-side frames that never reach a client: the hub's own liveness probe.
        sent.remove("ping");
        let undocumented: Vec<_> = sent.difference(&server).collect();
        assert!(
            undocumented.is_empty(),
            "frames sent but not in AsyncAPI: {undocumented:?}"
        );
        for inbound in [
            "ping",
            "join",
            "leave",
            "message",
            "typing",
            "typing_stop",
            "read",
        ] {
            assert!(
                messages.contains_key(&format!("client_{inbound}")),
                "{inbound}"
            );
        }
    }
}

#[tokio::test]
async fn livez_and_readyz_answer_on_every_port() {
    let app = spawn_app().await;
    for api in [Api::User, Api::Admin, Api::Ws] {
        let live = app.get(api, "/livez", None).await;
        assert_eq!(live.status, 200);
        assert_eq!(live.body["status"], "ok");
        let ready = app.get(api, "/readyz", None).await;
        assert_eq!(ready.status, 200, "{}", ready.body);
        assert_eq!(ready.body["status"], "ready");
        assert_eq!(ready.body["database"], "connected");
    }
}

#[tokio::test]
async fn readyz_reports_a_stopped_background_task() {
    let app = spawn_app().await;
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    app.running
        .state
        .tasks
        .spawn("outbox_relay_probe_test", shutdown, |_, _| async {
            Err(anyhow::anyhow!("cannot reach the outbox"))
        });
    assert!(
        app.eventually(|| async { app.get(Api::User, "/readyz", None).await.status == 503 })
            .await,
        "a failing task makes /readyz answer 503"
    );
    let ready = app.get(Api::User, "/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["status"], "not_ready");
    assert_eq!(ready.body["stopped_tasks"][0], "outbox_relay_probe_test");
    // Liveness does not depend on it.
    assert_eq!(app.get(Api::User, "/livez", None).await.status, 200);
}

#[tokio::test]
async fn health_reuses_its_dependency_check() {
    let app = spawn_app_with(&[("server.health_cache_ms", json!(600_000))]).await;
    assert_eq!(app.get(Api::User, "/health", None).await.status, 200);
    // Close the pool: a fresh check would now fail; the cached one still answers. (A background task
    // that touches the closed pool may already report itself down, so only the database is checked.)
    app.running.state.db.clone().close().await.unwrap();
    let cached = app.get(Api::User, "/health", None).await;
    assert_eq!(cached.body["database"], "connected", "{}", cached.body);
    // Readiness never caches.
    assert_eq!(app.get(Api::User, "/readyz", None).await.status, 503);
}
