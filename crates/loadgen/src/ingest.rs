//! Closed-loop ingestion load: N workers each keep one request in flight
//! (`POST /v1/leads`, or `POST /v1/leads:batch` with B leads) for a bounded
//! time. Every body is unique (run tag + global sequence), spread round-robin
//! over the chosen verticals, so neither duplicate detection nor a
//! per-vertical cap is what gets measured.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use hdrhistogram::Histogram;
use leadex_domain::vertical::{Catalog, Vertical, VerticalStatus};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::stats::{self, CpuUsage, CpuWatch, Summary};

/// Options of `leadex-loadgen ingest`.
#[derive(Args, Debug, Clone)]
pub struct IngestArgs {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// Seller API key.
    #[arg(long, env = "LOADGEN_KEY")]
    pub key: String,
    /// Concurrent clients (each keeps one request in flight).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 20)]
    pub duration_secs: u64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 3)]
    pub warmup_secs: u64,
    /// Leads per request through `POST /v1/leads:batch` (1–500); single
    /// `POST /v1/leads` when absent.
    #[arg(long)]
    pub batch: Option<usize>,
    /// `all` (every active non-root vertical) or a comma-separated slug list.
    #[arg(long, default_value = "all")]
    pub verticals: String,
    /// Operator key: with `--seller-id`, raise the seller's daily cap first.
    #[arg(long, env = "LOADGEN_ADMIN_KEY")]
    pub admin_key: Option<String>,
    /// Seller account id whose daily cap is raised.
    #[arg(long)]
    pub seller_id: Option<String>,
    /// The daily cap (per vertical per UTC day) set with `--admin-key`/`--seller-id`;
    /// the server accepts at most 1 000 000.
    #[arg(long, default_value_t = 1_000_000)]
    pub daily_cap: u32,
    /// Per-request timeout in seconds (a timeout counts as an error).
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Server process id, to report its CPU use.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Also sum the CPU of processes with this name (repeatable), e.g. `postgres`.
    #[arg(long = "watch-comm")]
    pub watch_comm: Vec<String>,
    /// Free-form label copied into the report (engine, notes).
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print the report as JSON only.
    #[arg(long)]
    pub json: bool,
    /// Extra clients looping `GET --read-path` during the run (a read load
    /// next to the writes; their latency is reported apart).
    #[arg(long, default_value_t = 0)]
    pub read_load: usize,
    /// The list request of the read load.
    #[arg(long, default_value = "/v1/leads?limit=50")]
    pub read_path: String,
}

/// One read-load client: GET in a loop until the window ends.
async fn reader(
    client: reqwest::Client,
    url: String,
    key: String,
    from: Instant,
    until: Instant,
) -> (Histogram<u64>, u64) {
    let mut hist = stats::histogram();
    let mut errors = 0u64;
    while Instant::now() < until {
        let t0 = Instant::now();
        let ok = match client.get(&url).bearer_auth(&key).send().await {
            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
            Err(_) => false,
        };
        if t0 >= from {
            if ok {
                stats::record(&mut hist, t0.elapsed());
            } else {
                errors += 1;
            }
        }
    }
    (hist, errors)
}

/// What one worker saw inside the measurement window.
struct WorkerStats {
    hist: Histogram<u64>,
    requests: u64,
    accepted: u64,
    /// Request-level outcomes other than the expected status, by code
    /// (`"429"`, `"timeout"`, `"connect"` …).
    errors: BTreeMap<String, u64>,
    /// Batch items refused, by item status.
    item_errors: BTreeMap<String, u64>,
    /// Accepted leads per second of the window.
    per_second: Vec<u64>,
}

struct Shared {
    client: reqwest::Client,
    url: String,
    key: String,
    batch: Option<usize>,
    verticals: Vec<Vertical>,
    tag: String,
    seq: AtomicU64,
    measure_from: Instant,
    measure_until: Instant,
}

/// Active verticals below a root (the "child" verticals), or the named ones.
fn pick_verticals(spec: &str) -> anyhow::Result<Vec<Vertical>> {
    let catalog = Catalog::new(leadex_domain::catalog::seed()).context("seeded catalogue")?;
    let picked: Vec<Vertical> = if spec == "all" {
        catalog.iter().filter(|v| v.depth > 1 && v.def.status == VerticalStatus::Active).cloned().collect()
    } else {
        spec.split(',')
            .map(|s| catalog.get(s.trim()).cloned().with_context(|| format!("unknown vertical `{s}`")))
            .collect::<anyhow::Result<_>>()?
    };
    if picked.is_empty() {
        bail!("no verticals selected");
    }
    Ok(picked)
}

/// Raises the seller's daily cap so the cap is not what is measured.
async fn raise_cap(client: &reqwest::Client, a: &IngestArgs) -> anyhow::Result<()> {
    let (Some(admin), Some(seller)) = (&a.admin_key, &a.seller_id) else {
        return Ok(());
    };
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
    Ok(())
}

fn next_body(sh: &Shared, rng: &mut StdRng) -> Value {
    let seq = sh.seq.fetch_add(1, Ordering::Relaxed);
    let n = sh.verticals.len() as u64;
    let v = &sh.verticals[usize::try_from(seq % n).unwrap_or(0)];
    leadex_core::synth::lead_body(v, seq, &sh.tag, Utc::now(), rng)
}

fn request_body(sh: &Shared, rng: &mut StdRng) -> Vec<u8> {
    let v = match sh.batch {
        None => next_body(sh, rng),
        Some(b) => json!({"leads": (0..b).map(|_| next_body(sh, rng)).collect::<Vec<_>>()}),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "transport"
    }
}

async fn worker(sh: Arc<Shared>) -> WorkerStats {
    let mut rng = StdRng::from_entropy();
    let window = sh.measure_until.saturating_duration_since(sh.measure_from);
    let mut st = WorkerStats {
        hist: stats::histogram(),
        requests: 0,
        accepted: 0,
        errors: BTreeMap::new(),
        item_errors: BTreeMap::new(),
        per_second: vec![0; usize::try_from(window.as_secs()).unwrap_or(0) + 1],
    };
    let expected = if sh.batch.is_some() { 200 } else { 202 };
    while Instant::now() < sh.measure_until {
        let body = request_body(&sh, &mut rng);
        let started = Instant::now();
        let sent = sh
            .client
            .post(&sh.url)
            .bearer_auth(&sh.key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        // Read the whole answer: that is when the client has it.
        let outcome = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                r.bytes().await.map(|b| (status, b))
            }
            Err(e) => Err(e),
        };
        let done = Instant::now();
        if done < sh.measure_from || done > sh.measure_until {
            if let Ok((429, _)) = outcome {
                // A cap or limiter refusal during warm-up would hide the
                // real rate; slow down rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            continue;
        }
        st.requests += 1;
        stats::record(&mut st.hist, done - started);
        let second = usize::try_from(done.saturating_duration_since(sh.measure_from).as_secs()).unwrap_or(0);
        let accepted = match outcome {
            Ok((status, _)) if status == expected && sh.batch.is_none() => 1,
            Ok((status, bytes)) if status == expected => {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                for item in v["items"].as_array().into_iter().flatten() {
                    let s = item["status"].as_u64().unwrap_or(0);
                    if s != 202 {
                        let code = item["error"]["code"].as_str().unwrap_or("");
                        *st.item_errors.entry(format!("{s} {code}").trim().to_owned()).or_insert(0) += 1;
                    }
                }
                v["accepted"].as_u64().unwrap_or(0)
            }
            Ok((status, bytes)) => {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let code = v["code"].as_str().unwrap_or("");
                *st.errors.entry(format!("{status} {code}").trim().to_owned()).or_insert(0) += 1;
                if status == 429 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                0
            }
            Err(e) => {
                *st.errors.entry(error_kind(&e).to_owned()).or_insert(0) += 1;
                0
            }
        };
        st.accepted += accepted;
        if let Some(slot) = st.per_second.get_mut(second) {
            *slot += accepted;
        }
    }
    st
}

/// Runs the load and prints the report.
pub async fn run(a: IngestArgs) -> anyhow::Result<()> {
    if a.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if let Some(b) = a.batch
        && !(1..=500).contains(&b)
    {
        bail!("--batch must be between 1 and 500");
    }
    let verticals = pick_verticals(&a.verticals)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(a.concurrency)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(a.timeout_secs))
        .build()
        .context("HTTP client")?;
    raise_cap(&client, &a).await?;
    let path = if a.batch.is_some() { "/v1/leads:batch" } else { "/v1/leads" };
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(a.warmup_secs);
    let measure_until = measure_from + Duration::from_secs(a.duration_secs);
    let sh = Arc::new(Shared {
        client,
        url: format!("{}{path}", a.base_url),
        key: a.key.clone(),
        batch: a.batch,
        verticals,
        tag: format!("lg{:08x}", rand::random::<u32>()),
        seq: AtomicU64::new(0),
        measure_from,
        measure_until,
    });
    let watch = CpuWatch { server_pid: a.server_pid, comms: a.watch_comm.clone() };
    let cpu = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = watch.snapshot();
        let t0 = Instant::now();
        tokio::time::sleep_until(measure_until.into()).await;
        CpuUsage::between(&before, &watch.snapshot(), t0.elapsed())
    });
    let readers: Vec<_> = (0..a.read_load)
        .map(|_| {
            let url = format!("{}{}", a.base_url, a.read_path);
            tokio::spawn(reader(sh.client.clone(), url, a.key.clone(), measure_from, measure_until))
        })
        .collect();
    let workers: Vec<_> = (0..a.concurrency).map(|_| tokio::spawn(worker(sh.clone()))).collect();
    let mut hist = stats::histogram();
    let (mut requests, mut accepted) = (0u64, 0u64);
    let mut errors = BTreeMap::<String, u64>::new();
    let mut item_errors = BTreeMap::<String, u64>::new();
    let mut per_second = vec![0u64; usize::try_from(a.duration_secs).unwrap_or(0) + 1];
    for w in workers {
        let st = w.await.context("worker task")?;
        hist.add(&st.hist).context("merging histograms")?;
        requests += st.requests;
        accepted += st.accepted;
        for (k, v) in st.errors {
            *errors.entry(k).or_insert(0) += v;
        }
        for (k, v) in st.item_errors {
            *item_errors.entry(k).or_insert(0) += v;
        }
        for (slot, v) in per_second.iter_mut().zip(st.per_second) {
            *slot += v;
        }
    }
    let mut read_hist = stats::histogram();
    let mut read_errors = 0u64;
    for r in readers {
        let (h, e) = r.await.context("reader task")?;
        read_hist.add(&h).context("merging histograms")?;
        read_errors += e;
    }
    let reads = Summary::of(&read_hist);
    let cpu = cpu.await.context("cpu sampler")?;
    // The last slot only holds requests finishing exactly at the end.
    per_second.truncate(usize::try_from(a.duration_secs).unwrap_or(0));
    let secs = a.duration_secs.max(1) as f64;
    let lat = Summary::of(&hist);
    let (min_s, max_s) = (per_second.iter().copied().min().unwrap_or(0), per_second.iter().copied().max().unwrap_or(0));
    let report = json!({
        "label": a.label,
        "mode": if let Some(b) = a.batch { format!("batch{b}") } else { "single".into() },
        "batch": a.batch,
        "concurrency": a.concurrency,
        "duration_secs": a.duration_secs,
        "warmup_secs": a.warmup_secs,
        "verticals": sh.verticals.len(),
        "requests": requests,
        "accepted": accepted,
        "leads_per_sec": (accepted as f64 / secs).round(),
        "requests_per_sec": (requests as f64 / secs).round(),
        "leads_per_sec_min_1s": min_s,
        "leads_per_sec_max_1s": max_s,
        "latency": lat.json(),
        "errors": errors,
        "item_errors": item_errors,
        "cpu": cpu.json(),
        "read_load": {"clients": a.read_load, "path": a.read_path, "requests_per_sec": (reads.count as f64 / secs).round(),
                      "latency": reads.json(), "errors": read_errors},
    });
    if a.json {
        println!("{report}");
    } else {
        let err_total: u64 = errors.values().sum::<u64>() + item_errors.values().sum::<u64>();
        println!(
            "ingest {} c={} {}s (+{}s warm-up) over {} verticals{}",
            report["mode"].as_str().unwrap_or(""),
            a.concurrency,
            a.duration_secs,
            a.warmup_secs,
            sh.verticals.len(),
            if a.label.is_empty() { String::new() } else { format!(" [{}]", a.label) }
        );
        println!(
            "  accepted {accepted} leads: {:.0} leads/s (1-s min {min_s}, max {max_s}); {:.0} requests/s",
            accepted as f64 / secs,
            requests as f64 / secs
        );
        println!("  latency {}", lat.line());
        println!("  errors {err_total}: requests {errors:?} items {item_errors:?}");
        println!("  cpu {}", cpu.line());
        if a.read_load > 0 {
            println!(
                "  read load c={} {}: {:.0} requests/s, latency {}, errors {read_errors}",
                a.read_load,
                a.read_path,
                reads.count as f64 / secs,
                reads.line()
            );
        }
    }
    Ok(())
}
