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
    let (pa, pb) = (crate::free_port(), crate::free_port());
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

type RawWs = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A bare engine.io v4 WebSocket from `source` (optionally with a tiny
/// receive buffer, to play a client that stops reading).
async fn raw_socket(base: &str, source: std::net::IpAddr, rcvbuf: Option<u32>) -> RawWs {
    let hostport = base.trim_start_matches("http://");
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).expect("SO_RCVBUF");
    }
    sock.bind(std::net::SocketAddr::new(source, 0)).expect("bind source address");
    let within = std::time::Duration::from_secs(10);
    let stream = tokio::time::timeout(within, sock.connect(hostport.parse().expect("ip:port")))
        .await
        .expect("tcp connect in time")
        .expect("tcp connect");
    let url = format!("ws://{hostport}/socket.io/?EIO=4&transport=websocket");
    tokio::time::timeout(within, tokio_tungstenite::client_async(url, stream))
        .await
        .expect("websocket upgrade in time")
        .expect("websocket upgrade")
        .0
}

/// The next Socket.IO text packet (pings answered on the way).
async fn raw_next(ws: &mut RawWs) -> Option<String> {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next()).await.ok()??.ok()?;
        if let Message::Text(t) = msg {
            if t.as_str() == "2" {
                ws.send(Message::text("3")).await.ok()?;
                continue;
            }
            return Some(t.as_str().to_owned());
        }
    }
}

/// Joins `/` and subscribes to `vertical`; `Err(code)` when refused.
async fn raw_join(ws: &mut RawWs, vertical: &str) -> Result<(), String> {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let open = raw_next(ws).await.expect("open packet");
    assert!(open.starts_with('0'), "engine.io open, got {open}");
    ws.send(Message::text("40")).await.expect("send connect");
    let connected = raw_next(ws).await.expect("connect reply");
    assert!(connected.starts_with("40"), "namespace connect, got {connected}");
    ws.send(Message::text(format!("420{}", json!(["subscribe", {"verticals": [vertical]}])))).await.expect("send");
    // Bounded as a whole: pings answered by `raw_next` must not keep a
    // join that is never answered waiting forever.
    let answer = async {
        loop {
            let p = raw_next(ws).await.ok_or_else(|| "closed".to_owned())?;
            if p.starts_with("430") {
                return Ok(());
            }
            if let Some(body) = p.strip_prefix("42") {
                let (name, payload): (String, Value) = serde_json::from_str(body).expect("event");
                if name == "error" {
                    return Err(payload["error"]["code"].as_str().unwrap_or("").to_owned());
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(15), answer).await.unwrap_or_else(|_| Err("no answer".into()))
}

async fn scrape(app: &leadex_testkit::TestApp) -> String {
    let req = app.http.get(app.url("/metrics")).timeout(std::time::Duration::from_secs(10));
    req.send().await.expect("scrape").text().await.expect("text")
}

/// Sum of a counter's samples whose labels contain `labels`.
fn counter(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Per-IP connection cap: the (cap+1)-th socket from one address is
/// refused with `too_many_connections`, another address still connects,
/// and a closed socket frees its slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_per_ip_are_capped_and_slots_come_back() {
    let app = leadex_testkit::spawn_app_with(TestEngine::Sqlite, Arc::new(leadex_core::clock::SystemClock), |s| {
        s.realtime.max_per_ip = 2;
    })
    .await
    .expect("app");
    let one: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let two: std::net::IpAddr = "127.0.0.2".parse().expect("ip");
    let mut a = raw_socket(&app.base, one, None).await;
    let mut b = raw_socket(&app.base, one, None).await;
    assert_eq!(raw_join(&mut a, "solar").await, Ok(()));
    assert_eq!(raw_join(&mut b, "solar").await, Ok(()));
    let mut c = raw_socket(&app.base, one, None).await;
    assert_eq!(raw_join(&mut c, "solar").await, Err("too_many_connections".to_owned()));
    let mut d = raw_socket(&app.base, two, None).await;
    assert_eq!(raw_join(&mut d, "solar").await, Ok(()), "another address has its own allowance");

    b.close(None).await.expect("close");
    drop(b);
    // The server frees the slot when it has processed the close; under a
    // loaded machine that can take a while, so retry against a deadline.
    let mut joined = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let mut e = raw_socket(&app.base, one, None).await;
        if raw_join(&mut e, "solar").await.is_ok() {
            joined = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(joined, "the closed socket's slot is released");
    assert!(counter(&scrape(&app).await, "leadex_ws_refused_total", "reason=\"per_ip\"") >= 1.0);
}

/// Sockets closed for a missed heartbeat or a transport aborted by the
/// stall timeout.
fn cut_off(metrics: &str) -> f64 {
    counter(metrics, "leadex_ws_disconnects_total", "reason=\"heartbeat\"")
        + counter(metrics, "leadex_ws_disconnects_total", "reason=\"transport_error\"")
}

/// A client that stops reading loses events (counted) and is then cut off
/// at its next heartbeat; a healthy client in the same room receives every
/// event meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_client_is_cut_off_without_delaying_the_others() {
    use futures::StreamExt;
    let app = leadex_testkit::spawn_app_with(TestEngine::Sqlite, Arc::new(leadex_core::clock::SystemClock), |s| {
        s.realtime.ping_interval_secs = 3;
        s.realtime.ping_timeout_secs = 1;
        s.server.stall_timeout_secs = 3;
    })
    .await
    .expect("app");
    let ip: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
    let mut healthy = raw_socket(&app.base, ip, None).await;
    raw_join(&mut healthy, "solar").await.expect("healthy joins");
    let mut stalled = raw_socket(&app.base, ip, Some(4096)).await;
    raw_join(&mut stalled, "solar").await.expect("stalled joins");

    // The healthy client reads concurrently; the stalled one never reads
    // again: ~8 MB of events overflow its TCP buffers and then its
    // 256-event Socket.IO buffer.
    let events = 2_000usize;
    let reader = tokio::spawn(async move {
        let mut got = 0usize;
        while got < events {
            let Some(p) = raw_next(&mut healthy).await else { break };
            if p.starts_with("42[\"system:announcement\"") {
                got += 1;
            }
        }
        got
    });
    let message = "x".repeat(4000);
    let body = json!({"verticals": ["solar"], "message": message});
    let posts = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        futures::stream::iter(0..events)
            .map(|_| app.post("/v1/admin/announcements", Some(&app.admin_key), &body))
            .buffer_unordered(8)
            .collect::<Vec<_>>(),
    )
    .await
    .expect("announcements answered in time");
    assert!(posts.iter().all(|r| r.status == 202), "every announcement accepted");
    let got = tokio::time::timeout(std::time::Duration::from_secs(30), reader).await.expect("in time").expect("task");
    assert_eq!(got, events, "the healthy client received every event");

    let mut text = String::new();
    for _ in 0..100 {
        text = scrape(&app).await;
        if cut_off(&text) >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(counter(&text, "leadex_ws_events_dropped_total", "reason=\"buffer_full\"") >= 1.0, "drops are counted");
    assert!(cut_off(&text) >= 1.0, "the stalled client is cut off");
    assert!(text.contains("leadex_ws_connections"), "connections gauge exported");
    // The stalled socket, read now, ends (closed by the server).
    let drained = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(m) = stalled.next().await {
            if m.is_err() || matches!(m, Ok(tokio_tungstenite::tungstenite::Message::Close(_))) {
                return true;
            }
        }
        true
    })
    .await;
    assert_eq!(drained, Ok(true), "the server closed the stalled socket");
}

/// Announcements: operators only, known verticals only.
#[tokio::test]
async fn announcements_are_for_operators_and_known_verticals() {
    let app = leadex_testkit::spawn_app().await;
    let seller = app.seller().await;
    let r = app.post("/v1/admin/announcements", Some(&seller), &json!({"verticals": ["solar"], "message": "hi"})).await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = app
        .post("/v1/admin/announcements", Some(&app.admin_key), &json!({"verticals": ["nope"], "message": "hi"}))
        .await;
    assert_eq!((r.status, r.code()), (422, "unknown_vertical"));
    let r = app
        .post("/v1/admin/announcements", Some(&app.admin_key), &json!({"verticals": ["solar"], "message": ""}))
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_message"));
    let r = app
        .post("/v1/admin/announcements", Some(&app.admin_key), &json!({"verticals": ["solar"], "message": "hi"}))
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["rooms"], json!(["vertical:solar"]));
}
