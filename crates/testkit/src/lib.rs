//! Test support: [`spawn_app`] starts a real leadex (real database, real
//! HTTP on a port-0 listener) and returns a [`TestApp`] with typed request
//! helpers. Each app gets a fresh database, dropped with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use leadex::App;
use leadex::config::{Secret, Settings};
use leadex_core::clock::{Clock, SystemClock};
use leadex_core::crypto::PiiCipher;
use leadex_domain::account::Role;
use leadex_store::testing::{Engine, TestDb};
use rand::SeedableRng;
use serde_json::Value;
use tokio::net::TcpListener;

pub use leadex_store::testing::Engine as TestEngine;

/// A running application.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The assembled application (direct service access).
    pub app: App,
    /// HTTP client.
    pub http: reqwest::Client,
    /// Operator key.
    pub admin_key: String,
    seq: AtomicU64,
    tag: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    // Dropped last: the database outlives the server.
    _db: TestDb,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp").field("base", &self.base).finish()
    }
}

/// An app on SQLite with the system clock.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(Engine::Sqlite, Arc::new(SystemClock)).await.expect("SQLite is always available")
}

/// An app on `engine` with `clock`; `None` for PostgreSQL when
/// `LEADEX_TEST_PG_URL` is not set.
pub async fn spawn_app_on(engine: Engine, clock: Arc<dyn Clock>) -> Option<TestApp> {
    spawn_app_with(engine, clock, |_| {}).await
}

/// Like [`spawn_app_on`], letting the test adjust settings first.
pub async fn spawn_app_with(
    engine: Engine,
    clock: Arc<dyn Clock>,
    adjust: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    let db = TestDb::create(engine).await?;
    let dir = std::env::temp_dir().join(format!("leadex-app-{}", uuid::Uuid::now_v7().simple()));
    let mut settings = Settings::load(None).expect("default settings are valid");
    settings.data_dir = dir.clone();
    settings.database.url = Secret::new(db.url.clone());
    settings.privacy.key = Secret::new(PiiCipher::generate_spec());
    settings.server.bind = "127.0.0.1:0".into();
    // Tests of other things drive one key fast; rate-limit tests opt in.
    settings.rate_limits.enabled = false;
    adjust(&mut settings);
    let app = leadex::build(settings, clock).await.expect("app builds");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = app.clone();
    let metrics = metrics_render();
    let server = tokio::spawn(async move {
        let _ = serving
            .serve(listener, metrics, async move {
                let _ = rx.await;
            })
            .await;
    });
    let (_, _, admin) = app.svc.create_account(Role::Admin, "test operator").await.expect("admin account");
    Some(TestApp {
        base,
        app,
        http: reqwest::Client::new(),
        admin_key: admin.secret,
        seq: AtomicU64::new(0),
        tag: format!("t{:x}", rand::random::<u32>()),
        shutdown: Some(tx),
        server: Some(server),
        _db: db,
        _dir: TempDir(dir),
    })
}

/// The process-wide Prometheus recorder (installed once, shared by every
/// app of a test binary), so `/metrics` works in tests.
fn metrics_render() -> Option<leadex_api::MetricsRender> {
    static RENDER: std::sync::OnceLock<Option<leadex_api::MetricsRender>> = std::sync::OnceLock::new();
    RENDER.get_or_init(leadex::telemetry::init_metrics).clone()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Reply {
    /// The problem `code` of an error reply.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and reads the reply.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let r = req.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body read");
        Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// `GET path` with an optional key.
    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut r = self.http.get(self.url(path));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        self.send(r).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Reply {
        let mut r = self.http.post(self.url(path)).json(body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        self.send(r).await
    }

    /// Creates an account of `role`, returning its id and key.
    pub async fn account(&self, role: Role, name: &str) -> (String, String) {
        let r = self
            .post(
                "/v1/admin/accounts",
                Some(&self.admin_key),
                &serde_json::json!({"role": role.as_str(), "name": name}),
            )
            .await;
        assert_eq!(r.status, 201, "create account: {:?}", r.body);
        (r.body["account_id"].as_str().expect("id").to_owned(), r.body["api_key"].as_str().expect("key").to_owned())
    }

    /// A new seller's key.
    pub async fn seller(&self) -> String {
        self.account(Role::Seller, "test seller").await.1
    }

    /// A valid, unique lead body for `vertical`.
    pub fn lead(&self, vertical: &str) -> Value {
        self.lead_at(vertical, Utc::now())
    }

    /// A valid, unique lead body for `vertical` with consent given at `now`.
    pub fn lead_at(&self, vertical: &str, now: DateTime<Utc>) -> Value {
        let v = self.app.svc.catalog().get(vertical).expect("known vertical");
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seq);
        leadex_core::synth::lead_body(v, seq, &self.tag, now, &mut rng)
    }
}
