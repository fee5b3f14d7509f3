//! Issue 11 (access and abuse): files, logout, client addresses, registration limits, the payment
//! sandbox's proof, paging bounds, dates, usernames and the database file's mode.

use reqwest::Method;
use reqwest::multipart::Form;
use serde_json::json;

use crate::chat_fixtures::{active_chat, booking, next_of, send, start_session};
use crate::files::form;
use crate::helpers::{Api, Reply, TestApp, spawn_app, spawn_app_with, tiny_png};

async fn upload_to(app: &TestApp, api: Api, path: &str, token: &str, form: Form) -> Reply {
    app.send(
        app.request(Method::POST, api, path, Some(token))
            .multipart(form),
    )
    .await
}

async fn upload_avatar(app: &TestApp, token: &str) -> String {
    let reply = upload_to(
        app,
        Api::User,
        "/api/upload/avatar",
        token,
        form("me.png", tiny_png(), &[]),
    )
    .await;
    reply.assert_status(200);
    reply.body["data"]["url"].as_str().unwrap().to_owned()
}

fn on_disk(app: &TestApp, url: &str) -> std::path::PathBuf {
    app.data_dir
        .path()
        .join("uploads")
        .join(url.trim_start_matches("/uploads/"))
}

#[tokio::test]
async fn an_avatar_cannot_name_someone_elses_file_so_it_cannot_delete_it() {
    let app = spawn_app().await;
    let (_, victim) = app.user_with_token("victim01").await;
    let (_, attacker) = app.user_with_token("attacker01").await;
    let root = app.admin_token().await;
    let victims_avatar = upload_avatar(&app, &victim).await;
    let private = upload_to(
        &app,
        Api::User,
        "/api/upload",
        &victim,
        form("p.png", tiny_png(), &[("file_type", "image")]),
    )
    .await;
    private.assert_status(200);
    let private = private.body["data"]["file_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let console = upload_to(
        &app,
        Api::Admin,
        "/api/admin/upload/image",
        &root,
        form("c.png", tiny_png(), &[]),
    )
    .await;
    console.assert_status(200);
    let console = console.body["data"]["url"].as_str().unwrap().to_owned();

    for target in [&victims_avatar, &private, &console] {
        let reply = app
            .put(
                Api::User,
                "/api/user/profile",
                json!({ "avatar": target }),
                Some(&attacker),
            )
            .await;
        reply.assert_status(400);
        upload_avatar(&app, &attacker).await;
        assert!(on_disk(&app, target).exists(), "{target} must survive");
    }

    // Even an avatar set behind the user's back (by the console) is not theirs to delete.
    let (attacker_id, _) = (
        app.get(Api::User, "/api/user/info", Some(&attacker))
            .await
            .body["data"]["id"]
            .as_i64()
            .unwrap(),
        (),
    );
    app.put(
        Api::Admin,
        &format!("/api/admin/users/{attacker_id}"),
        json!({ "avatar": victims_avatar }),
        Some(&root),
    )
    .await
    .assert_status(200);
    upload_avatar(&app, &attacker).await;
    assert!(on_disk(&app, &victims_avatar).exists());
}

#[tokio::test]
async fn a_new_avatar_replaces_only_the_accounts_own_previous_avatar() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("avatarist").await;
    let first = upload_avatar(&app, &token).await;
    // Choosing one's own upload again is fine.
    app.put(
        Api::User,
        "/api/user/profile",
        json!({ "avatar": first }),
        Some(&token),
    )
    .await
    .assert_status(200);
    let second = upload_avatar(&app, &token).await;
    assert!(!on_disk(&app, &first).exists(), "the old avatar is removed");
    assert!(on_disk(&app, &second).exists());
    let info = app.get(Api::User, "/api/user/info", Some(&token)).await;
    assert_eq!(info.body["data"]["avatar"], second);
}

#[tokio::test]
async fn session_partners_can_read_files_shared_in_their_session_and_nobody_else() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let session_id = start_session(&app, b.order_id, &b.buyer_token).await;
    let (_, stranger) = app.user_with_token("stranger01").await;
    let shared = upload_to(
        &app,
        Api::User,
        "/api/upload",
        &b.buyer_token,
        form(
            "s.png",
            tiny_png(),
            &[
                ("relation_type", "session"),
                ("relation_id", &session_id.to_string()),
            ],
        ),
    )
    .await;
    shared.assert_status(200);
    let id = shared.body["data"]["id"].as_i64().unwrap();

    app.get(
        Api::User,
        &format!("/api/file/{id}"),
        Some(&b.counselor_token),
    )
    .await
    .assert_status(200);
    app.get(Api::User, &format!("/api/file/{id}"), Some(&stranger))
        .await
        .assert_status(403);
}

#[tokio::test]
async fn uploads_are_served_as_untrusted_content() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("served01").await;
    let png = upload_avatar(&app, &token).await;
    let text = upload_to(
        &app,
        Api::User,
        "/api/upload",
        &token,
        form("a.txt", b"just words\n".to_vec(), &[]),
    )
    .await;
    text.assert_status(200);
    let text = text.body["data"]["file_url"].as_str().unwrap().to_owned();
    for api in [Api::User, Api::Admin] {
        for (url, inline) in [(&png, true), (&text, false)] {
            let res = app.client.get(app.url(api, url)).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let h = res.headers();
            assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
            assert!(
                h["content-security-policy"]
                    .to_str()
                    .unwrap()
                    .starts_with("sandbox"),
                "{url}"
            );
            let disposition = h["content-disposition"].to_str().unwrap();
            assert_eq!(disposition.starts_with("inline"), inline, "{disposition}");
            assert_eq!(
                disposition.starts_with("attachment"),
                !inline,
                "{disposition}"
            );
        }
    }
}

#[tokio::test]
async fn polyglot_uploads_are_refused() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("polyglot").await;
    let root = app.admin_token().await;
    let mut png_page = tiny_png();
    png_page.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
    let gif_page = b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;<script>alert(1)</script>".to_vec();
    let pdf_js =
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n2 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj\n%%EOF"
            .to_vec();
    for bytes in [&png_page, &gif_page, &pdf_js] {
        let reply = upload_to(
            &app,
            Api::User,
            "/api/upload",
            &token,
            form("x.bin", bytes.clone(), &[]),
        )
        .await;
        reply.assert_status(400);
        let reply = upload_to(
            &app,
            Api::Admin,
            "/api/admin/upload/file",
            &root,
            form("x.bin", bytes.clone(), &[]),
        )
        .await;
        reply.assert_status(400);
    }
    let reply = upload_to(
        &app,
        Api::User,
        "/api/upload/avatar",
        &token,
        form("x.png", png_page, &[]),
    )
    .await;
    reply.assert_status(400);
    let plain_pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF".to_vec();
    upload_to(
        &app,
        Api::User,
        "/api/upload",
        &token,
        form("ok.pdf", plain_pdf, &[]),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn a_chat_message_links_only_to_uploads_or_web_urls() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut buyer_ws, _counselor_ws) = active_chat(&app, &b).await;
    let path = format!("/api/chat/session/{session_id}/message");
    for bad in [
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "/uploads/../secrets.json",
    ] {
        let reply = app
            .post(
                Api::User,
                &path,
                json!({ "content": "f", "content_type": "file", "file_url": bad }),
                Some(&b.buyer_token),
            )
            .await;
        reply.assert_status(400);
        send(
            &mut buyer_ws,
            json!({ "type": "message", "data": { "content": "f", "content_type": "file", "file_url": bad } }),
        )
        .await;
        let err = next_of(&mut buyer_ws, "error", 10).await;
        assert!(err.to_string().contains("file_url"), "{err}");
    }
    for good in ["/uploads/files/a.pdf", "https://example.com/a.pdf"] {
        app.post(
            Api::User,
            &path,
            json!({ "content": "f", "content_type": "file", "file_url": good }),
            Some(&b.buyer_token),
        )
        .await
        .assert_status(200);
    }
}

#[tokio::test]
async fn logging_out_revokes_the_users_token() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("leaver01").await;
    app.post(Api::User, "/api/logout", json!({}), Some(&token))
        .await
        .assert_status(200);
    app.get(Api::User, "/api/user/info", Some(&token))
        .await
        .assert_status(401);
    app.post(Api::User, "/api/logout", json!({}), Some(&token))
        .await
        .assert_status(401);
    app.post(Api::User, "/api/logout", json!({}), None)
        .await
        .assert_status(401);
}

async fn login_from(app: &TestApp, forwarded: &str, username: &str) -> Reply {
    app.send(
        app.request(Method::POST, Api::User, "/api/login", None)
            .header("x-forwarded-for", forwarded)
            .json(&json!({ "username": username, "password": "wrong-password" })),
    )
    .await
}

#[tokio::test]
async fn a_forged_forwarded_for_does_not_escape_the_login_limit() {
    let app = spawn_app_with(&[("auth.login_rate_per_ip_per_minute", json!(3))]).await;
    for i in 0..3 {
        login_from(&app, &format!("198.51.100.{i}"), &format!("nobody{i}"))
            .await
            .assert_status(401);
    }
    login_from(&app, "198.51.100.77", "nobody77")
        .await
        .assert_status(429);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
    let app = spawn_app_with(&[
        ("auth.login_rate_per_ip_per_minute", json!(2)),
        (
            "server.trusted_proxies",
            json!(["127.0.0.0/8", "10.0.0.0/8"]),
        ),
    ])
    .await;
    // The client forges a left-most hop each time; the proxy appends the real one.
    for i in 0..2 {
        login_from(&app, &format!("6.6.6.{i}, 203.0.113.5, 10.0.0.1"), "nobody")
            .await
            .assert_status(401);
    }
    login_from(&app, "6.6.6.9, 203.0.113.5, 10.0.0.1", "nobody2")
        .await
        .assert_status(429);
    // Another real client is its own bucket.
    login_from(&app, "203.0.113.6", "nobody3")
        .await
        .assert_status(401);

    // The audit log records the same address.
    let login = app
        .send(
            app.request(Method::POST, Api::Admin, "/api/admin2/login", None)
                .header("x-forwarded-for", "6.6.6.6, 192.0.2.44")
                .json(&json!({ "username": "admin", "password": crate::helpers::ADMIN_PASSWORD })),
        )
        .await;
    login.assert_status(200);
    let root = login.body["data"]["token"].as_str().unwrap().to_owned();
    app.send(
        app.request(Method::POST, Api::Admin, "/api/admin/roles", Some(&root))
            .header("x-forwarded-for", "6.6.6.6, 192.0.2.44")
            .json(&json!({ "name": "审计角色", "code": "audit_ip_role" })),
    )
    .await
    .assert_status(200);
    let logs = app.get(Api::Admin, "/api/admin/logs", Some(&root)).await;
    logs.assert_status(200);
    let text = logs.body.to_string();
    assert!(text.contains("192.0.2.44"), "{text}");
    assert!(!text.contains("6.6.6.6"), "{text}");
}

#[tokio::test]
async fn registration_is_limited_per_address() {
    let app = spawn_app_with(&[("auth.register_rate_per_ip_per_hour", json!(3))]).await;
    for i in 0..3 {
        app.register(&format!("signup{i}"), "secret123")
            .await
            .assert_status(200);
    }
    let reply = app.register("signup9", "secret123").await;
    reply.assert_status(429);
    assert!(!reply.msg().is_empty());
}

#[tokio::test]
async fn the_sandbox_pays_only_with_the_checkout_links_token_once() {
    let app = spawn_app().await;
    let (user_id, token) = app.user_with_token("minter01").await;
    let created = app
        .post(
            Api::User,
            "/api/user/recharge",
            json!({ "amount": 50 }),
            Some(&token),
        )
        .await;
    created.assert_status(200);
    let no = created.body["data"]["payment_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let pay_url = created.body["data"]["pay_url"].as_str().unwrap().to_owned();
    assert!(pay_url.contains("token="), "{pay_url}");

    let bare = format!("/api/payment/sandbox/pay/{no}");
    let forged = format!("{bare}?token=9999999999.{}", "0".repeat(64));
    for path in [&bare, &forged] {
        let res = app
            .client
            .post(app.url(Api::User, path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
    let res = app
        .client
        .get(app.url(Api::User, &format!("/api/payment/sandbox/checkout/{no}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(app.balance(&token).await, 0.0);

    // Another payment's token does not pay this one.
    let other = app
        .post(
            Api::User,
            "/api/user/recharge",
            json!({ "amount": 1 }),
            Some(&token),
        )
        .await;
    let other_url = other.body["data"]["pay_url"].as_str().unwrap();
    let other_token = other_url.split("token=").nth(1).unwrap();
    let res = app.press_pay(&format!("{bare}?token={other_token}")).await;
    assert_eq!(res.status(), 403);

    let action = app.checkout_action(&pay_url).await;
    let paid = app.press_pay(&action).await;
    assert_eq!(paid.status(), 200);
    let again = app.press_pay(&action).await;
    assert_eq!(again.status(), 409, "a spent token");
    assert_eq!(app.balance(&token).await, 50.0);
    let _ = user_id;
}

#[tokio::test]
async fn health_says_whether_the_payment_sandbox_is_on() {
    for on in [true, false] {
        let app = spawn_app_with(&[("payments.sandbox_enabled", json!(on))]).await;
        for api in [Api::User, Api::Admin] {
            let health = app.get(api, "/health", None).await;
            assert_eq!(health.body["payment_sandbox"], on, "{}", health.body);
            assert!(health.body["database"].is_string());
        }
    }
}

#[tokio::test]
async fn out_of_range_paging_answers_400_and_junk_falls_back_on_both_ports() {
    let app = spawn_app().await;
    let (_, user) = app.user_with_token("pager01").await;
    let root = app.admin_token().await;
    let lists = [
        (Api::User, "/api/order/list", Some(user.as_str())),
        (Api::User, "/api/counselor/list", None),
        (Api::User, "/api/user/transactions", Some(user.as_str())),
        (Api::User, "/api/notification/list", Some(user.as_str())),
        (Api::Admin, "/api/admin/users", Some(root.as_str())),
        (Api::Admin, "/api/admin/orders", Some(root.as_str())),
        (
            Api::Admin,
            "/api/admin2/administrators",
            Some(root.as_str()),
        ),
        (Api::Admin, "/api/admin/logs", Some(root.as_str())),
    ];
    for (api, path, token) in lists {
        for bad in [
            "page=9223372036854775808",
            "page=18446744073709551615",
            "page=99999999999999999999999",
            "page=100001",
            "page_size=101",
            "pageSize=18446744073709551616",
        ] {
            let reply = app.get(api, &format!("{path}?{bad}"), token).await;
            reply.assert_status(400);
        }
        for junk in [
            "page=-1",
            "page=abc&page_size=x",
            "page=0&page_size=-3",
            "page=%E5%AD%97",
        ] {
            let reply = app.get(api, &format!("{path}?{junk}"), token).await;
            reply.assert_status(200);
        }
    }
}

#[tokio::test]
async fn malformed_dates_are_a_400_never_a_panic() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    for bad in [
        "2026-01-0%E5%AD%97",
        "%E5%AD%97%E5%AD%97%E5%AD%97%E5%AD%97",
        "2026-13-01",
        "x",
    ] {
        for param in ["start_date", "end_date"] {
            let reply = app
                .get(
                    Api::Admin,
                    &format!("/api/admin/finance/revenue?{param}={bad}"),
                    Some(&root),
                )
                .await;
            reply.assert_status(400);
        }
    }
    for good in ["2026-01-01", "2026-01-01T00:00:00", "2026-01-01%2000:00:00"] {
        app.get(
            Api::Admin,
            &format!("/api/admin/finance/revenue?start_date={good}&end_date=2026-01-31"),
            Some(&root),
        )
        .await
        .assert_status(200);
    }
}

#[tokio::test]
async fn usernames_are_normalized_and_unique_ignoring_case() {
    let app = spawn_app().await;
    app.register("demo_user", "secret123")
        .await
        .assert_status(200);
    for taken in ["DEMO_USER", "  demo_user  ", "ｄｅｍｏ＿ｕｓｅｒ"] {
        let reply = app.register(taken, "secret123").await;
        reply.assert_status(400);
        assert_eq!(reply.msg(), "用户名已存在", "{taken}");
    }
    for bad in [
        "ab",
        "   ab   ",
        "evil\u{202E}gnp.exe",
        "zero\u{200B}width",
        "ctrl\u{0007}name",
        "bom\u{FEFF}name",
    ] {
        let reply = app.register(bad, "secret123").await;
        reply.assert_status(400);
        assert!(reply.msg().starts_with("参数错误"), "{bad}: {}", reply.body);
    }
    // 50 characters after trimming are fine even with surrounding spaces.
    let long = format!("  {}  ", "x".repeat(50));
    app.register(&long, "secret123").await.assert_status(200);
    // Login ignores case too, and answers with the stored spelling.
    let login = app.login("Demo_User", "secret123").await;
    login.assert_status(200);
    assert_eq!(login.body["data"]["user"]["username"], "demo_user");
    // The console's creation follows the same rules.
    let root = app.admin_token().await;
    let reply = app
        .post(
            Api::Admin,
            "/api/admin/users",
            json!({ "username": "Demo_USER", "password": "secret123" }),
            Some(&root),
        )
        .await;
    reply.assert_status(400);
}

#[tokio::test]
async fn updating_a_counselor_checks_the_name_like_creating_one() {
    let app = spawn_app().await;
    let root = app.admin_token().await;
    let id = app.insert_counselor(100, None, 1).await;
    for bad in [json!(""), json!(" x "), json!("x".repeat(51))] {
        let reply = app
            .put(
                Api::Admin,
                &format!("/api/admin/counselors/{id}"),
                json!({ "name": bad }),
                Some(&root),
            )
            .await;
        reply.assert_status(400);
    }
    app.put(
        Api::Admin,
        &format!("/api/admin/counselors/{id}"),
        json!({ "name": " 王老师 " }),
        Some(&root),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn the_sqlite_file_is_readable_by_its_owner_only() {
    if std::env::var("MYCHAT_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let app = spawn_app().await;
    app.user_with_token("modecheck").await;
    for suffix in ["", "-wal", "-shm"] {
        let path = app.data_dir.path().join(format!("test.db{suffix}"));
        if let Ok(meta) = std::fs::metadata(&path) {
            assert_eq!(meta.permissions().mode() & 0o077, 0, "{}", path.display());
        } else {
            assert!(!suffix.is_empty(), "the database file exists");
        }
    }
}
