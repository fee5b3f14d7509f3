//! Route permissions decided by casbin over the RBAC tables; role, permission and menu management.

use casbin::Adapter;
use mychat::modules::rbac::enforcer::RbacAdapter;
use serde_json::json;

use crate::helpers::{Api, spawn_app};
use mychat::modules::rbac::guard::{Access, ROUTES};

#[tokio::test]
async fn a_role_with_only_user_list_can_list_users_and_is_refused_everywhere_else() {
    let app = spawn_app().await;
    let (_, _, token) = app
        .admin_with_permissions("viewer", "viewer", &["system:user:list"])
        .await;

    app.get(Api::Admin, "/api/admin/users", Some(&token))
        .await
        .assert_status(200);

    for (method, path) in [
        ("POST", "/api/admin/users"),
        ("DELETE", "/api/admin/users/1"),
        ("POST", "/api/admin/users/1/password"),
        ("GET", "/api/admin2/administrators"),
        ("GET", "/api/admin/roles"),
        ("GET", "/api/admin/permissions/tree"),
        ("GET", "/api/admin/menus"),
        ("GET", "/api/admin/configs"),
        ("GET", "/api/admin/logs"),
        ("GET", "/api/admin/statistics"),
        ("GET", "/api/admin/orders"),
        ("GET", "/api/admin/counselors"),
        ("GET", "/api/admin/withdraws"),
        ("GET", "/api/admin/lowcode/forms"),
        ("POST", "/api/admin/upload/image"),
        ("GET", "/admin/online/users/detailed"),
    ] {
        let req = app.request(method.parse().unwrap(), Api::Admin, path, Some(&token));
        let reply = app.send(req.json(&json!({}))).await;
        reply.assert_status(403);
        assert_eq!(reply.msg(), "没有权限", "{method} {path}");
    }

    // The caller's own account needs no permission, and reports exactly what the role grants.
    app.get(Api::Admin, "/api/admin2/info", Some(&token))
        .await
        .assert_status(200);
    let perms = app
        .get(Api::Admin, "/api/admin2/permissions", Some(&token))
        .await;
    perms.assert_status(200);
    assert_eq!(
        perms.body["data"]["permissions"],
        json!(["system:user:list"])
    );
    assert_eq!(perms.body["data"]["roles"], json!(["viewer"]));
    let rows = app
        .get(Api::Admin, "/api/admin/user/permissions", Some(&token))
        .await;
    assert_eq!(
        rows.body["data"]["permissions"][0]["code"],
        "system:user:list"
    );
}

#[tokio::test]
async fn a_permission_change_takes_effect_without_restart() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (_, role_id, token) = app
        .admin_with_permissions("auditor", "auditor", &["system:user:list"])
        .await;
    app.get(Api::Admin, "/api/admin/roles", Some(&token))
        .await
        .assert_status(403);

    let ids = vec![
        app.permission_id("system:user:list").await,
        app.permission_id("system:role:list").await,
    ];
    // The console sends POST; PUT is the documented method. Both replace the set.
    app.post(
        Api::Admin,
        &format!("/api/admin/roles/{role_id}/permissions"),
        json!({ "permission_ids": ids }),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::Admin, "/api/admin/roles", Some(&token))
        .await
        .assert_status(200);

    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{role_id}/permissions"),
        json!({ "permission_ids": [] }),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::Admin, "/api/admin/users", Some(&token))
        .await
        .assert_status(403);
    let perms = app
        .get(Api::Admin, "/api/admin2/permissions", Some(&token))
        .await;
    assert_eq!(perms.body["data"]["permissions"], json!([]));
}

#[tokio::test]
async fn a_disabled_role_or_permission_grants_nothing() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (_, role_id, token) = app
        .admin_with_permissions("ops", "ops", &["system:user:list"])
        .await;
    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{role_id}"),
        json!({"name": "角色ops", "code": "ops", "description": "", "sort": 5, "status": 0}),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::Admin, "/api/admin/users", Some(&token))
        .await
        .assert_status(403);

    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{role_id}"),
        json!({"name": "角色ops", "code": "ops", "description": "", "sort": 5, "status": 1}),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::Admin, "/api/admin/users", Some(&token))
        .await
        .assert_status(200);

    let perm_id = app.permission_id("system:user:list").await;
    let perm = app
        .get(
            Api::Admin,
            &format!("/api/admin/permissions/{perm_id}"),
            Some(&root),
        )
        .await;
    let mut body = perm.body["data"].clone();
    body["status"] = json!(0);
    app.put(
        Api::Admin,
        &format!("/api/admin/permissions/{perm_id}"),
        body,
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::Admin, "/api/admin/users", Some(&token))
        .await
        .assert_status(403);
}

#[tokio::test]
async fn the_super_admin_holds_every_permission_and_the_client_admin_role() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let perms = app
        .get(Api::Admin, "/api/admin2/permissions", Some(&root))
        .await;
    let codes = perms.body["data"]["permissions"]
        .as_array()
        .unwrap()
        .clone();
    for code in [
        "system:user:list",
        "lowcode:form:design",
        "system:log:list",
        "system:upload",
    ] {
        assert!(codes.contains(&json!(code)), "{code}");
    }
    assert_eq!(perms.body["data"]["roles"], json!(["super_admin", "admin"]));
    // A permission created later is granted to the super admin at once (the wildcard).
    let created = app
        .post(
            Api::Admin,
            "/api/admin/permissions",
            json!({"parent_id": null, "name": "新权限", "code": "extra:thing", "type": "button"}),
            Some(&root),
        )
        .await;
    created.assert_status(200);
    let perms = app
        .get(Api::Admin, "/api/admin2/permissions", Some(&root))
        .await;
    assert!(
        perms.body["data"]["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("extra:thing"))
    );
    for path in [
        "/api/admin/roles",
        "/api/admin/menus",
        "/api/admin/users",
        "/api/admin/logs",
    ] {
        app.get(Api::Admin, path, Some(&root))
            .await
            .assert_status(200);
    }
}

#[tokio::test]
async fn roles_are_created_listed_updated_and_deleted_with_their_links() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (admin_id, role_id, _) = app
        .admin_with_permissions("clerk", "clerk", &["system:user:list"])
        .await;

    let list = app
        .get(
            Api::Admin,
            "/api/admin/roles?page=1&pageSize=10",
            Some(&root),
        )
        .await;
    list.assert_status(200);
    let rows = list.body["data"]["list"].as_array().unwrap();
    assert_eq!(list.body["data"]["total"], 3);
    let clerk = rows.iter().find(|r| r["code"] == "clerk").unwrap();
    assert_eq!(clerk["user_count"], 1);
    let filtered = app
        .get(
            Api::Admin,
            "/api/admin/roles?name=clerk&status=1",
            Some(&root),
        )
        .await;
    assert_eq!(filtered.body["data"]["total"], 1);

    let perms = app
        .get(
            Api::Admin,
            &format!("/api/admin/roles/{role_id}/permissions"),
            Some(&root),
        )
        .await;
    perms.assert_status(200);
    assert_eq!(perms.body["data"][0]["code"], "system:user:list");
    let users = app
        .get(
            Api::Admin,
            &format!("/api/admin/roles/{role_id}/users?page=1&pageSize=10"),
            Some(&root),
        )
        .await;
    users.assert_status(200);
    assert_eq!(users.body["data"]["total"], 1);
    assert_eq!(users.body["data"]["list"][0]["id"], admin_id);
    assert_eq!(users.body["data"]["list"][0]["username"], "clerk");

    let updated = app
        .put(
            Api::Admin,
            &format!("/api/admin/roles/{role_id}"),
            json!({"name": "文员", "code": "clerk2", "description": "d", "sort": 0, "status": 1}),
            Some(&root),
        )
        .await;
    updated.assert_status(200);
    assert_eq!(updated.body["data"]["sort"], 0);
    assert_eq!(updated.body["data"]["code"], "clerk2");

    app.delete(
        Api::Admin,
        &format!("/api/admin/roles/{role_id}"),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(
        Api::Admin,
        &format!("/api/admin/roles/{role_id}"),
        Some(&root),
    )
    .await
    .assert_status(404);
    let admin = app
        .get(
            Api::Admin,
            &format!("/api/admin2/administrators/{admin_id}"),
            Some(&root),
        )
        .await;
    assert_eq!(admin.body["data"]["role"], "");
}

#[tokio::test]
async fn role_writes_refuse_bad_input_conflicts_and_the_super_admin_role() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let body = |name: &str, code: &str| json!({"name": name, "code": code, "description": "", "sort": 1, "status": 1});
    app.post(
        Api::Admin,
        "/api/admin/roles",
        body("审计员", "auditor"),
        Some(&root),
    )
    .await
    .assert_status(200);
    let dup_name = app
        .post(
            Api::Admin,
            "/api/admin/roles",
            body("审计员", "other"),
            Some(&root),
        )
        .await;
    dup_name.assert_status(409);
    assert_eq!(dup_name.msg(), "角色名已存在");
    let dup_code = app
        .post(
            Api::Admin,
            "/api/admin/roles",
            body("另一个", "auditor"),
            Some(&root),
        )
        .await;
    dup_code.assert_status(409);
    for bad in [
        body("x", "Bad-Code"),
        body("", "ok_code"),
        json!({"name": "n", "code": "c", "status": 7}),
        json!({"name": 5, "code": "c"}),
        json!({"code": "c"}),
    ] {
        app.post(Api::Admin, "/api/admin/roles", bad, Some(&root))
            .await
            .assert_status(400);
    }
    let malformed = app
        .post_raw(
            Api::Admin,
            "/api/admin/roles",
            "application/json",
            b"{nope".to_vec(),
            Some(&root),
        )
        .await;
    malformed.assert_status(400);

    for path in [
        "/api/admin/roles/999999",
        "/api/admin/roles/abc",
        "/api/admin/roles/-1",
    ] {
        app.get(Api::Admin, path, Some(&root))
            .await
            .assert_status(404);
        app.put(Api::Admin, path, body("n", "c"), Some(&root))
            .await
            .assert_status(404);
        app.delete(Api::Admin, path, Some(&root))
            .await
            .assert_status(404);
    }
    app.put(
        Api::Admin,
        "/api/admin/roles/999999/permissions",
        json!({"permission_ids": []}),
        Some(&root),
    )
    .await
    .assert_status(404);

    let roles = app
        .get(Api::Admin, "/api/admin/roles?name=超级", Some(&root))
        .await;
    let super_id = roles.body["data"]["list"][0]["id"].as_i64().unwrap();
    app.delete(
        Api::Admin,
        &format!("/api/admin/roles/{super_id}"),
        Some(&root),
    )
    .await
    .assert_status(400);
    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{super_id}"),
        json!({"name": "超级管理员", "code": "super_admin", "description": "", "sort": 1, "status": 0}),
        Some(&root),
    )
    .await
    .assert_status(400);
    let missing_ids = app
        .put(
            Api::Admin,
            &format!("/api/admin/roles/{super_id}/permissions"),
            json!({}),
            Some(&root),
        )
        .await;
    missing_ids.assert_status(400);
    let unknown = app
        .put(
            Api::Admin,
            &format!("/api/admin/roles/{super_id}/permissions"),
            json!({"permission_ids": [987654]}),
            Some(&root),
        )
        .await;
    unknown.assert_status(400);
    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{super_id}/permissions"),
        json!({"permission_ids": "all"}),
        Some(&root),
    )
    .await
    .assert_status(400);
}

#[tokio::test]
async fn permissions_form_a_tree_and_refuse_cycles_duplicates_and_orphaning_deletes() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let tree = app
        .get(Api::Admin, "/api/admin/permissions/tree", Some(&root))
        .await;
    tree.assert_status(200);
    let system = tree.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["code"] == "system")
        .unwrap()
        .clone();
    let user_node = system["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["code"] == "system:user")
        .unwrap();
    assert!(
        user_node["children"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["code"] == "system:user:list")
    );
    let leaf = &user_node["children"][0];
    assert!(leaf.get("children").is_none(), "empty children are omitted");

    let parent = app
        .post(
            Api::Admin,
            "/api/admin/permissions",
            json!({"parent_id": null, "name": "测试报表", "code": "report", "type": "menu", "path": "/r", "icon": "Chart", "sort": 9, "status": 1}),
            Some(&root),
        )
        .await;
    parent.assert_status(200);
    let parent_id = parent.body["data"]["id"].as_i64().unwrap();
    assert_eq!(parent.body["data"]["parent_id"], 0);
    let child = app
        .post(
            Api::Admin,
            "/api/admin/permissions",
            json!({"parent_id": parent_id, "name": "测试看报表", "code": "report:view", "type": "button"}),
            Some(&root),
        )
        .await;
    child.assert_status(200);
    let child_id = child.body["data"]["id"].as_i64().unwrap();

    let dup = app
        .post(
            Api::Admin,
            "/api/admin/permissions",
            json!({"name": "x", "code": "report:view"}),
            Some(&root),
        )
        .await;
    dup.assert_status(409);
    for bad in [
        json!({"name": "x", "code": "y", "type": "widget"}),
        json!({"name": "x", "code": "Y Z"}),
        json!({"name": "x", "code": "ok", "parent_id": 999999}),
        json!({"name": "", "code": "ok"}),
        json!({"name": "x"}),
    ] {
        app.post(Api::Admin, "/api/admin/permissions", bad, Some(&root))
            .await
            .assert_status(400);
    }
    // Moving the parent under its own child would make a cycle.
    let cycle = app
        .put(
            Api::Admin,
            &format!("/api/admin/permissions/{parent_id}"),
            json!({"parent_id": child_id, "name": "报表", "code": "report"}),
            Some(&root),
        )
        .await;
    cycle.assert_status(400);
    app.put(
        Api::Admin,
        &format!("/api/admin/permissions/{parent_id}"),
        json!({"parent_id": parent_id, "name": "报表", "code": "report"}),
        Some(&root),
    )
    .await
    .assert_status(400);
    let has_children = app
        .delete(
            Api::Admin,
            &format!("/api/admin/permissions/{parent_id}"),
            Some(&root),
        )
        .await;
    has_children.assert_status(400);

    let list = app
        .get(Api::Admin, "/api/admin/permissions?name=测试", Some(&root))
        .await;
    assert_eq!(list.body["data"]["total"], 2);
    app.delete(
        Api::Admin,
        &format!("/api/admin/permissions/{child_id}"),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.delete(
        Api::Admin,
        &format!("/api/admin/permissions/{parent_id}"),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(
        Api::Admin,
        &format!("/api/admin/permissions/{parent_id}"),
        Some(&root),
    )
    .await
    .assert_status(404);
    app.delete(Api::Admin, "/api/admin/permissions/xyz", Some(&root))
        .await
        .assert_status(404);
}

#[tokio::test]
async fn menus_are_managed_as_a_tree() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let list = app.get(Api::Admin, "/api/admin/menus", Some(&root)).await;
    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 17);
    let roots = list.body["data"]["list"].as_array().unwrap();
    assert_eq!(roots.len(), 4);
    let system = roots.iter().find(|m| m["name"] == "系统管理").unwrap();
    assert_eq!(system["parent_id"], serde_json::Value::Null);
    assert_eq!(system["children"].as_array().unwrap().len(), 6);
    assert!(system.get("created_at").is_none());

    let created = app
        .post(
            Api::Admin,
            "/api/admin/menus",
            json!({"id": null, "parent_id": 0, "name": "报表", "type": 0, "path": "/r", "component": "", "permission": "", "icon": "", "sort": 0, "status": 0}),
            Some(&root),
        )
        .await;
    created.assert_status(200);
    let menu = &created.body["data"];
    assert_eq!(menu["type"], 2);
    assert_eq!(menu["status"], 0);
    assert_eq!(menu["parent_id"], serde_json::Value::Null);
    assert!(menu["created_at"].is_string());
    let parent_id = menu["id"].as_i64().unwrap();
    let child = app
        .post(
            Api::Admin,
            "/api/admin/menus",
            json!({"parent_id": parent_id, "name": "日报"}),
            Some(&root),
        )
        .await;
    child.assert_status(200);
    let child_id = child.body["data"]["id"].as_i64().unwrap();

    let tree = app
        .get(Api::Admin, "/api/admin/menus/tree", Some(&root))
        .await;
    let node = tree.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == parent_id)
        .unwrap()
        .clone();
    assert_eq!(node["children"][0]["id"], child_id);

    let empty = app
        .post(
            Api::Admin,
            "/api/admin/menus",
            json!({"name": "  "}),
            Some(&root),
        )
        .await;
    empty.assert_status(400);
    assert_eq!(empty.msg(), "菜单名称不能为空");
    app.post(
        Api::Admin,
        "/api/admin/menus",
        json!({"name": "x", "type": 9}),
        Some(&root),
    )
    .await
    .assert_status(400);
    app.post(
        Api::Admin,
        "/api/admin/menus",
        json!({"name": "x", "parent_id": 999999}),
        Some(&root),
    )
    .await
    .assert_status(400);
    let own_parent = app
        .put(
            Api::Admin,
            &format!("/api/admin/menus/{parent_id}"),
            json!({"name": "报表", "parent_id": parent_id}),
            Some(&root),
        )
        .await;
    own_parent.assert_status(400);
    assert_eq!(own_parent.msg(), "上级菜单不能是自己");
    app.put(
        Api::Admin,
        &format!("/api/admin/menus/{parent_id}"),
        json!({"name": "报表", "parent_id": child_id}),
        Some(&root),
    )
    .await
    .assert_status(400);
    let busy = app
        .delete(
            Api::Admin,
            &format!("/api/admin/menus/{parent_id}"),
            Some(&root),
        )
        .await;
    busy.assert_status(400);
    assert_eq!(busy.msg(), "该菜单下还有 1 个子菜单，无法删除");

    let renamed = app
        .put(
            Api::Admin,
            &format!("/api/admin/menus/{child_id}"),
            json!({"name": "周报", "parent_id": null, "sort": 3, "status": 1}),
            Some(&root),
        )
        .await;
    renamed.assert_status(200);
    assert_eq!(renamed.body["data"]["parent_id"], serde_json::Value::Null);
    assert_eq!(renamed.body["data"]["sort"], 3);
    let search = app
        .get(Api::Admin, "/api/admin/menus?name=%E5%91%A8", Some(&root))
        .await;
    assert_eq!(search.body["data"]["total"], 1);
    app.delete(
        Api::Admin,
        &format!("/api/admin/menus/{parent_id}"),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.delete(Api::Admin, "/api/admin/menus/999999", Some(&root))
        .await
        .assert_status(404);
    app.put(
        Api::Admin,
        "/api/admin/menus/abc",
        json!({"name": "x"}),
        Some(&root),
    )
    .await
    .assert_status(404);
}

#[tokio::test]
async fn the_adapter_derives_policies_from_the_tables_and_answers_false_for_duplicates() {
    let app = spawn_app().await;
    let mut adapter = RbacAdapter::new(app.db().clone());
    let (p, g) = adapter.derive().await.unwrap();
    assert!(p.contains(&vec!["role:super_admin".to_owned(), "*".to_owned()]));
    assert!(p.contains(&vec![
        "role:admin".to_owned(),
        "system:user:list".to_owned()
    ]));
    assert!(g.contains(&vec!["admin:1".to_owned(), "role:super_admin".to_owned()]));

    let rule = vec!["role:admin".to_owned(), "system:role:list".to_owned()];
    assert!(adapter.add_policy("p", "p", rule.clone()).await.unwrap());
    assert!(!adapter.add_policy("p", "p", rule.clone()).await.unwrap());
    assert!(adapter.remove_policy("p", "p", rule.clone()).await.unwrap());
    assert!(!adapter.remove_policy("p", "p", rule).await.unwrap());
    let (p, _) = adapter.derive().await.unwrap();
    assert!(!p.contains(&vec![
        "role:admin".to_owned(),
        "system:role:list".to_owned()
    ]));
}

#[tokio::test]
async fn console_uploads_need_an_admin_and_accept_only_real_images() {
    use crate::helpers::{file_form, tiny_png};
    let app = spawn_app().await;
    let root = app.admin_token().await;
    for path in ["/api/admin/upload/image", "/api/admin/upload"] {
        let reply = app
            .send(
                app.request(reqwest::Method::POST, Api::Admin, path, Some(&root))
                    .multipart(file_form("a.png", tiny_png(), "image/png")),
            )
            .await;
        reply.assert_status(200);
        let url = reply.body["data"]["file_url"].as_str().unwrap().to_owned();
        assert_eq!(reply.body["data"]["url"], url.as_str());
        assert!(url.starts_with("/uploads/"));
        let served = app
            .client
            .get(app.url(Api::Admin, &url))
            .send()
            .await
            .unwrap();
        assert_eq!(served.status(), 200);
        let anonymous = app
            .send(
                app.request(reqwest::Method::POST, Api::Admin, path, None)
                    .multipart(file_form("a.png", tiny_png(), "image/png")),
            )
            .await;
        anonymous.assert_status(401);
    }
    let fake = app
        .send(
            app.request(
                reqwest::Method::POST,
                Api::Admin,
                "/api/admin/upload/image",
                Some(&root),
            )
            .multipart(file_form(
                "a.png",
                b"<script>alert(1)</script>".to_vec(),
                "image/png",
            )),
        )
        .await;
    fake.assert_status(400);
    let file = app
        .send(
            app.request(
                reqwest::Method::POST,
                Api::Admin,
                "/api/admin/upload/file",
                Some(&root),
            )
            .multipart(file_form("../../etc/x.png", tiny_png(), "image/png")),
        )
        .await;
    file.assert_status(200);
    assert_eq!(file.body["data"]["original_name"], "x.png");
    assert_eq!(file.body["data"]["mime_type"], "image/png");
    let missing = app
        .send(
            app.request(
                reqwest::Method::POST,
                Api::Admin,
                "/api/admin/upload/file",
                Some(&root),
            )
            .multipart(reqwest::multipart::Form::new().text("other", "x")),
        )
        .await;
    missing.assert_status(400);
}

/// `pattern` with its parameters filled in, once for each literal segment with that segment's first
/// character percent-encoded.
fn encoded_paths(pattern: &str) -> Vec<String> {
    let segments: Vec<&str> = pattern.split('/').collect();
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() || seg.starts_with('{') {
            continue;
        }
        let path: Vec<String> = segments
            .iter()
            .enumerate()
            .map(|(j, s)| match (j == i, s.starts_with('{')) {
                (_, true) => "1".to_owned(),
                (true, false) => format!("%{:02X}{}", s.as_bytes()[0], &s[1..]),
                (false, false) => (*s).to_owned(),
            })
            .collect();
        out.push(path.join("/"));
    }
    out
}

/// For every route of the table, an administrator holding every permission except the route's own is
/// refused, however the path is percent-encoded: the guard checks the route actix serves
/// (`/api/admin/orders/%73tatistics` is the statistics route, not an order id).
#[tokio::test]
async fn every_route_checks_its_own_permission_even_with_a_percent_encoded_path() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let (_, role_id, token) = app.admin_with_permissions("prober", "prober", &[]).await;
    let all = app.all_permissions().await;
    let mut codes: Vec<&str> = ROUTES
        .iter()
        .filter_map(|(_, _, a)| match a {
            Access::Code(c) => Some(*c),
            _ => None,
        })
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let mut checked = 0;
    for code in codes {
        let others: Vec<i64> = all
            .iter()
            .filter(|(_, c)| c != code)
            .map(|(id, _)| *id)
            .collect();
        app.put(
            Api::Admin,
            &format!("/api/admin/roles/{role_id}/permissions"),
            json!({ "permission_ids": others }),
            Some(&root),
        )
        .await
        .assert_status(200);
        for (method, pattern, _) in ROUTES.iter().filter(|(_, _, a)| *a == Access::Code(code)) {
            for path in encoded_paths(pattern) {
                let req = app.request(method.parse().unwrap(), Api::Admin, &path, Some(&token));
                let reply = app.send(req.json(&json!({}))).await;
                assert_eq!(
                    reply.status, 403,
                    "{method} {path} without {code}: {reply:?}"
                );
                assert_eq!(reply.msg(), "没有权限", "{method} {path}");
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "{checked} requests");
    // The reported case, with the permission it used to pass on.
    app.put(
        Api::Admin,
        &format!("/api/admin/roles/{role_id}/permissions"),
        json!({ "permission_ids": [app.permission_id("business:order:list").await] }),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.get(Api::Admin, "/api/admin/orders/%73tatistics", Some(&token))
        .await
        .assert_status(403);
    app.get(Api::Admin, "/api/admin/orders", Some(&token))
        .await
        .assert_status(200);
}

/// The contract: unknown routes answer the 404 envelope, with or without a token; a known path with a
/// method it does not serve answers 405; a real route without a token is still 401.
#[tokio::test]
async fn unknown_admin_routes_are_404_and_wrong_methods_405_before_any_token_is_asked_for() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    for token in [None, Some(root.as_str())] {
        for path in ["/api/admin/not-a-route", "/nothing/here", "/api/admin2"] {
            let reply = app.get(Api::Admin, path, token).await;
            reply.assert_status(404);
            assert_eq!(reply.code(), 404, "{path}");
        }
        for (method, path) in [
            ("DELETE", "/api/admin2/login"),
            ("GET", "/api/admin/login"),
            ("PATCH", "/api/admin/users/1"),
            ("POST", "/api/admin/orders/statistics"),
            ("DELETE", "/health"),
        ] {
            let req = app.request(method.parse().unwrap(), Api::Admin, path, token);
            let reply = app.send(req).await;
            assert_eq!(reply.status, 405, "{method} {path}: {reply:?}");
            assert_eq!(reply.code(), 405, "{method} {path}");
        }
    }
    app.get(Api::Admin, "/api/admin/users", None)
        .await
        .assert_status(401);
    app.get(Api::Admin, "/api/admin/%75sers", None)
        .await
        .assert_status(401);
}
