//! Applications to become a counselor: submission, certificates, review on both APIs, approval creating
//! the linked counselor.

use mychat::modules::counselors::service as counselors;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, file_form, spawn_app, tiny_png};

fn application(cert: &str) -> Value {
    json!({
        "name": "陈医生", "gender": "女", "phone": "13800138000", "email": "chen@example.com",
        "title": "国家二级心理咨询师", "years_exp": 8, "bio": "多年临床经验".repeat(10),
        "certificate_img1": cert, "certificate_img2": "", "certificate_img3": "",
        "specialty": "焦虑,抑郁"
    })
}

async fn submit(app: &TestApp, token: &str, body: Value) -> crate::helpers::Reply {
    app.post(Api::User, "/api/counselor/application", body, Some(token))
        .await
}

async fn review(app: &TestApp, admin: &str, id: i64, body: Value) -> crate::helpers::Reply {
    app.put(
        Api::Admin,
        &format!("/api/admin/counselor/applications/{id}/review"),
        body,
        Some(admin),
    )
    .await
}

async fn count(app: &TestApp, sql: String) -> i64 {
    let backend = app.db().get_database_backend();
    let row = app
        .db()
        .query_one_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn an_approved_application_becomes_a_linked_counselor_with_statistics_and_an_account() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (user_id, token) = app.user_with_token("applicant").await;

    let upload = app
        .send(
            app.request(
                reqwest::Method::POST,
                Api::User,
                "/api/counselor/upload-certificate",
                Some(&token),
            )
            .multipart(file_form("cert.png", tiny_png(), "image/png")),
        )
        .await;
    upload.assert_status(200);
    let url = upload.body["data"]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with("/uploads/certificates/") && url.ends_with(".png"),
        "{url}"
    );
    let served = app
        .client
        .get(app.url(Api::User, &url))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status().as_u16(), 200);

    let submitted = submit(&app, &token, application(&url)).await;
    submitted.assert_status(200);
    let id = submitted.body["data"]["id"].as_i64().unwrap();
    let mine = app
        .get(Api::User, "/api/counselor/my-application", Some(&token))
        .await;
    mine.assert_status(200);
    assert_eq!(mine.body["data"]["status"], 0);
    assert_eq!(mine.body["data"]["certificate_img1"], url);
    assert!(mine.body["data"].get("reviewer").is_none());
    let again = submit(&app, &token, application(&url)).await;
    again.assert_status(403);
    assert_eq!(again.msg(), "您已提交入驻申请，请等待审核");

    let listed = app
        .get(
            Api::Admin,
            "/api/admin/counselor/applications",
            Some(&admin),
        )
        .await;
    listed.assert_status(200);
    assert_eq!(listed.body["data"]["total"], 1);
    assert_eq!(listed.body["data"]["list"][0]["id"], id);
    assert_eq!(
        listed.body["data"]["list"][0]["user"]["username"],
        "applicant"
    );
    app.get(
        Api::Admin,
        &format!("/api/admin/counselor/applications/{id}"),
        Some(&admin),
    )
    .await
    .assert_status(200);

    let approved = review(&app, &admin, id, json!({ "status": 1 })).await;
    approved.assert_status(200);
    let counselor_id = approved.body["data"]["counselor_id"].as_i64().unwrap();

    let counselor = counselors::counselor_of_user(app.db(), user_id)
        .await
        .unwrap()
        .expect("approval links the counselor to the applicant");
    assert_eq!(counselor.id, counselor_id);
    assert_eq!(counselor.name, "陈医生");
    assert_eq!(counselor.status, 1);
    assert_eq!(
        count(
            &app,
            format!(
                "SELECT COUNT(*) FROM counselor_statistics WHERE counselor_id = {counselor_id}"
            )
        )
        .await,
        1
    );
    assert_eq!(
        count(&app, format!("SELECT COUNT(*) FROM counselor_accounts WHERE counselor_id = {counselor_id} AND balance = 0")).await,
        1
    );
    let public = app.get(Api::User, "/api/counselor/list", None).await;
    assert_eq!(public.body["data"]["counselors"][0]["id"], counselor_id);
    assert_eq!(public.body["data"]["counselors"][0]["user_id"], user_id);

    let mine = app
        .get(Api::User, "/api/counselor/my-application", Some(&token))
        .await;
    assert_eq!(mine.body["data"]["status"], 1);
    assert_eq!(mine.body["data"]["reviewer"]["username"], "admin");
    assert!(mine.body["data"]["reviewed_at"].is_string());
    let twice = review(&app, &admin, id, json!({ "status": 1 })).await;
    twice.assert_status(400);
    assert_eq!(twice.msg(), "该申请已处理");
    let after = submit(&app, &token, application(&url)).await;
    after.assert_status(403);
    assert_eq!(after.msg(), "您的申请已审核通过");

    // The applicant is told, through the bus.
    let told = app
        .eventually(|| async {
            let reply = app
                .get(Api::User, "/api/notification/list", Some(&token))
                .await;
            reply.body["data"]["total"] == 1
        })
        .await;
    assert!(told, "no notification for the approval");
    let inbox = app
        .get(Api::User, "/api/notification/list", Some(&token))
        .await;
    assert_eq!(inbox.body["data"]["notifications"][0]["type"], "system");
    assert_eq!(
        inbox.body["data"]["notifications"][0]["title"],
        "入驻申请已通过"
    );
}

#[tokio::test]
async fn a_rejection_needs_a_reason_and_the_user_may_apply_again() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (user_id, token) = app.user_with_token("retry").await;
    let id = submit(&app, &token, application("/uploads/certificates/a.png"))
        .await
        .body["data"]["id"]
        .as_i64()
        .unwrap();

    let no_reason = review(
        &app,
        &admin,
        id,
        json!({ "status": 2, "reject_reason": " " }),
    )
    .await;
    no_reason.assert_status(400);
    assert_eq!(no_reason.msg(), "请填写拒绝原因");
    for body in [json!({ "status": 3 }), json!({ "status": 0 })] {
        let reply = review(&app, &admin, id, body).await;
        reply.assert_status(400);
        assert_eq!(reply.msg(), "状态错误，1-通过，2-拒绝");
    }
    for body in [json!({}), json!({ "status": "1" })] {
        review(&app, &admin, id, body).await.assert_status(400);
    }
    review(
        &app,
        &admin,
        id,
        json!({ "status": 2, "reject_reason": "证书不清晰" }),
    )
    .await
    .assert_status(200);
    let mine = app
        .get(Api::User, "/api/counselor/my-application", Some(&token))
        .await;
    assert_eq!(mine.body["data"]["status"], 2);
    assert_eq!(mine.body["data"]["reject_reason"], "证书不清晰");
    assert!(
        counselors::counselor_of_user(app.db(), user_id)
            .await
            .unwrap()
            .is_none()
    );

    let resubmitted = submit(&app, &token, application("/uploads/certificates/b.png")).await;
    resubmitted.assert_status(200);
    assert_eq!(resubmitted.body["data"]["id"], id);
    let mine = app
        .get(Api::User, "/api/counselor/my-application", Some(&token))
        .await;
    assert_eq!(mine.body["data"]["status"], 0);
    assert_eq!(mine.body["data"]["reject_reason"], "");
    assert_eq!(
        mine.body["data"]["certificate_img1"],
        "/uploads/certificates/b.png"
    );
    review(&app, &admin, id, json!({ "status": 1 }))
        .await
        .assert_status(200);
    assert!(
        counselors::counselor_of_user(app.db(), user_id)
            .await
            .unwrap()
            .is_some()
    );

    // Both reviews were told, each once.
    let told = app
        .eventually(|| async {
            app.get(Api::User, "/api/notification/list", Some(&token))
                .await
                .body["data"]["total"]
                == 2
        })
        .await;
    assert!(told);
}

#[tokio::test]
async fn submitting_checks_required_fields_certificates_and_who_may_apply() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.user_with_token("incomplete").await;

    let none = app
        .get(Api::User, "/api/counselor/my-application", Some(&token))
        .await;
    none.assert_status(200);
    assert!(none.body["data"].is_null());
    assert!(none.body.as_object().unwrap().contains_key("data"));

    let mut missing = application("/uploads/certificates/a.png");
    missing["phone"] = json!("");
    let reply = submit(&app, &token, missing).await;
    reply.assert_status(400);
    assert_eq!(reply.msg(), "姓名、电话、职称和擅长领域为必填项");
    let reply = submit(&app, &token, application("")).await;
    reply.assert_status(400);
    assert_eq!(reply.msg(), "至少需要上传一张资质证书");
    let mut wrong = application("/uploads/certificates/a.png");
    wrong["years_exp"] = json!("eight");
    submit(&app, &token, wrong).await.assert_status(400);
    app.post(
        Api::User,
        "/api/counselor/application",
        application("x"),
        None,
    )
    .await
    .assert_status(401);

    // Somebody the admin already made a counselor cannot apply.
    let (linked_id, linked_token) = app.user_with_token("already").await;
    app.post(
        Api::Admin,
        "/api/admin/counselors",
        json!({ "name": "已是", "price": 1, "user_id": linked_id }),
        Some(&admin),
    )
    .await
    .assert_status(200);
    let reply = submit(
        &app,
        &linked_token,
        application("/uploads/certificates/a.png"),
    )
    .await;
    reply.assert_status(403);
    assert_eq!(reply.msg(), "您已是认证咨询师");
}

#[tokio::test]
async fn approving_someone_who_became_a_counselor_meanwhile_is_a_conflict() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (user_id, token) = app.user_with_token("racer").await;
    let id = submit(&app, &token, application("/uploads/certificates/a.png"))
        .await
        .body["data"]["id"]
        .as_i64()
        .unwrap();
    app.post(
        Api::Admin,
        "/api/admin/counselors",
        json!({ "name": "抢先", "price": 1, "user_id": user_id }),
        Some(&admin),
    )
    .await
    .assert_status(200);
    review(&app, &admin, id, json!({ "status": 1 }))
        .await
        .assert_status(409);
    // Still pending: nothing half-done.
    let detail = app
        .get(
            Api::Admin,
            &format!("/api/admin/counselor/applications/{id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(detail.body["data"]["status"], 0);
}

#[tokio::test]
async fn the_admin_list_filters_and_unknown_applications_are_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, a) = app.user_with_token("appa").await;
    let (_, b) = app.user_with_token("appb").await;
    let mut body_a = application("/uploads/certificates/a.png");
    body_a["name"] = json!("甲_申请");
    let id_a = submit(&app, &a, body_a).await.body["data"]["id"]
        .as_i64()
        .unwrap();
    submit(&app, &b, application("/uploads/certificates/b.png"))
        .await
        .assert_status(200);
    review(
        &app,
        &admin,
        id_a,
        json!({ "status": 2, "reject_reason": "no" }),
    )
    .await
    .assert_status(200);

    let rejected = app
        .get(
            Api::Admin,
            "/api/admin/counselor/applications?status=2",
            Some(&admin),
        )
        .await;
    assert_eq!(rejected.body["data"]["total"], 1);
    assert_eq!(rejected.body["data"]["list"][0]["id"], id_a);
    let by_name = app
        .get(
            Api::Admin,
            "/api/admin/counselor/applications?keyword=_",
            Some(&admin),
        )
        .await;
    assert_eq!(by_name.body["data"]["total"], 1);
    let paged = app
        .get(
            Api::Admin,
            "/api/admin/counselor/applications?page=2&page_size=1",
            Some(&admin),
        )
        .await;
    assert_eq!(paged.body["data"]["list"].as_array().unwrap().len(), 1);
    assert_eq!(paged.body["data"]["total"], 2);

    for path in [
        "/api/admin/counselor/applications/999999",
        "/api/admin/counselor/applications/abc",
    ] {
        let reply = app.get(Api::Admin, path, Some(&admin)).await;
        reply.assert_status(404);
        assert_eq!(reply.msg(), "申请不存在");
    }
    review(&app, &admin, 999999, json!({ "status": 1 }))
        .await
        .assert_status(404);
    app.get(Api::Admin, "/api/admin/counselor/applications", None)
        .await
        .assert_status(401);
}

#[tokio::test]
async fn the_legacy_user_api_review_routes_are_for_users_with_is_admin() {
    let app = spawn_app().await;
    let (_, applicant) = app.user_with_token("legacyapp").await;
    let (boss_id, boss) = app.user_with_token("legacyboss").await;
    let id = submit(&app, &applicant, application("/uploads/certificates/a.png"))
        .await
        .body["data"]["id"]
        .as_i64()
        .unwrap();

    let denied = app
        .get(Api::User, "/api/counselor/applications", Some(&boss))
        .await;
    denied.assert_status(403);
    assert_eq!(denied.msg(), "无权限访问");
    app.put(
        Api::User,
        &format!("/api/counselor/application/{id}/review"),
        json!({ "status": 1 }),
        Some(&boss),
    )
    .await
    .assert_status(403);

    let backend = app.db().get_database_backend();
    app.db()
        .execute_raw(Statement::from_string(
            backend,
            format!("UPDATE users SET is_admin = true WHERE id = {boss_id}"),
        ))
        .await
        .unwrap();
    let listed = app
        .get(
            Api::User,
            "/api/counselor/applications?status=0",
            Some(&boss),
        )
        .await;
    listed.assert_status(200);
    assert_eq!(listed.body["data"]["total"], 1);
    assert_eq!(listed.body["data"]["page"], 1);
    assert_eq!(listed.body["data"]["page_size"], 20);
    let bad_id = app
        .put(
            Api::User,
            "/api/counselor/application/abc/review",
            json!({ "status": 1 }),
            Some(&boss),
        )
        .await;
    bad_id.assert_status(400);
    assert_eq!(bad_id.msg(), "申请ID错误");
    app.put(
        Api::User,
        &format!("/api/counselor/application/{id}/review"),
        json!({ "status": 2, "reject_reason": "资料不全" }),
        Some(&boss),
    )
    .await
    .assert_status(200);
    let mine = app
        .get(Api::User, "/api/counselor/my-application", Some(&applicant))
        .await;
    assert_eq!(mine.body["data"]["status"], 2);
}

#[tokio::test]
async fn certificate_uploads_must_be_small_jpeg_or_png_images() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("certs").await;
    let upload = |form: reqwest::multipart::Form, token: Option<String>| {
        let mut req = app.request(
            reqwest::Method::POST,
            Api::User,
            "/api/counselor/upload-certificate",
            None,
        );
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        app.send(req.multipart(form))
    };
    // Declared as PNG, but it is HTML.
    let fake = upload(
        file_form("cert.png", b"<html>hi</html>".to_vec(), "image/png"),
        Some(token.clone()),
    )
    .await;
    fake.assert_status(400);
    assert_eq!(fake.msg(), "仅支持JPG、JPEG、PNG格式的图片");
    let mut big = tiny_png();
    big.resize(5 * 1024 * 1024 + 10, 0);
    let too_big = upload(file_form("big.png", big, "image/png"), Some(token.clone())).await;
    too_big.assert_status(400);
    assert_eq!(too_big.msg(), "图片大小不能超过5MB");
    let other_field = reqwest::multipart::Form::new().text("name", "x");
    upload(other_field, Some(token.clone()))
        .await
        .assert_status(400);
    upload(file_form("cert.png", tiny_png(), "image/png"), None)
        .await
        .assert_status(401);
}
