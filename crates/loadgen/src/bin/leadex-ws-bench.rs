//! `leadex-ws-bench`: Socket.IO capacity benchmark of issue 5.
//!
//! Opens N WebSocket connections speaking the Socket.IO v5 / engine.io v4
//! protocol directly (no polling upgrade), spread over one or more servers
//! and over R vertical rooms (`subscribe` to one slug each), then asks the
//! servers to emit `system:announcement` events at a fixed rate through
//! `POST /v1/admin/announcements` (round-robin over rooms and over the emit
//! URLs, so with two processes half the events cross Redis), and measures
//! delivery latency (client receive time − the event's `ts`), deliveries
//! versus expected, connection ramp time, and the servers' RSS and CPU.
//!
//! The same loader drives the Node baseline (`loadgen/socketio-baseline`),
//! which serves the same event, room layout and route.
//!
//! Client sockets bind to source addresses 127.0.0.2… so a per-IP
//! connection cap sees many addresses, as it would in production.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug)]
#[command(name = "leadex-ws-bench", version, about = "Socket.IO fan-out capacity benchmark (issue 5)")]
struct Cli {
    /// Server base URL; repeat for several processes (clients round-robin).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// Where events are caused (default: every --url, alternating).
    #[arg(long = "emit-url")]
    emit_urls: Vec<String>,
    /// Bearer token for the announcement route (an operator key).
    #[arg(long, default_value = "")]
    admin_key: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 10_000)]
    conns: usize,
    /// Vertical rooms (the first N seeded vertical slugs).
    #[arg(long, default_value_t = 50)]
    rooms: usize,
    /// Events emitted per second (each to one room).
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 30)]
    duration_secs: u64,
    /// Seconds of emission before measuring.
    #[arg(long, default_value_t = 5)]
    warmup_secs: u64,
    /// Connections being established at once during the ramp.
    #[arg(long, default_value_t = 256)]
    ramp_concurrency: usize,
    /// Distinct loopback source addresses (127.0.0.2 …).
    #[arg(long, default_value_t = 50)]
    source_ips: u8,
    /// Server process ids whose RSS and CPU are reported.
    #[arg(long, value_delimiter = ',')]
    pids: Vec<u32>,
    /// Other processes (by `comm`, e.g. `redis-server`) whose CPU is reported.
    #[arg(long, value_delimiter = ',')]
    comms: Vec<String>,
    /// A label for the result line.
    #[arg(long, default_value = "run")]
    label: String,
}

/// Milliseconds since the epoch, with microsecond resolution.
fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

/// What every client task shares.
struct Shared {
    latency: Mutex<Histogram<u64>>,
    received: AtomicU64,
    stop: AtomicBool,
    closed_early: AtomicU64,
}

/// `ws://host:port/socket.io/?EIO=4&transport=websocket` for a base URL.
fn ws_target(base: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = base.strip_prefix("http://").context("--url must be http://host:port")?;
    let hostport = rest.trim_end_matches('/');
    let addr: SocketAddr = hostport.parse().context("--url must be http://<ip>:<port>")?;
    Ok((addr, format!("ws://{hostport}/socket.io/?EIO=4&transport=websocket")))
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Connects, joins the namespace and subscribes to `room`.
async fn connect(addr: SocketAddr, url: &str, source: IpAddr, room: &str) -> anyhow::Result<Ws> {
    let sock = TcpSocket::new_v4()?;
    // Ports in TIME_WAIT from an earlier run may be reused.
    sock.set_reuseaddr(true)?;
    sock.bind(SocketAddr::new(source, 0))?;
    let stream =
        tokio::time::timeout(Duration::from_secs(5), sock.connect(addr)).await.context("tcp connect timed out")??;
    stream.set_nodelay(true)?;
    let (mut ws, _) = tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::client_async(url, stream))
        .await
        .context("websocket upgrade timed out")??;
    // engine.io open packet `0{…}`.
    expect(&mut ws, |t| t.starts_with('0')).await.context("engine.io open")?;
    ws.send(Message::text("40")).await?;
    expect(&mut ws, |t| t.starts_with("40")).await.context("namespace connect")?;
    let sub = json!(["subscribe", {"verticals": [room]}]);
    ws.send(Message::text(format!("420{sub}"))).await?;
    expect(&mut ws, |t| t.starts_with("430")).await.context("subscribe ack")?;
    Ok(ws)
}

/// Reads until a text frame satisfying `want` (answering pings).
async fn expect(ws: &mut Ws, want: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    while let Some(msg) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.context("no reply in 5 s")? {
        if let Message::Text(t) = msg? {
            if t.as_str() == "2" {
                ws.send(Message::text("3")).await?;
            } else if t.as_str().starts_with("44") {
                bail!("connect refused: {}", t.as_str());
            } else if want(t.as_str()) {
                return Ok(());
            }
        }
    }
    bail!("connection closed")
}

/// Receives until told to stop: answers pings, times measured events.
async fn run_client(mut ws: Ws, shared: Arc<Shared>) {
    let mut local = Vec::with_capacity(64);
    loop {
        let next = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let msg = match next {
            Err(_) => continue,
            Ok(None) | Ok(Some(Err(_))) => {
                shared.closed_early.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Ok(Some(Ok(m))) => m,
        };
        let Message::Text(t) = msg else { continue };
        let t = t.as_str();
        if t == "2" {
            if ws.send(Message::text("3")).await.is_err() {
                shared.closed_early.fetch_add(1, Ordering::Relaxed);
                return;
            }
            continue;
        }
        let Some(body) = t.strip_prefix("42") else { continue };
        let recv = now_ms();
        let Ok((name, payload)) = serde_json::from_str::<(String, Value)>(body) else { continue };
        if name != "system:announcement" {
            continue;
        }
        // Only events emitted inside the measured window count.
        let measured = payload.get("message").and_then(Value::as_str).is_some_and(|m| m.ends_with(" m"));
        let Some(ts) = payload.get("ts").and_then(Value::as_f64) else { continue };
        if measured {
            local.push(((recv - ts) * 1e3).max(1.0) as u64);
            if local.len() >= 32 {
                flush(&shared, &mut local);
            }
        }
    }
    flush(&shared, &mut local);
    let _ = ws.close(None).await;
}

fn flush(shared: &Shared, local: &mut Vec<u64>) {
    if local.is_empty() {
        return;
    }
    shared.received.fetch_add(local.len() as u64, Ordering::Relaxed);
    let mut h = shared.latency.lock().unwrap_or_else(|p| p.into_inner());
    for v in local.drain(..) {
        h.saturating_record(v);
    }
}

/// `(utime + stime ticks, RSS kB)` of a process.
fn proc_usage(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Some((ticks, rss))
}

/// CPU ticks of every process whose `comm` is in `comms`, plus this one.
fn comm_ticks(comms: &[String]) -> (u64, u64) {
    let mut others = 0;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else { continue };
            if comms.iter().any(|c| c == comm.trim())
                && let Some((t, _)) = proc_usage(pid)
            {
                others += t;
            }
        }
    }
    (others, proc_usage(std::process::id()).map_or(0, |u| u.0))
}

fn pct(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1e3 }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let slugs: Vec<String> = leadex_domain::catalog::seed().into_iter().map(|v| v.slug).take(cli.rooms).collect();
    if slugs.len() < cli.rooms || cli.rooms == 0 {
        bail!("--rooms must be 1–{}", slugs.len());
    }
    let targets = cli.urls.iter().map(|u| ws_target(u)).collect::<anyhow::Result<Vec<_>>>()?;
    let emit_urls = if cli.emit_urls.is_empty() { cli.urls.clone() } else { cli.emit_urls.clone() };
    let shared = Arc::new(Shared {
        latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        received: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        closed_early: AtomicU64::new(0),
    });

    // Ramp: every connection subscribed, `ramp_concurrency` at a time.
    let gate = Arc::new(Semaphore::new(cli.ramp_concurrency.max(1)));
    let connect_h = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
    let mut per_room = vec![0u64; cli.rooms];
    let started = Instant::now();
    let mut pending = Vec::with_capacity(cli.conns);
    for i in 0..cli.conns {
        let (addr, url) = targets[i % targets.len()].clone();
        let room_idx = i % cli.rooms;
        let room = slugs[room_idx].clone();
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % cli.source_ips.max(1) as usize) as u8));
        let gate = gate.clone();
        let connect_h = connect_h.clone();
        pending.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.ok();
            let t = Instant::now();
            let ws = match tokio::time::timeout(Duration::from_secs(20), connect(addr, &url, source, &room)).await {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!("connect timed out after 20 s")),
            };
            if ws.is_ok() {
                let us = t.elapsed().as_micros().max(1) as u64;
                connect_h.lock().unwrap_or_else(|p| p.into_inner()).saturating_record(us);
            }
            (room_idx, ws)
        }));
    }
    let mut clients = Vec::with_capacity(cli.conns);
    let mut failed = 0usize;
    let mut first_error = None;
    for p in pending {
        match p.await {
            Ok((room, Ok(ws))) => {
                per_room[room] += 1;
                clients.push(tokio::spawn(run_client(ws, shared.clone())));
            }
            Ok((_, Err(e))) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let ramp = started.elapsed();
    let connected = clients.len();
    let connect_summary = {
        let h = connect_h.lock().unwrap_or_else(|p| p.into_inner());
        (pct(&h, 0.5), pct(&h, 0.99))
    };
    eprintln!(
        "[{}] ramp: {} connected, {failed} failed in {:.2}s (connect p50 {:.1} ms, p99 {:.1} ms){}",
        cli.label,
        clients.len(),
        ramp.as_secs_f64(),
        connect_summary.0,
        connect_summary.1,
        first_error.as_deref().map(|e| format!("; first error: {e}")).unwrap_or_default()
    );
    if clients.is_empty() {
        bail!("no connection could be established");
    }

    // Emission: one announcement per tick, round-robin over rooms and URLs.
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let measuring = Arc::new(AtomicBool::new(false));
    let sent_measured = Arc::new(Mutex::new(vec![0u64; cli.rooms]));
    let emit_errors = Arc::new(AtomicU64::new(0));
    let total = Duration::from_secs(cli.warmup_secs + cli.duration_secs);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(cli.rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let emit_start = Instant::now();
    let mut seq = 0u64;
    let mut before = None;
    // Open loop: a tick never waits for earlier requests; when 4 096 are
    // still unanswered the tick is skipped and counted (offered > achieved).
    let in_flight = Arc::new(Semaphore::new(4_096));
    let skipped = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    while emit_start.elapsed() < total {
        tick.tick().await;
        if before.is_none() && emit_start.elapsed() >= Duration::from_secs(cli.warmup_secs) {
            measuring.store(true, Ordering::Relaxed);
            before = Some((
                Instant::now(),
                cli.pids.iter().map(|p| proc_usage(*p)).collect::<Vec<_>>(),
                comm_ticks(&cli.comms),
            ));
        }
        let m = measuring.load(Ordering::Relaxed);
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            if m {
                skipped.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        };
        let room = (seq as usize) % cli.rooms;
        let url =
            format!("{}/v1/admin/announcements", emit_urls[(seq as usize) % emit_urls.len()].trim_end_matches('/'));
        let body = json!({"verticals": [slugs[room]], "message": format!("bench {seq} {}", if m { "m" } else { "w" })});
        seq += 1;
        let req = http.post(url).bearer_auth(&cli.admin_key).json(&body);
        let errors = emit_errors.clone();
        let sent = sent_measured.clone();
        handles.push(tokio::spawn(async move {
            let _permit = permit;
            match req.send().await {
                Ok(r) if r.status().is_success() => {
                    if m {
                        sent.lock().unwrap_or_else(|p| p.into_inner())[room] += 1;
                    }
                }
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let measured_wall_emit = before.as_ref().map(|b| b.0.elapsed());
    let usage1: Vec<_> = cli.pids.iter().map(|p| proc_usage(*p)).collect();
    let comm1 = comm_ticks(&cli.comms);
    for h in handles {
        let _ = h.await;
    }
    let (_, usage0, comm0) = before.context("the run ended before measuring began; raise --duration-secs")?;
    let measured_wall = measured_wall_emit.unwrap_or_default();
    // Let the last events arrive, then stop the clients.
    tokio::time::sleep(Duration::from_secs(2)).await;
    shared.stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }

    let sent = sent_measured.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let events: u64 = sent.iter().sum();
    let expected: u64 = sent.iter().zip(&per_room).map(|(s, n)| s * n).sum();
    let received = shared.received.load(Ordering::Relaxed);
    let h = shared.latency.lock().unwrap_or_else(|p| p.into_inner());
    let secs = measured_wall.as_secs_f64().max(1e-9);
    let servers: Vec<Value> = cli
        .pids
        .iter()
        .zip(usage0.iter().zip(&usage1))
        .map(|(pid, (a, b))| match (a, b) {
            (Some(a), Some(b)) => json!({"pid": pid, "cpu_cores": (b.0.saturating_sub(a.0)) as f64 / 100.0 / secs,
                                         "rss_mb": b.1 as f64 / 1024.0}),
            _ => json!({"pid": pid, "gone": true}),
        })
        .collect();
    let result = json!({
        "label": cli.label,
        "conns": cli.conns, "connected": connected, "failed": failed,
        "closed_early": shared.closed_early.load(Ordering::Relaxed),
        "ramp_secs": ramp.as_secs_f64(), "connect_p50_ms": connect_summary.0, "connect_p99_ms": connect_summary.1,
        "rooms": cli.rooms, "rate": cli.rate, "events_measured": events,
        "emit_errors": emit_errors.load(Ordering::Relaxed),
        "emit_skipped": skipped.load(Ordering::Relaxed),
        "events_per_sec": events as f64 / secs,
        "deliveries_expected": expected, "deliveries_received": received,
        "deliveries_per_sec": received as f64 / secs,
        "latency_ms": {"p50": pct(&h, 0.5), "p95": pct(&h, 0.95), "p99": pct(&h, 0.99), "max": pct(&h, 1.0)},
        "servers": servers,
        "other_cpu_cores": (comm1.0.saturating_sub(comm0.0)) as f64 / 100.0 / secs,
        "loader_cpu_cores": (comm1.1.saturating_sub(comm0.1)) as f64 / 100.0 / secs,
    });
    println!("{result}");
    Ok(())
}
