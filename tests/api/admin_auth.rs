//! Admin identity on 8081, and the wall between the two realms.

use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, Api, spawn_app};
use crate::user_auth::sql;

#[tokio::test]
async fn the_seeded_admin_logs_in_with_the_configured_password() {
    let app = spawn_app().await;
    let reply = app.admin_login("admin", ADMIN_PASSWORD).await;
    reply.assert_status(200);
    let data = &reply.body["data"];
    assert!(data["token"].is_string());
    assert_eq!(data["admin"]["username"], "admin");
    assert_eq!(data["admin"]["role"], "super_admin");

    let legacy = app
        .post(
            Api::Admin,
            "/api/admin/login",
            json!({"username": "admin", "password": ADMIN_PASSWORD}),
            None,
        )
        .await;
    legacy.assert_status(200);
    assert_eq!(legacy.body["data"]["user"]["username"], "admin");

    let wrong = app.admin_login("admin", "admin123").await;
    wrong.assert_status(401);
    assert_eq!(wrong.msg(), "用户名或密码错误");
    assert_eq!(app.admin_login("ghost", "whatever").await.body, wrong.body);
}

#[tokio::test]
async fn admin_info_and_permissions_come_from_the_rbac_tables() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for path in ["/api/admin2/info", "/api/admin/user/info"] {
        let info = app.get(Api::Admin, path, Some(&token)).await;
        info.assert_status(200);
        for key in [
            "id",
            "username",
            "avatar",
            "email",
            "phone",
            "created_at",
            "role",
        ] {
            assert!(info.body["data"].get(key).is_some(), "{path} lacks {key}");
        }
        assert!(info.body["data"]["last_login"].is_string());
    }
    let perms = app
        .get(Api::Admin, "/api/admin2/permissions", Some(&token))
        .await;
    perms.assert_status(200);
    let roles: Vec<&str> = perms.body["data"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(roles, ["super_admin", "admin"]);
    let codes: Vec<&str> = perms.body["data"]["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for guard in [
        "lowcode:form:design",
        "lowcode:page:design",
        "lowcode:data:manage",
        "system:log:list",
        "system:user:list",
        "dashboard:view",
    ] {
        assert!(codes.contains(&guard), "super admin lacks {guard}");
    }
    let rows = app
        .get(Api::Admin, "/api/admin/user/permissions", Some(&token))
        .await;
    rows.assert_status(200);
    let first = &rows.body["data"]["permissions"][0];
    assert!(first["code"].is_string() && first["type"].is_string());
}

#[tokio::test]
async fn an_admin_without_roles_gets_no_permissions() {
    let app = spawn_app().await;
    let hash = app
        .running
        .state
        .passwords
        .hash("plainpass1")
        .await
        .unwrap();
    let backend = app.db().get_database_backend();
    let now = chrono::Utc::now();
    app.db()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(backend, "INSERT INTO administrator (username, password, real_name, phone, avatar, status, tokens_valid_after, created_at, updated_at) VALUES (?, ?, '', '', '', 1, 0, ?, ?)"),
            ["noroles".into(), hash.into(), now.into(), now.into()],
        ))
        .await
        .unwrap();
    let token = app.admin_login("noroles", "plainpass1").await.body["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let perms = app
        .get(Api::Admin, "/api/admin2/permissions", Some(&token))
        .await;
    perms.assert_status(200);
    assert_eq!(perms.body["data"]["permissions"], json!([]));
    assert_eq!(perms.body["data"]["roles"], json!([]));
}

#[tokio::test]
async fn user_tokens_never_open_the_admin_api_and_admin_tokens_never_the_user_api() {
    let app = spawn_app().await;
    let (_, user_token) = app.user_with_token("mallory").await;
    let admin_token = app.admin_token().await;
    let as_admin = app
        .get(Api::Admin, "/api/admin2/info", Some(&user_token))
        .await;
    as_admin.assert_status(401);
    assert_eq!(as_admin.msg(), "token无效或已过期");
    app.get(Api::Admin, "/api/admin2/permissions", Some(&user_token))
        .await
        .assert_status(401);
    app.get(Api::User, "/api/user/info", Some(&admin_token))
        .await
        .assert_status(401);
}

#[tokio::test]
async fn admin_logout_revokes_the_token() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let other_session = app.admin_token().await;
    app.post(Api::Admin, "/api/admin2/logout", json!({}), Some(&token))
        .await
        .assert_status(200);
    app.get(Api::Admin, "/api/admin2/info", Some(&token))
        .await
        .assert_status(401);
    app.get(Api::Admin, "/api/admin2/info", Some(&other_session))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn admin_password_change_voids_every_session_and_checks_the_old_password() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let other_session = app.admin_token().await;
    let wrong = app
        .post(
            Api::Admin,
            "/api/admin2/password",
            json!({"old_password": "wrong-one", "new_password": "brand-new-pass"}),
            Some(&token),
        )
        .await;
    wrong.assert_status(400);
    assert_eq!(wrong.msg(), "原密码错误");
    app.post(
        Api::Admin,
        "/api/admin2/password",
        json!({"old_password": ADMIN_PASSWORD, "new_password": "brand-new-pass"}),
        Some(&token),
    )
    .await
    .assert_status(200);
    for t in [&token, &other_session] {
        app.get(Api::Admin, "/api/admin2/info", Some(t))
            .await
            .assert_status(401);
    }
    app.admin_login("admin", "brand-new-pass")
        .await
        .assert_status(200);
    app.admin_login("admin", ADMIN_PASSWORD)
        .await
        .assert_status(401);
}

#[tokio::test]
async fn a_disabled_admin_is_refused_at_login_and_on_the_next_request() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let backend = app.db().get_database_backend();
    app.db()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql(
                backend,
                "UPDATE administrator SET status = 0 WHERE username = ?",
            ),
            ["admin".into()],
        ))
        .await
        .unwrap();
    app.get(Api::Admin, "/api/admin2/info", Some(&token))
        .await
        .assert_status(401);
    let login = app.admin_login("admin", ADMIN_PASSWORD).await;
    login.assert_status(403);
    assert_eq!(login.msg(), "账号已被禁用");
}

#[tokio::test]
async fn admin_profile_updates_non_empty_fields() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    app.put(
        Api::Admin,
        "/api/admin2/profile",
        json!({"real_name": "Root", "email": "root@example.com", "phone": "", "avatar": ""}),
        Some(&token),
    )
    .await
    .assert_status(200);
    let info = app.get(Api::Admin, "/api/admin2/info", Some(&token)).await;
    assert_eq!(info.body["data"]["real_name"], "Root");
    assert_eq!(info.body["data"]["email"], "root@example.com");
    app.put(
        Api::Admin,
        "/api/admin2/profile",
        json!({"email": "bad"}),
        Some(&token),
    )
    .await
    .assert_status(400);
    app.put(
        Api::Admin,
        "/api/admin2/profile",
        json!({"real_name": 5}),
        Some(&token),
    )
    .await
    .assert_status(400);
}

#[tokio::test]
async fn admin_login_is_rate_limited() {
    let app =
        crate::helpers::spawn_app_with(&[("auth.login_rate_per_account_per_minute", json!(2))])
            .await;
    app.admin_login("admin", "nope-1").await.assert_status(401);
    app.admin_login("admin", "nope-2").await.assert_status(401);
    app.admin_login("admin", ADMIN_PASSWORD)
        .await
        .assert_status(429);
}

#[tokio::test]
async fn the_test_probe_answers_without_a_token() {
    let app = spawn_app().await;
    let reply = app.get(Api::Admin, "/api/test", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["msg"], "后端正常运行");
}
