//! `leadex-limit-bench`: cost of one rate-limit check (issue 6), the
//! in-process sliding log against the Redis Lua script, in one run.
//!
//! C concurrent tasks check keys drawn from K keys (limit high enough that
//! most checks admit, so each admitted check also writes) for D seconds per
//! backend; prints checks/s and the latency percentiles of one check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use leadex_api::ratelimit::{Backend, Group, Limits, RateLimiter, RedisWindow};
use serde_json::json;

#[derive(Parser, Debug)]
#[command(name = "leadex-limit-bench", version, about = "Rate-limit check cost: in-process vs Redis (issue 6)")]
struct Cli {
    /// Redis URL for the shared backend.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Concurrent checking tasks.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Distinct keys (API keys) checked.
    #[arg(long, default_value_t = 10_000)]
    keys: u64,
    /// Seconds per backend.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Requests per window per key (the general group's limit).
    #[arg(long, default_value_t = 1_200)]
    limit: u32,
}

async fn run(limiter: Arc<RateLimiter>, cli: &Cli, label: &str) -> anyhow::Result<serde_json::Value> {
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..cli.concurrency {
        let limiter = limiter.clone();
        let stop = stop.clone();
        let errors = errors.clone();
        let refused = refused.clone();
        let keys = cli.keys.max(1);
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("static bounds");
            let mut i = t as u64;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i = i.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let key = format!("k:{:x}", (i >> 33) % keys);
                let t0 = Instant::now();
                match limiter.check(Group::General, &key).await {
                    Ok(d) if !d.allowed => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                h.saturating_record(t0.elapsed().as_micros().max(1) as u64);
                n += 1;
                if n.is_multiple_of(64) {
                    // The in-process check never suspends; let the timer run.
                    tokio::task::yield_now().await;
                }
            }
            h
        }));
    }
    tokio::time::sleep(Duration::from_secs(cli.duration_secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for t in tasks {
        all.add(t.await?)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let q = |p: f64| all.value_at_quantile(p) as f64 / 1e3;
    let out = json!({
        "backend": label, "concurrency": cli.concurrency, "keys": cli.keys,
        "checks": all.len(), "checks_per_sec": all.len() as f64 / secs,
        "refused": refused.load(Ordering::Relaxed), "errors": errors.load(Ordering::Relaxed),
        "latency_ms": {"p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "max": all.max() as f64 / 1e3},
    });
    println!("{out}");
    Ok(out)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let limits = Limits { general: cli.limit, ..Limits::default() };
    let local = Arc::new(RateLimiter::local(limits.clone()));
    let a = run(local, &cli, "in-process").await?;
    let client = redis::Client::open(cli.redis_url.as_str())?;
    let prefix = format!("bench:{}:", std::process::id());
    let window = RedisWindow::connect(client, prefix).await?;
    let redis = Arc::new(RateLimiter { limits, backend: Backend::Redis(window) });
    let b = run(redis, &cli, "redis").await?;
    let ratio = a["checks_per_sec"].as_f64().unwrap_or(0.0) / b["checks_per_sec"].as_f64().unwrap_or(1.0).max(1e-9);
    println!("{}", json!({"in_process_over_redis_checks_per_sec": ratio}));
    Ok(())
}
