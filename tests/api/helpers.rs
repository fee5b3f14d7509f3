//! Starts the whole application in-process on random ports with a fresh database, and talks to it.
//!
//! The database is a SQLite file in a temp dir, or a fresh database on the server named by
//! `MYCHAT_TEST_DATABASE_URL` (MariaDB/MySQL or PostgreSQL). `MYCHAT_TEST_REDIS_URL` switches the
//! infrastructure to Redis, with a key prefix of its own per test.

use std::path::Path;

use mychat::{Application, RunningApp, Settings};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

pub const ADMIN_PASSWORD: &str = "test-admin-password";

pub struct TestApp {
    pub running: RunningApp,
    pub client: reqwest::Client,
    pub data_dir: tempfile::TempDir,
}

/// A response: status and parsed JSON body (Null when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> i64 {
        self.body["code"].as_i64().unwrap_or_default()
    }
    pub fn msg(&self) -> &str {
        self.body["msg"].as_str().unwrap_or_default()
    }
    /// Asserts the envelope says what the HTTP status says.
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status, body: {}",
            self.body
        );
        assert_eq!(
            self.code(),
            expected as i64,
            "envelope code must equal HTTP status, body: {}",
            self.body
        );
        self
    }
}

/// Which API a request goes to.
#[derive(Clone, Copy, Debug)]
pub enum Api {
    User,
    Admin,
    Ws,
}

/// A new empty database on the server of `base`, and its URL.
pub async fn fresh_database_url(base: &str) -> String {
    let name = format!("mychat_t_{}", uuid::Uuid::new_v4().simple());
    let server = Database::connect(base)
        .await
        .expect("cannot reach MYCHAT_TEST_DATABASE_URL");
    server
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("cannot create a test database");
    let (prefix, rest) = base.rsplit_once('/').expect("database URL has a path");
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
    format!("{prefix}/{name}{}", query.unwrap_or_default())
}

pub fn test_settings(data_dir: &Path, database_url: &str, extra: &[(&str, Value)]) -> Settings {
    let mut figment = Settings::figment("test", Path::new("config"))
        .merge(("server.bind", "127.0.0.1"))
        .merge(("server.user_port", 0))
        .merge(("server.admin_port", 0))
        .merge(("server.ws_port", 0))
        .merge(("server.workers", 1))
        .merge(("server.data_dir", data_dir.display().to_string()))
        .merge(("database.url", database_url))
        .merge(("database.max_connections", 5))
        // Tests run in parallel on a shared machine: waiting for a connection is contention here, not an
        // outage (the fault suite tests the short default).
        .merge(("database.acquire_timeout_ms", 10_000))
        .merge(("admin.password", ADMIN_PASSWORD))
        .merge((
            "redis.url",
            std::env::var("MYCHAT_TEST_REDIS_URL").unwrap_or_default(),
        ))
        .merge((
            "redis.key_prefix",
            format!("mychat-test:{}:", uuid::Uuid::new_v4().simple()),
        ));
    for (key, value) in extra {
        figment = figment.merge((*key, value.clone()));
    }
    Settings::from_figment(figment).expect("test settings")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts an app with extra configuration on top of the test defaults.
pub async fn spawn_app_with(extra: &[(&str, Value)]) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let database_url = match std::env::var("MYCHAT_TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => fresh_database_url(&base).await,
        _ => format!(
            "sqlite://{}?mode=rwc",
            data_dir.path().join("test.db").display()
        ),
    };
    let settings = test_settings(data_dir.path(), &database_url, extra);
    if std::env::var("MYCHAT_TEST_LOG").is_ok() {
        mychat::telemetry::init(&settings);
    }
    let app = Application::build(settings).await.expect("app builds");
    TestApp {
        running: app.start(),
        client: test_client(),
        data_dir,
    }
}

/// The suite's HTTP client. Idle pooled connections are dropped well before the server's 5 s keep-alive
/// closes them: reusing one the server is closing at that instant fails the request (`IncompleteMessage`),
/// which a loaded machine makes likely.
pub fn test_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("client")
}

impl TestApp {
    pub fn port(&self, api: Api) -> u16 {
        match api {
            Api::User => self.running.user_port,
            Api::Admin => self.running.admin_port,
            Api::Ws => self.running.ws_port,
        }
    }

    pub fn url(&self, api: Api, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port(api), path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn request(
        &self,
        method: Method,
        api: Api,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut req = self.client.request(method, self.url(api, path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req
    }

    pub async fn get(&self, api: Api, path: &str, token: Option<&str>) -> Reply {
        self.send(self.request(Method::GET, api, path, token)).await
    }

    pub async fn post(&self, api: Api, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.send(self.request(Method::POST, api, path, token).json(&body))
            .await
    }

    pub async fn put(&self, api: Api, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.send(self.request(Method::PUT, api, path, token).json(&body))
            .await
    }

    pub async fn delete(&self, api: Api, path: &str, token: Option<&str>) -> Reply {
        self.send(self.request(Method::DELETE, api, path, token))
            .await
    }

    /// Sends a raw body with a content type.
    pub async fn post_raw(
        &self,
        api: Api,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> Reply {
        self.send(
            self.request(Method::POST, api, path, token)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn register(&self, username: &str, password: &str) -> Reply {
        self.post(
            Api::User,
            "/api/register",
            json!({ "username": username, "password": password, "email": "", "phone": "" }),
            None,
        )
        .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Reply {
        self.post(
            Api::User,
            "/api/login",
            json!({ "username": username, "password": password }),
            None,
        )
        .await
    }

    /// Registers and logs in a user; returns `(user id, token)`.
    pub async fn user_with_token(&self, username: &str) -> (i64, String) {
        self.register(username, "secret123")
            .await
            .assert_status(200);
        let reply = self.login(username, "secret123").await;
        reply.assert_status(200);
        (
            reply.body["data"]["user"]["user_id"]
                .as_i64()
                .expect("user id"),
            reply.body["data"]["token"]
                .as_str()
                .expect("token")
                .to_owned(),
        )
    }

    pub async fn admin_login(&self, username: &str, password: &str) -> Reply {
        self.post(
            Api::Admin,
            "/api/admin2/login",
            json!({ "username": username, "password": password }),
            None,
        )
        .await
    }

    /// Logs in the seeded super admin and returns the token.
    pub async fn admin_token(&self) -> String {
        let reply = self.admin_login("admin", ADMIN_PASSWORD).await;
        reply.assert_status(200);
        reply.body["data"]["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// A user token for `user_id` signed with the app's own key, expiring `exp_in_secs` from now
    /// (negative: already expired).
    pub fn signed_user_token(&self, user_id: i64, username: &str, exp_in_secs: i64) -> String {
        let secrets: Value = serde_json::from_str(
            &std::fs::read_to_string(self.data_dir.path().join("secrets.json")).expect("secrets"),
        )
        .expect("secrets JSON");
        let key = secrets["user_jwt_secret"].as_str().expect("user key");
        let now = chrono::Utc::now().timestamp();
        let claims = json!({"user_id": user_id, "username": username, "exp": now + exp_in_secs,
            "nbf": now - 120, "iat": now - 120, "jti": uuid::Uuid::new_v4().simple().to_string(),
            "aud": "mychat-user"});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
        )
        .expect("token signed")
    }

    pub fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.running.state.db
    }

    /// Inserts a counselor (price in fen per minute); returns its id.
    pub async fn insert_counselor(&self, price_fen: i64, user_id: Option<i64>, status: i32) -> i64 {
        use mychat::modules::counselors::entity::counselor;
        use sea_orm::{ActiveModelTrait, Set};
        let now = chrono::Utc::now();
        counselor::ActiveModel {
            user_id: Set(user_id),
            name: Set(format!("咨询师{}", uuid::Uuid::new_v4().simple())),
            title: Set("心理咨询师".into()),
            avatar: Set("/a.png".into()),
            bio: Set(Some("bio".into())),
            specialty: Set("焦虑,抑郁".into()),
            price: Set(price_fen),
            years_exp: Set(5),
            rating: Set(490),
            status: Set(status),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(self.db())
        .await
        .expect("counselor inserted")
        .id
    }

    /// Creates an order of `duration` minutes; returns the reply.
    pub async fn create_order(&self, token: &str, counselor_id: i64, duration: i64) -> Reply {
        self.post(
            Api::User,
            "/api/order/create",
            json!({ "counselor_id": counselor_id, "duration": duration,
                    "schedule_time": "2030-02-05T14:30:00+08:00", "notes": "first visit" }),
            Some(token),
        )
        .await
    }

    /// Creates an order and returns its id.
    pub async fn new_order(&self, token: &str, counselor_id: i64) -> i64 {
        let reply = self.create_order(token, counselor_id, 60).await;
        reply.assert_status(200);
        reply.body["data"]["order_id"].as_i64().expect("order id")
    }

    /// Pays an order through the sandbox gateway, as the browser would; returns the payment id.
    pub async fn pay_order_sandbox(&self, token: &str, order_id: i64) -> i64 {
        let created = self
            .post(
                Api::User,
                "/api/payment/create",
                json!({ "order_id": order_id, "payment_method": "wechat", "trade_type": "NATIVE" }),
                Some(token),
            )
            .await;
        created.assert_status(200);
        let pay_url = created.body["data"]["pay_url"].as_str().expect("pay_url");
        let res = self.pay_through_checkout(pay_url).await;
        assert_eq!(res.status(), 200);
        created.body["data"]["payment_id"]
            .as_i64()
            .expect("payment id")
    }

    /// Recharges `yuan` through the sandbox and confirms it.
    pub async fn fund_wallet(&self, token: &str, yuan: f64) {
        let created = self
            .post(
                Api::User,
                "/api/user/recharge",
                json!({ "amount": yuan }),
                Some(token),
            )
            .await;
        created.assert_status(200);
        let pay_url = created.body["data"]["pay_url"].as_str().expect("pay_url");
        let res = self.pay_through_checkout(pay_url).await;
        assert_eq!(res.status(), 200);
    }

    /// The pay form's target on a sandbox checkout page (`pay_url`), token included.
    pub async fn checkout_action(&self, pay_url: &str) -> String {
        let page = self.client.get(pay_url).send().await.expect("checkout");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("checkout page");
        let start = html.find("action=\"").expect("a pay form") + "action=\"".len();
        let end = start + html[start..].find('"').expect("action ends");
        html[start..end].replace("&amp;", "&")
    }

    /// Pays a sandbox payment as the browser would: opens its `pay_url` and presses "pay".
    pub async fn pay_through_checkout(&self, pay_url: &str) -> reqwest::Response {
        let action = self.checkout_action(pay_url).await;
        self.press_pay(&action).await
    }

    /// Presses "pay" on a checkout page whose form posts to `action` (a path with its query).
    pub async fn press_pay(&self, action: &str) -> reqwest::Response {
        self.client
            .post(self.url(Api::User, action))
            .send()
            .await
            .expect("sandbox pay")
    }

    /// The caller's wallet balance in yuan, as /api/user/info shows it.
    pub async fn balance(&self, token: &str) -> f64 {
        let info = self.get(Api::User, "/api/user/info", Some(token)).await;
        info.assert_status(200);
        info.body["data"]["balance"].as_f64().expect("balance")
    }

    /// The order's status straight from the database.
    pub async fn order_status(&self, order_id: i64) -> i32 {
        use mychat::modules::orders::entity::order;
        use sea_orm::EntityTrait;
        order::Entity::find_by_id(order_id)
            .one(self.db())
            .await
            .expect("query")
            .expect("order")
            .status
    }

    /// How many outbox events of `event_type` were recorded.
    pub async fn event_count(&self, event_type: &str) -> u64 {
        use mychat::bus::outbox;
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        outbox::Entity::find()
            .filter(outbox::Column::EventType.eq(event_type))
            .count(self.db())
            .await
            .expect("count")
    }

    /// Runs one SQL statement with `?` placeholders (rewritten for PostgreSQL).
    pub async fn exec_sql(&self, text: &str, values: Vec<sea_orm::Value>) {
        let backend = self.db().get_database_backend();
        self.db()
            .execute_raw(mychat::db::statement(backend, text, values))
            .await
            .expect("sql");
    }

    /// Creates a counselor through the admin API (price in yuan per minute); returns its id.
    pub async fn create_counselor(&self, admin_token: &str, name: &str, price: f64) -> i64 {
        let reply = self
            .post(
                Api::Admin,
                "/api/admin/counselors",
                json!({ "name": name, "title": "心理咨询师", "specialty": "情绪管理,焦虑", "price": price }),
                Some(admin_token),
            )
            .await;
        reply.assert_status(200);
        reply.body["data"]["id"].as_i64().expect("counselor id")
    }

    /// Inserts an order row directly (the orders module is not part of this branch); returns its id.
    pub async fn insert_order(&self, user_id: i64, counselor_id: i64, status: i32) -> i64 {
        use mychat::modules::orders::entity::order;
        use sea_orm::{ActiveModelTrait, Set};
        let now = chrono::Utc::now();
        order::ActiveModel {
            order_no: Set(format!("T{}", uuid::Uuid::new_v4().simple())[..30].to_owned()),
            user_id: Set(user_id),
            counselor_id: Set(counselor_id),
            duration: Set(30),
            price_per_minute: Set(100),
            amount: Set(3000),
            refunded_amount: Set(0),
            status: Set(status),
            schedule_time: Set(now),
            notes: Set(None),
            pay_time: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(self.db())
        .await
        .expect("order inserted")
        .id
    }

    /// Polls `check` until it holds (async subscribers), for up to about five seconds.
    pub async fn eventually<F, Fut>(&self, mut check: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..100 {
            if check().await {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        false
    }
}

/// A minimal valid PNG (1×1).
pub fn tiny_png() -> Vec<u8> {
    vec![
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F,
        0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ]
}

/// A multipart form with one file field named `file`.
pub fn file_form(name: &str, bytes: Vec<u8>, mime: &str) -> reqwest::multipart::Form {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str(mime)
        .expect("mime");
    reqwest::multipart::Form::new().part("file", part)
}

/// Back-office helpers (RBAC, administrators).
impl TestApp {
    /// The id of a seeded permission code.
    pub async fn permission_id(&self, code: &str) -> i64 {
        use mychat::modules::rbac::entity::permission;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        permission::Entity::find()
            .filter(permission::Column::Code.eq(code))
            .one(self.db())
            .await
            .expect("query")
            .unwrap_or_else(|| panic!("permission {code} is seeded"))
            .id
    }

    /// Every permission row, as `(id, code)`.
    pub async fn all_permissions(&self) -> Vec<(i64, String)> {
        use mychat::modules::rbac::entity::permission;
        use sea_orm::EntityTrait;
        permission::Entity::find()
            .all(self.db())
            .await
            .expect("query")
            .into_iter()
            .map(|p| (p.id, p.code))
            .collect()
    }

    /// Creates role `role_code` granting exactly `codes` and an administrator holding it (through the
    /// API, as the super admin); returns `(admin id, role id, token)`.
    pub async fn admin_with_permissions(
        &self,
        username: &str,
        role_code: &str,
        codes: &[&str],
    ) -> (i64, i64, String) {
        let root = self.admin_token().await;
        let role = self
            .post(
                Api::Admin,
                "/api/admin/roles",
                json!({"name": format!("角色{role_code}"), "code": role_code, "description": "", "sort": 5, "status": 1}),
                Some(&root),
            )
            .await;
        role.assert_status(200);
        let role_id = role.body["data"]["id"].as_i64().expect("role id");
        let mut ids = Vec::new();
        for code in codes {
            ids.push(self.permission_id(code).await);
        }
        self.put(
            Api::Admin,
            &format!("/api/admin/roles/{role_id}/permissions"),
            json!({ "permission_ids": ids }),
            Some(&root),
        )
        .await
        .assert_status(200);
        let admin = self
            .post(
                Api::Admin,
                "/api/admin2/administrators",
                json!({"username": username, "password": "secret123", "real_name": "测试", "email": "", "phone": "", "role": role_code, "status": 1}),
                Some(&root),
            )
            .await;
        admin.assert_status(200);
        let admin_id = admin.body["data"]["id"].as_i64().expect("admin id");
        let login = self.admin_login(username, "secret123").await;
        login.assert_status(200);
        let token = login.body["data"]["token"]
            .as_str()
            .expect("token")
            .to_owned();
        (admin_id, role_id, token)
    }
}
