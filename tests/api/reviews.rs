//! Reviews of completed orders (`POST /api/counselor/review`) and the rating they keep.

use mychat::modules::counselors::service as counselors;
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, spawn_app};

const COMPLETED: i32 = 2;

struct Setup {
    counselor_id: i64,
    user_id: i64,
    token: String,
}

async fn setup(app: &TestApp) -> Setup {
    let admin = app.admin_token().await;
    let counselor_id = app.create_counselor(&admin, "评价对象", 1.0).await;
    let (user_id, token) = app.user_with_token("reviewer1").await;
    Setup {
        counselor_id,
        user_id,
        token,
    }
}

async fn review(app: &TestApp, token: &str, body: Value) -> crate::helpers::Reply {
    app.post(Api::User, "/api/counselor/review", body, Some(token))
        .await
}

async fn counselor(app: &TestApp, id: i64) -> Value {
    let reply = app
        .get(Api::User, &format!("/api/counselor/{id}"), None)
        .await;
    reply.assert_status(200);
    reply.body["data"].clone()
}

#[tokio::test]
async fn the_buyer_reviews_a_completed_order_once_and_the_rating_follows() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let first = app.insert_order(s.user_id, s.counselor_id, COMPLETED).await;
    let second = app.insert_order(s.user_id, s.counselor_id, COMPLETED).await;
    // Warm the list cache, which must drop with the review.
    app.get(Api::User, "/api/counselor/list", None)
        .await
        .assert_status(200);

    let reply = review(
        &app,
        &s.token,
        json!({ "counselor_id": s.counselor_id, "order_id": first, "rating": 4, "comment": "很好", "is_anonymous": false }),
    )
    .await;
    reply.assert_status(200);
    assert_eq!(reply.body["data"]["rating"], 4);
    assert_eq!(reply.body["data"]["comment"], "很好");
    let c = counselor(&app, s.counselor_id).await;
    assert_eq!(c["rating"], 4.0);
    assert_eq!(c["review_count"], 1);

    review(
        &app,
        &s.token,
        json!({ "order_id": second, "rating": 5, "comment": "" }),
    )
    .await
    .assert_status(200);
    let c = counselor(&app, s.counselor_id).await;
    assert_eq!(c["rating"], 4.5);
    assert_eq!(c["review_count"], 2);
    let listed = app.get(Api::User, "/api/counselor/list", None).await;
    assert_eq!(listed.body["data"]["counselors"][0]["review_count"], 2);
    assert_eq!(listed.body["data"]["counselors"][0]["rating"], 4.5);

    let again = review(
        &app,
        &s.token,
        json!({ "order_id": first, "rating": 1, "comment": "改主意" }),
    )
    .await;
    again.assert_status(400);
    assert_eq!(again.msg(), "该订单已评价");
    assert_eq!(counselor(&app, s.counselor_id).await["rating"], 4.5);

    let reviewed = counselors::reviewed_order_ids(app.db(), &[first, second, 424242])
        .await
        .unwrap();
    assert_eq!(reviewed.len(), 2);
    assert!(reviewed.contains(&first) && reviewed.contains(&second));
}

#[tokio::test]
async fn concurrent_reviews_keep_the_rating_consistent() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let mut orders = Vec::new();
    for _ in 0..4 {
        orders.push(app.insert_order(s.user_id, s.counselor_id, COMPLETED).await);
    }
    // A counselor without a statistics row yet (e.g. seeded by hand): the row is created on the fly,
    // even by concurrent reviews.
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db().get_database_backend();
    app.db()
        .execute_raw(Statement::from_string(
            backend,
            format!(
                "DELETE FROM counselor_statistics WHERE counselor_id = {}",
                s.counselor_id
            ),
        ))
        .await
        .unwrap();
    let stars = [5, 4, 4, 2];
    let replies = futures_util::future::join_all(orders.iter().zip(stars).map(|(order, star)| {
        review(
            &app,
            &s.token,
            json!({ "order_id": order, "rating": star, "comment": "x" }),
        )
    }))
    .await;
    for reply in &replies {
        reply.assert_status(200);
    }
    let c = counselor(&app, s.counselor_id).await;
    assert_eq!(c["review_count"], 4);
    // 15 / 4 = 3.75
    assert_eq!(c["rating"], 3.75);
}

#[tokio::test]
async fn only_completed_orders_can_be_reviewed() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    for status in [0, 1, 3, 4] {
        let order = app.insert_order(s.user_id, s.counselor_id, status).await;
        let reply = review(
            &app,
            &s.token,
            json!({ "order_id": order, "rating": 5, "comment": "x" }),
        )
        .await;
        reply.assert_status(400);
        assert_eq!(reply.msg(), "订单未完成，无法评价");
    }
    assert_eq!(counselor(&app, s.counselor_id).await["review_count"], 0);
}

#[tokio::test]
async fn someone_elses_or_an_unknown_order_cannot_be_reviewed() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let order = app.insert_order(s.user_id, s.counselor_id, COMPLETED).await;
    let (_, intruder) = app.user_with_token("intruder").await;

    let reply = review(
        &app,
        &intruder,
        json!({ "order_id": order, "rating": 1, "comment": "差" }),
    )
    .await;
    reply.assert_status(403);
    let unknown = review(
        &app,
        &s.token,
        json!({ "order_id": 999999, "rating": 5, "comment": "x" }),
    )
    .await;
    unknown.assert_status(404);
    assert_eq!(unknown.msg(), "订单不存在");
    let mismatch = review(
        &app,
        &s.token,
        json!({ "order_id": order, "counselor_id": s.counselor_id + 1000, "rating": 5, "comment": "x" }),
    )
    .await;
    mismatch.assert_status(400);
    assert_eq!(counselor(&app, s.counselor_id).await["review_count"], 0);
}

#[tokio::test]
async fn reviewing_validates_its_input_and_needs_a_login() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let order = app.insert_order(s.user_id, s.counselor_id, COMPLETED).await;
    for body in [
        json!({ "order_id": order, "rating": 0, "comment": "x" }),
        json!({ "order_id": order, "rating": 6, "comment": "x" }),
        json!({ "order_id": order, "comment": "x" }),
        json!({ "rating": 5, "comment": "x" }),
        json!({ "order_id": "abc", "rating": 5 }),
        json!({ "order_id": order, "rating": 5, "is_anonymous": "yes" }),
        json!({ "order_id": order, "rating": 5, "comment": "x".repeat(2001) }),
    ] {
        let reply = review(&app, &s.token, body.clone()).await;
        reply.assert_status(400);
        assert!(
            reply.msg().starts_with("参数错误"),
            "{body}: {}",
            reply.body
        );
    }
    app.post_raw(
        Api::User,
        "/api/counselor/review",
        "application/json",
        b"{not json".to_vec(),
        Some(&s.token),
    )
    .await
    .assert_status(400);
    app.post(
        Api::User,
        "/api/counselor/review",
        json!({ "order_id": order, "rating": 5 }),
        None,
    )
    .await
    .assert_status(401);
}

#[tokio::test]
async fn the_review_list_shows_visible_reviews_newest_first_and_hides_anonymous_authors() {
    let app = spawn_app().await;
    let s = setup(&app).await;
    let named = app.insert_order(s.user_id, s.counselor_id, COMPLETED).await;
    let anonymous = app.insert_order(s.user_id, s.counselor_id, COMPLETED).await;
    review(
        &app,
        &s.token,
        json!({ "order_id": named, "rating": 5, "comment": "署名" }),
    )
    .await
    .assert_status(200);
    review(
        &app,
        &s.token,
        json!({ "order_id": anonymous, "rating": 3, "comment": "匿名", "is_anonymous": true }),
    )
    .await
    .assert_status(200);
    // A hidden review never shows.
    use sea_orm::{ConnectionTrait, Statement};
    let backend = app.db().get_database_backend();
    app.db()
        .execute_raw(Statement::from_string(
            backend,
            format!("UPDATE counselor_reviews SET is_visible = false WHERE order_id = {named}"),
        ))
        .await
        .unwrap();
    let hidden_order = app.insert_order(s.user_id, s.counselor_id, COMPLETED).await;
    review(
        &app,
        &s.token,
        json!({ "order_id": hidden_order, "rating": 4, "comment": "最新" }),
    )
    .await
    .assert_status(200);

    let reply = app
        .get(
            Api::User,
            &format!("/api/counselor/{}/reviews", s.counselor_id),
            None,
        )
        .await;
    reply.assert_status(200);
    let reviews = reply.body["data"]["reviews"].as_array().unwrap();
    assert_eq!(reply.body["data"]["total"], 2);
    assert_eq!(reviews.len(), 2);
    assert_eq!(reviews[0]["comment"], "最新");
    assert_eq!(reviews[0]["user"]["username"], "reviewer1");
    assert_eq!(reviews[0]["user_id"], s.user_id);
    assert_eq!(reviews[1]["comment"], "匿名");
    assert_eq!(reviews[1]["is_anonymous"], true);
    assert_eq!(reviews[1]["user"]["username"], "匿名用户");
    assert_eq!(reviews[1]["user"]["avatar"], "");
    assert_eq!(reviews[1]["user_id"], 0);

    let paged = app
        .get(
            Api::User,
            &format!(
                "/api/counselor/{}/reviews?page=2&page_size=1",
                s.counselor_id
            ),
            None,
        )
        .await;
    assert_eq!(paged.body["data"]["reviews"][0]["comment"], "匿名");

    for path in ["/api/counselor/999999/reviews", "/api/counselor/x/reviews"] {
        let reply = app.get(Api::User, path, None).await;
        reply.assert_status(404);
        assert_eq!(reply.msg(), "咨询师不存在");
    }
}
