//! Encryption at rest of counselling records (issue 15): what the database holds is sealed, every reader
//! still gets plaintext, and `mychat admin rotate-chat-key` re-seals everything while chat goes on.

use base64::Engine;
use mychat::cli::{RotateOptions, rotate_chat_key};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::chat_fixtures::*;
use crate::helpers::{Api, TestApp, spawn_app, spawn_app_with};

/// `(id, content, key_id)` of every message, straight from the table.
async fn raw_messages(app: &TestApp) -> Vec<(i64, Option<String>, Option<i32>)> {
    let db = app.db();
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT id, content, key_id FROM chat_messages ORDER BY id",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.try_get::<i64>("", "id").unwrap(),
            row.try_get::<Option<String>>("", "content").unwrap(),
            row.try_get::<Option<i32>>("", "key_id").unwrap(),
        )
    })
    .collect()
}

/// `(original_name, name_key_id)` of every file, straight from the table.
async fn raw_file_names(app: &TestApp) -> Vec<(String, Option<i32>)> {
    let db = app.db();
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT original_name, name_key_id FROM files ORDER BY id",
    ))
    .await
    .unwrap()
    .iter()
    .map(|row| {
        (
            row.try_get::<String>("", "original_name").unwrap(),
            row.try_get::<Option<i32>>("", "name_key_id").unwrap(),
        )
    })
    .collect()
}

fn on_sqlite() -> bool {
    std::env::var("MYCHAT_TEST_DATABASE_URL").map_or(true, |url| url.is_empty())
}

/// The contents the buyer reads over REST, in `seq` order.
async fn contents_read_by(app: &TestApp, session_id: i64, token: &str) -> Vec<String> {
    let page = app
        .get(
            Api::User,
            &format!("/api/chat/messages/{session_id}?page=1&page_size=100"),
            Some(token),
        )
        .await;
    page.assert_status(200);
    let list = page.body["data"]["messages"]
        .as_array()
        .or_else(|| page.body["data"]["list"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("no message list in {}", page.body));
    list.iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

async fn say(ws: &mut Ws, content: &str) -> Value {
    send(ws, json!({"type": "message", "data": {"content": content}})).await;
    next_of(ws, "message", 5).await
}

#[tokio::test]
async fn the_database_holds_no_message_content_or_chat_file_name_in_plaintext() {
    let app = spawn_app().await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    let echoed = say(&mut user, "canary-ws-7f3a 我最近睡不好").await;
    assert_eq!(echoed["data"]["content"], "canary-ws-7f3a 我最近睡不好");
    next_of(&mut counselor, "message", 5).await;
    app.post(
        Api::User,
        &format!("/api/chat/session/{session_id}/message"),
        json!({"content": "canary-rest-91b2", "client_msg_id": "c-1"}),
        Some(&b.counselor_token),
    )
    .await
    .assert_status(200);
    // A resend answers the stored message, opened.
    let again = app
        .post(
            Api::User,
            &format!("/api/chat/session/{session_id}/message"),
            json!({"content": "canary-rest-91b2", "client_msg_id": "c-1"}),
            Some(&b.counselor_token),
        )
        .await;
    again.assert_status(200);
    assert_eq!(again.body["data"]["content"], "canary-rest-91b2");
    let session_id_text = session_id.to_string();
    let uploaded = app
        .send(
            app.client
                .post(app.url(Api::User, "/api/upload"))
                .bearer_auth(&b.buyer_token)
                .multipart(
                    reqwest::multipart::Form::new()
                        .part(
                            "file",
                            reqwest::multipart::Part::bytes(b"notes".to_vec())
                                .file_name("canary-name-52c1.txt"),
                        )
                        .text("file_type", "document")
                        .text("relation_type", "session")
                        .text("relation_id", session_id_text),
                ),
        )
        .await;
    uploaded.assert_status(200);
    assert_eq!(
        uploaded.body["data"]["original_name"],
        "canary-name-52c1.txt"
    );
    let file_id = uploaded.body["data"]["id"].as_i64().unwrap();

    // The rows hold base64 of sealed bytes, with their key id.
    let rows = raw_messages(&app).await;
    assert_eq!(rows.len(), 2);
    for (_, content, key_id) in &rows {
        let content = content.as_deref().unwrap();
        assert!(!content.contains("canary"), "{content}");
        assert!(
            base64::engine::general_purpose::STANDARD
                .decode(content)
                .is_ok()
        );
        assert_eq!(*key_id, Some(1));
    }
    let names = raw_file_names(&app).await;
    assert!(!names[0].0.contains("canary"), "{}", names[0].0);
    assert_eq!(names[0].1, Some(1));
    // And not one byte of the database file (or its journal) shows them.
    if on_sqlite() {
        for entry in std::fs::read_dir(app.data_dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("test.db")
            {
                let bytes = std::fs::read(&path).unwrap();
                for canary in ["canary-ws", "canary-rest", "canary-name", "睡不好"] {
                    assert!(
                        !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                        "{canary} in {}",
                        path.display()
                    );
                }
            }
        }
    }
    let key_file = app.data_dir.path().join("chat_keys.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Every reader gets plaintext.
    assert_eq!(
        contents_read_by(&app, session_id, &b.buyer_token).await,
        ["canary-ws-7f3a 我最近睡不好", "canary-rest-91b2"]
    );
    let admin = app.admin_token().await;
    let found = app
        .get(
            Api::Admin,
            "/api/admin/chat/messages/search?keyword=CANARY-WS",
            Some(&admin),
        )
        .await;
    found.assert_status(200);
    assert_eq!(found.body["data"]["total"], 1);
    assert_eq!(found.body["data"]["truncated"], false);
    assert_eq!(
        found.body["data"]["messages"][0]["content"],
        "canary-ws-7f3a 我最近睡不好"
    );
    let in_session = app
        .get(
            Api::Admin,
            &format!("/api/admin/chat/sessions/{session_id}/messages"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        in_session.body["data"]["messages"][1]["content"],
        "canary-rest-91b2"
    );
    let stats = app
        .get(Api::Admin, "/api/admin/chat/statistics", Some(&admin))
        .await;
    assert_eq!(
        stats.body["data"]["recent_messages"][0]["content"],
        "canary-rest-91b2"
    );
    let file = app
        .get(
            Api::User,
            &format!("/api/file/{file_id}"),
            Some(&b.counselor_token),
        )
        .await;
    file.assert_status(200);
    assert_eq!(file.body["data"]["original_name"], "canary-name-52c1.txt");

    // A sealed value moved to another row (other session id / seq) does not open there.
    let (first, second) = (&rows[0], &rows[1]);
    app.exec_sql(
        "UPDATE chat_messages SET content = ? WHERE id = ?",
        vec![first.1.clone().into(), second.0.into()],
    )
    .await;
    assert_eq!(
        contents_read_by(&app, session_id, &b.buyer_token).await,
        ["canary-ws-7f3a 我最近睡不好", "[无法解密的消息]"]
    );
}

#[tokio::test]
async fn rotating_the_key_during_chat_keeps_every_message_readable() {
    let app = spawn_app_with(&[("privacy.key_reload_secs", json!(1))]).await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, mut counselor) = active_chat(&app, &b).await;
    for i in 0..5 {
        say(&mut user, &format!("before-{i}")).await;
    }
    // A row from before encryption at rest: plaintext, no key id.
    let (legacy_id, _, _) = raw_messages(&app).await[0].clone();
    app.exec_sql(
        "UPDATE chat_messages SET content = ?, key_id = NULL WHERE id = ?",
        vec!["before-0".into(), legacy_id.into()],
    )
    .await;
    // Two chat files: one sealed with key 1, one plaintext from before.
    let mut file_ids = Vec::new();
    for name in ["sealed-name.txt", "legacy-name.txt"] {
        let uploaded = app
            .send(
                app.client
                    .post(app.url(Api::User, "/api/upload"))
                    .bearer_auth(&b.buyer_token)
                    .multipart(
                        reqwest::multipart::Form::new()
                            .part(
                                "file",
                                reqwest::multipart::Part::bytes(b"notes".to_vec()).file_name(name),
                            )
                            .text("relation_type", "session")
                            .text("relation_id", session_id.to_string()),
                    ),
            )
            .await;
        uploaded.assert_status(200);
        file_ids.push(uploaded.body["data"]["id"].as_i64().unwrap());
    }
    app.exec_sql(
        "UPDATE files SET original_name = ?, name_key_id = NULL WHERE id = ?",
        vec!["legacy-name.txt".into(), file_ids[1].into()],
    )
    .await;

    let talking = tokio::spawn(async move {
        for i in 0..30 {
            say(&mut user, &format!("during-{i}")).await;
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        }
        user
    });
    let settings = (*app.running.state.settings).clone();
    let report = rotate_chat_key(
        settings,
        RotateOptions {
            batch: 4,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut user = talking.await.unwrap();
    assert_eq!(report.active_key, 2);
    assert_eq!(report.failed, 0);
    assert!(report.messages >= 5, "{report:?}");
    assert_eq!(report.file_names, 2);
    // The running server took the new key up from the file.
    assert_eq!(app.running.state.chat_keys.active_id(), 2);
    for i in 0..3 {
        say(&mut user, &format!("after-{i}")).await;
    }
    while let Ok(frame) = tokio::time::timeout(
        std::time::Duration::from_millis(50),
        next_frame(&mut counselor, 1),
    )
    .await
    {
        let _ = frame;
    }

    let expected: Vec<String> = (0..5)
        .map(|i| format!("before-{i}"))
        .chain((0..30).map(|i| format!("during-{i}")))
        .chain((0..3).map(|i| format!("after-{i}")))
        .collect();
    assert_eq!(
        contents_read_by(&app, session_id, &b.buyer_token).await,
        expected
    );
    for (id, content, key_id) in raw_messages(&app).await {
        assert_eq!(key_id, Some(2), "message {id}");
        assert!(!content.unwrap().contains("before-"));
    }
    for (name, key_id) in raw_file_names(&app).await {
        assert_eq!(key_id, Some(2), "{name}");
        assert!(!name.contains("-name"), "{name}");
    }
    for (id, name) in file_ids.iter().zip(["sealed-name.txt", "legacy-name.txt"]) {
        let file = app
            .get(
                Api::User,
                &format!("/api/file/{id}"),
                Some(&b.counselor_token),
            )
            .await;
        assert_eq!(file.body["data"]["original_name"], name);
    }
    // A second run has nothing left to do.
    let settings = (*app.running.state.settings).clone();
    let again = rotate_chat_key(
        settings,
        RotateOptions {
            reencrypt_only: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((again.active_key, again.messages), (2, 0));
}

/// Two operators rotating at once: without the lock both added "key 2" (one of them lost, with every row
/// sealed with it) or keys 2 and 3.
#[tokio::test]
async fn a_second_rotation_while_one_runs_is_refused_and_no_key_is_lost() {
    let app = spawn_app_with(&[("privacy.key_reload_secs", json!(1))]).await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, _counselor) = active_chat(&app, &b).await;
    say(&mut user, "before both").await;
    let settings = (*app.running.state.settings).clone();
    // Polled first, the waiting rotation holds the lock through its wait for the servers.
    let (first, second) = tokio::join!(
        rotate_chat_key(settings.clone(), RotateOptions::default()),
        rotate_chat_key(
            settings.clone(),
            RotateOptions {
                wait_for_servers: false,
                ..Default::default()
            },
        ),
    );
    let done = first.expect("the first rotation runs");
    let refused = second.expect_err("the second rotation is refused while the first runs");
    assert!(
        refused
            .to_string()
            .contains("another `mychat admin rotate-chat-key` is running"),
        "{refused}"
    );
    assert_eq!(done.active_key, 2);
    let key_file: Value = serde_json::from_str(
        &std::fs::read_to_string(app.data_dir.path().join("chat_keys.json")).unwrap(),
    )
    .unwrap();
    let ids: Vec<i64> = key_file["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2]);
    assert_eq!(key_file["active"], 2);
    say(&mut user, "after both").await;
    assert_eq!(
        contents_read_by(&app, session_id, &b.buyer_token).await,
        ["before both", "after both"]
    );
    // The lock went with the run: the next rotation goes ahead.
    let next = rotate_chat_key(
        settings,
        RotateOptions {
            wait_for_servers: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(next.active_key, 3);
}

#[tokio::test]
async fn configured_keys_seal_and_rotation_asks_the_operator_to_add_the_key() {
    let key = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    let app = spawn_app_with(&[
        (
            "privacy.chat_keys",
            json!([{ "id": 7, "key": key(1) }, { "id": 8, "key": key(2) }]),
        ),
        ("privacy.active_chat_key", json!(8)),
    ])
    .await;
    let b = booking(&app, 30, 100).await;
    let (session_id, mut user, _counselor) = active_chat(&app, &b).await;
    say(&mut user, "configured").await;
    assert_eq!(raw_messages(&app).await[0].2, Some(8));
    assert!(!app.data_dir.path().join("chat_keys.json").exists());

    let settings = (*app.running.state.settings).clone();
    let refused = rotate_chat_key(settings.clone(), RotateOptions::default())
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("privacy.chat_keys"),
        "{refused}"
    );
    let done = rotate_chat_key(
        settings,
        RotateOptions {
            reencrypt_only: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((done.active_key, done.messages), (8, 0));
    assert_eq!(
        contents_read_by(&app, session_id, &b.buyer_token).await,
        ["configured"]
    );
}

#[tokio::test]
async fn a_missing_active_key_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::helpers::test_settings(
        dir.path(),
        "sqlite::memory:",
        &[(
            "privacy.chat_keys",
            json!([{ "id": 1, "key": base64::engine::general_purpose::STANDARD.encode([3u8; 32]) }]),
        )],
    );
    let Err(err) = mychat::app::build_state(settings).await else {
        panic!("started without an active chat key");
    };
    assert!(err.to_string().contains("active_chat_key"), "{err}");
}

#[test]
fn chat_keys_can_be_given_in_one_environment_value() {
    // What deploy/docker-compose.yml passes as MYCHAT__PRIVACY__CHAT_KEYS, parsed as figment parses
    // environment values.
    let value: figment::value::Value =
        r#"[{id=1,key="q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="}]"#
            .parse()
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let figment = mychat::config::Settings::figment("test", std::path::Path::new("config"))
        .merge(("server.data_dir", dir.path().display().to_string()))
        .merge(("privacy.chat_keys", value))
        .merge(("privacy.active_chat_key", 1));
    let parsed = mychat::config::Settings::from_figment(figment).unwrap();
    assert_eq!(parsed.privacy.chat_keys[0].id, 1);
    let keys = mychat::modules::chat::crypto::Keyring::load(&parsed).unwrap();
    assert_eq!(keys.active_id(), 1);
    assert!(!dir.path().join("chat_keys.json").exists());
}
