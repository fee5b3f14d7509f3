//! Recorded uploads: `POST /api/upload`, `GET /api/file/:id`, `DELETE /api/file/:id`.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::helpers::{Api, Reply, TestApp, spawn_app, spawn_app_with, tiny_png};

/// A multipart upload of `bytes` named `name`, with extra text `fields`.
pub fn form(name: &str, bytes: Vec<u8>, fields: &[(&str, &str)]) -> Form {
    let mut form = Form::new().part(
        "file",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str("application/octet-stream")
            .unwrap(),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    form
}

async fn upload(app: &TestApp, token: Option<&str>, form: Form) -> Reply {
    app.send(
        app.request(Method::POST, Api::User, "/api/upload", token)
            .multipart(form),
    )
    .await
}

#[tokio::test]
async fn an_uploaded_file_is_recorded_served_and_readable_by_its_owner() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("uploader").await;

    let reply = upload(
        &app,
        Some(&token),
        form(
            "../../photo.png",
            tiny_png(),
            &[
                ("file_type", "image"),
                ("relation_type", "order"),
                ("relation_id", "12"),
            ],
        ),
    )
    .await;
    reply.assert_status(200);
    let data = &reply.body["data"];
    let id = data["id"].as_i64().unwrap();
    assert_eq!(data["original_name"], "photo.png");
    assert_eq!(data["mime_type"], "image/png");
    assert_eq!(data["file_size"], tiny_png().len());
    let url = data["file_url"].as_str().unwrap().to_owned();
    assert_eq!(data["url"], url);
    assert!(
        url.starts_with("/uploads/image/") && url.ends_with(".png"),
        "{url}"
    );
    assert!(url.ends_with(data["file_name"].as_str().unwrap()));

    let served = app
        .client
        .get(app.url(Api::User, &url))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status().as_u16(), 200);

    let got = app
        .get(Api::User, &format!("/api/file/{id}"), Some(&token))
        .await;
    got.assert_status(200);
    assert_eq!(got.body["data"]["uploader_id"], user_id);
    assert_eq!(got.body["data"]["uploader"]["username"], "uploader");
    assert_eq!(got.body["data"]["relation_type"], "order");
    assert_eq!(got.body["data"]["relation_id"], 12);
    assert_eq!(got.body["data"]["status"], 1);
    assert_eq!(got.body["data"]["file_type"], "image");
}

#[tokio::test]
async fn deleting_a_file_removes_it_from_disk_and_from_reach() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("deleter").await;
    let reply = upload(
        &app,
        Some(&token),
        form("notes.txt", b"hello notes\n".to_vec(), &[]),
    )
    .await;
    reply.assert_status(200);
    assert_eq!(reply.body["data"]["mime_type"], "text/plain");
    let id = reply.body["data"]["id"].as_i64().unwrap();
    let url = reply.body["data"]["file_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("/uploads/other/"));
    let path = app
        .data_dir
        .path()
        .join("uploads")
        .join(url.trim_start_matches("/uploads/"));
    assert!(path.exists());

    app.delete(Api::User, &format!("/api/file/{id}"), Some(&token))
        .await
        .assert_status(200);

    assert!(!path.exists(), "the bytes must be gone");
    let gone = app
        .get(Api::User, &format!("/api/file/{id}"), Some(&token))
        .await;
    gone.assert_status(404);
    assert_eq!(gone.msg(), "文件不存在");
    app.delete(Api::User, &format!("/api/file/{id}"), Some(&token))
        .await
        .assert_status(404);
    let served = app
        .client
        .get(app.url(Api::User, &url))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status().as_u16(), 404);
}

#[tokio::test]
async fn other_users_can_neither_read_nor_delete_a_file() {
    let app = spawn_app().await;
    let (_, owner) = app.user_with_token("owner1").await;
    let (_, other) = app.user_with_token("other1").await;
    let mut ids = Vec::new();
    for relation in ["", "session"] {
        let reply = upload(
            &app,
            Some(&owner),
            form(
                "a.png",
                tiny_png(),
                &[("relation_type", relation), ("relation_id", "3")],
            ),
        )
        .await;
        reply.assert_status(200);
        ids.push(reply.body["data"]["id"].as_i64().unwrap());
    }
    for id in &ids {
        let read = app
            .get(Api::User, &format!("/api/file/{id}"), Some(&other))
            .await;
        read.assert_status(403);
        assert_eq!(read.msg(), "无权访问此文件");
        let del = app
            .delete(Api::User, &format!("/api/file/{id}"), Some(&other))
            .await;
        del.assert_status(403);
        assert_eq!(del.msg(), "无权删除此文件");
        app.get(Api::User, &format!("/api/file/{id}"), Some(&owner))
            .await
            .assert_status(200);
    }
}

#[tokio::test]
async fn uploads_are_checked_by_content_type_field_and_size() {
    let app = spawn_app_with(&[("upload.max_bytes", json!(1024))]).await;
    let (_, token) = app.user_with_token("checker").await;
    let cases: Vec<(Form, &str)> = vec![
        (
            form("x.png", b"<html><script>1</script></html>".to_vec(), &[]),
            "文件类型不支持",
        ),
        (
            form("x.exe", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec(), &[]),
            "文件类型不支持",
        ),
        (
            form("x.png", tiny_png(), &[("file_type", "../../etc")]),
            "参数错误",
        ),
        (
            form("x.png", tiny_png(), &[("relation_id", "abc")]),
            "参数错误",
        ),
        (
            form("x.png", tiny_png(), &[("relation_id", "-4")]),
            "参数错误",
        ),
        (form("x.txt", vec![b'a'; 2048], &[]), "文件大小不能超过"),
        (Form::new().text("file_type", "image"), "请选择文件"),
        (form("empty.txt", Vec::new(), &[]), "文件内容为空"),
    ];
    for (form, msg) in cases {
        let reply = upload(&app, Some(&token), form).await;
        reply.assert_status(400);
        assert!(reply.msg().starts_with(msg), "{}", reply.body);
    }
    let not_multipart = app
        .post(
            Api::User,
            "/api/upload",
            json!({ "file": "x" }),
            Some(&token),
        )
        .await;
    assert_eq!(not_multipart.status.as_u16(), 400, "{}", not_multipart.body);
    upload(&app, None, form("x.png", tiny_png(), &[]))
        .await
        .assert_status(401);
    for path in ["/api/file/abc", "/api/file/999999"] {
        let reply = app.get(Api::User, path, Some(&token)).await;
        reply.assert_status(404);
        assert_eq!(reply.msg(), "文件不存在");
    }
    app.get(Api::User, "/api/file/1", None)
        .await
        .assert_status(401);
}
