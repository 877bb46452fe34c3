//! Scale-out behaviour (issue 6): sliding-window rate limits over HTTP
//! (headers, 429 with `Retry-After`), one window shared by two API
//! processes through Redis, the failure policy when Redis goes away (reads
//! open, writes closed), and list reads falling back to the primary when
//! the read replica is down.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use leadex::config::Secret;
use leadex_core::clock::SystemClock;
use leadex_testkit::{TestApp, TestEngine, spawn_app_with};

async fn app_with(adjust: impl FnOnce(&mut leadex::config::Settings)) -> TestApp {
    spawn_app_with(TestEngine::Sqlite, Arc::new(SystemClock), |s| {
        s.rate_limits.enabled = true;
        adjust(s);
    })
    .await
    .expect("app")
}

fn header(r: &leadex_testkit::Reply, name: &str) -> u64 {
    r.header(name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name} header"))
}

#[tokio::test]
async fn anonymous_callers_are_limited_per_ip_with_headers_and_retry_after() {
    let app = app_with(|s| s.rate_limits.anonymous = 3).await;
    for remaining in [2, 1, 0] {
        let r = app.get("/v1/verticals", None).await;
        assert_eq!(r.status, 200);
        assert_eq!(header(&r, "ratelimit-limit"), 3);
        assert_eq!(header(&r, "ratelimit-remaining"), remaining);
        assert!((1..=60).contains(&header(&r, "ratelimit-reset")));
    }
    let r = app.get("/v1/verticals", None).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    assert_eq!(header(&r, "ratelimit-remaining"), 0);
    assert!((1..=60).contains(&header(&r, "retry-after")));
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    // Health and metrics are never limited.
    assert_eq!(app.get("/health/live", None).await.status, 200);
    // A caller with a key has its own window.
    let seller = app.seller().await;
    assert_eq!(app.get("/v1/verticals", Some(&seller)).await.status, 200);
}

#[tokio::test]
async fn ingestion_has_its_own_group_per_key() {
    let app = app_with(|s| s.rate_limits.ingest = 2).await;
    let seller = app.seller().await;
    for _ in 0..2 {
        assert_eq!(app.post("/v1/leads", Some(&seller), &app.lead("solar.residential")).await.status, 202);
    }
    let r = app.post("/v1/leads", Some(&seller), &app.lead("solar.residential")).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    // Other routes of the same key are in the general group.
    assert_eq!(app.get("/v1/me", Some(&seller)).await.status, 200);
}

/// A private Redis this test may kill.
struct RedisProc(Child);

impl RedisProc {
    async fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self(child)
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for RedisProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two API processes (two apps) on one Redis share each window: requests
/// to either count against the same key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_share_one_window_through_redis() {
    let port = crate::free_port();
    let _redis = RedisProc::start(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let a = app_with(|s| {
        s.rate_limits.ingest = 3;
        s.redis.url = Secret::new(url.clone());
    })
    .await;
    let b = app_with(|s| {
        s.rate_limits.ingest = 3;
        s.redis.url = Secret::new(url.clone());
    })
    .await;
    let seller = a.seller().await;
    assert_eq!(a.post("/v1/leads", Some(&seller), &a.lead("solar.residential")).await.status, 202);
    assert_eq!(a.post("/v1/leads", Some(&seller), &a.lead("solar.residential")).await.status, 202);
    // Process B does not know this key (its own database) but counts it.
    let r = b.post("/v1/leads", Some(&seller), &a.lead("solar.residential")).await;
    assert_eq!(r.status, 401);
    assert_eq!(header(&r, "ratelimit-remaining"), 0);
    let r = a.post("/v1/leads", Some(&seller), &a.lead("solar.residential")).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "the window is shared");
    let r = b.post("/v1/leads", Some(&seller), &a.lead("solar.residential")).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
}

/// Redis gone: reads are served (fail open), writes refused with 503
/// `rate_limiter_unavailable` (fail closed), and the metric counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_redis_reads_pass_and_writes_are_refused() {
    let port = crate::free_port();
    let mut redis = RedisProc::start(port).await;
    let app = app_with(|s| s.redis.url = Secret::new(format!("redis://127.0.0.1:{port}"))).await;
    let seller = app.seller().await;
    assert_eq!(app.post("/v1/leads", Some(&seller), &app.lead("solar.residential")).await.status, 202);
    redis.kill();
    let r = app.get("/v1/me/leads", Some(&seller)).await;
    assert_eq!(r.status, 200, "reads fail open");
    assert!(r.header("ratelimit-limit").is_none());
    let r = app.post("/v1/leads", Some(&seller), &app.lead("solar.residential")).await;
    assert_eq!((r.status, r.code()), (503, "rate_limiter_unavailable"), "writes fail closed");
    assert!(r.header("retry-after").is_some());
    let text = app.http.get(app.url("/metrics")).send().await.expect("scrape").text().await.expect("text");
    assert!(text.lines().any(|l| l.starts_with("leadex_ratelimit_backend_errors_total") && !l.ends_with(" 0")));
    let ready = app.get("/health/ready", None).await;
    assert_eq!((ready.status, ready.body["status"].as_str()), (200, Some("degraded")), "{:?}", ready.body);
    assert_eq!(ready.body["checks"]["redis"], "unavailable (writes refused)");
}

/// The Redis script's window at its boundary: exactly the limit inside
/// any window, one slot back exactly when the oldest request leaves.
#[tokio::test]
async fn redis_window_admits_exactly_the_limit_across_the_boundary() {
    use leadex_api::ratelimit::RedisWindow;
    let port = crate::free_port();
    let _redis = RedisProc::start(port).await;
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
    let w = RedisWindow::connect(client, "t:").await.expect("connect");
    let window = Duration::from_millis(1_000);
    for i in 0..3 {
        let d = w.check("k", 3, window).await.expect("check");
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 2 - i);
    }
    let refused = w.check("k", 3, window).await.expect("check");
    assert!(!refused.allowed);
    assert!(refused.reset_ms <= 1_000 && refused.reset_ms > 0, "{refused:?}");
    // Wait until the first request has left the window: one slot, not three.
    tokio::time::sleep(Duration::from_millis(refused.reset_ms + 2)).await;
    assert!(w.check("k", 3, window).await.expect("check").allowed);
    let next = w.check("k", 3, window).await.expect("check");
    assert!(!next.allowed || next.remaining < 2, "at most the freed slots: {next:?}");
    // Another key is independent.
    assert!(w.check("other", 3, window).await.expect("check").allowed);
}

/// A configured read replica that cannot be reached: list endpoints keep
/// answering from the primary, and the replica is reported down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_queries_fall_back_to_the_primary_when_the_replica_is_down() {
    let Some(app) = spawn_app_with(TestEngine::Postgres, Arc::new(SystemClock), |s| {
        // Nothing listens on port 1: the replica is "dead" from the start.
        s.database.replica_url = Secret::new("postgres://postgres@127.0.0.1:1/replica");
    })
    .await
    else {
        eprintln!("skipped: LEADEX_TEST_PG_URL is not set");
        return;
    };
    let seller = app.seller().await;
    let lead = app.post("/v1/leads", Some(&seller), &app.lead("solar.residential")).await;
    assert_eq!(lead.status, 202);
    for path in ["/v1/leads", "/v1/asks", "/v1/me/leads", "/v1/buy-now"] {
        let r = app.get(path, Some(&seller)).await;
        assert_eq!(r.status, 200, "{path} answers from the primary: {:?}", r.body);
    }
    let mine = app.get("/v1/me/leads", Some(&seller)).await;
    assert_eq!(mine.body["items"][0]["id"], lead.body["id"]);
    let text = app.http.get(app.url("/metrics")).send().await.expect("scrape").text().await.expect("text");
    assert!(text.lines().any(|l| l.starts_with("leadex_db_replica_up") && l.ends_with(" 0")), "replica reported down");
    let ready = app.get("/health/ready", None).await;
    assert_eq!((ready.status, ready.body["status"].as_str()), (200, Some("degraded")), "{:?}", ready.body);
    assert_eq!(ready.body["checks"]["replica"], "down (lists on the primary)");
}

/// The variables `scripts/scale-out.sh up` writes to `$STATE/env` (read
/// through bash, which wrote them quoted).
fn read_env(path: &std::path::Path) -> std::collections::HashMap<String, String> {
    let out = Command::new("bash")
        .arg("-c")
        .arg("set -a; source \"$1\"; env -0")
        .arg("bash")
        .arg(path)
        .output()
        .expect("bash runs");
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn scale_out(state: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> bool {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/scale-out.sh");
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_leadex"));
    let mut c = Command::new("bash");
    c.arg(script).args(args).env("STATE", state).env("BIN", bin).env("DB", "leadex_scale_test");
    c.env("API_BASE_PORT", "18700").env("N", "2").env("M", "2");
    for (k, v) in env {
        c.env(k, v);
    }
    c.status().is_ok_and(|s| s.success())
}

/// Tears the stack down however the test ends.
struct Stack(std::path::PathBuf);

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = scale_out(&self.0, &["down"], &[]);
    }
}

/// PgBouncer's `total_query_count` for the test database.
async fn pgbouncer_queries(admin_url: &str) -> i64 {
    let out =
        tokio::process::Command::new("psql").args([admin_url, "-Atc", "SHOW STATS"]).output().await.expect("psql runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            let cols: Vec<&str> = l.split('|').collect();
            (cols.first() == Some(&"leadex_scale_test")).then(|| cols.get(2)?.parse().ok()).flatten()
        })
        .unwrap_or(0)
}

/// Issue 6 acceptance, with real processes (`scripts/scale-out.sh`): 2
/// `serve` + 2 `work` on the primary, a streaming replica made with
/// `pg_basebackup` behind PgBouncer, and Redis. Leads ingested through
/// both API processes are scored, auctioned and closed; list queries run
/// on the replica; the ingestion window is shared; with the replica killed
/// the lists answer from the primary. Runs when `LEADEX_SCALE_OUT_TEST=1`
/// (`.ci/run` sets it: it changes the machine's PostgreSQL setup).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_api_and_two_worker_processes_on_a_replica_behind_pgbouncer() {
    if std::env::var("LEADEX_SCALE_OUT_TEST").as_deref() != Ok("1") {
        eprintln!("skipped: set LEADEX_SCALE_OUT_TEST=1 (changes the local PostgreSQL setup)");
        return;
    }
    let state = std::env::temp_dir().join("leadex-scale-test");
    let _ = scale_out(&state, &["down"], &[]);
    let limit = 30usize;
    let limit_s = limit.to_string();
    let env = [("LEADEX__LIMITS__DEFAULT_AUCTION_SECS", "10"), ("LEADEX__RATE_LIMITS__INGEST", limit_s.as_str())];
    assert!(scale_out(&state, &["up"], &env), "scripts/scale-out.sh up");
    let stack = Stack(state.clone());
    let vars = read_env(&state.join("env"));
    let apis: Vec<String> = vars["API_URLS"].split_whitespace().map(str::to_owned).collect();
    assert_eq!(apis.len(), 2);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().expect("client");

    // An operator key straight in the database, then a seller through the API.
    let out = Command::new(env!("CARGO_BIN_EXE_leadex"))
        .args(["--data-dir"])
        .arg(state.join("admin"))
        .args(["admin", "create-account", "--role", "admin", "--name", "ci", "--json"])
        .env("LEADEX__DATABASE__URL", &vars["PRIMARY_URL"])
        .env("LEADEX__PRIVACY__KEY", &vars["PRIVACY_KEY"])
        .output()
        .expect("leadex admin runs");
    let admin: serde_json::Value = serde_json::from_slice(&out.stdout).expect("admin JSON");
    let admin = admin["api_key"].as_str().expect("admin key").to_owned();
    let seller: serde_json::Value = http
        .post(format!("{}/v1/admin/accounts", apis[0]))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"role": "seller", "name": "scale seller"}))
        .send()
        .await
        .expect("create seller")
        .json()
        .await
        .expect("seller JSON");
    let seller = seller["api_key"].as_str().expect("seller key").to_owned();
    let catalog = leadex_domain::vertical::Catalog::new(leadex_domain::catalog::seed()).expect("catalog");
    let vertical = catalog.get("solar.residential").expect("vertical");
    let tag = format!("s{:x}", rand::random::<u32>());
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let mut lead = |seq: u64| leadex_core::synth::lead_body(vertical, seq, &tag, chrono::Utc::now(), &mut rng);

    // 1. Ingest through both processes, then past the shared limit.
    let mut ids = Vec::new();
    let mut refused_by = std::collections::BTreeSet::new();
    for i in 0..(limit as u64 + 10) {
        let api = &apis[(i % 2) as usize];
        let r = http.post(format!("{api}/v1/leads")).bearer_auth(&seller).json(&lead(i)).send().await.expect("post");
        match r.status().as_u16() {
            202 => ids.push(r.json::<serde_json::Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned()),
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                assert_eq!(r.headers()["ratelimit-remaining"], "0");
                refused_by.insert(api.clone());
            }
            s => panic!("unexpected {s} from {api}"),
        }
    }
    assert_eq!(ids.len(), limit, "one window across both processes admits exactly the limit");
    assert_eq!(refused_by.len(), 2, "both processes refuse once the shared window is full");

    // 2. List queries go through PgBouncer to the replica, never the primary.
    let before = pgbouncer_queries(&vars["PGBOUNCER_ADMIN_URL"]).await;
    for i in 0..10 {
        let r = http.get(format!("{}/v1/leads?vertical=solar", apis[i % 2])).bearer_auth(&seller).send().await;
        assert_eq!(r.expect("list").status(), 200);
    }
    let after = pgbouncer_queries(&vars["PGBOUNCER_ADMIN_URL"]).await;
    assert!(after - before >= 10, "list queries reach the replica through PgBouncer ({before} → {after})");
    for api in &apis {
        let text = http.get(format!("{api}/metrics")).send().await.expect("metrics").text().await.expect("text");
        assert!(!text.contains("leadex_db_replica_fallbacks_total"), "{api} fell back to the primary");
    }

    // 3. The workers score, auction (10 s) and close every lead.
    let mut open = ids.len();
    for _ in 0..90 {
        open = 0;
        for id in &ids {
            let r = http.get(format!("{}/v1/leads/{id}", apis[0])).bearer_auth(&seller).send().await.expect("get");
            let v: serde_json::Value = r.json().await.expect("JSON");
            if !matches!(v["status"].as_str(), Some("sold" | "unsold")) {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(open, 0, "every auction closed");

    // 4. Replica killed: lists keep answering from the primary.
    assert!(scale_out(&state, &["kill-replica"], &[]), "kill-replica");
    for i in 0..6 {
        let r = http.get(format!("{}/v1/leads", apis[i % 2])).bearer_auth(&seller).send().await;
        assert_eq!(r.expect("list after the replica died").status(), 200);
    }
    drop(stack);
}
