//! `spawn_app()`: the real server on 127.0.0.1:0 with a temporary database. Readiness needs no
//! sleeping: `start` returns after the listener is bound.
//!
//! The engine comes from the environment: by default SQLite in the test's directory; with
//! `ALERTGATE_TEST_DATABASE_URL=postgres://…` a fresh PostgreSQL database of the test's own
//! (see alertgate-testdb), remembered in the test's directory so that a restart on the same
//! directory finds the same database. Every test runs unchanged on either engine.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use alertgate_core::auth::Secret;
use alertgate_server::clock::ManualClock;
use alertgate_server::{Clock, Config, RunningServer, Runtime};
use alertgate_testdb::TestDatabase;

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    /// `postgres://…` when the test runs on PostgreSQL.
    pub database_url: Option<String>,
    /// Keeps the PostgreSQL database of this test alive; it is dropped with the last app on it.
    _db: Option<Arc<TestDatabase>>,
}

pub struct Hook {
    pub id: String,
    pub url: String,
    pub secret: String,
    pub body: Value,
}

pub fn config(dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        admin_token: Some(Secret::new(ADMIN)),
        ..Config::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Runtime::default()).await
}

pub async fn spawn_with_clock(clock: Arc<dyn Clock>) -> TestApp {
    spawn_with(Runtime::with_clock(clock)).await
}

pub async fn spawn_with(runtime: Runtime) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    spawn_in(dir, runtime).await
}

/// The database URL for a server in `dir`: none (SQLite in `dir`) unless the run is on
/// PostgreSQL, where the first call creates a database and later calls for the same directory
/// find it again.
pub async fn database_for(dir: &Path) -> (Option<String>, Option<Arc<TestDatabase>>) {
    let Some(admin) = alertgate_testdb::engine_url() else {
        return (None, None);
    };
    let remembered = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return (Some(url), None);
    }
    let db = TestDatabase::create(&admin).await;
    std::fs::write(&remembered, &db.url).unwrap();
    (Some(db.url.clone()), Some(Arc::new(db)))
}

pub async fn spawn_in(dir: tempfile::TempDir, runtime: Runtime) -> TestApp {
    let (database_url, db) = database_for(dir.path()).await;
    let config = Config {
        database_url: database_url.clone(),
        ..config(dir.path())
    };
    spawn_config(config, dir, runtime, db).await
}

pub async fn spawn_config(
    config: Config,
    dir: tempfile::TempDir,
    runtime: Runtime,
    db: Option<Arc<TestDatabase>>,
) -> TestApp {
    let database_url = config.database_url.clone();
    let store = alertgate_server::open_store(&config).await.unwrap();
    let server = alertgate_server::start(config, store, runtime)
        .await
        .unwrap();
    TestApp {
        base: format!("http://{}", server.addr),
        client: reqwest::Client::new(),
        server: Some(server),
        dir,
        database_url,
        _db: db,
    }
}

impl TestApp {
    /// A server another process runs on `base`; `db` keeps its PostgreSQL database alive.
    pub fn remote(
        base: String,
        database_url: Option<String>,
        db: Option<Arc<TestDatabase>>,
    ) -> TestApp {
        TestApp {
            base,
            client: reqwest::Client::new(),
            server: None,
            dir: tempfile::tempdir().unwrap(),
            database_url,
            _db: db,
        }
    }
}

pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(alertgate_core::Timestamp::from_millis(
        1_800_000_000_000,
    )))
}

pub fn seed_alert() -> Value {
    json!({
        "title": "High CPU on production-api",
        "description": "CPU usage exceeded 90% for 5 minutes",
        "severity": "high",
        "service": "production-api"
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn create_webhook(&self, body: Value) -> Hook {
        let resp = self
            .admin_json(reqwest::Method::POST, "/api/v1/webhooks", body)
            .await;
        assert_eq!(resp.status(), 201, "create webhook");
        let body: Value = resp.json().await.unwrap();
        Hook {
            id: body["id"].as_str().unwrap().to_string(),
            url: body["intake_url"].as_str().unwrap().to_string(),
            secret: body["secret"].as_str().unwrap_or_default().to_string(),
            body,
        }
    }

    pub async fn generic_webhook(&self) -> Hook {
        self.create_webhook(json!({"name": "prod"})).await
    }

    pub async fn send(&self, hook: &Hook, body: &Value) -> (u16, Value) {
        let resp = self
            .client
            .post(&hook.url)
            .bearer_auth(&hook.secret)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn send_raw(
        &self,
        hook: &Hook,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self.client.post(&hook.url).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn incident(&self, id: &str) -> Value {
        let resp = self.admin_get(&format!("/api/v1/incidents/{id}")).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    pub async fn deliveries(&self, hook: &Hook) -> Vec<Value> {
        let resp = self
            .admin_get(&format!(
                "/api/v1/webhooks/{}/deliveries?limit=200",
                hook.id
            ))
            .await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["items"].as_array().unwrap().clone()
    }

    pub async fn incidents(&self, query: &str) -> Vec<Value> {
        let resp = self.admin_get(&format!("/api/v1/incidents?{query}")).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        body["items"].as_array().unwrap().clone()
    }

    /// Every byte the database holds, for tests that look for what must not be stored: the
    /// SQLite files, or every row of every table as text on PostgreSQL.
    pub async fn stored_bytes(&self) -> Vec<u8> {
        let Some(url) = &self.database_url else {
            let mut out = std::fs::read(self.dir.path().join("alertgate.db")).unwrap();
            out.extend(std::fs::read(self.dir.path().join("alertgate.db-wal")).unwrap_or_default());
            return out;
        };
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let tables = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                &[],
            )
            .await
            .unwrap();
        let mut out = Vec::new();
        for t in tables {
            let table: String = t.get(0);
            let row = client
                .query_one(
                    &format!("SELECT COALESCE(string_agg(t::text, E'\\n'), '') FROM {table} t"),
                    &[],
                )
                .await
                .unwrap();
            out.extend(row.get::<_, String>(0).into_bytes());
        }
        out
    }

    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await.unwrap();
        }
    }
}

/// Assert an error reply: status, JSON `{error, message}` with the given code.
pub fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "status for {code}: {}", got.1);
    assert_eq!(got.1["error"], code, "{}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message: {}",
        got.1
    );
}

/// The real server with a config adjusted by `adjust` (timeouts, queue sizes, limits), on the
/// engine the test run uses.
pub async fn spawn_configured(runtime: Runtime, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, db) = database_for(dir.path()).await;
    let mut config = Config {
        database_url,
        ..config(dir.path())
    };
    adjust(&mut config);
    spawn_config(config, dir, runtime, db).await
}
