//! Observability end to end (issue 8, SPEC §11), against the real `leadex
//! demo` binary (embedded EVM, JSON logs on stderr): one `x-request-id`
//! from the HTTP submission through jobs, Socket.IO events received by the
//! official client, JSON log lines and the mint transaction to the trace
//! endpoint; every SPEC §11 metric on `/metrics` after a scenario run; and
//! a real Prometheus scraping it and evaluating the shipped rules.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A running `leadex demo` with its keys and captured log lines.
struct Demo {
    child: tokio::process::Child,
    base: String,
    port: u16,
    admin: String,
    seller: String,
    buyers: Vec<String>,
    logs: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
    http: reqwest::Client,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Demo {
    /// Starts the demo on a fresh data dir and waits until it listens.
    async fn start(every_ms: u64, env: &[(&str, String)]) -> Demo {
        let dir = std::env::temp_dir().join(format!("leadex-obs-{}", uuid::Uuid::now_v7().simple()));
        let port = super::free_port();
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadex"));
        cmd.args(["demo", "--every-ms", &every_ms.to_string()])
            .env("LEADEX__DATA_DIR", &dir)
            .env("LEADEX__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("LEADEX__LIMITS__DEFAULT_AUCTION_SECS", "10")
            .env("LEADEX__CHAIN__FLUSH_MS", "300")
            .env("LEADEX__LOG__LEVEL", "info")
            .env("LEADEX__LOG__FORMAT", "json")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the demo starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(l)) = err.next_line().await {
                sink.lock().expect("logs").push(l);
            }
        });
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (mut admin, mut seller, mut buyers) = (String::new(), String::new(), Vec::new());
        while let Ok(Some(l)) = tokio::time::timeout(Duration::from_secs(90), out.next_line()).await.expect("banner") {
            if let Some(k) = l.strip_prefix("operator key : ") {
                admin = k.to_owned();
            } else if let Some(k) = l.strip_prefix("seller key   : ") {
                seller = k.to_owned();
            } else if let Some(k) = l.strip_prefix("buyer keys   : ") {
                buyers = k.split(", ").map(str::to_owned).collect();
                break;
            }
        }
        assert!(!admin.is_empty() && !seller.is_empty() && buyers.len() == 3, "the banner names every key");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{base}/health/live")).send().await.is_err() {
            assert!(Instant::now() < deadline, "the demo never listened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Demo { child, base, port, admin, seller, buyers, logs, dir, http }
    }

    async fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        let r = r.send().await.expect("request");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    async fn post_lead(&self, body: &Value, request_id: Option<&str>) -> (u16, Value) {
        let mut r = self.http.post(format!("{}/v1/leads", self.base)).bearer_auth(&self.seller).json(body);
        if let Some(id) = request_id {
            r = r.header("x-request-id", id);
        }
        let r = r.send().await.expect("request");
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    async fn metrics(&self) -> String {
        self.http.get(format!("{}/metrics", self.base)).send().await.expect("scrape").text().await.expect("text")
    }

    /// Waits until the lead's token is minted.
    async fn wait_minted(&self, lead: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, t) = self.get(&format!("/v1/leads/{lead}/nft"), None).await;
            if status == 200 && t["status"] == "minted" {
                return t;
            }
            assert!(Instant::now() < deadline, "lead {lead} not minted within 120 s: {t}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A valid, unique solar lead (the catalogue's own synthetic generator).
fn solar_lead(seq: u64) -> Value {
    use rand::SeedableRng;
    let catalog = leadex_domain::vertical::Catalog::new(leadex_domain::catalog::seed()).expect("catalogue");
    let v = catalog.get("solar.residential").expect("solar.residential");
    let tag = format!("obs{}", uuid::Uuid::now_v7().simple());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seq);
    leadex_core::synth::lead_body(v, seq, &tag, chrono::Utc::now(), &mut rng)
}

fn recorder_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/realtime")
}

/// The official Socket.IO client (tests/realtime/recorder.mjs).
struct Recorder {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Recorder {
    /// Connects `clients` and returns once every one is connected.
    async fn start(base: &str, clients: &Value) -> Recorder {
        let dir = recorder_dir();
        assert!(
            dir.join("node_modules/socket.io-client").exists(),
            "run `npm ci --prefix crates/cli/tests/realtime` first (.ci/run does)"
        );
        let mut child = tokio::process::Command::new("node")
            .arg("recorder.mjs")
            .current_dir(&dir)
            .env("BASE", base)
            .env("CLIENTS", clients.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.expect("ready in time");
        let ready: Value = serde_json::from_str(&ready.expect("read").expect("a line")).expect("JSON");
        assert_eq!(ready["ready"], true);
        Recorder { child, lines }
    }

    /// Disconnects; every event received.
    async fn finish(mut self) -> Vec<Value> {
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin.write_all(b"{\"exit\": true}\n").await.expect("exit");
        loop {
            let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
                .await
                .expect("events in time")
                .expect("read")
                .expect("the recorder reports its events");
            let v: Value = serde_json::from_str(&line).expect("JSON");
            if let Some(events) = v["events"].as_array() {
                return events.clone();
            }
        }
    }
}

/// The acceptance test of SPEC §11's correlation id: posted with a known
/// `x-request-id`, the lead is scored, auto-bid, closed and minted by the
/// demo's own buyers; the id is on the lead, its jobs, the Socket.IO events
/// the real client received, the mint's transaction, the JSON log line of
/// every stage, and the trace endpoint's timeline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_id_from_http_through_websocket_and_logs_to_the_chain() {
    let demo = Demo::start(1_000, &[]).await;
    let clients = json!([
        {"name": "watcher", "subscribe": ["solar"]},
        {"name": "acme", "token": demo.buyers[0]},
        {"name": "bluebird", "token": demo.buyers[1]},
        {"name": "cobalt", "token": demo.buyers[2]},
    ]);
    let ws = Recorder::start(&demo.base, &clients).await;
    let rid = format!("obs-{}", uuid::Uuid::now_v7().simple());
    let (status, body) = demo.post_lead(&solar_lead(1), Some(&rid)).await;
    assert_eq!(status, 202, "{body}");
    let lead = body["id"].as_str().expect("lead id").to_owned();
    let token = demo.wait_minted(&lead).await;
    let events = ws.finish().await;

    // The lead and its jobs.
    let (_, l) = demo.get(&format!("/v1/leads/{lead}"), Some(&demo.admin)).await;
    assert_eq!(l["correlation_id"], rid.as_str(), "{l}");
    let (_, jobs) = demo.get(&format!("/v1/leads/{lead}/jobs"), Some(&demo.admin)).await;
    let jobs = jobs.as_array().cloned().unwrap_or_default();
    let kinds: HashSet<&str> = jobs.iter().filter_map(|j| j["kind"].as_str()).collect();
    for k in ["score_lead", "auto_bid", "close_auction", "mint_nft"] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    assert!(jobs.iter().all(|j| j["correlation_id"] == rid.as_str()), "every job carries the id: {jobs:?}");

    // The Socket.IO events, as the official client received them: every
    // event about this lead carries the id, from lead:new to lead:minted.
    let ours: Vec<&Value> = events.iter().filter(|e| e["payload"]["lead_id"] == lead.as_str()).collect();
    let names: HashSet<&str> = ours.iter().filter_map(|e| e["event"].as_str()).collect();
    for want in ["lead:new", "auction:bid", "auction:closed", "bid:won", "lead:minted"] {
        assert!(names.contains(want), "{want} not received: {names:?}");
    }
    for e in &ours {
        assert_eq!(e["payload"]["correlation_id"], rid.as_str(), "{e}");
    }
    let minted = ours.iter().find(|e| e["event"] == "lead:minted").expect("lead:minted");
    assert_eq!(minted["payload"]["token_id"], token["token_id"], "{minted}");

    // The trace: every stage from stored data, the mint tx among them.
    let (status, t) = demo.get(&format!("/v1/admin/trace/{rid}"), Some(&demo.admin)).await;
    assert_eq!(status, 200, "{t}");
    let timeline = t["timeline"].as_array().cloned().unwrap_or_default();
    let stages: Vec<&str> = timeline.iter().filter_map(|s| s["stage"].as_str()).collect();
    super::chain::assert_full_trace(&stages);
    // Each step names the events it published; they are the ones received.
    let told: HashSet<&str> = timeline
        .iter()
        .flat_map(|s| s["detail"]["events"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    for want in ["lead:new", "auction:bid", "auction:closed", "bid:won", "lead:minted"] {
        assert!(told.contains(want), "{want} not in the timeline: {told:?}");
    }
    let sent = timeline.iter().find(|s| s["stage"] == "chain.tx_sent").expect("tx sent");
    assert_eq!(sent["detail"]["carries_correlation_id"], true, "{sent}");
    let tx_hash = sent["detail"]["hash"].as_str().expect("the mint transaction's hash").to_lowercase();

    // The JSON log line of each stage carries the id: the HTTP request,
    // every job (its span), the chain service's batch (its id list).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = demo.logs.lock().expect("logs").clone();
    let mut by_message: BTreeMap<String, Value> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.contains(&rid)) {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"));
        let msg = v["message"].as_str().unwrap_or_default().to_owned();
        let span_id = v["span"]["request_id"].as_str() == Some(rid.as_str());
        let listed = v["correlation_ids"].as_str().is_some_and(|ids| ids.split(',').any(|i| i == rid));
        // (The id as a field, not just text such as the trace request's path.)
        if span_id || listed {
            by_message.insert(msg, v);
        }
    }
    for (message, span) in [
        ("request", Some("http")),
        ("auto-bid rules evaluated", Some("job")),
        ("auction opened", Some("job")),
        ("close_auction ran", Some("job")),
        ("token queued for minting", Some("job")),
        ("mint batch sent", None),
        ("lead tokens minted", None),
    ] {
        let v = by_message.get(message).unwrap_or_else(|| {
            panic!("no `{message}` log line with {rid}; lines with it: {:?}", by_message.keys().collect::<Vec<_>>())
        });
        if let Some(name) = span {
            assert_eq!(v["span"]["name"], name, "{v}");
        }
    }
    assert_eq!(by_message["request"]["span"]["path"], "/v1/leads");
    let confirmed = &by_message["lead tokens minted"];
    assert_eq!(confirmed["tx"].as_str().map(str::to_lowercase), Some(tx_hash), "{confirmed}");
}

/// `(type, samples)` of every metric family in a Prometheus text scrape.
fn families(text: &str) -> BTreeMap<String, (String, Vec<(String, f64)>)> {
    let mut out: BTreeMap<String, (String, Vec<(String, f64)>)> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (it.next(), it.next()) {
                out.entry(name.to_owned()).or_default().0 = kind.to_owned();
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let name = series.split('{').next().unwrap_or(series);
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| out.get(*f).is_some_and(|e| e.0 == "histogram")))
                .unwrap_or(name);
            if let (Some(e), Ok(v)) = (out.get_mut(family), value.parse::<f64>()) {
                e.1.push((series.to_owned(), v));
            }
        }
    }
    out
}

/// A stand-in for the buyer-side external quality scorer: a real HTTP
/// endpoint answering `{"score"}`, failing every fourth call with a 500.
async fn external_scorer() -> (String, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = calls.clone();
    let app = axum::Router::new().route(
        "/score",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let c = c.clone();
            async move {
                let n = c.fetch_add(1, Ordering::Relaxed);
                if n % 4 == 3 {
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": "down"})));
                }
                let local = body["local_score"].as_u64().unwrap_or(5_000);
                (axum::http::StatusCode::OK, axum::Json(json!({"score": local.min(9_000) + 500})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/score"), calls)
}

/// Every SPEC §11 metric after a scenario run (names, types, non-zero
/// counts where the scenario exercised them), then a real Prometheus
/// (Debian `prometheus`) scrapes the same process and evaluates the shipped
/// rules file without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_exports_every_spec_metric_and_a_real_prometheus_evaluates_the_rules() {
    let prometheus = std::env::var("LEADEX_PROMETHEUS").unwrap_or_else(|_| "/usr/bin/prometheus".into());
    assert!(
        std::path::Path::new(&prometheus).exists(),
        "{prometheus} missing: run deploy/prometheus/check.sh (installs Debian `prometheus`; .ci/run does)"
    );
    let (scorer, calls) = external_scorer().await;
    let demo = Demo::start(150, &[("LEADEX__SCORING__EXTERNAL_URL", scorer)]).await;
    // A Socket.IO client, so the connection gauge has one.
    let ws = Recorder::start(&demo.base, &json!([{"name": "watcher", "subscribe": ["solar"]}])).await;
    // Refused submissions: unknown vertical, a missing field, a duplicate.
    let mut bad = solar_lead(7);
    bad["vertical"] = json!("solar.nope");
    assert_eq!(demo.post_lead(&bad, None).await.0, 422);
    let mut bad = solar_lead(8);
    bad.as_object_mut().expect("object").remove("consent");
    assert_eq!(demo.post_lead(&bad, None).await.0, 422);
    let dup = solar_lead(9);
    assert_eq!(demo.post_lead(&dup, None).await.0, 202);
    assert_eq!(demo.post_lead(&dup, None).await.1["code"], "duplicate_lead");

    // Run until a sale is minted (the slowest flow).
    let deadline = Instant::now() + Duration::from_secs(150);
    let metrics = loop {
        let text = demo.metrics().await;
        let f = families(&text);
        let count = |name: &str| {
            f.get(name).map_or(0.0, |(_, s)| s.iter().filter(|(k, _)| k.contains("_count")).map(|(_, v)| v).sum())
        };
        if count("leadex_nft_mint_confirmation_seconds") > 0.0 && count("leadex_auction_close_latency_seconds") > 0.0 {
            break f;
        }
        assert!(Instant::now() < deadline, "no mint confirmed within 150 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(calls.load(Ordering::Relaxed) > 0, "the external scorer was called");

    // (name, type, must the scenario have counted something?)
    let spec: [(&str, &str, bool); 26] = [
        ("leadex_http_request_duration_seconds", "histogram", true),
        ("leadex_http_requests_total", "counter", true),
        ("leadex_auction_close_latency_seconds", "histogram", true),
        ("leadex_quality_score_duration_seconds", "histogram", true),
        ("leadex_quality_score_external_duration_seconds", "histogram", true),
        ("leadex_quality_score_failures_total", "counter", true),
        ("leadex_escrow_funding_seconds", "histogram", true),
        ("leadex_nft_mint_confirmation_seconds", "histogram", true),
        ("leadex_queue_depth", "gauge", false),
        ("leadex_queue_oldest_ready_age_seconds", "gauge", false),
        ("leadex_job_attempts_total", "counter", true),
        ("leadex_jobs_total", "counter", true),
        ("leadex_leads_ingested_total", "counter", true),
        ("leadex_leads_rejected_total", "counter", true),
        ("leadex_leads_scored_total", "counter", true),
        ("leadex_auctions_closed_total", "counter", true),
        ("leadex_ws_connections", "gauge", true),
        ("leadex_ws_events_total", "counter", true),
        ("leadex_chain_wallet_balance_wei", "gauge", true),
        ("leadex_chain_wallet_next_nonce", "gauge", true),
        ("leadex_chain_wallet_confirmed_nonce", "gauge", true),
        ("leadex_chain_gas_price_wei", "gauge", true),
        ("leadex_escrow_reserves_ratio", "gauge", true),
        ("leadex_nft_mint_backlog", "gauge", false),
        ("leadex_escrow_deposits_total", "counter", true),
        ("leadex_chain_txs_total", "counter", true),
    ];
    let mut missing = Vec::new();
    for (name, kind, counted) in spec {
        let Some((got, samples)) = metrics.get(name) else {
            missing.push(name);
            continue;
        };
        assert_eq!(got, kind, "{name} is a {got}");
        let total: f64 = match kind {
            "histogram" => samples.iter().filter(|(k, _)| k.contains("_count")).map(|(_, v)| v).sum(),
            _ => samples.iter().map(|(_, v)| v).sum(),
        };
        assert!(total.is_finite() && total >= 0.0, "{name} = {total}");
        if counted {
            assert!(total > 0.0, "{name} counted nothing: {samples:?}");
        }
    }
    assert!(missing.is_empty(), "not exported: {missing:?}");
    // Labelled as docs/metrics.md says.
    let has = |name: &str, series: &str| metrics[name].1.iter().any(|(k, v)| k.contains(series) && *v > 0.0);
    assert!(
        has("leadex_leads_rejected_total", r#"reason="unknown_vertical""#),
        "{:?}",
        metrics["leadex_leads_rejected_total"]
    );
    assert!(has("leadex_leads_rejected_total", r#"reason="duplicate_lead""#));
    assert!(has("leadex_leads_ingested_total", r#"vertical="solar.residential""#));
    assert!(has("leadex_quality_score_failures_total", r#"reason="bad_status""#));
    assert!(has("leadex_quality_score_external_duration_seconds", r#"_count{outcome="ok"}"#));
    assert!(has("leadex_auctions_closed_total", r#"outcome="sold""#));
    assert!(
        metrics["leadex_jobs_total"].1.iter().any(|(k, _)| k.contains(r#"outcome="dead""#) && k.contains("mint_nft")),
        "dead jobs by kind are exported from 0"
    );
    let ratio = metrics["leadex_escrow_reserves_ratio"].1[0].1;
    assert!(ratio >= 1.0, "reserves cover the ledger: {ratio}");
    let _ = ws.finish().await;

    // A real Prometheus: scrape every second, evaluate the shipped rules.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules = root.join("deploy/prometheus/alerts.yml").canonicalize().expect("alerts.yml");
    let tmp = demo.dir.join("prometheus");
    std::fs::create_dir_all(&tmp).expect("dir");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: leadex\n    static_configs:\n      - targets: [\"127.0.0.1:{}\"]\n",
        rules.display(),
        demo.port
    );
    std::fs::write(tmp.join("prometheus.yml"), config).expect("config");
    let prom_port = super::free_port();
    let _prom = tokio::process::Command::new(&prometheus)
        .arg(format!("--config.file={}", tmp.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", tmp.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("prometheus starts");
    let api = format!("http://127.0.0.1:{prom_port}/api/v1");
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            match http.get(path).send().await {
                Ok(r) => r.json::<Value>().await.unwrap_or_default(),
                Err(_) => Value::Null,
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let (targets, rules) = loop {
        assert!(Instant::now() < deadline, "Prometheus did not scrape and evaluate within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = get(format!("{api}/targets")).await;
        let r = get(format!("{api}/rules")).await;
        let up = t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 1 && a[0]["health"] == "up");
        let all: Vec<Value> = r["data"]["groups"]
            .as_array()
            .map(|g| g.iter().flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default()).collect())
            .unwrap_or_default();
        // A rule's health is "unknown" until its first evaluation.
        if up && !all.is_empty() && all.iter().all(|r| r["health"] != "unknown") {
            break (t, all);
        }
    };
    assert_eq!(targets["data"]["activeTargets"][0]["lastError"], "", "{targets}");
    let broken: Vec<&Value> = rules.iter().filter(|r| r["health"] != "ok").collect();
    assert!(broken.is_empty(), "rules failing to evaluate: {broken:?}");
    assert!(rules.len() >= 20, "the whole rules file is loaded: {} rules", rules.len());
    // The scraped series are queryable, recording rules included.
    for q in [
        "leadex_leads_ingested_total",
        "leadex_auctions_closed_total",
        "vertical_outcome:leadex_auctions_closed:rate1h",
    ] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = get(format!("{api}/query?query={q}")).await;
            if r["status"] == "success" && r["data"]["result"].as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            assert!(Instant::now() < deadline, "{q} has no result: {r}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// With `--features otlp`: the spans of a request, with its correlation id
/// as an attribute, reach an OTLP/HTTP collector (here a real HTTP endpoint
/// keeping the protobuf bodies it is sent).
#[cfg(feature = "otlp")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp_with_the_correlation_id() {
    /// (content type, body) of each export request.
    type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let bodies: Received = Arc::default();
    let sink = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                sink.lock().expect("bodies").push((ct, body.to_vec()));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let demo = Demo::start(5_000, &[("LEADEX__TELEMETRY__OTLP_ENDPOINT", format!("http://{addr}/v1/traces"))]).await;
    let rid = format!("otlp-{}", uuid::Uuid::now_v7().simple());
    let (status, body) = demo.post_lead(&solar_lead(3), Some(&rid)).await;
    assert_eq!(status, 202, "{body}");
    let contains = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = bodies.lock().expect("bodies").clone();
        let ours: Vec<&(String, Vec<u8>)> = got.iter().filter(|(_, b)| contains(b, &rid)).collect();
        // The HTTP span and the score_lead job's span both carry the id.
        if ours.iter().any(|(_, b)| contains(b, "http")) && ours.iter().any(|(_, b)| contains(b, "score_lead")) {
            assert!(ours.iter().all(|(ct, _)| ct == "application/x-protobuf"), "OTLP/HTTP protobuf");
            assert!(ours.iter().any(|(_, b)| contains(b, "leadex")), "service.name = leadex");
            break;
        }
        assert!(Instant::now() < deadline, "no exported span carried {rid} within 30 s ({} bodies)", got.len());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
