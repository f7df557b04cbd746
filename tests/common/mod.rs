//! Test harness: a real server on a random port over a fresh database, SQLite or PostgreSQL.
#![allow(dead_code)]

use parley::domain::Role;
use parley::http::{self, AppState};
use parley::prompts::PromptLibrary;
use parley::store::Store;
use parley::triage::{Triage, TriageConfig};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The shipped classifier, trained once per test binary.
pub fn triage() -> std::sync::Arc<Triage> {
    static TRIAGE: std::sync::OnceLock<std::sync::Arc<Triage>> = std::sync::OnceLock::new();
    TRIAGE
        .get_or_init(|| {
            std::sync::Arc::new(Triage::new(TriageConfig::default()).expect("train classifier"))
        })
        .clone()
}

/// Where the PostgreSQL server for tests lives (trust auth on these machines).
fn postgres_base() -> String {
    std::env::var("PARLEY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub state: AppState,
    /// An agent key for the tenant "acme".
    pub key: String,
    stop: Option<oneshot::Sender<()>>,
    pub db: TestDb,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A database for one test: a SQLite file in a temp dir, or a PostgreSQL database dropped
/// when the guard goes.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            // Drop is synchronous: clean up on a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        let base = postgres_base();
                        if let Ok(mut admin) =
                            sqlx::PgConnection::connect(&format!("{base}/postgres")).await
                        {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = sqlx::Executor::execute(&mut admin, sql.as_str()).await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// A fresh, empty database for one test.
pub async fn fresh_database(engine: Engine) -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    match engine {
        Engine::Sqlite => TestDb {
            url: format!("sqlite://{}", dir.path().join("parley.db").display()),
            pg_name: None,
            _dir: dir,
        },
        Engine::Postgres => {
            let base = postgres_base();
            let name = format!("parley_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
                .await
                .unwrap_or_else(|e| {
                    panic!("PostgreSQL at {base} is needed for the postgres tests: {e}")
                });
            sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create test database");
            TestDb {
                url: format!("{base}/{name}"),
                pg_name: Some(name),
                _dir: dir,
            }
        }
    }
}

pub async fn spawn_app(engine: Engine) -> TestApp {
    let db = fresh_database(engine).await;
    let store = Store::connect(&db.url).await.expect("connect store");
    let prompts = PromptLibrary::load(Some(std::path::Path::new("prompts"))).expect("prompts");
    let state = AppState::new(store.clone(), std::sync::Arc::new(prompts), triage());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    let serve_state = state.clone();
    tokio::spawn(async move {
        let _ = http::serve(listener, serve_state, async {
            let _ = stopped.await;
        })
        .await;
    });
    let key = store.create_key("acme", Role::Agent).await.expect("key");
    TestApp {
        base,
        client: reqwest::Client::new(),
        store,
        state,
        key,
        stop: Some(stop),
        db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(&self.key, path).await
    }

    pub async fn get_as(&self, key: &str, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        decode(r).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_as(&self.key, path, body).await
    }

    pub async fn post_as(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("request");
        decode(r).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        decode(req.send().await.expect("request")).await
    }

    /// Ingests an SMS and returns (status, thread id, message id).
    pub async fn sms(&self, from: &str, body: &str) -> (String, String) {
        let (status, v) = self
            .post(
                "/v1/messages/inbound",
                serde_json::json!({"channel": "sms", "from": from, "body": body}),
            )
            .await;
        assert_eq!(status, 201, "{v}");
        (
            v["thread_id"].as_str().expect("thread_id").to_string(),
            v["message"]["id"].as_str().expect("id").to_string(),
        )
    }
}

pub async fn decode(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Runs each listed `async fn name(engine: Engine)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() { super::$name($crate::common::Engine::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() { super::$name($crate::common::Engine::Postgres).await })*
        }
    };
}
