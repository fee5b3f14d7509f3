//! Low-code forms (validated field lists, versions), submissions validated against the current version,
//! pages and their escaped preview, and the permission codes guarding them.

use mychat::modules::lowcode::entity::{form_data_record, lowcode_form_version};
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, spawn_app};

const FORMS: &str = "/api/admin/lowcode/forms";
const PAGES: &str = "/api/admin/lowcode/pages";

fn contact_fields() -> Value {
    json!([
        {"field": "name", "label": "姓名", "type": "input", "required": true, "maxLength": 5},
        {"name": "age", "label": "年龄", "type": "number", "min": 0, "max": 150},
        {"name": "gender", "label": "性别", "type": "radio", "options": [{"label": "男", "value": "m"}, {"label": "女", "value": "f"}]},
        {"name": "tags", "label": "标签", "type": "checkbox", "options": ["a", "b"]},
        {"name": "email", "label": "邮箱", "type": "email"},
        {"name": "birthday", "label": "生日", "type": "date"},
        {"name": "agree", "label": "同意", "type": "switch", "required": true}
    ])
}

async fn create_form(app: &TestApp, token: &str, items: Value) -> i64 {
    let res = app
        .post(
            Api::Admin,
            FORMS,
            json!({"title": "联系表", "description": "d", "items": items}),
            Some(token),
        )
        .await;
    res.assert_status(200);
    res.body["data"]["id"].as_i64().expect("form id")
}

async fn versions(app: &TestApp, form_id: i64) -> Vec<(i32, String)> {
    lowcode_form_version::Entity::find()
        .filter(lowcode_form_version::Column::FormId.eq(form_id))
        .order_by_asc(lowcode_form_version::Column::Version)
        .all(app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.version, v.form_json))
        .collect()
}

#[tokio::test]
async fn forms_are_created_read_listed_updated_and_deleted_with_form_json_as_a_string() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    let id = create_form(&app, &token, contact_fields()).await;
    let got = app
        .get(Api::Admin, &format!("{FORMS}/{id}"), Some(&token))
        .await;
    got.assert_status(200);
    let form = &got.body["data"];
    assert_eq!(form["title"], "联系表");
    assert_eq!(form["description"], "d");
    assert_eq!(form["version"], 1);
    assert_eq!(form["status"], 1);
    let text = form["form_json"].as_str().expect("form_json is a string");
    assert_eq!(
        serde_json::from_str::<Value>(text).unwrap(),
        contact_fields()
    );
    assert_eq!(
        versions(&app, id).await.len(),
        1,
        "the v1 row is written at creation"
    );

    let list = app
        .get(
            Api::Admin,
            &format!("{FORMS}?page=1&pageSize=100"),
            Some(&token),
        )
        .await;
    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 1);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["list"][0]["id"], id);
    assert_eq!(list.body["data"]["list"][0]["title"], "联系表");
    let filtered = app
        .get(Api::Admin, &format!("{FORMS}?title=%25"), Some(&token))
        .await;
    assert_eq!(filtered.body["total"], 0, "LIKE wildcards are escaped");

    let new_fields = json!([{"name": "only", "type": "text"}]);
    let put = app
        .put(
            Api::Admin,
            &format!("{FORMS}/{id}"),
            json!({"title": "改名", "form_json": new_fields.to_string(), "status": 0}),
            Some(&token),
        )
        .await;
    put.assert_status(200);
    assert_eq!(put.body["data"]["title"], "改名");
    assert_eq!(put.body["data"]["status"], 0);
    assert_eq!(
        put.body["data"]["version"], 1,
        "no submissions: updated in place"
    );
    assert_eq!(versions(&app, id).await, vec![(1, new_fields.to_string())]);

    app.delete(Api::Admin, &format!("{FORMS}/{id}"), Some(&token))
        .await
        .assert_status(200);
    app.get(Api::Admin, &format!("{FORMS}/{id}"), Some(&token))
        .await
        .assert_status(404);
    app.delete(Api::Admin, &format!("{FORMS}/{id}"), Some(&token))
        .await
        .assert_status(404);
    let empty = app.get(Api::Admin, FORMS, Some(&token)).await;
    assert_eq!(empty.body["list"], json!([]));
}

#[tokio::test]
async fn bad_field_definitions_are_rejected_with_the_offending_field() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let cases = [
        (json!([{"name": "x", "type": "hologram"}]), "x"),
        (json!([{"name": "s", "type": "select", "options": []}]), "s"),
        (json!([{"name": "r", "type": "radio"}]), "r"),
        (json!([{"name": "bad-name", "type": "text"}]), "fields[0]"),
        (json!([{"label": "no name", "type": "text"}]), "fields[0]"),
        (
            json!([{"name": "d", "type": "text"}, {"name": "d", "type": "number"}]),
            "d",
        ),
        (json!([{"name": "n", "type": "number", "min": "one"}]), "n"),
        (json!([{"name": "t", "type": "text", "maxLength": -1}]), "t"),
        (json!({"nofields": []}), "form_json"),
        (json!("just a string"), "form_json"),
    ];
    for (items, key) in cases {
        let res = app
            .post(
                Api::Admin,
                FORMS,
                json!({"title": "t", "items": items}),
                Some(&token),
            )
            .await;
        res.assert_status(400);
        assert!(
            res.body["data"]["errors"][key].is_string(),
            "{items}: {}",
            res.body
        );
        assert!(res.msg().starts_with("表单定义校验失败"), "{}", res.msg());
    }
    let res = app
        .post(
            Api::Admin,
            FORMS,
            json!({"title": "t", "items": {"fields": [{"name": "ok", "type": "textarea"}]}}),
            Some(&token),
        )
        .await;
    res.assert_status(200);
    let total = app.get(Api::Admin, FORMS, Some(&token)).await.body["total"].clone();
    assert_eq!(total, 1, "no rejected definition was stored");
}

#[tokio::test]
async fn malformed_save_bodies_are_4xx_not_5xx() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let id = create_form(&app, &token, contact_fields()).await;
    for body in [
        json!({"items": []}),
        json!({"title": "", "items": []}),
        json!({"title": "t"}),
        json!({"title": "t", "form_json": "{not json"}),
        json!({"title": "t", "form_json": 5}),
        json!({"title": 5, "items": []}),
        json!({"title": "t", "items": [], "status": 7}),
        json!({"title": "t", "items": [], "description": []}),
        json!({"title": "x".repeat(201), "items": []}),
        json!([1, 2]),
    ] {
        for path in [FORMS.to_string(), PAGES.to_string()] {
            let res = app
                .post(Api::Admin, &path, body.clone(), Some(&token))
                .await;
            res.assert_status(400);
            assert_eq!(res.code(), 400, "{path} {body}");
        }
    }
    let raw = app
        .post_raw(
            Api::Admin,
            FORMS,
            "application/json",
            b"{oops".to_vec(),
            Some(&token),
        )
        .await;
    raw.assert_status(400);
    for path in [
        format!("{FORMS}/abc"),
        format!("{FORMS}/999999"),
        format!("{PAGES}/-1"),
        format!("{PAGES}/999999"),
        format!("{PAGES}/999999/preview"),
        format!("{FORMS}/999999/data"),
    ] {
        app.get(Api::Admin, &path, Some(&token))
            .await
            .assert_status(404);
    }
    app.put(
        Api::Admin,
        &format!("{FORMS}/999999"),
        json!({"title": "t", "items": []}),
        Some(&token),
    )
    .await
    .assert_status(404);
    app.post(
        Api::Admin,
        &format!("{FORMS}/999999/submit"),
        json!({}),
        Some(&token),
    )
    .await
    .assert_status(404);
    app.post(
        Api::Admin,
        &format!("{FORMS}/{id}/submit"),
        json!([1]),
        Some(&token),
    )
    .await
    .assert_status(400);
    app.post(
        Api::Admin,
        &format!("{FORMS}/{id}/submit"),
        json!({"form_data": "{bad"}),
        Some(&token),
    )
    .await
    .assert_status(400);
    app.post(
        Api::Admin,
        &format!("{FORMS}/{id}/submit"),
        json!({"form_data": "[1]"}),
        Some(&token),
    )
    .await
    .assert_status(400);
}

#[tokio::test]
async fn submissions_are_validated_against_the_field_list_and_stored_with_the_version() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let id = create_form(&app, &token, contact_fields()).await;

    let good = json!({"name": "张三", "age": 30, "gender": "f", "tags": ["a", "b"],
        "email": "a@b.cn", "birthday": "1990-02-28", "agree": true});
    let res = app
        .post(
            Api::Admin,
            &format!("{FORMS}/{id}/submit"),
            good.clone(),
            Some(&token),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["data"]["form_version"], 1);
    // Same handler on the client's dead path, with the documented wrappers.
    app.post(
        Api::Admin,
        &format!("{FORMS}/{id}/data"),
        json!({"data": {"name": "李四", "agree": false}}),
        Some(&token),
    )
    .await
    .assert_status(200);
    app.post(
        Api::Admin,
        &format!("{FORMS}/{id}/data"),
        json!({"form_data": json!({"name": "王五", "agree": true}).to_string()}),
        Some(&token),
    )
    .await
    .assert_status(200);

    let cases = [
        (json!({"agree": true}), "name", "必填"),
        (json!({"name": "", "agree": true}), "name", "必填"),
        (
            json!({"name": "太长了的名字啊", "agree": true}),
            "name",
            "长度",
        ),
        (json!({"name": 5, "agree": true}), "name", "字符串"),
        (json!({"name": "a", "agree": "yes"}), "agree", "布尔"),
        (
            json!({"name": "a", "agree": true, "age": "30"}),
            "age",
            "数字",
        ),
        (
            json!({"name": "a", "agree": true, "age": 151}),
            "age",
            "不能大于",
        ),
        (
            json!({"name": "a", "agree": true, "age": -1}),
            "age",
            "不能小于",
        ),
        (
            json!({"name": "a", "agree": true, "gender": "x"}),
            "gender",
            "选项",
        ),
        (
            json!({"name": "a", "agree": true, "tags": ["c"]}),
            "tags",
            "选项",
        ),
        (
            json!({"name": "a", "agree": true, "tags": "a"}),
            "tags",
            "数组",
        ),
        (
            json!({"name": "a", "agree": true, "email": "not-an-email"}),
            "email",
            "邮箱",
        ),
        (
            json!({"name": "a", "agree": true, "birthday": "2024-02-30"}),
            "birthday",
            "YYYY-MM-DD",
        ),
    ];
    for (data, field, reason) in cases {
        let res = app
            .post(
                Api::Admin,
                &format!("{FORMS}/{id}/submit"),
                data.clone(),
                Some(&token),
            )
            .await;
        res.assert_status(400);
        assert!(res.msg().starts_with("表单数据校验失败: "), "{}", res.msg());
        assert!(res.msg().contains(field), "{}", res.msg());
        let why = res.body["data"]["errors"][field]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(why.contains(reason), "{data}: {why}");
    }
    let two = app
        .post(
            Api::Admin,
            &format!("{FORMS}/{id}/submit"),
            json!({"age": "x"}),
            Some(&token),
        )
        .await;
    assert_eq!(
        two.body["data"]["errors"].as_object().unwrap().len(),
        3,
        "{}",
        two.body
    );

    let list = app
        .get(
            Api::Admin,
            &format!("{FORMS}/{id}/data?page=1&pageSize=2"),
            Some(&token),
        )
        .await;
    list.assert_status(200);
    assert_eq!(list.body["data"]["total"], 3);
    assert_eq!(list.body["data"]["list"].as_array().unwrap().len(), 2);
    let rows = form_data_record::Entity::find()
        .filter(form_data_record::Column::FormId.eq(id))
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "no rejected submission was stored");
    let first = rows.iter().find(|r| r.form_data.contains("张三")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&first.form_data).unwrap(),
        good
    );
    assert!(first.created_by.is_some_and(|id| id > 0));
    let row = &list.body["data"]["list"][0];
    assert!(row["form_data"].is_string() && row["created_at"].is_string());
}

#[tokio::test]
async fn editing_a_form_with_submissions_creates_a_new_version_and_validates_against_it() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let v1 = json!([{"name": "a", "type": "text", "required": true}]);
    let id = create_form(&app, &token, v1.clone()).await;
    app.post(
        Api::Admin,
        &format!("{FORMS}/{id}/submit"),
        json!({"a": "x"}),
        Some(&token),
    )
    .await
    .assert_status(200);

    // Renaming without touching the fields keeps the version.
    let same = app
        .put(
            Api::Admin,
            &format!("{FORMS}/{id}"),
            json!({"title": "n", "items": v1.clone()}),
            Some(&token),
        )
        .await;
    assert_eq!(same.body["data"]["version"], 1);

    let v2 = json!([{"name": "b", "type": "number", "required": true}]);
    let res = app
        .put(
            Api::Admin,
            &format!("{FORMS}/{id}"),
            json!({"title": "n", "items": v2.clone()}),
            Some(&token),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["data"]["version"], 2);
    assert_eq!(
        versions(&app, id).await,
        vec![(1, v1.to_string()), (2, v2.to_string())]
    );

    app.post(
        Api::Admin,
        &format!("{FORMS}/{id}/submit"),
        json!({"a": "x"}),
        Some(&token),
    )
    .await
    .assert_status(400);
    let ok = app
        .post(
            Api::Admin,
            &format!("{FORMS}/{id}/submit"),
            json!({"b": 2}),
            Some(&token),
        )
        .await;
    ok.assert_status(200);
    assert_eq!(ok.body["data"]["form_version"], 2);
    let list = app
        .get(Api::Admin, &format!("{FORMS}/{id}/data"), Some(&token))
        .await;
    let mut stored: Vec<i64> = list.body["data"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["form_version"].as_i64().unwrap())
        .collect();
    stored.sort();
    assert_eq!(stored, vec![1, 2], "the old submission keeps its version");

    // POST with the body id updates too (the original's single save handler).
    let v3 = json!([{"name": "c", "type": "switch"}]);
    let res = app
        .post(
            Api::Admin,
            FORMS,
            json!({"id": id, "title": "n", "items": v3}),
            Some(&token),
        )
        .await;
    assert_eq!(res.body["data"]["version"], 3);

    // Deleting the form takes its submissions and versions with it.
    app.delete(Api::Admin, &format!("{FORMS}/{id}"), Some(&token))
        .await
        .assert_status(200);
    assert!(versions(&app, id).await.is_empty());
    let left = form_data_record::Entity::find()
        .filter(form_data_record::Column::FormId.eq(id))
        .all(app.db())
        .await
        .unwrap();
    assert!(left.is_empty());
}

#[tokio::test]
async fn submissions_are_deleted_only_through_their_own_form() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let fields = json!([{"name": "a", "type": "text"}]);
    let f1 = create_form(&app, &token, fields.clone()).await;
    let f2 = create_form(&app, &token, fields).await;
    let rec = app
        .post(
            Api::Admin,
            &format!("{FORMS}/{f1}/submit"),
            json!({"a": "x"}),
            Some(&token),
        )
        .await;
    let rec_id = rec.body["data"]["id"].as_i64().unwrap();

    let wrong = app
        .delete(
            Api::Admin,
            &format!("{FORMS}/{f2}/data/{rec_id}"),
            Some(&token),
        )
        .await;
    wrong.assert_status(404);
    assert_eq!(wrong.msg(), "记录不存在");
    app.delete(Api::Admin, &format!("{FORMS}/{f1}/data/abc"), Some(&token))
        .await
        .assert_status(404);
    app.delete(
        Api::Admin,
        &format!("{FORMS}/{f1}/data/{rec_id}"),
        Some(&token),
    )
    .await
    .assert_status(200);
    app.delete(
        Api::Admin,
        &format!("{FORMS}/{f1}/data/{rec_id}"),
        Some(&token),
    )
    .await
    .assert_status(404);
    let list = app
        .get(Api::Admin, &format!("{FORMS}/{f1}/data"), Some(&token))
        .await;
    assert_eq!(list.body["data"]["total"], 0);
    assert_eq!(list.body["data"]["list"], json!([]));
}

#[tokio::test]
async fn pages_are_saved_with_any_json_items_and_optional_path() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let items = json!([{"type": "text", "text": "hello"}]);
    let res = app
        .post(
            Api::Admin,
            PAGES,
            json!({"title": "首页", "description": "desc", "items": items}),
            Some(&token),
        )
        .await;
    res.assert_status(200);
    let page = &res.body["data"];
    let id = page["id"].as_i64().unwrap();
    assert_eq!(page["description"], "desc");
    assert_eq!(page["path"], "");
    assert_eq!(
        serde_json::from_str::<Value>(page["page_json"].as_str().unwrap()).unwrap(),
        items
    );

    let put = app
        .put(
            Api::Admin,
            &format!("{PAGES}/{id}"),
            json!({"title": "首页2", "path": "/home", "page_json": "{\"components\":[]}"}),
            Some(&token),
        )
        .await;
    put.assert_status(200);
    assert_eq!(put.body["data"]["path"], "/home");
    assert_eq!(put.body["data"]["page_json"], "{\"components\":[]}");

    let got = app
        .get(Api::Admin, &format!("{PAGES}/{id}"), Some(&token))
        .await;
    assert_eq!(got.body["data"]["title"], "首页2");
    let list = app
        .get(Api::Admin, &format!("{PAGES}?title=首页"), Some(&token))
        .await;
    assert_eq!(list.body["data"]["total"], 1);
    assert_eq!(list.body["data"]["list"][0]["id"], id);

    app.delete(Api::Admin, &format!("{PAGES}/{id}"), Some(&token))
        .await
        .assert_status(200);
    app.get(Api::Admin, &format!("{PAGES}/{id}"), Some(&token))
        .await
        .assert_status(404);
}

#[tokio::test]
async fn the_page_preview_is_html_with_every_stored_string_escaped() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let res = app
        .post(
            Api::Admin,
            PAGES,
            json!({"title": "<script>alert('t')</script>", "items": {"components": [
                {"type": "text", "label": "<img src=x onerror=alert(1)>", "text": "<script>alert(2)</script>"},
                {"type": "button\"><script>", "text": "ok & done"}
            ]}}),
            Some(&token),
        )
        .await;
    let id = res.body["data"]["id"].as_i64().unwrap();

    let resp = app
        .request(
            Method::GET,
            Api::Admin,
            &format!("{PAGES}/{id}/preview"),
            Some(&token),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    let html = resp.text().await.unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(2)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("ok &amp; done"), "{html}");
    assert!(html.contains("button&quot;&gt;&lt;script&gt;"), "{html}");
}

#[tokio::test]
async fn an_admin_without_lowcode_permissions_is_refused_and_each_code_opens_only_its_area() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let form = create_form(&app, &root, json!([{"name": "a", "type": "text"}])).await;
    let (_, _, plain) = app
        .admin_with_permissions("plain", "plain", &["system:user:list"])
        .await;
    for (method, path) in [
        (Method::GET, FORMS.to_string()),
        (Method::POST, FORMS.to_string()),
        (Method::GET, format!("{FORMS}/{form}")),
        (Method::PUT, format!("{FORMS}/{form}")),
        (Method::DELETE, format!("{FORMS}/{form}")),
        (Method::GET, format!("{FORMS}/{form}/data")),
        (Method::POST, format!("{FORMS}/{form}/data")),
        (Method::POST, format!("{FORMS}/{form}/submit")),
        (Method::DELETE, format!("{FORMS}/{form}/data/1")),
        (Method::GET, PAGES.to_string()),
        (Method::POST, PAGES.to_string()),
        (Method::GET, format!("{PAGES}/1")),
        (Method::PUT, format!("{PAGES}/1")),
        (Method::DELETE, format!("{PAGES}/1")),
        (Method::GET, format!("{PAGES}/1/preview")),
    ] {
        let res = app
            .send(
                app.request(method.clone(), Api::Admin, &path, Some(&plain))
                    .json(&json!({"title": "t", "items": []})),
            )
            .await;
        assert_eq!(res.status, 403, "{method} {path}");
    }

    let (clerk_id, _, data_only) = app
        .admin_with_permissions("clerk", "clerk", &["lowcode:data:manage"])
        .await;
    let rec = app
        .post(
            Api::Admin,
            &format!("{FORMS}/{form}/submit"),
            json!({"a": "x"}),
            Some(&data_only),
        )
        .await;
    rec.assert_status(200);
    assert_eq!(
        rec.body["data"]["created_by"], clerk_id,
        "stored with the submitting admin"
    );
    app.get(
        Api::Admin,
        &format!("{FORMS}/{form}/data"),
        Some(&data_only),
    )
    .await
    .assert_status(200);
    app.put(
        Api::Admin,
        &format!("{FORMS}/{form}"),
        json!({"title": "t", "items": []}),
        Some(&data_only),
    )
    .await
    .assert_status(403);
    app.get(Api::Admin, PAGES, Some(&data_only))
        .await
        .assert_status(403);
    app.get(Api::Admin, FORMS, None).await.assert_status(401);
}

#[tokio::test]
async fn a_form_from_the_console_designer_with_every_widget_is_saved_and_takes_submissions() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    // What views/lowcode/forms saves: one item per palette widget, `field` as the key.
    let palette = [
        "input", "textarea", "number", "date", "time", "select", "radio", "checkbox", "switch",
        "upload", "richtext", "cascader", "transfer",
    ];
    let items: Vec<Value> = palette
        .iter()
        .enumerate()
        .map(|(i, kind)| {
            json!({"id": format!("w{i}"), "type": kind, "label": kind, "field": format!("f{i}"),
                   "placeholder": "", "defaultValue": "", "required": true, "disabled": false,
                   "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}]})
        })
        .collect();
    let id = create_form(&app, &token, Value::Array(items)).await;
    let good = json!({"f0": "x", "f1": "y", "f2": 3, "f3": "2026-11-27", "f4": "10:30:00",
        "f5": "a", "f6": "b", "f7": ["a"], "f8": true, "f9": ["/uploads/a.png"],
        "f10": "<p>hi</p>", "f11": ["a", "b"], "f12": ["b"]});
    app.post(
        Api::Admin,
        &format!("{FORMS}/{id}/submit"),
        good.clone(),
        Some(&token),
    )
    .await
    .assert_status(200);
    let mut bad = good;
    bad["f11"] = json!({"not": "a path"});
    bad["f12"] = json!(["z"]);
    let res = app
        .post(
            Api::Admin,
            &format!("{FORMS}/{id}/submit"),
            bad,
            Some(&token),
        )
        .await;
    res.assert_status(400);
    let msg = res.msg();
    assert!(msg.contains("f11") && msg.contains("f12"), "{msg}");
}
