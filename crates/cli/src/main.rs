//! `leadex`: the composition root. Parses the command line, loads
//! configuration, sets up telemetry, builds the application once and runs
//! the chosen subcommand until shutdown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use leadex::config::Settings;
use leadex::{App, build, demo, shutdown_signal, telemetry};
use leadex_core::clock::SystemClock;
use leadex_domain::account::Role;
use tokio::net::TcpListener;

#[derive(Parser, Debug)]
#[command(name = "leadex", version, about = "Real-time lead exchange")]
struct Cli {
    /// Configuration file (TOML), applied over the defaults.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Listen address (overrides server.bind).
    #[arg(long, global = true)]
    bind: Option<String>,
    /// Data directory (overrides data_dir).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// API and workers in one process (the default).
    Run,
    /// API only.
    Serve,
    /// Job workers only.
    Work,
    /// Seeded accounts, an ask and a stream of synthetic leads.
    Demo {
        /// Milliseconds between synthetic leads.
        #[arg(long, default_value_t = 1_000)]
        every_ms: u64,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create an account and print its first API key.
    CreateAccount {
        /// admin | seller | buyer
        #[arg(long)]
        role: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Print `{"account_id", "api_key"}` as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut s = Settings::load(cli.config.as_deref())?;
    if let Some(b) = &cli.bind {
        s.server.bind = b.clone();
    }
    if let Some(d) = &cli.data_dir {
        s.data_dir = d.clone();
    }
    s.validate()?;
    Ok(s)
}

/// The API listener, with a deep accept queue: a reconnect storm (thousands
/// of Socket.IO clients after a deploy) must not overflow it into SYN
/// retransmits (the default of 1 024 did, measured in the issue 5 ramp).
fn listen(addr: &str) -> anyhow::Result<TcpListener> {
    let addr: std::net::SocketAddr = addr.parse().context("server.bind must be ip:port")?;
    let sock = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    Ok(sock.listen(8192)?)
}

/// Runs the API (when `api`) and a worker (when `work`) until a shutdown
/// signal, then stops both gracefully.
async fn run(
    app: &App,
    api: bool,
    work: bool,
    extra: Option<tokio::task::JoinHandle<()>>,
    chain: Option<leadex_chain::service::ChainService>,
    metrics: Option<leadex_api::MetricsRender>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = work.then(|| tokio::spawn(app.worker().run(stop_rx.clone())));
    // The chain service runs beside the worker that feeds it.
    let chain = match (work, chain) {
        (true, Some(c)) => Some(c),
        (true, None) => app.chain_service().await?,
        (false, _) => None,
    }
    .map(|c| tokio::spawn(c.run(stop_rx.clone())));
    let result = if api {
        let listener =
            listen(&app.settings.server.bind).with_context(|| format!("binding {}", app.settings.server.bind))?;
        tracing::info!(addr = %listener.local_addr()?, workers = work, "listening");
        app.serve(listener, metrics, shutdown_signal()).await
    } else {
        tracing::info!("worker only");
        app.start_emitter().await?;
        let bind = app.settings.queue.metrics_bind.trim().to_owned();
        match (bind.is_empty(), metrics) {
            (false, Some(render)) => {
                let listener = TcpListener::bind(&bind).await.with_context(|| format!("binding {bind}"))?;
                tracing::info!(addr = %listener.local_addr()?, "worker metrics listening");
                let router = axum::Router::new()
                    .route("/metrics", axum::routing::get(move || async move { render() }))
                    .route("/health/live", axum::routing::get(|| async { "ok" }));
                axum::serve(listener, router).with_graceful_shutdown(shutdown_signal()).await.context("metrics server")
            }
            _ => {
                shutdown_signal().await;
                Ok(())
            }
        }
    };
    let _ = stop_tx.send(true);
    if let Some(h) = extra {
        h.abort();
    }
    if let Some(w) = worker {
        let _ = w.await;
    }
    if let Some(c) = chain {
        let _ = c.await;
    }
    app.store.close().await;
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let s = settings(&cli)?;
    telemetry::init_logging(&s.log, &s.telemetry);
    let command = cli.command.unwrap_or(Command::Run);
    // Before anything runs, so the demo's seeding (escrow deposits) counts.
    let serving = matches!(command, Command::Run | Command::Serve | Command::Work | Command::Demo { .. });
    let metrics = (serving && s.telemetry.metrics).then(telemetry::init_metrics).flatten();
    let result = match command {
        Command::Run => {
            let app = build(s, Arc::new(SystemClock)).await?;
            run(&app, true, true, None, None, metrics).await
        }
        Command::Serve => {
            let app = build(s, Arc::new(SystemClock)).await?;
            run(&app, true, false, None, None, metrics).await
        }
        Command::Work => {
            let app = build(s, Arc::new(SystemClock)).await?;
            run(&app, false, true, None, None, metrics).await
        }
        Command::Demo { every_ms } => {
            let app = build(s, Arc::new(SystemClock)).await?;
            let chain = app.chain_service().await?;
            let (keys, seller) = demo::seed(&app, chain.as_ref()).await?;
            demo::print_banner(&keys, &format!("http://{}", app.settings.server.bind));
            let (_tx, rx) = tokio::sync::watch::channel(false);
            let streamer =
                tokio::spawn(demo::stream_leads(app.clone(), seller, Duration::from_millis(every_ms.max(10)), rx));
            run(&app, true, true, Some(streamer), chain, metrics).await
        }
        Command::Migrate => {
            let app = build(s, Arc::new(SystemClock)).await?;
            app.store.close().await;
            println!("migrations applied");
            Ok(())
        }
        Command::Admin { command: AdminCommand::CreateAccount { role, name, json } } => {
            let role: Role = role.parse().map_err(|_| anyhow::anyhow!("--role must be admin, seller or buyer"))?;
            let app = build(s, Arc::new(SystemClock)).await?;
            let (account, _, key) = app.svc.create_account(role, &name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            app.store.close().await;
            if json {
                println!("{}", serde_json::json!({"account_id": account.id, "api_key": key.secret}));
            } else {
                println!("account {} ({role}) created\napi key: {}", account.id, key.secret);
            }
            Ok(())
        }
    };
    telemetry::shutdown();
    result
}
