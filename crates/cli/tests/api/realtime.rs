//! Socket.IO with the official client (npm `socket.io-client`, installed by
//! `.ci/run` under `crates/cli/tests/realtime`): rooms, sealed bids, the
//! `bid:place` acknowledgement and private outcomes.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use chrono::{Duration, Utc};
use leadex_core::clock::ManualClock;
use leadex_domain::account::Role;
use leadex_testkit::{TestEngine, spawn_app_on};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/realtime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rooms_sealed_bids_acks_and_private_outcomes_over_socket_io() {
    let dir = client_dir();
    assert!(
        dir.join("node_modules/socket.io-client").exists(),
        "run `npm ci --prefix crates/cli/tests/realtime` first (.ci/run does)"
    );
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = spawn_app_on(TestEngine::Sqlite, clock.clone()).await.expect("app");
    let seller = app.seller().await;
    let r = app.post("/v1/asks", Some(&seller), &json!({"vertical": "solar", "reserve_price": "10.00"})).await;
    assert_eq!(r.status, 201);
    let mut buyers = Vec::new();
    for name in ["alice", "bob"] {
        let (id, key) = app.account(Role::Buyer, name).await;
        let c = app
            .post(&format!("/v1/admin/vaults/{id}/credit"), Some(&app.admin_key), &json!({"amount": "100.00"}))
            .await;
        assert_eq!(c.status, 200);
        buyers.push(key);
    }
    let clients = json!([
        {"name": "watcher", "subscribe": ["solar"]},
        {"name": "alice", "token": buyers[0]},
        {"name": "bob", "token": buyers[1]},
    ]);
    let mut child = tokio::process::Command::new("node")
        .arg("recorder.mjs")
        .current_dir(&dir)
        .env("BASE", &app.base)
        .env("CLIENTS", clients.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = async || -> Value {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
            .await
            .expect("node answered in time")
            .expect("readable")
            .expect("a line");
        serde_json::from_str(&line).expect("JSON line")
    };
    assert_eq!(next().await["ready"], true);

    // A solar lead and a mortgage lead open; the watcher hears only solar.
    let solar = app.post("/v1/leads", Some(&seller), &app.lead("solar.residential")).await;
    let mortgage = app.post("/v1/leads", Some(&seller), &app.lead("mortgage.purchase")).await;
    let solar_id = solar.body["id"].as_str().expect("id").to_owned();
    let mortgage_id = mortgage.body["id"].as_str().expect("id").to_owned();
    app.app.worker().run_once().await.expect("scored");

    let mut send = async |cmd: Value| {
        stdin.write_all(format!("{cmd}\n").as_bytes()).await.expect("write");
    };
    // bob bids over the socket: below reserve first (same code as REST).
    send(json!({"client": "bob", "emit": "bid:place", "data": {"lead_id": solar_id, "amount": "5.00"}})).await;
    let low = next().await;
    assert_eq!(low["ack"]["ok"], false);
    assert_eq!(low["ack"]["error"]["code"], "below_reserve");
    let rest = app.post(&format!("/v1/leads/{solar_id}/bids"), Some(&buyers[1]), &json!({"amount": "5.00"})).await;
    assert_eq!(rest.code(), "below_reserve", "socket and REST agree");
    send(json!({"client": "bob", "emit": "bid:place", "data": {"lead_id": solar_id, "amount": "21.00"}})).await;
    let ok = next().await;
    assert_eq!(ok["ack"]["ok"], true, "{ok}");
    assert_eq!(ok["ack"]["bid"]["amount"], "21.00");
    send(json!({"client": "watcher", "emit": "bid:place", "data": {"lead_id": solar_id, "amount": "30.00"}})).await;
    assert_eq!(next().await["ack"]["error"]["code"], "unauthorized");
    // alice bids over REST; she wins.
    let a = app.post(&format!("/v1/leads/{solar_id}/bids"), Some(&buyers[0]), &json!({"amount": "33.33"})).await;
    assert_eq!(a.status, 201);
    send(json!({"client": "watcher", "emit": "join_auction", "data": {"lead_id": solar_id}})).await;
    assert_eq!(next().await["ack"]["ok"], true);

    clock.advance(Duration::seconds(61));
    app.app.worker().run_once().await.expect("closed");
    send(json!({"client": "bob", "emit": "bid:place", "data": {"lead_id": solar_id, "amount": "40.00"}})).await;
    assert_eq!(next().await["ack"]["error"]["code"], "auction_closed");
    send(json!({"exit": true})).await;
    let report = next().await;
    let events = report["events"].as_array().expect("events").clone();
    let _ = child.wait().await;

    let of = |client: &str, name: &str| -> Vec<Value> {
        events.iter().filter(|e| e["client"] == client && e["event"] == name).map(|e| e["payload"].clone()).collect()
    };
    let new_leads: Vec<String> =
        of("watcher", "lead:new").iter().filter_map(|p| p["lead_id"].as_str().map(str::to_owned)).collect();
    assert!(new_leads.contains(&solar_id), "subscribed to solar: hears its descendants");
    assert!(!new_leads.contains(&mortgage_id), "not subscribed to mortgage");
    let counts: Vec<u64> = of("watcher", "auction:bid").iter().filter_map(|p| p["bid_count"].as_u64()).collect();
    assert!(counts.contains(&1) && counts.contains(&2), "auction:bid carries counts: {counts:?}");
    for e in &events {
        assert!(e["payload"]["ts"].is_i64(), "every event carries ts: {e}");
        assert!(e["payload"]["correlation_id"].is_string(), "every event carries a correlation id: {e}");
        // Sealed: before close nobody but the bidder sees an amount.
        let text = e["payload"].to_string();
        let closed =
            ["auction:closed", "lead:sold", "bid:won", "bid:lost"].contains(&e["event"].as_str().unwrap_or(""));
        if !closed {
            if e["client"] != "alice" {
                assert!(!text.contains("33.33"), "alice's amount leaked: {e}");
            }
            if e["client"] != "bob" {
                assert!(!text.contains("21.00"), "bob's amount leaked: {e}");
            }
        }
    }
    assert_eq!(of("alice", "bid:won").len(), 1);
    assert!(of("bob", "bid:won").is_empty() && of("watcher", "bid:won").is_empty(), "bid:won reaches only its account");
    assert_eq!(of("bob", "bid:lost").len(), 1);
    assert!(of("alice", "bid:lost").is_empty() && of("watcher", "bid:lost").is_empty());
    let closed = of("watcher", "auction:closed");
    assert_eq!(closed.first().map(|c| c["clearing_price"].clone()), Some(json!("33.33")));
    assert!(!of("bob", "bid:accepted").is_empty() && !of("bob", "vault:updated").is_empty());
}

struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

async fn wait_ready(port: u16) {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/health/ready")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("leadex on {port} did not become ready");
}

/// Two API processes share Redis: a client connected to process A receives
/// the events of a lead ingested (and scored) by process B.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_on_one_process_hears_events_caused_on_another_through_redis() {
    let Some(db) = leadex_store::testing::TestDb::create(leadex_store::testing::Engine::Postgres).await else {
        eprintln!("skipped: LEADEX_TEST_PG_URL is not set");
        return;
    };
    let dir = client_dir();
    assert!(dir.join("node_modules/socket.io-client").exists(), "npm ci --prefix crates/cli/tests/realtime");
    let key = leadex_core::crypto::PiiCipher::generate_spec();
    let data = std::env::temp_dir().join(format!("leadex-rt-{}", uuid::Uuid::now_v7().simple()));
    let cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_leadex"));
        c.args(args)
            .arg("--data-dir")
            .arg(&data)
            .env("LEADEX__DATABASE__URL", &db.url)
            .env("LEADEX__PRIVACY__KEY", &key)
            .env("LEADEX__REDIS__URL", "redis://127.0.0.1:6379")
            .env("LEADEX__LOG__LEVEL", "warn")
            .stdin(Stdio::null());
        c
    };
    let out = cmd(&["admin", "create-account", "--role", "seller", "--name", "s", "--json"]).output().expect("admin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seller: Value = serde_json::from_slice(&out.stdout).expect("json");
    let seller = seller["api_key"].as_str().expect("key").to_owned();
    let (pa, pb) = (free_port(), free_port());
    let _a = Proc(cmd(&["serve", "--bind", &format!("127.0.0.1:{pa}")]).stdout(Stdio::null()).spawn().expect("A"));
    let _b = Proc(cmd(&["run", "--bind", &format!("127.0.0.1:{pb}")]).stdout(Stdio::null()).spawn().expect("B"));
    wait_ready(pa).await;
    wait_ready(pb).await;

    let mut child = tokio::process::Command::new("node")
        .arg("recorder.mjs")
        .current_dir(&dir)
        .env("BASE", format!("http://127.0.0.1:{pa}"))
        .env("CLIENTS", json!([{"name": "watcher", "subscribe": ["insurance"]}]).to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first =
        tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line()).await.expect("ready in time");
    assert!(first.expect("line").is_some_and(|l| l.contains("ready")));

    // Ingest through B; B's worker scores it and emits lead:new.
    let factory = leadex_testkit::spawn_app().await;
    let body = factory.lead("insurance.auto");
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{pb}/v1/leads"))
        .bearer_auth(&seller)
        .json(&body)
        .send()
        .await
        .expect("ingest");
    assert_eq!(r.status().as_u16(), 202);
    let id = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    let mut heard = false;
    for _ in 0..100 {
        let open = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{pa}/v1/leads/{id}"))
            .send()
            .await
            .expect("read")
            .json::<Value>()
            .await
            .expect("json");
        if open["status"] == "in_auction" {
            heard = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(heard, "B scored the lead");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    stdin.write_all(b"{\"exit\": true}\n").await.expect("write");
    let line = tokio::time::timeout(std::time::Duration::from_secs(10), lines.next_line())
        .await
        .expect("report in time")
        .expect("readable")
        .expect("a line");
    let report: Value = serde_json::from_str(&line).expect("json");
    let got = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| e["event"] == "lead:new" && e["payload"]["lead_id"] == id.as_str());
    assert!(got, "the client on A heard lead:new for the lead ingested on B: {report}");
    let _ = std::fs::remove_dir_all(&data);
}
