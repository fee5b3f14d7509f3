//! User identity on 8080: registration, login, refresh, profile, password and avatar.

use reqwest::Method;
use sea_orm::DbBackend;
use serde_json::json;

use crate::helpers::{self, Api, file_form, spawn_app, spawn_app_with, tiny_png};

#[tokio::test]
async fn registering_then_logging_in_returns_the_token_and_user_the_client_reads() {
    let app = spawn_app().await;
    let reg = app.register("alice", "secret123").await;
    reg.assert_status(200);
    assert_eq!(reg.body["data"]["username"], "alice");
    let user_id = reg.body["data"]["user_id"].as_i64().unwrap();

    let login = app.login("alice", "secret123").await;
    login.assert_status(200);
    let data = &login.body["data"];
    assert!(data["token"].as_str().unwrap().len() > 20);
    assert_eq!(data["user"]["user_id"], user_id);
    assert_eq!(data["user"]["username"], "alice");
    assert_eq!(data["user"]["email"], "");

    let token = data["token"].as_str().unwrap();
    let info = app.get(Api::User, "/api/user/info", Some(token)).await;
    info.assert_status(200);
    for key in [
        "id", "user_id", "username", "email", "phone", "avatar", "balance",
    ] {
        assert!(!info.body["data"][key].is_null(), "info lacks {key}");
    }
    assert_eq!(info.body["data"]["id"], user_id);
    assert_eq!(info.body["data"]["balance"], 0.0);
}

#[tokio::test]
async fn two_users_without_email_do_not_collide_but_a_taken_username_does() {
    let app = spawn_app().await;
    app.register("user1", "secret123").await.assert_status(200);
    app.register("user2", "secret123").await.assert_status(200);
    let dup = app.register("user1", "other123").await;
    dup.assert_status(400);
    assert_eq!(dup.msg(), "用户名已存在");
}

#[tokio::test]
async fn a_taken_email_is_a_conflict_not_a_500() {
    let app = spawn_app().await;
    let body = |name: &str| json!({"username": name, "password": "secret123", "email": "same@example.com"});
    app.post(Api::User, "/api/register", body("email1"), None)
        .await
        .assert_status(200);
    app.post(Api::User, "/api/register", body("email2"), None)
        .await
        .assert_status(409);
}

#[tokio::test]
async fn registration_validates_its_fields() {
    let app = spawn_app().await;
    let cases = [
        json!({"username": "ab", "password": "secret123"}),
        json!({"username": "a".repeat(51), "password": "secret123"}),
        json!({"username": "okname", "password": "12345"}),
        json!({"username": "okname", "password": "secret123", "email": "not-an-email"}),
        json!({"username": "okname", "password": "secret123", "phone": "123"}),
        json!({"username": "okname"}),
        json!({"username": 123, "password": "secret123"}),
    ];
    for body in cases {
        let reply = app
            .post(Api::User, "/api/register", body.clone(), None)
            .await;
        reply.assert_status(400);
        assert!(
            reply.msg().starts_with("参数错误"),
            "{body}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    app.register("carol", "secret123").await.assert_status(200);
    let wrong = app.login("carol", "wrong-password").await;
    let unknown = app.login("nobody", "wrong-password").await;
    wrong.assert_status(401);
    unknown.assert_status(401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.msg(), "用户名或密码错误");
}

#[tokio::test]
async fn a_disabled_user_cannot_log_in_and_loses_access_at_once() {
    // A long reuse window: "at once" must not come from the account's cached state expiring.
    let app = spawn_app_with(&[("auth.account_cache_ms", json!(60_000))]).await;
    let admin = app.admin_token().await;
    let (user_id, token) = app.user_with_token("dave").await;
    for _ in 0..2 {
        app.get(Api::User, "/api/user/info", Some(&token))
            .await
            .assert_status(200);
    }
    app.put(
        Api::Admin,
        &format!("/api/admin/users/{user_id}"),
        json!({"status": 0}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    let blocked = app.get(Api::User, "/api/user/info", Some(&token)).await;
    blocked.assert_status(401);
    assert_eq!(blocked.msg(), "账户已被禁用");
    let login = app.login("dave", "secret123").await;
    login.assert_status(403);
    // Without the password, a disabled account looks like any wrong login.
    app.login("dave", "bad-password").await.assert_status(401);
    // Enabled again: usable at once (a disabled account's state is never reused).
    app.put(
        Api::Admin,
        &format!("/api/admin/users/{user_id}"),
        json!({"status": 1}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    app.get(Api::User, "/api/user/info", Some(&token))
        .await
        .assert_status(200);
}

/// The account state a request reused is forgotten by every change that voids tokens: a password change
/// (other sessions' tokens), a console password reset and a console delete, each seen by the very next
/// request.
#[tokio::test]
async fn password_changes_and_deletion_void_tokens_at_once_despite_reuse() {
    let app = spawn_app_with(&[("auth.account_cache_ms", json!(60_000))]).await;
    let admin = app.admin_token().await;
    let (user_id, first) = app.user_with_token("fran").await;
    // Tokens are stamped to the millisecond: a login must come after the change before it.
    let login = |password: &'static str| {
        let app = &app;
        async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let reply = app.login("fran", password).await;
            reply.body["data"]["token"].as_str().unwrap().to_owned()
        }
    };
    let info = |token: String| {
        let app = &app;
        async move { app.get(Api::User, "/api/user/info", Some(&token)).await }
    };
    let second = login("secret123").await;
    info(second.clone()).await.assert_status(200);
    app.post(
        Api::User,
        "/api/user/password",
        json!({"old_password": "secret123", "new_password": "secret456"}),
        Some(&first),
    )
    .await
    .assert_status(200);
    info(second).await.assert_status(401);

    let third = login("secret456").await;
    info(third.clone()).await.assert_status(200);
    app.post(
        Api::Admin,
        &format!("/api/admin/users/{user_id}/password"),
        json!({"password": "secret789"}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    info(third).await.assert_status(401);

    let fourth = login("secret789").await;
    info(fourth.clone()).await.assert_status(200);
    app.delete(
        Api::Admin,
        &format!("/api/admin/users/{user_id}"),
        Some(&admin),
    )
    .await
    .assert_status(200);
    info(fourth).await.assert_status(401);
}

/// Another instance forgets the account when the change reaches it over the event relay, long before
/// its reuse window would end.
#[tokio::test]
async fn another_instance_refuses_a_disabled_account_without_waiting_for_its_cache() {
    if std::env::var("MYCHAT_TEST_REDIS_URL").map_or(true, |v| v.is_empty())
        || std::env::var("MYCHAT_TEST_DATABASE_URL").map_or(true, |v| v.is_empty())
    {
        eprintln!("skipped: needs MYCHAT_TEST_DATABASE_URL and MYCHAT_TEST_REDIS_URL");
        return;
    }
    let app = spawn_app_with(&[("auth.account_cache_ms", json!(60_000))]).await;
    let mut settings = (*app.running.state.settings).clone();
    settings.server.user_port = 0;
    settings.server.admin_port = 0;
    settings.server.ws_port = 0;
    let other = mychat::Application::build(settings).await.unwrap().start();
    let admin = app.admin_token().await;
    let (user_id, token) = app.user_with_token("gwen").await;
    let on_other = |token: String| {
        let client = helpers::test_client();
        let url = format!("http://127.0.0.1:{}/api/user/info", other.user_port);
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The other instance reads the account once and then reuses it.
    assert_eq!(on_other(token.clone()).await, 200);
    assert_eq!(on_other(token.clone()).await, 200);
    app.put(
        Api::Admin,
        &format!("/api/admin/users/{user_id}"),
        json!({"status": 0}),
        Some(&admin),
    )
    .await
    .assert_status(200);
    let mut status = 0;
    for _ in 0..100 {
        status = on_other(token.clone()).await;
        if status == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "the other instance still accepted the token");
    other.stop().await;
}

/// `?` placeholders for MySQL/SQLite, `$n` for PostgreSQL.
pub fn sql(backend: DbBackend, text: &str) -> String {
    mychat::db::statement(backend, text, vec![]).sql
}

#[tokio::test]
async fn login_is_rate_limited_per_account_and_per_ip() {
    let app = spawn_app_with(&[
        ("auth.login_rate_per_account_per_minute", json!(3)),
        ("auth.login_rate_per_ip_per_minute", json!(5)),
    ])
    .await;
    app.register("erin", "secret123").await.assert_status(200);
    for _ in 0..3 {
        app.login("erin", "wrong-pass").await.assert_status(401);
    }
    let limited = app.login("erin", "secret123").await;
    limited.assert_status(429);
    assert!(limited.msg().contains("频繁"));
    // Other accounts from the same IP still work until the IP budget (5) is spent.
    app.login("someone", "x-wrong").await.assert_status(401);
    app.login("another", "x-wrong").await.assert_status(429);
}

#[tokio::test]
async fn auth_failures_use_the_original_messages() {
    let app = spawn_app().await;
    let none = app.get(Api::User, "/api/user/info", None).await;
    none.assert_status(401);
    assert_eq!(none.msg(), "未提供认证token");
    let bad_format = app
        .send(
            app.request(Method::GET, Api::User, "/api/user/info", None)
                .header("Authorization", "Token abc"),
        )
        .await;
    bad_format.assert_status(401);
    assert_eq!(bad_format.msg(), "token格式错误");
    let garbage = app
        .get(Api::User, "/api/user/info", Some("not.a.jwt"))
        .await;
    garbage.assert_status(401);
    assert_eq!(garbage.msg(), "token无效或已过期");
}

#[tokio::test]
async fn an_expired_token_is_rejected() {
    let app = spawn_app().await;
    let (user_id, _) = app.user_with_token("frank").await;
    // A token that expired a minute ago, signed with the app's own user key.
    let token = app.signed_user_token(user_id, "frank", -60);
    let reply = app.get(Api::User, "/api/user/info", Some(&token)).await;
    reply.assert_status(401);
    assert_eq!(reply.msg(), "token无效或已过期");
}

#[tokio::test]
async fn refreshing_rotates_the_token_and_revokes_the_old_one() {
    let app = spawn_app().await;
    let (_, old) = app.user_with_token("gina").await;
    let reply = app
        .post(
            Api::User,
            "/api/token/refresh",
            json!({ "token": old }),
            None,
        )
        .await;
    reply.assert_status(200);
    let new = reply.body["data"]["token"].as_str().unwrap();
    assert_ne!(new, old);
    app.get(Api::User, "/api/user/info", Some(new))
        .await
        .assert_status(200);
    app.get(Api::User, "/api/user/info", Some(&old))
        .await
        .assert_status(401);
    let again = app
        .post(
            Api::User,
            "/api/token/refresh",
            json!({ "token": old }),
            None,
        )
        .await;
    again.assert_status(400);
    assert!(again.msg().starts_with("刷新token失败"));
    app.post(Api::User, "/api/token/refresh", json!({}), None)
        .await
        .assert_status(400);
}

#[tokio::test]
async fn profile_updates_apply_non_empty_fields_and_validate_them() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("hank").await;
    app.put(
        Api::User,
        "/api/user/profile",
        json!({"email": "hank@example.com", "phone": "13800138000"}),
        Some(&token),
    )
    .await
    .assert_status(200);
    let info = app.get(Api::User, "/api/user/info", Some(&token)).await;
    assert_eq!(info.body["data"]["email"], "hank@example.com");
    assert_eq!(info.body["data"]["phone"], "13800138000");

    let empty = app
        .put(
            Api::User,
            "/api/user/profile",
            json!({"email": "", "phone": ""}),
            Some(&token),
        )
        .await;
    empty.assert_status(400);
    assert_eq!(empty.msg(), "没有需要更新的字段");
    app.put(
        Api::User,
        "/api/user/profile",
        json!({"email": "nope"}),
        Some(&token),
    )
    .await
    .assert_status(400);
    app.put(
        Api::User,
        "/api/user/profile",
        json!({"phone": "12"}),
        Some(&token),
    )
    .await
    .assert_status(400);

    let (_, other) = app.user_with_token("ivy").await;
    app.put(
        Api::User,
        "/api/user/profile",
        json!({"email": "hank@example.com"}),
        Some(&other),
    )
    .await
    .assert_status(409);
}

#[tokio::test]
async fn changing_the_password_voids_earlier_tokens() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("jack").await;
    let second_session = app.login("jack", "secret123").await.body["data"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = app
        .post(
            Api::User,
            "/api/user/password",
            json!({"old_password": "nope-nope", "new_password": "newsecret1"}),
            Some(&token),
        )
        .await;
    wrong.assert_status(400);
    assert_eq!(wrong.msg(), "旧密码错误");
    app.post(
        Api::User,
        "/api/user/password",
        json!({"old_password": "secret123", "new_password": "x"}),
        Some(&token),
    )
    .await
    .assert_status(400);
    app.post(
        Api::User,
        "/api/user/password",
        json!({"old_password": "secret123", "new_password": "newsecret1"}),
        Some(&token),
    )
    .await
    .assert_status(200);
    for old in [&token, &second_session] {
        app.get(Api::User, "/api/user/info", Some(old))
            .await
            .assert_status(401);
    }
    app.login("jack", "secret123").await.assert_status(401);
    let fresh = app.login("jack", "newsecret1").await;
    fresh.assert_status(200);
    app.get(
        Api::User,
        "/api/user/info",
        Some(fresh.body["data"]["token"].as_str().unwrap()),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn avatar_upload_accepts_png_by_content_and_serves_it() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("kate").await;
    let reply = app
        .send(
            app.request(Method::POST, Api::User, "/api/upload/avatar", Some(&token))
                // The client's name and type are ignored: the bytes decide.
                .multipart(file_form("photo.txt", tiny_png(), "text/plain")),
        )
        .await;
    reply.assert_status(200);
    let url = reply.body["data"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("/uploads/avatars/") && url.ends_with(".png"),
        "{url}"
    );
    let info = app.get(Api::User, "/api/user/info", Some(&token)).await;
    assert_eq!(info.body["data"]["avatar"], url.as_str());
    for api in [Api::User, Api::Admin] {
        let served = app.client.get(app.url(api, &url)).send().await.unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(served.bytes().await.unwrap().to_vec(), tiny_png());
    }

    // A second upload replaces the first, whose file is gone.
    let second = app
        .send(
            app.request(Method::POST, Api::User, "/api/upload/avatar", Some(&token))
                .multipart(file_form("b.png", tiny_png(), "image/png")),
        )
        .await;
    second.assert_status(200);
    let gone = app.get(Api::User, &url, None).await;
    gone.assert_status(404);
}

#[tokio::test]
async fn avatar_upload_rejects_non_images_oversize_and_missing_files() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("liam").await;
    let upload = |form| {
        app.send(
            app.request(Method::POST, Api::User, "/api/upload/avatar", Some(&token))
                .multipart(form),
        )
    };
    let html = upload(file_form(
        "a.png",
        b"<html><script>x</script></html>".to_vec(),
        "image/png",
    ))
    .await;
    html.assert_status(400);
    assert_eq!(html.msg(), "只支持JPG、PNG格式的图片");

    let mut big = tiny_png();
    big.resize(3 * 1024 * 1024, 0);
    let too_big = upload(file_form("big.png", big, "image/png")).await;
    too_big.assert_status(400);
    assert_eq!(too_big.msg(), "图片大小不能超过2MB");

    let wrong_field = reqwest::multipart::Form::new().part(
        "avatar",
        reqwest::multipart::Part::bytes(tiny_png()).file_name("a.png"),
    );
    upload(wrong_field).await.assert_status(400);

    let not_multipart = app
        .post(
            Api::User,
            "/api/upload/avatar",
            json!({"file": "x"}),
            Some(&token),
        )
        .await;
    not_multipart.assert_status(400);

    let anonymous = app
        .send(
            app.request(Method::POST, Api::User, "/api/upload/avatar", None)
                .multipart(file_form("a.png", tiny_png(), "image/png")),
        )
        .await;
    anonymous.assert_status(401);
}
