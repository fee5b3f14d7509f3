//! App users managed from the console: CRUD, soft delete, conflicts, disable and password reset.

use sea_orm::EntityTrait;
use serde_json::json;

use crate::helpers::{Api, spawn_app};

fn new_user(username: &str) -> serde_json::Value {
    json!({"username": username, "password": "secret123", "email": "", "phone": "", "avatar": "", "status": 1})
}

#[tokio::test]
async fn users_are_created_listed_updated_and_soft_deleted() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let created = app
        .post(
            Api::Admin,
            "/api/admin/users",
            new_user("alice"),
            Some(&root),
        )
        .await;
    created.assert_status(200);
    let id = created.body["data"]["id"].as_i64().unwrap();
    assert_eq!(created.body["data"]["deleted_at"], serde_json::Value::Null);
    assert!(created.body["data"].get("password").is_none());
    app.post(Api::Admin, "/api/admin/users", new_user("bob"), Some(&root))
        .await
        .assert_status(200);

    let list = app
        .get(
            Api::Admin,
            "/api/admin/users?page=1&page_size=20&keyword=ali&status=",
            Some(&root),
        )
        .await;
    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 1);
    let row = &list.body["data"]["users"][0];
    for key in [
        "id",
        "username",
        "email",
        "phone",
        "avatar",
        "status",
        "created_at",
    ] {
        assert!(row.get(key).is_some(), "{key}");
    }
    app.get(Api::Admin, &format!("/api/admin/users/{id}"), Some(&root))
        .await
        .assert_status(200);

    let updated = app
        .put(
            Api::Admin,
            &format!("/api/admin/users/{id}"),
            json!({"username": "ignored", "email": "a@example.com", "phone": "13900000000"}),
            Some(&root),
        )
        .await;
    updated.assert_status(200);
    assert_eq!(updated.body["data"]["email"], "a@example.com");
    assert_eq!(updated.body["data"]["username"], "alice");

    app.delete(Api::Admin, &format!("/api/admin/users/{id}"), Some(&root))
        .await
        .assert_status(200);
    app.get(Api::Admin, &format!("/api/admin/users/{id}"), Some(&root))
        .await
        .assert_status(404);
    let list = app.get(Api::Admin, "/api/admin/users", Some(&root)).await;
    assert_eq!(list.body["data"]["total"], 1);
    let row = mychat::modules::users::entity::Entity::find_by_id(id)
        .one(app.db())
        .await
        .unwrap()
        .expect("soft delete keeps the row");
    assert!(row.deleted_at.is_some());
    app.delete(Api::Admin, &format!("/api/admin/users/{id}"), Some(&root))
        .await
        .assert_status(404);
}

#[tokio::test]
async fn user_writes_refuse_conflicts_and_bad_input() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    app.post(
        Api::Admin,
        "/api/admin/users",
        new_user("carol"),
        Some(&root),
    )
    .await
    .assert_status(200);
    let dup = app
        .post(
            Api::Admin,
            "/api/admin/users",
            new_user("carol"),
            Some(&root),
        )
        .await;
    dup.assert_status(400);
    assert_eq!(dup.msg(), "用户名已存在");
    let mut mail = new_user("dave");
    mail["email"] = json!("d@example.com");
    let dave = app
        .post(Api::Admin, "/api/admin/users", mail.clone(), Some(&root))
        .await;
    dave.assert_status(200);
    mail["username"] = json!("erin");
    app.post(Api::Admin, "/api/admin/users", mail, Some(&root))
        .await
        .assert_status(409);
    for bad in [
        json!({"username": "ab", "password": "secret123"}),
        json!({"username": "abcd", "password": "1"}),
        json!({"username": "abcd", "password": "secret123", "email": "nope"}),
        json!({"username": "abcd", "password": "secret123", "status": 5}),
        json!({"username": ["x"], "password": "secret123"}),
        json!({}),
    ] {
        app.post(Api::Admin, "/api/admin/users", bad, Some(&root))
            .await
            .assert_status(400);
    }
    let dave_id = dave.body["data"]["id"].as_i64().unwrap();
    let nothing = app
        .put(
            Api::Admin,
            &format!("/api/admin/users/{dave_id}"),
            json!({}),
            Some(&root),
        )
        .await;
    nothing.assert_status(400);
    assert_eq!(nothing.msg(), "没有需要更新的字段");
    app.put(
        Api::Admin,
        &format!("/api/admin/users/{dave_id}"),
        json!({"status": "x"}),
        Some(&root),
    )
    .await
    .assert_status(400);
    app.get(Api::Admin, "/api/admin/users?status=abc", Some(&root))
        .await
        .assert_status(400);
    for path in ["/api/admin/users/999999", "/api/admin/users/zz"] {
        app.get(Api::Admin, path, Some(&root))
            .await
            .assert_status(404);
        app.put(Api::Admin, path, json!({"phone": "1"}), Some(&root))
            .await
            .assert_status(404);
        app.delete(Api::Admin, path, Some(&root))
            .await
            .assert_status(404);
        app.post(
            Api::Admin,
            &format!("{path}/password"),
            json!({"password": "secret123"}),
            Some(&root),
        )
        .await
        .assert_status(404);
    }
}

#[tokio::test]
async fn disabling_or_resetting_a_user_ends_their_sessions() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (id, token) = app.user_with_token("frank").await;
    app.get(Api::User, "/api/user/info", Some(&token))
        .await
        .assert_status(200);

    app.put(
        Api::Admin,
        &format!("/api/admin/users/{id}"),
        json!({"status": 0}),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::User, "/api/user/info", Some(&token))
        .await
        .assert_status(401);
    app.put(
        Api::Admin,
        &format!("/api/admin/users/{id}"),
        json!({"status": 1}),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::User, "/api/user/info", Some(&token))
        .await
        .assert_status(200);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.post(
        Api::Admin,
        &format!("/api/admin/users/{id}/password"),
        json!({"password": "brandnew1"}),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::User, "/api/user/info", Some(&token))
        .await
        .assert_status(401);
    app.login("frank", "brandnew1").await.assert_status(200);

    app.delete(Api::Admin, &format!("/api/admin/users/{id}"), Some(&root))
        .await
        .assert_status(200);
    assert_eq!(app.login("frank", "brandnew1").await.status, 401);
}
