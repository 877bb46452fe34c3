//! Sustained mints per second on anvil with 1 vs 5 hot wallets (issue 7).
//!
//! Per run: a fresh leadex (SQLite in a temp dir) sells `--sales` leads
//! (buyers with catch-all auto-bid rules, a manual clock closes every
//! auction at once), then the chain service mints them on a fresh npm anvil
//! (`--anvil`, automine or `--block-time`), and the run reports mints/s from
//! the first batch sent to the last token confirmed. Runs alternate between
//! the pool sizes; the report gives each size's runs, median and the ratio.
//!
//! ```text
//! leadex-mint-bench --anvil contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil \
//!     --sales 1500 --runs 3
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use leadex::config::{Secret, Settings};
use leadex_core::clock::ManualClock;
use leadex_core::crypto::PiiCipher;
use leadex_core::nft::MintStatus;
use leadex_domain::Money;
use leadex_domain::account::Role;
use rand::SeedableRng;
use serde_json::json;

#[derive(Parser, Debug)]
struct Args {
    /// The anvil binary.
    #[arg(long)]
    anvil: PathBuf,
    /// Sales per run.
    #[arg(long, default_value_t = 1_500)]
    sales: usize,
    /// Runs per pool size.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// anvil `--block-time` seconds (0: automine).
    #[arg(long, default_value_t = 0)]
    block_time: u64,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn run(a: &Args, wallets: u32) -> anyhow::Result<f64> {
    let port = free_port()?;
    let mut cmd = tokio::process::Command::new(&a.anvil);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent", "--accounts", "12"]);
    if a.block_time > 0 {
        cmd.args(["--block-time", &a.block_time.to_string()]);
    }
    let _anvil = cmd.kill_on_drop(true).spawn().context("starting anvil")?;
    let url = format!("http://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("leadex-mint-bench-{}", uuid::Uuid::now_v7().simple()));
    let mut s = Settings::load(None).context("default settings")?;
    s.data_dir = dir.clone();
    s.privacy.key = Secret::new(PiiCipher::generate_spec());
    s.rate_limits.enabled = false;
    s.chain.mode = "rpc".into();
    s.chain.rpc_url = url.clone();
    s.chain.wallet_count = wallets;
    s.chain.flush_ms = 0;
    s.chain.poll_ms = 20;
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = leadex::build(s, clock.clone()).await?;
    let svc = app.svc.clone();
    let err = |e: leadex_core::AppError| anyhow::anyhow!("{e}");
    let (_, _, sk) = svc.create_account(Role::Seller, "bench seller").await.map_err(err)?;
    let seller = svc.authenticate(&sk.secret).await.map_err(err)?;
    svc.set_daily_cap(seller.account.id, Some(1_000_000)).await.map_err(err)?;
    let seller = svc.authenticate(&sk.secret).await.map_err(err)?;
    for i in 0..5 {
        let (acct, _, k) = svc.create_account(Role::Buyer, &format!("bench buyer {i}")).await.map_err(err)?;
        svc.credit_vault(acct.id, Money::from_micros(1_000_000_000_000), "bench").await.map_err(err)?;
        let buyer = svc.authenticate(&k.secret).await.map_err(err)?;
        let rule = json!({"vertical": "*", "bid_amount": format!("{}.00", 100 + i), "max_bid": "400.00",
                          "daily_budget": "9000000.00", "priority": 1});
        svc.create_rule(&buyer, leadex_core::service::from_json_value(rule).map_err(err)?).await.map_err(err)?;
    }
    let cat = svc.catalog().clone();
    let solar = cat.get("solar.residential").context("solar.residential")?.clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let tag = format!("mint{:x}", rand::random::<u32>());
    for i in 0..a.sales {
        let body = leadex_core::synth::lead_body(&solar, i as u64, &tag, chrono::Utc::now(), &mut rng);
        svc.submit_lead(&seller, body, None, "bench").await.map_err(err)?;
    }
    let worker = app.worker();
    worker.run_once().await?;
    clock.advance(chrono::Duration::seconds(601));
    worker.run_once().await?;
    let chain = app.chain_service().await?.context("chain on")?;
    let nft = svc.nft().clone();
    let total: u64 = nft.mint_counts().await?.iter().map(|(_, n)| n).sum();
    let t = Instant::now();
    let mut first = None;
    loop {
        chain.track().await?;
        chain.batch_round(&mut first).await?;
        let counts = nft.mint_counts().await?;
        let minted = counts.iter().find(|(s, _)| *s == MintStatus::Minted).map_or(0, |(_, n)| *n);
        if minted == total && nft.pending_txs().await?.is_empty() {
            break;
        }
        anyhow::ensure!(t.elapsed() < Duration::from_secs(600), "minting did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    app.store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    let rate = total as f64 / secs;
    eprintln!("wallets={wallets} mints={total} secs={secs:.3} mints_per_s={rate:.1}");
    Ok(rate)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let (mut one, mut five) = (Vec::new(), Vec::new());
    for _ in 0..a.runs {
        one.push(run(&a, 1).await?);
        five.push(run(&a, 5).await?);
    }
    let (m1, m5) = (median(&mut one.clone()), median(&mut five.clone()));
    let report = json!({
        "sales": a.sales, "runs": a.runs, "block_time": a.block_time,
        "one_wallet_mints_per_s": one, "five_wallets_mints_per_s": five,
        "median_one": m1, "median_five": m5, "ratio_five_over_one": m5 / m1,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
