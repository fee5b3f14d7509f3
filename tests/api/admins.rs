//! Administrator management: CRUD, roles, self-protection, super-admin protection, token revocation.

use serde_json::json;

use crate::helpers::{Api, TestApp, spawn_app};

fn new_admin(username: &str, role: &str) -> serde_json::Value {
    json!({"id": null, "username": username, "password": "secret123", "real_name": "张三", "email": "", "phone": "13800000000", "avatar": "", "role": role, "status": 1})
}

/// Creates an operator (role `admin`, password `secret123`) as `root` and logs in as them; returns
/// `(id, token)`.
async fn operator_with_token(app: &TestApp, root: &str, username: &str) -> (i64, String) {
    let created = app
        .post(
            Api::Admin,
            "/api/admin2/administrators",
            new_admin(username, "admin"),
            Some(root),
        )
        .await;
    created.assert_status(200);
    let id = created.body["data"]["id"].as_i64().unwrap();
    let login = app.admin_login(username, "secret123").await;
    login.assert_status(200);
    (id, login.body["data"]["token"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn administrators_are_created_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let created = app
        .post(
            Api::Admin,
            "/api/admin2/administrators",
            new_admin("operator1", "admin"),
            Some(&root),
        )
        .await;
    created.assert_status(200);
    let data = &created.body["data"];
    assert_eq!(data["role"], "admin");
    assert_eq!(data["email"], "");
    assert!(data.get("password").is_none());
    let id = data["id"].as_i64().unwrap();
    // Empty emails are stored NULL, so a second one does not collide.
    app.post(
        Api::Admin,
        "/api/admin2/administrators",
        new_admin("operator2", "admin"),
        Some(&root),
    )
    .await
    .assert_status(200);

    let list = app
        .get(
            Api::Admin,
            "/api/admin2/administrators?page=1&page_size=20&keyword=operator&status=",
            Some(&root),
        )
        .await;
    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 2);
    let row = &list.body["data"]["administrators"][0];
    for key in [
        "id",
        "username",
        "real_name",
        "email",
        "phone",
        "role",
        "avatar",
        "status",
        "created_at",
    ] {
        assert!(row.get(key).is_some(), "{key}");
    }
    let escaped = app
        .get(
            Api::Admin,
            "/api/admin2/administrators?keyword=%25",
            Some(&root),
        )
        .await;
    assert_eq!(
        escaped.body["data"]["total"], 0,
        "LIKE wildcards are escaped"
    );

    let updated = app
        .put(
            Api::Admin,
            &format!("/api/admin2/administrators/{id}"),
            json!({"id": id, "username": "operator1", "password": "", "real_name": "李四", "email": "ops@example.com", "role": "super_admin", "status": 1}),
            Some(&root),
        )
        .await;
    updated.assert_status(200);
    assert_eq!(updated.body["data"]["real_name"], "李四");
    assert_eq!(updated.body["data"]["role"], "super_admin");

    let roles = app.get(Api::Admin, "/api/admin/roles", Some(&root)).await;
    let ids: Vec<i64> = roles.body["data"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    let multi = app
        .put(
            Api::Admin,
            &format!("/api/admin2/administrators/{id}"),
            json!({"role_ids": ids}),
            Some(&root),
        )
        .await;
    multi.assert_status(200);
    assert_eq!(multi.body["data"]["roles"].as_array().unwrap().len(), 2);

    app.delete(
        Api::Admin,
        &format!("/api/admin2/administrators/{id}"),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(
        Api::Admin,
        &format!("/api/admin2/administrators/{id}"),
        Some(&root),
    )
    .await
    .assert_status(404);
    assert_eq!(app.admin_login("operator1", "secret123").await.status, 401);
}

#[tokio::test]
async fn administrator_writes_refuse_conflicts_and_bad_input() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let dup = app
        .post(
            Api::Admin,
            "/api/admin2/administrators",
            new_admin("admin", "admin"),
            Some(&root),
        )
        .await;
    dup.assert_status(409);
    assert_eq!(dup.msg(), "用户名已存在");
    let mut with_email = new_admin("mailer", "admin");
    with_email["email"] = json!("admin@example.com");
    app.post(
        Api::Admin,
        "/api/admin2/administrators",
        with_email.clone(),
        Some(&root),
    )
    .await
    .assert_status(200);
    with_email["username"] = json!("mailer2");
    app.post(
        Api::Admin,
        "/api/admin2/administrators",
        with_email,
        Some(&root),
    )
    .await
    .assert_status(409);
    let unknown_role = app
        .post(
            Api::Admin,
            "/api/admin2/administrators",
            new_admin("nobody", "ghost"),
            Some(&root),
        )
        .await;
    unknown_role.assert_status(400);
    assert_eq!(unknown_role.msg(), "角色不存在");
    for bad in [
        json!({"username": "ab", "password": "secret123", "role": "admin"}),
        json!({"username": "abcd", "password": "123", "role": "admin"}),
        json!({"username": "abcd", "password": "secret123", "role": "admin", "status": 2}),
        json!({"username": "abcd", "password": "secret123", "email": "not-an-email"}),
        json!({"username": 12345, "password": "secret123"}),
        json!({"password": "secret123"}),
    ] {
        app.post(Api::Admin, "/api/admin2/administrators", bad, Some(&root))
            .await
            .assert_status(400);
    }
    app.post_raw(
        Api::Admin,
        "/api/admin2/administrators",
        "application/json",
        b"[".to_vec(),
        Some(&root),
    )
    .await
    .assert_status(400);
    let other = app
        .post(
            Api::Admin,
            "/api/admin2/administrators",
            new_admin("other", "admin"),
            Some(&root),
        )
        .await;
    let other_id = other.body["data"]["id"].as_i64().unwrap();
    let taken = app
        .put(
            Api::Admin,
            &format!("/api/admin2/administrators/{other_id}"),
            json!({"username": "admin"}),
            Some(&root),
        )
        .await;
    taken.assert_status(409);
    assert_eq!(taken.msg(), "用户名已被其他管理员使用");
    for path in [
        "/api/admin2/administrators/999999",
        "/api/admin2/administrators/x",
    ] {
        app.get(Api::Admin, path, Some(&root))
            .await
            .assert_status(404);
        app.put(Api::Admin, path, json!({"real_name": "x"}), Some(&root))
            .await
            .assert_status(404);
        app.delete(Api::Admin, path, Some(&root))
            .await
            .assert_status(404);
        app.put(
            Api::Admin,
            &format!("{path}/status"),
            json!({"status": 0}),
            Some(&root),
        )
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
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{other_id}/status"),
        json!({"status": 3}),
        Some(&root),
    )
    .await
    .assert_status(400);
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{other_id}/status"),
        json!({}),
        Some(&root),
    )
    .await
    .assert_status(400);
    app.post(
        Api::Admin,
        &format!("/api/admin2/administrators/{other_id}/password"),
        json!({"password": "1"}),
        Some(&root),
    )
    .await
    .assert_status(400);
}

#[tokio::test]
async fn an_administrator_cannot_delete_disable_or_edit_themself() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let me = app.get(Api::Admin, "/api/admin2/info", Some(&root)).await;
    let my_id = me.body["data"]["id"].as_i64().unwrap();
    let del = app
        .delete(
            Api::Admin,
            &format!("/api/admin2/administrators/{my_id}"),
            Some(&root),
        )
        .await;
    del.assert_status(400);
    assert_eq!(del.msg(), "不能删除自己");
    let dis = app
        .put(
            Api::Admin,
            &format!("/api/admin2/administrators/{my_id}/status"),
            json!({"status": 0}),
            Some(&root),
        )
        .await;
    dis.assert_status(400);
    assert_eq!(dis.msg(), "不能禁用自己");
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{my_id}"),
        json!({"role": "admin"}),
        Some(&root),
    )
    .await
    .assert_status(400);
    app.get(Api::Admin, "/api/admin2/info", Some(&root))
        .await
        .assert_status(200);
}

#[tokio::test]
async fn only_a_super_admin_can_grant_or_touch_the_super_admin_role() {
    let app = spawn_app().await;
    let (_, _, token) = app
        .admin_with_permissions(
            "hrstaff",
            "hr",
            &[
                "system:admin:list",
                "system:admin:create",
                "system:admin:edit",
                "system:admin:delete",
                "system:admin:reset",
            ],
        )
        .await;
    let escalate = app
        .post(
            Api::Admin,
            "/api/admin2/administrators",
            new_admin("sneaky", "super_admin"),
            Some(&token),
        )
        .await;
    escalate.assert_status(403);
    let root_id = 1;
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{root_id}/status"),
        json!({"status": 0}),
        Some(&token),
    )
    .await
    .assert_status(403);
    app.delete(
        Api::Admin,
        &format!("/api/admin2/administrators/{root_id}"),
        Some(&token),
    )
    .await
    .assert_status(403);
    app.post(
        Api::Admin,
        &format!("/api/admin2/administrators/{root_id}/password"),
        json!({"password": "hacked123"}),
        Some(&token),
    )
    .await
    .assert_status(403);
    // Administrators whose roles grant no more than the caller holds are within reach.
    app.admin_with_permissions("peer", "clerk", &["system:admin:list"])
        .await;
    let plain = app
        .post(
            Api::Admin,
            "/api/admin2/administrators",
            new_admin("plain", "clerk"),
            Some(&token),
        )
        .await;
    plain.assert_status(200);
    let plain_id = plain.body["data"]["id"].as_i64().unwrap();
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{plain_id}"),
        json!({"role": "super_admin"}),
        Some(&token),
    )
    .await
    .assert_status(403);
}

#[tokio::test]
async fn disabling_an_admin_blocks_their_next_request_and_status_zero_is_accepted() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (id, token) = operator_with_token(&app, &root, "worker").await;
    app.get(Api::Admin, "/api/admin2/info", Some(&token))
        .await
        .assert_status(200);

    let off = app
        .put(
            Api::Admin,
            &format!("/api/admin2/administrators/{id}/status"),
            json!({"status": 0}),
            Some(&root),
        )
        .await;
    off.assert_status(200);
    assert_eq!(off.msg(), "操作成功");
    app.get(Api::Admin, "/api/admin2/info", Some(&token))
        .await
        .assert_status(401);
    let list = app
        .get(
            Api::Admin,
            "/api/admin2/administrators?status=0",
            Some(&root),
        )
        .await;
    assert_eq!(list.body["data"]["total"], 1);
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{id}/status"),
        json!({"status": 1}),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::Admin, "/api/admin2/info", Some(&token))
        .await
        .assert_status(200);

    // Created disabled: an explicit 0 is kept.
    let mut body = new_admin("sleeper", "admin");
    body["status"] = json!(0);
    let sleeper = app
        .post(Api::Admin, "/api/admin2/administrators", body, Some(&root))
        .await;
    assert_eq!(sleeper.body["data"]["status"], 0);
}

#[tokio::test]
async fn resetting_an_admin_password_revokes_their_tokens() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (id, token) = operator_with_token(&app, &root, "resetme").await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let reset = app
        .post(
            Api::Admin,
            &format!("/api/admin2/administrators/{id}/password"),
            json!({"password": "newpass123", "currentAdminId": 1}),
            Some(&root),
        )
        .await;
    reset.assert_status(200);
    assert_eq!(reset.msg(), "重置成功");
    app.get(Api::Admin, "/api/admin2/info", Some(&token))
        .await
        .assert_status(401);
    assert_eq!(app.admin_login("resetme", "secret123").await.status, 401);
    app.admin_login("resetme", "newpass123")
        .await
        .assert_status(200);
}

/// All seeded permission ids.
async fn every_permission_id(app: &TestApp) -> Vec<i64> {
    app.all_permissions()
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// A role (as the super admin) granting every permission under a code that is not `super_admin`.
async fn almighty_role(app: &TestApp, root: &str) -> i64 {
    let role = app
        .post(
            Api::Admin,
            "/api/admin/roles",
            json!({"name": "全能", "code": "almighty", "description": "", "sort": 1, "status": 1}),
            Some(root),
        )
        .await;
    role.assert_status(200);
    let id = role.body["data"]["id"].as_i64().unwrap();
    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{id}/permissions"),
        json!({ "permission_ids": every_permission_id(app).await }),
        Some(root),
    )
    .await
    .assert_status(200);
    id
}

#[tokio::test]
async fn creating_an_admin_assigns_only_roles_within_the_creators_permissions() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    almighty_role(&app, &root).await;
    let (_, _, token) = app
        .admin_with_permissions("creator", "creator", &["system:admin:create"])
        .await;
    for role in ["almighty", "admin", "super_admin"] {
        let reply = app
            .post(
                Api::Admin,
                "/api/admin2/administrators",
                new_admin(&format!("x{role}"), role),
                Some(&token),
            )
            .await;
        reply.assert_status(403);
        assert_eq!(reply.code(), 403, "{role}");
    }
    // No role named: the default `admin` role grants more than the creator holds.
    let mut body = new_admin("defaulted", "");
    body.as_object_mut().unwrap().remove("role");
    let reply = app
        .post(Api::Admin, "/api/admin2/administrators", body, Some(&token))
        .await;
    reply.assert_status(403);
    assert_eq!(reply.msg(), "不能操作权限超出自己的角色");
    assert_eq!(app.admin_login("xalmighty", "secret123").await.status, 401);
    // Nothing beyond the creator's own permission: allowed.
    let reply = app
        .post(
            Api::Admin,
            "/api/admin2/administrators",
            new_admin("twin", "creator"),
            Some(&token),
        )
        .await;
    reply.assert_status(200);
}

#[tokio::test]
async fn role_edit_alone_cannot_grant_a_role_permissions_the_editor_does_not_hold() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (_, own_role, token) = app
        .admin_with_permissions("editor", "editor", &["system:role:edit"])
        .await;
    let all = every_permission_id(&app).await;
    for method in ["PUT", "POST"] {
        let req = app.request(
            method.parse().unwrap(),
            Api::Admin,
            &format!("/api/admin/roles/{own_role}/permissions"),
            Some(&token),
        );
        let reply = app.send(req.json(&json!({ "permission_ids": all }))).await;
        reply.assert_status(403);
        assert_eq!(reply.msg(), "不能授予自己没有的权限", "{method}");
    }
    let perms = app
        .get(Api::Admin, "/api/admin2/permissions", Some(&token))
        .await;
    assert_eq!(
        perms.body["data"]["permissions"],
        json!(["system:role:edit"])
    );
    // Another role granting more than the editor holds is out of reach, even to edit or re-enable it.
    let almighty = almighty_role(&app, &root).await;
    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{almighty}/permissions"),
        json!({ "permission_ids": [app.permission_id("system:role:edit").await] }),
        Some(&token),
    )
    .await
    .assert_status(403);
    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{almighty}"),
        json!({"name": "全能", "code": "almighty", "description": "", "sort": 1, "status": 0}),
        Some(&token),
    )
    .await
    .assert_status(403);
    // Within the editor's own permissions: allowed.
    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{own_role}/permissions"),
        json!({ "permission_ids": [app.permission_id("system:role:edit").await] }),
        Some(&token),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn reset_edit_and_disable_reach_only_admins_within_the_callers_permissions() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (_, _, token) = app
        .admin_with_permissions(
            "helpdesk",
            "helpdesk",
            &[
                "system:admin:reset",
                "system:admin:edit",
                "system:admin:delete",
            ],
        )
        .await;
    // `boss` holds the operator role, which grants far more than the help desk holds.
    let (boss, _) = operator_with_token(&app, &root, "boss").await;
    let reset = app
        .post(
            Api::Admin,
            &format!("/api/admin2/administrators/{boss}/password"),
            json!({"password": "hacked123"}),
            Some(&token),
        )
        .await;
    reset.assert_status(403);
    assert_eq!(reset.msg(), "不能管理权限超出自己的管理员");
    app.admin_login("boss", "secret123")
        .await
        .assert_status(200);
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{boss}/status"),
        json!({"status": 0}),
        Some(&token),
    )
    .await
    .assert_status(403);
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{boss}"),
        json!({"real_name": "改名"}),
        Some(&token),
    )
    .await
    .assert_status(403);
    app.delete(
        Api::Admin,
        &format!("/api/admin2/administrators/{boss}"),
        Some(&token),
    )
    .await
    .assert_status(403);
    app.admin_login("boss", "secret123")
        .await
        .assert_status(200);

    // A peer whose role grants a subset of the help desk's permissions is within reach.
    let (peer, _, _) = app
        .admin_with_permissions("peer", "resetter", &["system:admin:reset"])
        .await;
    app.post(
        Api::Admin,
        &format!("/api/admin2/administrators/{peer}/password"),
        json!({"password": "newpass123"}),
        Some(&token),
    )
    .await
    .assert_status(200);
    // ...but cannot be given a role beyond the help desk's own.
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{peer}"),
        json!({"role": "admin"}),
        Some(&token),
    )
    .await
    .assert_status(403);
    app.put(
        Api::Admin,
        &format!("/api/admin2/administrators/{peer}/status"),
        json!({"status": 0}),
        Some(&token),
    )
    .await
    .assert_status(200);
}
