//! `leadex-queue-bench`: the job-queue benchmarks of issue 3, working on the
//! database directly (PostgreSQL or SQLite) and, for the pipeline latency,
//! on a running server.
//!
//! - `load`: pre-loads N jobs with multi-row `INSERT`s (all ready now, or
//!   `run_at` spread uniformly over a window).
//! - `wait`: polls until N jobs have finished (done or dead) and prints the
//!   wall-clock time since a given start.
//! - `report`: drain time, jobs/s and the distribution of
//!   `started_at − run_at`, computed from the `jobs` table.
//! - `submit`: open-loop lead submission at a fixed rate (`POST /v1/leads`).
//! - `leads`: distribution of `auction_opened_at − created_at` from the
//!   `leads` table.
//!
//! Every figure comes from timestamps the server wrote (µs since the epoch),
//! so the tool's own overhead is not in them.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Parser, Subcommand};
use leadex_domain::vertical::{Catalog, Vertical, VerticalStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::QueryBuilder;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(name = "leadex-queue-bench", version, about = "Job-queue benchmarks for leadex (issue 3)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Insert N jobs directly into the `jobs` table.
    Load(LoadArgs),
    /// Wait until N jobs have finished; print the wall-clock time.
    Wait(WaitArgs),
    /// Drain time, jobs/s and start lateness from the `jobs` table.
    Report(ReportArgs),
    /// Open-loop lead submission at a fixed rate.
    Submit(SubmitArgs),
    /// Ingest-to-auction latency from the `leads` table.
    Leads(LeadsArgs),
}

/// The database to work on.
#[derive(Args, Debug, Clone)]
struct DbArgs {
    /// `postgres://…` or `sqlite://path/leadex.db`.
    #[arg(long, env = "LEADEX__DATABASE__URL")]
    db: String,
}

/// Options of `load`.
#[derive(Args, Debug, Clone)]
struct LoadArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Jobs to insert.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Job kind.
    #[arg(long, default_value = "noop")]
    kind: String,
    /// Distinct verticals the jobs are spread over (round-robin).
    #[arg(long, default_value_t = 10)]
    verticals: u32,
    /// First `run_at`, in milliseconds from the moment of loading.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// `run_at` is spread uniformly over this many seconds after the first
    /// one (0: every job has the same `run_at`).
    #[arg(long, default_value_t = 0.0)]
    spread_secs: f64,
    /// Rows per `INSERT` statement.
    #[arg(long, default_value_t = 1_000)]
    rows_per_insert: usize,
    /// Run `ANALYZE jobs` after loading, so the planner knows the table
    /// (otherwise a freshly loaded table has no statistics until autovacuum
    /// gets to it).
    #[arg(long)]
    analyze: bool,
}

/// Options of `wait`.
#[derive(Args, Debug, Clone)]
struct WaitArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Finished jobs (done or dead) expected once nothing is queued or
    /// running any more; fewer is an error.
    #[arg(long)]
    expect: u64,
    /// Give up after this many seconds (exit status 1).
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Start of the wall clock, Unix epoch milliseconds (default: now).
    #[arg(long)]
    t0_ms: Option<i64>,
    /// Poll period in milliseconds (the wall clock is this precise).
    #[arg(long, default_value_t = 25)]
    poll_ms: u64,
}

/// Options of `report`.
#[derive(Args, Debug, Clone)]
struct ReportArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Only jobs of this kind.
    #[arg(long, default_value = "noop")]
    kind: String,
    /// Free-form label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
}

/// Options of `leads`.
#[derive(Args, Debug, Clone)]
struct LeadsArgs {
    #[command(flatten)]
    db: DbArgs,
    /// First wait up to this many seconds for the pipeline to catch up
    /// (no lead left in `received`).
    #[arg(long, default_value_t = 0)]
    settle_secs: u64,
    /// Width of the timeline buckets (by `created_at`), in seconds.
    #[arg(long, default_value_t = 5)]
    bucket_secs: u64,
}

/// Options of `submit`.
#[derive(Args, Debug, Clone)]
struct SubmitArgs {
    /// Server base URL (127.0.0.1 only in the scripts).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// Seller API key.
    #[arg(long, env = "BENCH_SELLER_KEY")]
    key: String,
    /// Leads per second (open loop: the schedule does not wait for answers).
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Seconds of submission.
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Operator key: with `--seller-id`, raise the seller's daily cap first.
    #[arg(long, env = "BENCH_ADMIN_KEY")]
    admin_key: Option<String>,
    /// Seller account id whose daily cap is raised.
    #[arg(long)]
    seller_id: Option<String>,
    /// The daily cap set with `--admin-key`/`--seller-id`.
    #[arg(long, default_value_t = 1_000_000)]
    daily_cap: u64,
    /// Requests allowed in flight; a tick finding them all busy is counted
    /// as `skipped` rather than queued (so the schedule stays open-loop).
    #[arg(long, default_value_t = 4_096)]
    max_in_flight: usize,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let out = match cli.command {
            Command::Load(a) => load(&a).await?,
            Command::Wait(a) => wait(&a).await?,
            Command::Report(a) => report(&a).await?,
            Command::Submit(a) => submit(&a).await?,
            Command::Leads(a) => leads(&a).await?,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        Ok(())
    })
}

/// A connection pool of either engine.
enum Db {
    Pg(PgPool),
    Lite(SqlitePool),
}

impl Db {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if !is_local(url) {
                bail!("only 127.0.0.1/localhost databases are benchmarked");
            }
            let o = PgConnectOptions::from_str(url).context("PostgreSQL URL")?;
            let p = PgPoolOptions::new().max_connections(4).connect_with(o).await.context("connecting PostgreSQL")?;
            Ok(Self::Pg(p))
        } else {
            let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
            let o = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(false)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30));
            let p = SqlitePoolOptions::new().max_connections(1).connect_with(o).await.context("opening SQLite")?;
            Ok(Self::Lite(p))
        }
    }

    fn engine(&self) -> &'static str {
        match self {
            Self::Pg(_) => "postgres",
            Self::Lite(_) => "sqlite",
        }
    }

    async fn close(self) {
        match self {
            Self::Pg(p) => p.close().await,
            Self::Lite(p) => p.close().await,
        }
    }
}

/// Runs the same query text on either engine (`$n` placeholders work on
/// both).
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            Db::Pg($p) => $body,
            Db::Lite($p) => $body,
        }
    };
}

fn is_local(url: &str) -> bool {
    let host = url.split('@').next_back().unwrap_or("");
    host.starts_with("127.0.0.1") || host.starts_with("localhost") || host.starts_with('/') || host.starts_with('%')
}

fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// One row of the `jobs` table as loaded.
struct JobRow {
    id: Uuid,
    vertical: String,
    run_at: i64,
}

/// Inserts `rows` in one statement.
macro_rules! insert_rows {
    ($pool:expr, $db:ty, $rows:expr, $kind:expr, $corr:expr, $created:expr) => {{
        let mut qb: QueryBuilder<$db> = QueryBuilder::new(
            "INSERT INTO jobs (id, kind, vertical, lead_id, payload, status, attempts, max_attempts, run_at, \
             correlation_id, dedupe_key, created_at, updated_at) ",
        );
        qb.push_values($rows, |mut b, r: &JobRow| {
            b.push_bind(r.id)
                .push_bind($kind)
                .push_bind(r.vertical.as_str())
                .push_bind(None::<Uuid>)
                .push_bind(Json(json!({})))
                .push_bind("queued")
                .push_bind(0_i64)
                .push_bind(3_i64)
                .push_bind(r.run_at)
                .push_bind($corr)
                .push_bind(None::<String>)
                .push_bind($created)
                .push_bind($created);
        });
        qb.build().execute($pool).await.context("multi-row INSERT")?.rows_affected()
    }};
}

async fn load(a: &LoadArgs) -> anyhow::Result<Value> {
    let db = Db::connect(&a.db.db).await?;
    let mut rng = StdRng::from_entropy();
    let base = now_us() + i64::try_from(a.delay_ms).unwrap_or(0) * 1_000;
    let spread_us = (a.spread_secs.max(0.0) * 1e6) as i64;
    let verticals: Vec<String> = (0..a.verticals.max(1)).map(|i| format!("bench.v{i}")).collect();
    let corr = format!("queue-bench-{}", Uuid::now_v7());
    let started = Instant::now();
    let mut inserted = 0u64;
    let mut left = a.count;
    let per = a.rows_per_insert.clamp(1, 2_000) as u64;
    let mut seq = 0usize;
    while left > 0 {
        let n = left.min(per);
        let rows: Vec<JobRow> = (0..n)
            .map(|_| {
                let v = verticals[seq % verticals.len()].clone();
                seq += 1;
                let run_at = if spread_us > 0 { base + rng.gen_range(0..spread_us) } else { base };
                JobRow { id: Uuid::now_v7(), vertical: v, run_at }
            })
            .collect();
        let created = now_us();
        inserted += match &db {
            Db::Pg(p) => insert_rows!(p, sqlx::Postgres, rows.iter(), a.kind.as_str(), corr.as_str(), created),
            Db::Lite(p) => insert_rows!(p, sqlx::Sqlite, rows.iter(), a.kind.as_str(), corr.as_str(), created),
        };
        left -= n;
    }
    let secs = started.elapsed().as_secs_f64();
    if a.analyze {
        on_db!(&db, |p| sqlx::query("ANALYZE jobs").execute(p).await.map(|_| ()).context("ANALYZE jobs")?);
    }
    let engine = db.engine();
    db.close().await;
    Ok(json!({
        "command": "load", "engine": engine, "inserted": inserted, "kind": a.kind,
        "verticals": a.verticals, "first_run_at_us": base, "spread_secs": a.spread_secs,
        "load_secs": secs, "rows_per_sec": inserted as f64 / secs.max(1e-9), "analyzed": a.analyze,
    }))
}

async fn wait(a: &WaitArgs) -> anyhow::Result<Value> {
    let db = Db::connect(&a.db.db).await?;
    let t0 = a.t0_ms.unwrap_or_else(|| Utc::now().timestamp_millis());
    let deadline = Instant::now() + Duration::from_secs(a.timeout_secs);
    // Polling must not load the database it measures: a COUNT(*) over the
    // whole table every few ms costs tens of ms of server CPU per call at
    // 100 000 rows. "Is anything still queued or running?" reads the first
    // entry of the two partial indexes; the full count runs once at the end.
    loop {
        let busy: i64 = on_db!(&db, |p| sqlx::query_scalar::<_, i64>(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1) q)
                  + (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = 'running' LIMIT 1) r)"
        )
        .fetch_one(p)
        .await
        .context("checking for unfinished jobs")?);
        if busy == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(a.poll_ms.max(1))).await;
    }
    let wall_ms = Utc::now().timestamp_millis() - t0;
    let finished: i64 =
        on_db!(&db, |p| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM jobs WHERE status IN ('done', 'dead')")
            .fetch_one(p)
            .await
            .context("counting finished jobs")?);
    db.close().await;
    let ok = u64::try_from(finished).unwrap_or(0) >= a.expect;
    let out = json!({"command": "wait", "finished": finished, "expected": a.expect, "wall_secs": wall_ms as f64 / 1e3, "ok": ok});
    if !ok {
        eprintln!("{out}");
        bail!("{finished}/{} jobs finished (timeout {} s)", a.expect, a.timeout_secs);
    }
    Ok(out)
}

/// Nearest-rank percentile of a sorted slice.
fn pct(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// p50/p90/p99/p99.9/max/mean of `v` (µs), in milliseconds.
fn dist_ms(mut v: Vec<i64>) -> Value {
    v.sort_unstable();
    let ms = |x: i64| x as f64 / 1e3;
    let mean = if v.is_empty() { 0.0 } else { v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64 / 1e3 };
    json!({
        "count": v.len(),
        "min_ms": ms(v.first().copied().unwrap_or(0)),
        "p50_ms": ms(pct(&v, 0.50)), "p90_ms": ms(pct(&v, 0.90)), "p99_ms": ms(pct(&v, 0.99)),
        "p999_ms": ms(pct(&v, 0.999)), "max_ms": ms(v.last().copied().unwrap_or(0)), "mean_ms": mean,
    })
}

/// `run_at, started_at, finished_at, attempts, locked_by` of a finished job.
type DoneJob = (i64, Option<i64>, Option<i64>, i64, Option<String>);

async fn report(a: &ReportArgs) -> anyhow::Result<Value> {
    let db = Db::connect(&a.db.db).await?;
    let by_status: Vec<(String, i64)> = on_db!(&db, |p| sqlx::query_as(
        "SELECT status, COUNT(*) FROM jobs WHERE kind = $1 GROUP BY status ORDER BY status"
    )
    .bind(&a.kind)
    .fetch_all(p)
    .await
    .context("status counts")?);
    let rows: Vec<DoneJob> = on_db!(&db, |p| sqlx::query_as(
        "SELECT run_at, started_at, finished_at, attempts, locked_by FROM jobs WHERE kind = $1 AND status = 'done'"
    )
    .bind(&a.kind)
    .fetch_all(p)
    .await
    .context("reading finished jobs")?);
    let engine = db.engine();
    db.close().await;
    let mut late = Vec::with_capacity(rows.len());
    let mut run_time = Vec::with_capacity(rows.len());
    let (mut first_start, mut last_finish) = (i64::MAX, i64::MIN);
    let (mut first_run_at, mut last_run_at) = (i64::MAX, i64::MIN);
    let mut retried = 0u64;
    let mut per_worker: BTreeMap<String, u64> = BTreeMap::new();
    for (run_at, started, finished, attempts, locked_by) in &rows {
        if let Some(s) = started {
            late.push(s - run_at);
            first_start = first_start.min(*s);
            if let Some(f) = finished {
                run_time.push(f - s);
            }
        }
        if let Some(f) = finished {
            last_finish = last_finish.max(*f);
        }
        first_run_at = first_run_at.min(*run_at);
        last_run_at = last_run_at.max(*run_at);
        if *attempts > 1 {
            retried += 1;
        }
        // The worker id is `<host>-<pid>-<rand>`; one entry per process.
        *per_worker.entry(locked_by.clone().unwrap_or_default()).or_default() += 1;
    }
    let done = rows.len() as u64;
    // Completions per second of the drain: a rate that climbs as the queue
    // empties means a claim costs more the deeper the queue is.
    let mut per_sec: Vec<u64> = Vec::new();
    if done > 0 {
        for (_, _, finished, _, _) in &rows {
            if let Some(f) = finished {
                let b = usize::try_from((f - first_start).max(0) / 1_000_000).unwrap_or(0);
                if per_sec.len() <= b {
                    per_sec.resize(b + 1, 0);
                }
                per_sec[b] += 1;
            }
        }
    }
    let drain_secs = if done > 0 { (last_finish - first_start) as f64 / 1e6 } else { 0.0 };
    Ok(json!({
        "command": "report", "label": a.label, "engine": engine, "kind": a.kind,
        "by_status": by_status.into_iter().collect::<BTreeMap<_, _>>(),
        "done": done, "retried": retried,
        "drain_secs": drain_secs,
        "jobs_per_sec": if drain_secs > 0.0 { done as f64 / drain_secs } else { 0.0 },
        "run_at_span_secs": if done > 0 { (last_run_at - first_run_at) as f64 / 1e6 } else { 0.0 },
        "start_minus_run_at": dist_ms(late),
        "finish_minus_start": dist_ms(run_time),
        "per_worker": per_worker,
        "finished_per_sec": per_sec.iter().map(u64::to_string).collect::<Vec<_>>().join(" "),
    }))
}

async fn leads(a: &LeadsArgs) -> anyhow::Result<Value> {
    let db = Db::connect(&a.db.db).await?;
    let settle_started = Instant::now();
    loop {
        let received: i64 =
            on_db!(&db, |p| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM leads WHERE status = 'received'")
                .fetch_one(p)
                .await
                .context("counting unscored leads")?);
        if received == 0 || settle_started.elapsed() >= Duration::from_secs(a.settle_secs) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settle_secs = settle_started.elapsed().as_secs_f64();
    let by_status: Vec<(String, i64)> =
        on_db!(&db, |p| sqlx::query_as("SELECT status, COUNT(*) FROM leads GROUP BY status ORDER BY status")
            .fetch_all(p)
            .await
            .context("lead status counts")?);
    let rows: Vec<(String, i64, Option<i64>)> =
        on_db!(&db, |p| sqlx::query_as("SELECT status, created_at, auction_opened_at FROM leads")
            .fetch_all(p)
            .await
            .context("reading leads")?);
    let engine = db.engine();
    db.close().await;
    let mut in_auction = Vec::new();
    let mut opened = Vec::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for (status, created, opened_at) in &rows {
        first = first.min(*created);
        last = last.max(*created);
        if let Some(o) = opened_at {
            opened.push(o - created);
            if status == "in_auction" {
                in_auction.push(o - created);
            }
        }
    }
    let span = if rows.is_empty() { 0.0 } else { (last - first) as f64 / 1e6 };
    // Latency by submission time: a backlog that grows shows as a rising
    // line, periodic stalls as spikes.
    let width = i64::try_from(a.bucket_secs.max(1)).unwrap_or(5) * 1_000_000;
    let mut buckets: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (_, created, opened_at) in &rows {
        let b = (created - first) / width;
        let e = buckets.entry(b).or_default();
        // Not opened yet: marked -1 and counted apart.
        e.push(opened_at.map_or(-1, |o| o - created));
    }
    let timeline: Vec<String> = buckets
        .into_iter()
        .map(|(b, mut v)| {
            let open = v.iter().filter(|x| **x < 0).count();
            v.retain(|x| *x >= 0);
            v.sort_unstable();
            format!(
                "t+{}s n={} p50={:.0}ms p99={:.0}ms max={:.0}ms unopened={open}",
                b * width / 1_000_000,
                v.len() + open,
                pct(&v, 0.5) as f64 / 1e3,
                pct(&v, 0.99) as f64 / 1e3,
                v.last().copied().unwrap_or(0) as f64 / 1e3
            )
        })
        .collect();
    Ok(json!({
        "command": "leads", "engine": engine,
        "by_status": by_status.into_iter().collect::<BTreeMap<_, _>>(),
        "leads": rows.len(), "created_span_secs": span,
        "ingest_rate_per_sec": if span > 0.0 { rows.len() as f64 / span } else { 0.0 },
        "in_auction_opened_minus_created": dist_ms(in_auction),
        "all_opened_minus_created": dist_ms(opened),
        "settle_secs": settle_secs,
        "timeline": timeline,
    }))
}

/// Active verticals below a root: the ones leads are submitted to.
fn child_verticals() -> anyhow::Result<Vec<Vertical>> {
    let catalog = Catalog::new(leadex_domain::catalog::seed()).context("seeded catalogue")?;
    let v: Vec<Vertical> =
        catalog.iter().filter(|v| v.depth > 1 && v.def.status == VerticalStatus::Active).cloned().collect();
    if v.is_empty() {
        bail!("the seeded catalogue has no child verticals");
    }
    Ok(v)
}

/// Outcome counters of `submit`.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    accepted: AtomicU64,
    skipped: AtomicU64,
}

async fn submit(a: &SubmitArgs) -> anyhow::Result<Value> {
    if !a.base_url.starts_with("http://127.0.0.1") && !a.base_url.starts_with("http://localhost") {
        bail!("only a local server (127.0.0.1) is benchmarked");
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(a.timeout_secs))
        .pool_max_idle_per_host(a.max_in_flight)
        .build()
        .context("HTTP client")?;
    if let (Some(admin), Some(seller)) = (&a.admin_key, &a.seller_id) {
        let r = client
            .put(format!("{}/v1/admin/accounts/{seller}/daily-cap", a.base_url))
            .bearer_auth(admin)
            .json(&json!({"daily_cap": a.daily_cap}))
            .send()
            .await
            .context("PUT daily-cap")?;
        let status = r.status();
        if !status.is_success() {
            let body = r.text().await.unwrap_or_default();
            bail!("PUT daily-cap answered {status}: {body}");
        }
    }
    let verticals = Arc::new(child_verticals()?);
    let tag = format!("qb{:x}", rand::random::<u32>());
    let url = Arc::new(format!("{}/v1/leads", a.base_url));
    let counters = Arc::new(Counters::default());
    let statuses: Arc<std::sync::Mutex<BTreeMap<String, u64>>> = Arc::default();
    let latencies: Arc<std::sync::Mutex<Vec<i64>>> = Arc::default();
    let sem = Arc::new(tokio::sync::Semaphore::new(a.max_in_flight.max(1)));
    let total = a.rate * a.duration_secs;
    let period = Duration::from_secs_f64(1.0 / a.rate.max(1) as f64);
    let start = tokio::time::Instant::now();
    let mut rng = StdRng::from_entropy();
    let mut tasks = tokio::task::JoinSet::new();
    let mut max_behind = Duration::ZERO;
    for seq in 0..total {
        // Open loop: request `seq` is due at start + seq × period, whatever
        // happened to the ones before it.
        let due = start + period.mul_f64(seq as f64);
        tokio::time::sleep_until(due).await;
        max_behind = max_behind.max(tokio::time::Instant::now().saturating_duration_since(due));
        let Ok(permit) = sem.clone().try_acquire_owned() else {
            counters.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let v = &verticals[usize::try_from(seq).unwrap_or(0) % verticals.len()];
        let body = leadex_core::synth::lead_body(v, seq, &tag, Utc::now(), &mut rng);
        let (client, url, key) = (client.clone(), url.clone(), a.key.clone());
        let (counters, statuses, latencies) = (counters.clone(), statuses.clone(), latencies.clone());
        tasks.spawn(async move {
            let t = Instant::now();
            counters.sent.fetch_add(1, Ordering::Relaxed);
            let r = client.post(url.as_str()).bearer_auth(key).json(&body).send().await;
            let code = match r {
                Ok(r) => {
                    let s = r.status();
                    let _ = r.bytes().await;
                    if s.is_success() {
                        counters.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    s.as_u16().to_string()
                }
                Err(e) if e.is_timeout() => "timeout".into(),
                Err(_) => "error".into(),
            };
            let us = i64::try_from(t.elapsed().as_micros()).unwrap_or(i64::MAX);
            latencies.lock().unwrap_or_else(|p| p.into_inner()).push(us);
            *statuses.lock().unwrap_or_else(|p| p.into_inner()).entry(code).or_default() += 1;
            drop(permit);
        });
        // Reap finished tasks so the set does not grow for the whole run.
        while tasks.try_join_next().is_some() {}
    }
    let schedule_secs = start.elapsed().as_secs_f64();
    while tasks.join_next().await.is_some() {}
    let lat = std::mem::take(&mut *latencies.lock().unwrap_or_else(|p| p.into_inner()));
    let statuses = statuses.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let accepted = counters.accepted.load(Ordering::Relaxed);
    Ok(json!({
        "command": "submit", "target_rate": a.rate, "duration_secs": a.duration_secs,
        "scheduled": total, "sent": counters.sent.load(Ordering::Relaxed),
        "skipped_in_flight_cap": counters.skipped.load(Ordering::Relaxed),
        "accepted": accepted, "statuses": statuses,
        "schedule_secs": schedule_secs, "achieved_rate": accepted as f64 / schedule_secs.max(1e-9),
        "max_schedule_lag_ms": max_behind.as_secs_f64() * 1e3,
        "http_latency": dist_ms(lat),
        "verticals": verticals.len(),
    }))
}
