//! System configs: typed values, top-level list, batch in one transaction, readers that see changes at once.

use mychat::modules::system::service as configs;
use serde_json::json;

use crate::helpers::{Api, spawn_app};

#[tokio::test]
async fn configs_list_at_the_top_level_as_the_console_reads_them() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let list = app
        .get(
            Api::Admin,
            "/api/admin/configs?page=1&pageSize=100",
            Some(&root),
        )
        .await;
    list.assert_status(200);
    assert!(list.body.get("data").is_none());
    let rows = list.body["list"].as_array().unwrap();
    assert_eq!(list.body["total"].as_u64().unwrap() as usize, rows.len());
    let name = rows.iter().find(|r| r["key"] == "system_name").unwrap();
    assert_eq!(name["value"], "\"MyChat 心理咨询平台\"");
    assert_eq!(name["category"], "basic");
    assert_eq!(name["type"], "string");
    assert_eq!(name["is_system"], true);
    let payment = app
        .get(
            Api::Admin,
            "/api/admin/configs?category=payment",
            Some(&root),
        )
        .await;
    assert!(
        payment.body["list"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["category"] == "payment")
    );
}

#[tokio::test]
async fn config_values_are_validated_against_their_type() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let created = app
        .post(
            Api::Admin,
            "/api/admin/configs",
            json!({"key": "basic.allow_x", "value": "true", "category": "basic", "label": "X", "type": "switch", "is_system": false, "sort": 0, "remark": "系统配置"}),
            Some(&root),
        )
        .await;
    created.assert_status(200);
    assert_eq!(created.body["data"]["value"], "true");
    // The console's `<category>.<name>` names the setting `<name>` of that category.
    assert_eq!(created.body["data"]["key"], "allow_x");
    let id = created.body["data"]["id"].as_i64().unwrap();
    let dup = app
        .post(
            Api::Admin,
            "/api/admin/configs",
            json!({"key": "allow_x", "value": "false", "type": "switch"}),
            Some(&root),
        )
        .await;
    dup.assert_status(409);
    assert_eq!(dup.msg(), "配置键已存在");
    for bad in [
        json!({"key": "n1", "value": "\"abc\"", "type": "number"}),
        json!({"key": "n2", "value": "1", "type": "boolean"}),
        json!({"key": "n3", "value": "plain text", "type": "string"}),
        json!({"key": "n4", "value": "1", "type": "widget"}),
        json!({"key": "bad key!", "value": "1", "type": "number"}),
        json!({"value": "1", "type": "number"}),
        json!({"key": "n5", "type": "number"}),
        json!({"key": 5, "value": "1"}),
    ] {
        app.post(Api::Admin, "/api/admin/configs", bad, Some(&root))
            .await
            .assert_status(400);
    }
    app.post(
        Api::Admin,
        "/api/admin/configs",
        json!({"key": "j", "value": "{\"a\":[1,2]}", "type": "json"}),
        Some(&root),
    )
    .await
    .assert_status(200);

    let updated = app
        .put(
            Api::Admin,
            &format!("/api/admin/configs/{id}"),
            json!({"key": "basic.allow_x", "value": "false", "category": "basic"}),
            Some(&root),
        )
        .await;
    updated.assert_status(200);
    assert_eq!(updated.body["data"]["value"], "false");
    app.put(
        Api::Admin,
        &format!("/api/admin/configs/{id}"),
        json!({"value": "\"yes\""}),
        Some(&root),
    )
    .await
    .assert_status(400);
    app.delete(Api::Admin, &format!("/api/admin/configs/{id}"), Some(&root))
        .await
        .assert_status(200);
    for path in ["/api/admin/configs/999999", "/api/admin/configs/k"] {
        app.get(Api::Admin, path, Some(&root))
            .await
            .assert_status(404);
        app.put(Api::Admin, path, json!({"value": "1"}), Some(&root))
            .await
            .assert_status(404);
        app.delete(Api::Admin, path, Some(&root))
            .await
            .assert_status(404);
    }
}

#[tokio::test]
async fn system_configs_keep_their_key_and_cannot_be_deleted() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let list = app
        .get(Api::Admin, "/api/admin/configs?pageSize=100", Some(&root))
        .await;
    let row = list.body["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "system_name")
        .unwrap()
        .clone();
    let id = row["id"].as_i64().unwrap();
    let rekey = app
        .put(
            Api::Admin,
            &format!("/api/admin/configs/{id}"),
            json!({"key": "renamed", "value": "\"x\""}),
            Some(&root),
        )
        .await;
    rekey.assert_status(400);
    assert_eq!(rekey.msg(), "系统配置不允许修改键");
    let del = app
        .delete(Api::Admin, &format!("/api/admin/configs/{id}"), Some(&root))
        .await;
    del.assert_status(400);
    assert_eq!(del.msg(), "系统配置不允许删除");
}

#[tokio::test]
async fn batch_save_is_all_or_nothing() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let bad = app
        .post(
            Api::Admin,
            "/api/admin/configs/batch",
            json!({"configs": [
                {"key": "platform_commission", "value": "0.25", "category": "payment"},
                {"key": "brand_new", "value": "\"x\"", "type": "string"},
                {"key": "password_min_length", "value": "\"six\""},
            ]}),
            Some(&root),
        )
        .await;
    bad.assert_status(400);
    assert_eq!(configs::platform_commission(&app.running.state).await, 0.30);
    let list = app
        .get(Api::Admin, "/api/admin/configs?pageSize=100", Some(&root))
        .await;
    assert!(
        !list.body["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == "brand_new")
    );

    app.post(
        Api::Admin,
        "/api/admin/configs/batch",
        json!({"configs": [
            {"key": "platform_commission", "value": "0.25", "category": "payment"},
            {"key": "brand_new", "value": "\"x\"", "type": "string", "category": "basic"},
        ]}),
        Some(&root),
    )
    .await
    .assert_status(200);
    assert_eq!(configs::platform_commission(&app.running.state).await, 0.25);
    app.post(
        Api::Admin,
        "/api/admin/configs/batch",
        json!({"configs": []}),
        Some(&root),
    )
    .await
    .assert_status(400);
    app.post(
        Api::Admin,
        "/api/admin/configs/batch",
        json!({"configs": "x"}),
        Some(&root),
    )
    .await
    .assert_status(400);
}

#[tokio::test]
async fn readers_see_config_changes_without_restart() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let state = &app.running.state;
    assert_eq!(configs::order_payment_timeout_minutes(state).await, 30);
    assert_eq!(configs::platform_commission(state).await, 0.30);
    let list = app
        .get(Api::Admin, "/api/admin/configs?pageSize=100", Some(&root))
        .await;
    let id_of = |key: &str| {
        list.body["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    app.put(
        Api::Admin,
        &format!("/api/admin/configs/{}", id_of("order_payment_timeout")),
        json!({"value": "45"}),
        Some(&root),
    )
    .await
    .assert_status(200);
    app.put(
        Api::Admin,
        &format!("/api/admin/configs/{}", id_of("platform_commission")),
        json!({"value": 0.2}),
        Some(&root),
    )
    .await
    .assert_status(200);
    assert_eq!(configs::order_payment_timeout_minutes(state).await, 45);
    assert_eq!(configs::platform_commission(state).await, 0.2);
    assert_eq!(
        configs::config_i64(state, "password_min_length")
            .await
            .unwrap(),
        Some(6)
    );
    assert_eq!(
        configs::config_bool(state, "allow_register").await.unwrap(),
        Some(true)
    );
    assert_eq!(
        configs::config_f64(state, "no_such_key").await.unwrap(),
        None
    );
}
