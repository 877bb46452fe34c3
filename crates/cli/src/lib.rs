//! The leadex composition root as a library, so the binary and the
//! integration tests build the application the same way: configuration →
//! telemetry → adapters chosen once → services → servers.

mod chain;
pub mod config;
pub mod demo;
pub mod telemetry;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use leadex_api::{AppState, HttpConfig, MetricsRender, realtime};
use leadex_core::Leadex;
use leadex_core::clock::Clock;
use leadex_core::crypto::PiiCipher;
use leadex_core::service::ServiceConfig;
use leadex_store::{SqlStore, StoreOptions};
use leadex_worker::handlers::{self, ExternalScorer};
use leadex_worker::{Worker, WorkerConfig};
use socketioxide::SocketIo;
use socketioxide_redis::drivers::redis::RedisDriver;
use socketioxide_redis::{RedisAdapter, RedisAdapterCtr};
use tokio::net::TcpListener;

use crate::config::Settings;

/// The assembled application.
#[derive(Clone, Debug)]
pub struct App {
    /// The service.
    pub svc: Leadex,
    /// The concrete store (for operator commands and tests).
    pub store: Arc<SqlStore>,
    /// The settings it was built from.
    pub settings: Settings,
    /// Sliding-window rate limits (`None` when `rate_limits.enabled` is off).
    pub limiter: Option<Arc<leadex_api::ratelimit::RateLimiter>>,
}

/// Resolves the PII key: configuration, else `<data_dir>/privacy.key`, else
/// (embedded SQLite only) a fresh key written there with a warning. A
/// scale-out deployment must configure one key for every process.
pub fn privacy_key(settings: &Settings) -> anyhow::Result<PiiCipher> {
    if !settings.privacy.key.is_empty() {
        return PiiCipher::from_spec(settings.privacy.key.expose()).context("privacy.key");
    }
    let path = settings.data_dir.join("privacy.key");
    if path.exists() {
        let spec = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return PiiCipher::from_spec(spec.trim()).with_context(|| format!("{}", path.display()));
    }
    if settings.is_postgres() {
        bail!("privacy.key must be configured when database.url is PostgreSQL (every process needs the same key)");
    }
    let spec = PiiCipher::generate_spec();
    write_private(&path, &spec)?;
    tracing::warn!(
        path = %path.display(),
        "privacy.key is not configured: generated a new PII encryption key; back it up, losing it loses all PII"
    );
    PiiCipher::from_spec(&spec).context("generated key")
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// Connects the store (migrating it) and starts the services.
pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    if !settings.is_postgres() {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
    }
    let cipher = privacy_key(&settings)?;
    let mut opts = StoreOptions::new(settings.database_url());
    if !settings.database.replica_url.is_empty() {
        opts.replica_url = Some(settings.database.replica_url.expose().to_owned());
    }
    opts.max_connections = settings.database.max_connections;
    let store = Arc::new(SqlStore::connect(&opts).await.context("connecting to the database")?);
    store.migrate().await.context("migrating the database")?;
    let config = ServiceConfig {
        default_daily_cap: settings.limits.default_daily_cap,
        max_batch: settings.limits.max_batch,
        default_auction_secs: settings.limits.default_auction_secs,
        siwe: settings.siwe(),
        ..ServiceConfig::default()
    };
    let svc = Leadex::start(store.clone(), store.clone(), store.clone(), store.clone(), cipher, clock, config)
        .await
        .map_err(|e| anyhow::anyhow!("starting services: {e}"))?;
    let limiter = rate_limiter(&settings).await?;
    tracing::info!(engine = store.engine(), verticals = svc.catalog().len(), "leadex ready");
    Ok(App { svc, store, settings, limiter })
}

/// The rate limiter of `rate_limits.*`: in-process, or in Redis when
/// `redis.url` is set (every API process then shares each window).
async fn rate_limiter(settings: &Settings) -> anyhow::Result<Option<Arc<leadex_api::ratelimit::RateLimiter>>> {
    use leadex_api::ratelimit::{Backend, Limits, RateLimiter, RedisWindow};
    let r = &settings.rate_limits;
    if !r.enabled {
        return Ok(None);
    }
    let limits = Limits {
        window: Duration::from_secs(r.window_secs),
        general: r.general,
        ingest: r.ingest,
        bids: r.bids,
        anonymous: r.anonymous,
    };
    let url = settings.redis.url.expose().trim();
    if url.is_empty() {
        return Ok(Some(Arc::new(RateLimiter::local(limits))));
    }
    let client = redis::Client::open(url).context("redis.url")?;
    let window = RedisWindow::connect(client, "leadex:rl:").await.context("connecting to Redis for rate limits")?;
    tracing::info!("rate limits shared through Redis");
    Ok(Some(Arc::new(RateLimiter { limits, backend: Backend::Redis(window) })))
}

impl App {
    /// A worker with every pipeline handler, configured from `queue.*`.
    pub fn worker(&self) -> Arc<Worker> {
        let q = &self.settings.queue;
        let cfg = WorkerConfig {
            concurrency: q.concurrency,
            batch: q.batch,
            lease: Duration::from_secs(q.lease_secs),
            poll_interval: Duration::from_millis(q.poll_ms),
            backoff_base: Duration::from_millis(q.backoff_base_ms),
            backoff_max: Duration::from_secs(q.backoff_max_secs),
            default_vertical_limit: q.default_vertical_limit,
            vertical_limits: q.vertical_limits.clone(),
            kind_limits: q.kind_limits.clone(),
            deadline_reserve: q.deadline_reserve,
            background_limit: q.background_limit,
            deadline_lookahead: Duration::from_millis(q.deadline_lookahead_ms),
            reap_interval: Duration::from_secs(q.reap_interval_secs.max(1)),
            ..WorkerConfig::default()
        };
        let external = (!self.settings.scoring.external_url.is_empty()).then(|| {
            ExternalScorer::new(
                self.settings.scoring.external_url.clone(),
                Duration::from_millis(self.settings.scoring.timeout_ms),
            )
        });
        let worker = Worker::new(self.store.clone(), self.svc.clock().clone(), self.svc.jobs_notify().clone(), cfg);
        Arc::new(handlers::pipeline(worker, &self.svc, external))
    }

    fn stall_timeout(&self) -> Option<Duration> {
        let s = self.settings.server.stall_timeout_secs;
        (s > 0).then(|| Duration::from_secs(s))
    }

    fn realtime(&self) -> realtime::RealtimeConfig {
        let r = &self.settings.realtime;
        realtime::RealtimeConfig {
            buffer: r.buffer,
            max_per_account: r.max_per_account,
            max_per_ip: r.max_per_ip,
            ping_interval: Duration::from_secs(r.ping_interval_secs),
            ping_timeout: Duration::from_secs(r.ping_timeout_secs),
        }
    }

    fn state(&self) -> AppState {
        AppState {
            svc: self.svc.clone(),
            http: HttpConfig {
                body_limit: self.settings.server.body_limit_bytes,
                request_timeout: Duration::from_secs(self.settings.server.request_timeout_secs),
                max_in_flight: self.settings.server.max_in_flight,
                realtime: self.realtime(),
                rate_limiter: self.limiter.clone(),
            },
        }
    }

    /// The HTTP router with in-process Socket.IO.
    pub fn router(&self, metrics: Option<MetricsRender>) -> axum::Router {
        leadex_api::router(self.state(), metrics)
    }

    /// The Redis adapter constructor when `redis.url` is set.
    async fn redis_adapter(&self) -> anyhow::Result<Option<RedisAdapterCtr<RedisDriver>>> {
        let url = self.settings.redis.url.expose().trim();
        if url.is_empty() {
            return Ok(None);
        }
        // socketioxide-redis speaks RESP3 (Redis ≥ 7).
        let sep = if url.contains('?') { '&' } else { '?' };
        let client = redis::Client::open(format!("{url}{sep}protocol=resp3")).context("redis.url")?;
        let ctr = RedisAdapterCtr::new_with_redis(&client).await.context("connecting to Redis")?;
        Ok(Some(ctr))
    }

    /// Serves HTTP (and Socket.IO, fanned out through Redis when
    /// configured) on `listener` until `shutdown`.
    pub async fn serve(
        &self,
        listener: TcpListener,
        metrics: Option<MetricsRender>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = match self.redis_adapter().await? {
            Some(ctr) => {
                let cfg = self.realtime();
                let (layer, io) = cfg.builder().with_adapter::<RedisAdapter<_>>(ctr).build_layer();
                realtime::set_sink(&io, &self.svc);
                realtime::namespace(&io, self.svc.clone(), cfg)
                    .await
                    .map_err(|e| anyhow::anyhow!("socket.io redis adapter: {e}"))?;
                tracing::info!("socket.io events fan out through Redis");
                leadex_api::router_with(self.state(), metrics, layer)
            }
            None => self.router(metrics),
        };
        leadex_api::serve(listener, router, self.stall_timeout(), shutdown).await.context("HTTP server")
    }

    /// In a process without an HTTP server (`leadex work`): publishes the
    /// services' events to the other processes through Redis, when set.
    pub async fn start_emitter(&self) -> anyhow::Result<()> {
        if let Some(ctr) = self.redis_adapter().await? {
            let (_svc, io) = SocketIo::builder().with_adapter::<RedisAdapter<_>>(ctr).build_svc();
            realtime::set_sink(&io, &self.svc);
            io.ns("/", |_socket: socketioxide::extract::SocketRef<RedisAdapter<_>>| async move {})
                .await
                .map_err(|e| anyhow::anyhow!("socket.io redis adapter: {e}"))?;
            tracing::info!("worker events fan out through Redis");
        }
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
