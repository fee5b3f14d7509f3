//! The counselor directory (8080 and 8081) and its admin CRUD.

use mychat::bus::DomainEvent;
use mychat::modules::counselors::service as counselors;
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, spawn_app};

fn names(reply: &Value) -> Vec<String> {
    reply["data"]["counselors"]
        .as_array()
        .expect("counselors array")
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn list(app: &TestApp, query: &str) -> Value {
    let reply = app
        .get(Api::User, &format!("/api/counselor/list{query}"), None)
        .await;
    reply.assert_status(200);
    reply.body
}

async fn complete_orders(app: &TestApp, counselor_id: i64, n: i64) {
    for _ in 0..n {
        counselors::record_completed_order(app.db(), counselor_id, 30, 3000)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_public_list_shows_enabled_counselors_with_the_fields_the_clients_read() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.create_counselor(&admin, "张老师", 2.5).await;
    let hidden = app.create_counselor(&admin, "停用老师", 1.0).await;
    app.put(
        Api::Admin,
        &format!("/api/admin/counselors/{hidden}"),
        json!({ "status": 0 }),
        Some(&admin),
    )
    .await
    .assert_status(200);

    let body = list(&app, "").await;

    assert_eq!(body["data"]["total"], 1);
    assert_eq!(body["data"]["counselors"], body["data"]["list"]);
    let c = &body["data"]["counselors"][0];
    assert_eq!(c["id"], id);
    assert_eq!(c["name"], "张老师");
    assert_eq!(c["price"], 2.5);
    assert_eq!(c["rating"], 5.0);
    assert_eq!(c["status"], 1);
    assert_eq!(c["service_count"], 0);
    assert_eq!(c["review_count"], 0);
    assert_eq!(c["is_recommended"], false);
    for key in [
        "avatar",
        "title",
        "specialty",
        "years_exp",
        "bio",
        "created_at",
    ] {
        assert!(!c[key].is_null(), "counselor lacks {key}");
    }
}

#[tokio::test]
async fn an_empty_directory_is_an_empty_array() {
    let app = spawn_app().await;
    let body = list(&app, "?keyword=").await;
    assert_eq!(body["data"]["counselors"], json!([]));
    assert_eq!(body["data"]["total"], 0);
}

#[tokio::test]
async fn the_list_filters_by_keyword_specialty_and_price_range() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for (name, specialty, price) in [
        ("王焦虑", "焦虑,抑郁", 1.0),
        ("李婚姻", "婚姻家庭", 3.0),
        ("赵_百分", "青少年", 5.0),
    ] {
        app.post(
            Api::Admin,
            "/api/admin/counselors",
            json!({ "name": name, "specialty": specialty, "price": price }),
            Some(&admin),
        )
        .await
        .assert_status(200);
    }

    assert_eq!(names(&list(&app, "?keyword=婚姻").await), vec!["李婚姻"]);
    assert_eq!(names(&list(&app, "?specialty=抑郁").await), vec!["王焦虑"]);
    let mut mid = names(&list(&app, "?min_price=2&max_price=5").await);
    mid.sort();
    assert_eq!(mid, vec!["李婚姻", "赵_百分"]);
    // LIKE wildcards in the term are literal.
    assert_eq!(names(&list(&app, "?keyword=_").await), vec!["赵_百分"]);
    assert!(names(&list(&app, "?keyword=%25").await).is_empty());
    let body = list(&app, "?min_price=4").await;
    assert_eq!(body["data"]["total"], 1);
}

#[tokio::test]
async fn bad_filter_values_are_refused_in_the_envelope() {
    let app = spawn_app().await;
    for query in ["?min_price=abc", "?max_price=-1"] {
        let reply = app
            .get(Api::User, &format!("/api/counselor/list{query}"), None)
            .await;
        reply.assert_status(400);
    }
    // Unknown sort keys fall back to the default order, never into SQL.
    let reply = app
        .get(
            Api::User,
            "/api/counselor/list?sort_by=name;DROP&page=abc&page_size=0",
            None,
        )
        .await;
    reply.assert_status(200);
}

#[tokio::test]
async fn sorting_by_service_count_uses_completed_orders_in_both_directions() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let a = app.create_counselor(&admin, "AA", 1.0).await;
    let b = app.create_counselor(&admin, "BB", 2.0).await;
    let c = app.create_counselor(&admin, "CC", 3.0).await;
    complete_orders(&app, a, 2).await;
    complete_orders(&app, b, 5).await;
    let _ = c;

    let desc = list(&app, "?sort_by=service_count&sort_order=desc").await;
    assert_eq!(names(&desc), vec!["BB", "AA", "CC"]);
    assert_eq!(desc["data"]["counselors"][0]["service_count"], 5);
    let asc = list(&app, "?sort_by=service_count&sort_order=asc").await;
    assert_eq!(names(&asc), vec!["CC", "AA", "BB"]);
    let by_price = list(&app, "?sort_by=price&sort_order=asc").await;
    assert_eq!(names(&by_price), vec!["AA", "BB", "CC"]);
    // B: rating 5 and 5 services → recommended.
    assert_eq!(desc["data"]["counselors"][0]["is_recommended"], true);
    assert_eq!(desc["data"]["counselors"][1]["is_recommended"], false);
}

#[tokio::test]
async fn pages_split_the_list_and_total_ignores_paging() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..5 {
        app.create_counselor(&admin, &format!("P{i}"), 1.0 + i as f64)
            .await;
    }
    let first = list(&app, "?page=1&page_size=2&sort_by=price&sort_order=asc").await;
    let third = list(&app, "?page=3&page_size=2&sort_by=price&sort_order=asc").await;
    assert_eq!(names(&first), vec!["P0", "P1"]);
    assert_eq!(names(&third), vec!["P4"]);
    assert_eq!(third["data"]["total"], 5);
    // Default page size is 10.
    assert_eq!(list(&app, "").await["data"]["page_size"], 10);
}

#[tokio::test]
async fn an_admin_edit_shows_up_in_the_next_cached_list() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.create_counselor(&admin, "旧名字", 1.0).await;
    assert_eq!(names(&list(&app, "").await), vec!["旧名字"]);
    // Served from the cache now.
    assert_eq!(names(&list(&app, "").await), vec!["旧名字"]);

    app.put(
        Api::Admin,
        &format!("/api/admin/counselors/{id}"),
        json!({ "name": "新名字", "price": 3 }),
        Some(&admin),
    )
    .await
    .assert_status(200);

    let body = list(&app, "").await;
    assert_eq!(names(&body), vec!["新名字"]);
    assert_eq!(body["data"]["counselors"][0]["price"], 3.0);
}

#[tokio::test]
async fn a_completed_order_event_refreshes_the_cached_service_count() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.create_counselor(&admin, "统计", 1.0).await;
    assert_eq!(
        list(&app, "").await["data"]["counselors"][0]["service_count"],
        0
    );

    // Billing counts the order in its own transaction, then the order event announces it.
    complete_orders(&app, id, 1).await;
    app.running
        .state
        .bus
        .publish(DomainEvent::OrderStatusChanged {
            order_id: 1,
            user_id: 1,
            counselor_id: id,
            from: 1,
            to: 2,
            actor: "system".into(),
        })
        .await
        .unwrap();

    let refreshed = app
        .eventually(|| async {
            list(&app, "").await["data"]["counselors"][0]["service_count"] == 1
        })
        .await;
    assert!(
        refreshed,
        "the cached page never showed the completed order"
    );
}

#[tokio::test]
async fn the_detail_carries_computed_statistics_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.create_counselor(&admin, "详情", 1.5).await;
    complete_orders(&app, id, 6).await;

    let reply = app
        .get(Api::User, &format!("/api/counselor/{id}"), None)
        .await;
    reply.assert_status(200);
    assert_eq!(reply.body["data"]["id"], id);
    assert_eq!(reply.body["data"]["service_count"], 6);
    assert_eq!(reply.body["data"]["is_recommended"], true);
    assert_eq!(reply.body["data"]["price"], 1.5);

    for path in [
        "/api/counselor/999999",
        "/api/counselor/abc",
        "/api/counselor/0",
    ] {
        let reply = app.get(Api::User, path, None).await;
        reply.assert_status(404);
        assert_eq!(reply.msg(), "咨询师不存在");
    }
}

#[tokio::test]
async fn the_admin_port_serves_the_public_directory_routes_too() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.create_counselor(&admin, "双端", 1.0).await;
    let reply = app.get(Api::Admin, "/api/counselor/list", None).await;
    reply.assert_status(200);
    assert_eq!(reply.body["data"]["list"][0]["id"], id);
    app.get(Api::Admin, &format!("/api/counselor/{id}"), None)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn admin_counselor_routes_need_an_admin_token() {
    let app = spawn_app().await;
    let (_, user_token) = app.user_with_token("plainuser").await;
    for token in [None, Some(user_token.as_str())] {
        app.get(Api::Admin, "/api/admin/counselors", token)
            .await
            .assert_status(401);
        app.post(
            Api::Admin,
            "/api/admin/counselors",
            json!({ "name": "x", "price": 1 }),
            token,
        )
        .await
        .assert_status(401);
        app.delete(Api::Admin, "/api/admin/counselors/1", token)
            .await
            .assert_status(401);
    }
}

#[tokio::test]
async fn creating_a_counselor_validates_and_honours_explicit_zeros() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let bad = [
        json!({ "name": "x", "price": 0 }),
        json!({ "name": "x", "price": -1 }),
        json!({ "name": "x", "price": 1.234 }),
        json!({ "name": "", "price": 1 }),
        json!({ "name": "   ", "price": 1 }),
        json!({ "price": 1 }),
        json!({ "name": "x" }),
        json!({ "name": "x", "price": "abc" }),
        json!({ "name": "x", "price": 1, "rating": 5.5 }),
        json!({ "name": "x", "price": 1, "rating": -1 }),
        json!({ "name": "x", "price": 1, "status": 2 }),
        json!({ "name": "x".repeat(51), "price": 1 }),
    ];
    for body in bad {
        let reply = app
            .post(
                Api::Admin,
                "/api/admin/counselors",
                body.clone(),
                Some(&admin),
            )
            .await;
        reply.assert_status(400);
        assert!(
            reply.msg().starts_with("参数错误"),
            "{body}: {}",
            reply.body
        );
    }
    let malformed = app
        .post_raw(
            Api::Admin,
            "/api/admin/counselors",
            "application/json",
            b"{\"name\":".to_vec(),
            Some(&admin),
        )
        .await;
    malformed.assert_status(400);

    let reply = app
        .post(
            Api::Admin,
            "/api/admin/counselors",
            json!({ "name": "零号", "price": 0.5, "rating": 0, "status": 0, "years_exp": 0 }),
            Some(&admin),
        )
        .await;
    reply.assert_status(200);
    assert_eq!(reply.body["data"]["rating"], 0.0);
    assert_eq!(reply.body["data"]["status"], 0);
    assert_eq!(reply.body["data"]["price"], 0.5);
    assert_eq!(reply.body["data"]["user_id"], 0);
}

#[tokio::test]
async fn a_counselor_can_be_linked_to_one_existing_user_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (user_id, _) = app.user_with_token("linkme").await;

    let missing = app
        .post(
            Api::Admin,
            "/api/admin/counselors",
            json!({ "name": "无主", "price": 1, "user_id": 999999 }),
            Some(&admin),
        )
        .await;
    missing.assert_status(400);

    let linked = app
        .post(
            Api::Admin,
            "/api/admin/counselors",
            json!({ "name": "有主", "price": 1, "user_id": user_id }),
            Some(&admin),
        )
        .await;
    linked.assert_status(200);
    assert_eq!(linked.body["data"]["user_id"], user_id);
    let counselor_id = linked.body["data"]["id"].as_i64().unwrap();
    let found = counselors::counselor_of_user(app.db(), user_id)
        .await
        .unwrap()
        .expect("linked counselor");
    assert_eq!(found.id, counselor_id);

    let second = app
        .post(
            Api::Admin,
            "/api/admin/counselors",
            json!({ "name": "抢注", "price": 1, "user_id": user_id }),
            Some(&admin),
        )
        .await;
    second.assert_status(409);
    assert_eq!(second.msg(), "该用户已是咨询师");

    let other = app.create_counselor(&admin, "另一个", 1.0).await;
    app.put(
        Api::Admin,
        &format!("/api/admin/counselors/{other}"),
        json!({ "user_id": user_id }),
        Some(&admin),
    )
    .await
    .assert_status(409);
    // Unlinking with 0, then the other may take the user.
    app.put(
        Api::Admin,
        &format!("/api/admin/counselors/{counselor_id}"),
        json!({ "user_id": 0 }),
        Some(&admin),
    )
    .await
    .assert_status(200);
    app.put(
        Api::Admin,
        &format!("/api/admin/counselors/{other}"),
        json!({ "user_id": user_id }),
        Some(&admin),
    )
    .await
    .assert_status(200);
}

#[tokio::test]
async fn updating_applies_present_fields_including_zero_and_ignores_the_rest_of_the_row() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.create_counselor(&admin, "编辑", 2.0).await;
    let detail = app
        .get(
            Api::Admin,
            &format!("/api/admin/counselors/{id}"),
            Some(&admin),
        )
        .await;
    detail.assert_status(200);
    // The console sends the whole row back.
    let mut row = detail.body["data"].clone();
    row["title"] = json!("主任医师");
    row["status"] = json!(0);
    row["years_exp"] = json!(0);
    row["rating"] = json!(4.5);
    let reply = app
        .put(
            Api::Admin,
            &format!("/api/admin/counselors/{id}"),
            row,
            Some(&admin),
        )
        .await;
    reply.assert_status(200);
    assert_eq!(reply.body["data"]["title"], "主任医师");
    assert_eq!(reply.body["data"]["status"], 0);
    assert_eq!(reply.body["data"]["rating"], 4.5);
    assert_eq!(reply.body["data"]["name"], "编辑");
    assert_eq!(reply.body["data"]["price"], 2.0);

    // Disabled: gone from the public list, still in the admin list and filterable.
    assert_eq!(list(&app, "").await["data"]["total"], 0);
    let all = app
        .get(Api::Admin, "/api/admin/counselors", Some(&admin))
        .await;
    assert_eq!(all.body["data"]["total"], 1);
    let enabled = app
        .get(Api::Admin, "/api/admin/counselors?status=1", Some(&admin))
        .await;
    assert_eq!(enabled.body["data"]["total"], 0);
    app.get(Api::Admin, "/api/admin/counselors?status=7", Some(&admin))
        .await
        .assert_status(400);

    for body in [
        json!({ "price": 0 }),
        json!({ "name": "" }),
        json!({ "status": 3 }),
        json!({ "rating": 9 }),
        json!({ "years_exp": "x" }),
    ] {
        app.put(
            Api::Admin,
            &format!("/api/admin/counselors/{id}"),
            body,
            Some(&admin),
        )
        .await
        .assert_status(400);
    }
    for path in ["/api/admin/counselors/424242", "/api/admin/counselors/nope"] {
        let reply = app
            .put(Api::Admin, path, json!({ "title": "x" }), Some(&admin))
            .await;
        reply.assert_status(404);
        assert_eq!(reply.msg(), "咨询师不存在");
        app.get(Api::Admin, path, Some(&admin))
            .await
            .assert_status(404);
    }
}

#[tokio::test]
async fn a_counselor_without_history_is_deleted_and_one_with_history_is_kept() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let fresh = app.create_counselor(&admin, "新人", 1.0).await;
    let busy = app.create_counselor(&admin, "老手", 1.0).await;
    counselors::record_order_created(app.db(), busy)
        .await
        .unwrap();

    app.delete(
        Api::Admin,
        &format!("/api/admin/counselors/{fresh}"),
        Some(&admin),
    )
    .await
    .assert_status(200);
    app.get(Api::User, &format!("/api/counselor/{fresh}"), None)
        .await
        .assert_status(404);
    app.delete(
        Api::Admin,
        &format!("/api/admin/counselors/{fresh}"),
        Some(&admin),
    )
    .await
    .assert_status(404);

    let refused = app
        .delete(
            Api::Admin,
            &format!("/api/admin/counselors/{busy}"),
            Some(&admin),
        )
        .await;
    refused.assert_status(400);
    assert_eq!(refused.msg(), counselors::MSG_DELETE_HAS_HISTORY);
    app.get(Api::User, &format!("/api/counselor/{busy}"), None)
        .await
        .assert_status(200);
    assert_eq!(names(&list(&app, "").await), vec!["老手"]);
}
