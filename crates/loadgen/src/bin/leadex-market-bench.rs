//! `leadex-market-bench`: the marketplace benchmarks of issue 4.
//!
//! - `eval`: auto-bid evaluation in-process. Builds the application
//!   (`leadex::build`) on a fresh SQLite data dir (or a given PostgreSQL
//!   URL), creates buyers with active rules spread over every vertical,
//!   opens N auctions (the `auto_bid` job kind held back with a kind limit
//!   of 0), then times the evaluation (`Leadex::plan_auto_bids`) of every
//!   lead, then the whole job (`Leadex::run_auto_bids`) one lead at a time.
//! - `e2e`: against a running `leadex run`: sets up a seller and B buyers
//!   with a rule on every root vertical (so every lead has B auto-bidders),
//!   submits leads open-loop at a fixed rate, samples `/metrics` every
//!   second, waits until every auction has closed (bounded), then computes
//!   close latency (settlement commit − scheduled end) from the `leads`
//!   table.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use leadex_domain::vertical::{Catalog, Vertical, VerticalStatus};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

#[derive(Parser, Debug)]
#[command(name = "leadex-market-bench", version, about = "Marketplace benchmarks for leadex (issue 4)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Auto-bid evaluation timed in-process.
    Eval(EvalArgs),
    /// End-to-end close latency against a running `leadex run`.
    E2e(E2eArgs),
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// Buyers (each gets `--rules-per-buyer` rules).
    #[arg(long, default_value_t = 500)]
    buyers: usize,
    /// Rules per buyer (at most 50).
    #[arg(long, default_value_t = 20)]
    rules_per_buyer: usize,
    /// Leads evaluated.
    #[arg(long, default_value_t = 1_000)]
    leads: usize,
    /// Database URL; empty: SQLite in `--data-dir`.
    #[arg(long, default_value = "")]
    database_url: String,
    /// Data dir (created; removed at the end unless `--keep`).
    #[arg(long)]
    data_dir: std::path::PathBuf,
    /// Keep the data dir.
    #[arg(long)]
    keep: bool,
    /// Percent of rules that can match the (US) leads; the others target
    /// Canada, as a buyer's geo targeting would, so they are looked up and
    /// evaluated but do not bid.
    #[arg(long, default_value_t = 100)]
    open_percent: usize,
}

#[derive(Args, Debug)]
struct E2eArgs {
    /// Server base URL (127.0.0.1 only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Operator key.
    #[arg(long, env = "BENCH_ADMIN_KEY")]
    admin_key: String,
    /// The server's database: `sqlite:<path>` or `postgres://…` (read for the report).
    #[arg(long)]
    database_url: String,
    /// Auto-bidding buyers (each with a rule on every root vertical).
    #[arg(long, default_value_t = 20)]
    buyers: usize,
    /// Leads per second (open loop).
    #[arg(long, default_value_t = 300)]
    rate: u64,
    /// Seconds of submission.
    #[arg(long, default_value_t = 90)]
    duration_secs: u64,
    /// Longest wait for the last auctions to close after submission ends.
    #[arg(long, default_value_t = 240)]
    drain_secs: u64,
    /// Requests in flight at most (a busy tick is counted as skipped).
    #[arg(long, default_value_t = 2_048)]
    max_in_flight: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let out = match cli.command {
            Command::Eval(a) => eval(&a).await?,
            Command::E2e(a) => e2e(&a).await?,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok(())
    })
}

fn catalog() -> anyhow::Result<Catalog> {
    Catalog::new(leadex_domain::catalog::seed()).context("seeded catalogue")
}

fn active(c: &Catalog, pred: impl Fn(&Vertical) -> bool) -> Vec<Vertical> {
    c.iter().filter(|v| v.def.status == VerticalStatus::Active && pred(v)).cloned().collect()
}

/// A small HTTP helper: JSON in, JSON out, non-2xx is an error.
#[derive(Clone)]
struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    fn new(base: &str) -> anyhow::Result<Self> {
        if !base.starts_with("http://127.0.0.1") && !base.starts_with("http://localhost") {
            bail!("only a local server (127.0.0.1) is benchmarked");
        }
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().context("HTTP client")?;
        Ok(Self { client, base: base.trim_end_matches('/').to_owned() })
    }

    async fn call(&self, method: reqwest::Method, path: &str, key: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, key: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, key, body).await
    }

    async fn text(&self, path: &str) -> anyhow::Result<String> {
        let r = self.client.get(format!("{}{path}", self.base)).send().await.context("GET")?;
        Ok(r.text().await.unwrap_or_default())
    }
}

fn field(v: &Value, k: &str) -> anyhow::Result<String> {
    v[k].as_str().map(str::to_owned).with_context(|| format!("no `{k}` in {v}"))
}

/// Creates a seller with a large daily cap; returns (id, key).
async fn seller(http: &Http, admin: &str) -> anyhow::Result<(String, String)> {
    let s = http.post("/v1/admin/accounts", admin, &json!({"role": "seller", "name": "bench seller"})).await?;
    let (id, key) = (field(&s, "account_id")?, field(&s, "api_key")?);
    http.call(
        reqwest::Method::PUT,
        &format!("/v1/admin/accounts/{id}/daily-cap"),
        admin,
        &json!({"daily_cap": 1_000_000}),
    )
    .await?;
    Ok((id, key))
}

/// Creates a credited buyer with one rule per vertical in `verticals`;
/// `open_percent` of the rules have no geo targeting, the rest target
/// Canada.
async fn buyer(
    http: &Http,
    admin: &str,
    i: usize,
    verticals: &[String],
    funds: &str,
    open_percent: usize,
) -> anyhow::Result<()> {
    let b =
        http.post("/v1/admin/accounts", admin, &json!({"role": "buyer", "name": format!("bench buyer {i}")})).await?;
    let (id, key) = (field(&b, "account_id")?, field(&b, "api_key")?);
    http.post(&format!("/v1/admin/vaults/{id}/credit"), admin, &json!({"amount": funds})).await?;
    for (j, v) in verticals.iter().enumerate() {
        let bid = 20 + (i * 7 + j * 3) % 40;
        let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (j as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let countries = if ((h ^ (h >> 29)) % 100) < open_percent as u64 { json!([]) } else { json!(["CA"]) };
        http.post(
            "/v1/me/rules",
            &key,
            &json!({
                "vertical": v, "bid_amount": format!("{bid}.00"), "max_bid": "400.00",
                "daily_budget": "1000000.00", "priority": 1 + j % 5, "countries": countries,
            }),
        )
        .await?;
    }
    Ok(())
}

async fn buyers(
    http: &Http,
    admin: &str,
    plan: Vec<Vec<String>>,
    funds: &str,
    open_percent: usize,
) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(plan.into_iter().enumerate())
        .map(|(i, vs)| {
            let http = http.clone();
            async move { buyer(&http, admin, i, &vs, funds, open_percent).await }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(())
}

/// Percentiles (ms) of microsecond samples.
fn dist_ms(mut v: Vec<i64>) -> Value {
    if v.is_empty() {
        return json!({"n": 0});
    }
    v.sort_unstable();
    let q = |p: f64| {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1e3
    };
    let mean = v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64 / 1e3;
    json!({
        "n": v.len(), "min_ms": q(0.0), "p50_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99),
        "max_ms": v[v.len() - 1] as f64 / 1e3, "mean_ms": mean,
    })
}

async fn eval(a: &EvalArgs) -> anyhow::Result<Value> {
    use leadex::config::{Secret, Settings};
    use leadex_core::clock::SystemClock;
    use leadex_core::crypto::PiiCipher;
    use leadex_domain::account::Role;

    let mut settings = Settings::load(None).context("default settings")?;
    settings.data_dir = a.data_dir.clone();
    settings.database.url = Secret::new(a.database_url.clone());
    settings.privacy.key = Secret::new(PiiCipher::generate_spec());
    settings.limits.default_auction_secs = 600;
    settings.queue.kind_limits.insert("auto_bid".into(), 0);
    let app = leadex::build(settings, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("bind")?;
    let base = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = app.clone();
    let server = tokio::spawn(async move {
        let _ = serving
            .serve(listener, None, async move {
                let _ = rx.await;
            })
            .await;
    });
    let (_, _, admin) =
        app.svc.create_account(Role::Admin, "bench operator").await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let admin = admin.secret;
    let http = Http::new(&base)?;
    let cat = catalog()?;
    let all: Vec<String> = active(&cat, |_| true).into_iter().map(|v| v.def.slug).collect();
    let children = active(&cat, |v| v.depth > 1);

    let t = Instant::now();
    let per = a.rules_per_buyer.min(all.len());
    let plan: Vec<Vec<String>> =
        (0..a.buyers).map(|b| (0..per).map(|j| all[(b * per + j) % all.len()].clone()).collect()).collect();
    buyers(&http, &admin, plan, "10000000.00", a.open_percent).await?;
    let setup_secs = t.elapsed().as_secs_f64();

    let (_, seller_key) = seller(&http, &admin).await?;
    let tag = format!("mb{:x}", rand::random::<u32>());
    let bodies: Vec<Value> = {
        let mut rng = StdRng::seed_from_u64(4);
        (0..a.leads)
            .map(|i| leadex_core::synth::lead_body(&children[i % children.len()], i as u64, &tag, Utc::now(), &mut rng))
            .collect()
    };
    let ids: Vec<anyhow::Result<String>> = futures::stream::iter(bodies)
        .map(|b| {
            let (http, key) = (http.clone(), seller_key.clone());
            async move { field(&http.post("/v1/leads", &key, &b).await?, "id") }
        })
        .buffered(8)
        .collect()
        .await;
    let ids: Vec<String> = ids.into_iter().collect::<anyhow::Result<_>>()?;
    // Score and open every auction; `auto_bid` jobs stay queued (limit 0).
    let worker = app.worker();
    while worker.run_once().await.map_err(|e| anyhow::anyhow!("{e:?}"))? > 0 {}

    let lead_ids: Vec<leadex_domain::LeadId> = ids
        .iter()
        .map(|id| id.parse().map_err(|e| anyhow::anyhow!("lead id {id}: {e:?}")))
        .collect::<anyhow::Result<_>>()?;
    // Pass 1, the evaluation proper (lead read + cached rule lookup +
    // matching + reserve/KYC decisions), nothing written.
    // The rule cache is filled once per vertical (timed apart: `cold_load`);
    // after that it is revalidated per lead with one single-row read.
    let mut cold = Vec::new();
    let mut warmed = std::collections::HashSet::new();
    for &lead_id in &lead_ids {
        let lead = app.svc.store().get_lead(lead_id).await?.context("lead")?;
        if warmed.insert(lead.vertical.clone()) {
            let t = Instant::now();
            app.svc.plan_auto_bids(&lead).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
            cold.push(i64::try_from(t.elapsed().as_micros()).unwrap_or(i64::MAX));
        }
    }
    let mut plan_lat = Vec::with_capacity(ids.len());
    let mut considered = 0usize;
    for &lead_id in &lead_ids {
        let t = Instant::now();
        let lead = app.svc.store().get_lead(lead_id).await?.context("lead")?;
        let plan = app.svc.plan_auto_bids(&lead).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        plan_lat.push(i64::try_from(t.elapsed().as_micros()).unwrap_or(i64::MAX));
        considered += plan.attempts.len() + plan.skipped.len();
    }
    // Pass 2, the whole `auto_bid` job per lead: evaluation, the one write
    // transaction, events.
    let mut lat = Vec::with_capacity(ids.len());
    let mut placed_total = 0usize;
    let mut rules_seen = BTreeMap::<String, u64>::new();
    let started = Instant::now();
    for &lead_id in &lead_ids {
        let t = Instant::now();
        let placed = app.svc.run_auto_bids(lead_id).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
        lat.push(i64::try_from(t.elapsed().as_micros()).unwrap_or(i64::MAX));
        placed_total += placed;
        *rules_seen.entry(placed.to_string()).or_default() += 1;
        if started.elapsed() > Duration::from_secs(480) {
            eprintln!("stopping early: auctions end after 600 s");
            break;
        }
    }
    let n = lat.len();
    let _ = tx.send(());
    let _ = server.await;
    drop(app);
    if !a.keep && a.database_url.is_empty() {
        let _ = std::fs::remove_dir_all(&a.data_dir);
    }
    Ok(json!({
        "command": "eval", "buyers": a.buyers, "rules": a.buyers * per, "verticals": all.len(),
        "leads_evaluated": n, "setup_secs": setup_secs,
        "bids_placed_per_lead_mean": placed_total as f64 / n.max(1) as f64,
        "open_percent": a.open_percent,
        "matching_rules_per_lead_mean": considered as f64 / n.max(1) as f64,
        "bids_placed_histogram": rules_seen,
        "evaluation": dist_ms(plan_lat),
        "evaluation_cold_rule_load": dist_ms(cold),
        "run_auto_bids": dist_ms(lat),
    }))
}

enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres") {
            let opts: PgConnectOptions = url.parse().context("postgres URL")?;
            Ok(Self::Postgres(PgPoolOptions::new().max_connections(1).connect_with(opts).await?))
        } else {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            let opts = SqliteConnectOptions::new().filename(path).read_only(true);
            Ok(Self::Sqlite(SqlitePoolOptions::new().max_connections(1).connect_with(opts).await?))
        }
    }

    async fn rows(&self, sql: &'static str) -> anyhow::Result<Vec<(String, i64, i64)>> {
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_as(sql).fetch_all(p).await?,
            Self::Postgres(p) => sqlx::query_as(sql).fetch_all(p).await?,
        })
    }

    async fn scalar(&self, sql: &'static str) -> anyhow::Result<i64> {
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
            Self::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
        })
    }
}

/// The value of an unlabelled (or max over labelled) gauge.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(f64::max)
}

/// p50/p99 (upper bucket bound, seconds) of a histogram summed over labels.
fn hist_quantiles(text: &str, name: &str) -> Value {
    let prefix = format!("{name}_bucket");
    let mut buckets: BTreeMap<u64, f64> = BTreeMap::new();
    let mut les: BTreeMap<u64, String> = BTreeMap::new();
    for l in text.lines().filter(|l| l.starts_with(&prefix)) {
        let Some(le) = l.split("le=\"").nth(1).and_then(|s| s.split('"').next()) else { continue };
        let Some(c) = l.rsplit(' ').next().and_then(|s| s.parse::<f64>().ok()) else { continue };
        let key = if le == "+Inf" { u64::MAX } else { (le.parse::<f64>().unwrap_or(0.0) * 1e9) as u64 };
        *buckets.entry(key).or_default() += c;
        les.insert(key, le.to_owned());
    }
    let total = buckets.values().copied().reduce(f64::max).unwrap_or(0.0);
    let q = |p: f64| buckets.iter().find(|(_, c)| **c >= p * total).and_then(|(k, _)| les.get(k).cloned());
    // Linear interpolation inside the bucket, as PromQL's histogram_quantile.
    let interpolated = |p: f64| {
        let rank = p * total;
        let mut lower = (0.0, 0.0); // (bound s, cumulative count)
        for (k, c) in &buckets {
            if *c >= rank {
                if *k == u64::MAX {
                    return Some(lower.0);
                }
                let upper = *k as f64 / 1e9;
                let width = c - lower.1;
                let into = if width > 0.0 { (rank - lower.1) / width } else { 1.0 };
                return Some(lower.0 + (upper - lower.0) * into);
            }
            lower = (*k as f64 / 1e9, *c);
        }
        None
    };
    let within =
        |bound_s: f64| buckets.get(&((bound_s * 1e9) as u64)).map(|c| if total > 0.0 { c / total } else { 0.0 });
    json!({"count": total, "p50_le_s": q(0.5), "p99_le_s": q(0.99),
           "p50_s_interpolated": interpolated(0.5), "p99_s_interpolated": interpolated(0.99),
           "share_within_250ms": within(0.25)})
}

async fn e2e(a: &E2eArgs) -> anyhow::Result<Value> {
    let http = Http::new(&a.base_url)?;
    let cat = catalog()?;
    let roots: Vec<String> = active(&cat, |v| v.depth == 1).into_iter().map(|v| v.def.slug).collect();
    let children = Arc::new(active(&cat, |v| v.depth > 1));
    let t = Instant::now();
    buyers(&http, &a.admin_key, (0..a.buyers).map(|_| roots.clone()).collect(), "10000000.00", 100).await?;
    let (_, seller_key) = seller(&http, &a.admin_key).await?;
    let setup_secs = t.elapsed().as_secs_f64();
    let db = Db::connect(&a.database_url).await?;

    // Sample /metrics every second until told to stop.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let sampler = {
        let http = http.clone();
        tokio::spawn(async move {
            let mut ages = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop_rx.changed() => break,
                }
                if let Ok(text) = http.text("/metrics").await
                    && let Some(v) = gauge(&text, "leadex_queue_oldest_ready_age_seconds")
                {
                    ages.push(v);
                }
            }
            ages
        })
    };

    let tag = format!("e2e{:x}", rand::random::<u32>());
    let url = Arc::new(format!("{}/v1/leads", http.base));
    let accepted = Arc::new(AtomicU64::new(0));
    let statuses: Arc<std::sync::Mutex<BTreeMap<String, u64>>> = Arc::default();
    let lat: Arc<std::sync::Mutex<Vec<i64>>> = Arc::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(a.max_in_flight.max(1)));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let total = a.rate * a.duration_secs;
    let period = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    let mut rng = StdRng::from_entropy();
    let mut tasks = tokio::task::JoinSet::new();
    let mut skipped = 0u64;
    let mut max_behind = Duration::ZERO;
    let start = tokio::time::Instant::now();
    for seq in 0..total {
        let due = start + period.mul_f64(seq as f64);
        tokio::time::sleep_until(due).await;
        max_behind = max_behind.max(tokio::time::Instant::now().saturating_duration_since(due));
        let Ok(permit) = sem.clone().try_acquire_owned() else {
            skipped += 1;
            continue;
        };
        let v = &children[usize::try_from(seq).unwrap_or(0) % children.len()];
        let body = leadex_core::synth::lead_body(v, seq, &tag, Utc::now(), &mut rng);
        let (client, url, key) = (client.clone(), url.clone(), seller_key.clone());
        let (accepted, statuses, lat) = (accepted.clone(), statuses.clone(), lat.clone());
        tasks.spawn(async move {
            let t = Instant::now();
            let code = match client.post(url.as_str()).bearer_auth(key).json(&body).send().await {
                Ok(r) => {
                    let s = r.status();
                    let _ = r.bytes().await;
                    if s.is_success() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    s.as_u16().to_string()
                }
                Err(e) if e.is_timeout() => "timeout".into(),
                Err(_) => "error".into(),
            };
            lat.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(i64::try_from(t.elapsed().as_micros()).unwrap_or(i64::MAX));
            *statuses.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1;
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    let schedule_secs = start.elapsed().as_secs_f64();
    while tasks.join_next().await.is_some() {}
    let accepted = accepted.load(Ordering::Relaxed);

    // Wait for every auction to close (bounded).
    let deadline = Instant::now() + Duration::from_secs(a.drain_secs + 70);
    let mut open_left;
    loop {
        open_left = db
            .scalar("SELECT COUNT(*) FROM leads WHERE status IN ('received', 'scored', 'in_auction')")
            .await
            .unwrap_or(-1);
        if open_left == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let drain_secs = start.elapsed().as_secs_f64() - schedule_secs;
    let _ = stop_tx.send(true);
    let ages = sampler.await.unwrap_or_default();
    let metrics = http.text("/metrics").await.unwrap_or_default();

    let rows = db
        .rows(
            "SELECT status, auction_ends_at, COALESCE(sold_at, updated_at) FROM leads \
             WHERE auction_ends_at IS NOT NULL AND status <> 'in_auction'",
        )
        .await?;
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut close = Vec::with_capacity(rows.len());
    let mut close_sold = Vec::new();
    for (status, ends, done) in rows {
        *by_status.entry(status.clone()).or_default() += 1;
        close.push(done - ends);
        if status == "sold" {
            close_sold.push(done - ends);
        }
    }
    let bids = db.scalar("SELECT COUNT(*) FROM bids").await.unwrap_or(-1);
    let mut sorted = ages.clone();
    sorted.sort_by(f64::total_cmp);
    let age_q = |p: f64| {
        sorted
            .get(((p * sorted.len() as f64).ceil() as usize).saturating_sub(1).min(sorted.len().saturating_sub(1)))
            .copied()
    };
    Ok(json!({
        "command": "e2e", "target_rate": a.rate, "duration_secs": a.duration_secs, "buyers": a.buyers,
        "rules": a.buyers * roots.len(), "setup_secs": setup_secs,
        "scheduled": total, "skipped_in_flight_cap": skipped, "accepted": accepted,
        "statuses": statuses.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        "schedule_secs": schedule_secs, "achieved_rate": accepted as f64 / schedule_secs.max(1e-9),
        "max_schedule_lag_ms": max_behind.as_secs_f64() * 1e3,
        "submit_http_latency": dist_ms(std::mem::take(&mut *lat.lock().unwrap_or_else(|p| p.into_inner()))),
        "drain_secs_after_submission": drain_secs, "leads_not_closed_at_end": open_left,
        "closed_by_status": by_status, "bids_total": bids,
        // From the table: `sold_at` is the close's decision time, taken
        // before its transaction waits for the writer. The target (settlement
        // commit − scheduled end) is `metrics_close_latency`, which the
        // server records after the commit.
        "close_latency_all": dist_ms(close), "close_latency_sold": dist_ms(close_sold),
        "queue_oldest_ready_age_s": {"samples": sorted.len(), "p50": age_q(0.5), "p99": age_q(0.99), "max": sorted.last()},
        "metrics_close_latency": hist_quantiles(&metrics, "leadex_auction_close_latency_seconds"),
        "metrics_job_start_delay": hist_quantiles(&metrics, "leadex_job_start_delay_seconds"),
        "metrics_auto_bid_eval": hist_quantiles(&metrics, "leadex_auto_bid_evaluation_seconds"),
    }))
}
