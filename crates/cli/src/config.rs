//! Typed, layered configuration: built-in defaults (`config/default.toml`),
//! an optional file, then `LEADEX__SECTION__KEY` environment variables
//! (last wins). Validated at start; secrets are redacted in `Debug`.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// A secret string: never printed.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(v: impl Into<String>) -> Self {
        Self(v.into())
    }

    /// The secret value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "[redacted]" })
    }
}

/// `[server]`.
#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    /// Listen address.
    pub bind: String,
    /// Per-request timeout.
    pub request_timeout_secs: u64,
    /// Concurrent requests before shedding.
    pub max_in_flight: usize,
    /// Body limit.
    pub body_limit_bytes: usize,
    /// TCP_USER_TIMEOUT of accepted connections (0 = off).
    pub stall_timeout_secs: u64,
}

/// `[database]`.
#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    /// Primary URL (empty: SQLite under `data_dir`).
    pub url: Secret,
    /// Replica URL.
    pub replica_url: Secret,
    /// Connections per pool.
    pub max_connections: u32,
}

/// `[redis]`.
#[derive(Clone, Debug, Deserialize)]
pub struct RedisSettings {
    /// URL (empty: in-process alternatives).
    pub url: Secret,
}

/// `[chain]`.
#[derive(Clone, Debug, Deserialize)]
pub struct ChainSettings {
    /// `embedded | rpc | off`.
    pub mode: String,
    /// JSON-RPC endpoint for `rpc`.
    pub rpc_url: String,
    /// Chain id of the embedded chain (an existing journal keeps its own).
    pub chain_id: u64,
    /// Hot-wallet private keys, comma-separated (`0x…`); empty: derived
    /// from `mnemonic`.
    pub wallets: Secret,
    /// BIP-39 mnemonic: index 0 owns the contracts, 1..=wallet_count are
    /// the hot wallets. Empty: the well-known development mnemonic
    /// (refused for `rpc` unless the chain id is anvil's 31337).
    pub mnemonic: Secret,
    /// Hot wallets derived from the mnemonic.
    pub wallet_count: u32,
    /// Owner of tokens whose buyer linked no wallet (empty: the contract owner).
    pub custody_address: String,
    /// Confirmations before a transaction counts.
    pub confirmations: u64,
    /// A partial mint batch goes out after this long.
    pub flush_ms: u64,
    /// Batcher/tracker tick.
    pub poll_ms: u64,
    /// Unmined for this long: replaced with bumped fees.
    pub stuck_secs: u64,
    /// Fee bump of a replacement, percent (nodes need ≥ 10).
    pub fee_bump_pct: u32,
    /// Base fee above which sending pauses, gwei (0: none).
    pub gas_ceiling_gwei: u64,
    /// `tokenURI` prefix; empty: `http://<server.bind>/v1/nft/`.
    pub base_uri: String,
    /// Per-request timeout of the JSON-RPC client, ms.
    pub rpc_timeout_ms: u64,
    /// `domain` of wallet-linking (EIP-4361) messages; empty: `server.bind`.
    pub siwe_domain: String,
    /// Seller payouts run this often (seconds).
    pub payout_interval_secs: u64,
    /// Smallest payable balance paid out (USDC, e.g. "10.00").
    pub payout_min: String,
    /// Proof-of-reserves check interval (seconds).
    pub reserves_interval_secs: u64,
}

/// `[privacy]`.
#[derive(Clone, Debug, Deserialize)]
pub struct PrivacySettings {
    /// Key spec.
    pub key: Secret,
}

/// `[limits]`.
#[derive(Clone, Debug, Deserialize)]
pub struct LimitsSettings {
    /// Default daily cap per seller, vertical and UTC day.
    pub default_daily_cap: u32,
    /// Largest batch.
    pub max_batch: usize,
    /// Default auction duration.
    pub default_auction_secs: u32,
}

/// `[queue]`.
#[derive(Clone, Debug, Deserialize)]
pub struct QueueSettings {
    /// Jobs running at once per worker process.
    pub concurrency: usize,
    /// Jobs claimed per round trip.
    pub batch: u32,
    /// Lease length.
    pub lease_secs: u64,
    /// Fallback poll.
    pub poll_ms: u64,
    /// First retry delay.
    pub backoff_base_ms: u64,
    /// Longest retry delay.
    pub backoff_max_secs: u64,
    /// Reaper period.
    pub reap_interval_secs: u64,
    /// Running jobs per vertical across all workers.
    pub default_vertical_limit: u32,
    /// Per-vertical overrides.
    #[serde(default)]
    pub vertical_limits: std::collections::HashMap<String, u32>,
    /// Slots only deadline jobs (closes, listing expiries) may take.
    pub deadline_reserve: usize,
    /// Most background jobs (minting, bounty matching) running at once.
    pub background_limit: usize,
    /// How long before they are due deadline jobs are claimed.
    pub deadline_lookahead_ms: u64,
    /// Per-kind limits per process.
    #[serde(default)]
    pub kind_limits: std::collections::HashMap<String, usize>,
    /// Where a worker-only process serves /metrics (empty: nowhere).
    #[serde(default)]
    pub metrics_bind: String,
}

/// `[scoring]`.
#[derive(Clone, Debug, Deserialize)]
pub struct ScoringSettings {
    /// External scorer endpoint (empty: local score only).
    pub external_url: String,
    /// Its timeout.
    pub timeout_ms: u64,
}

/// `[log]`.
/// `[rate_limits]`: sliding-window limits per API key (per IP when
/// anonymous), per route group, over `window_secs`.
#[derive(Clone, Debug, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub window_secs: u64,
    pub general: u32,
    pub ingest: u32,
    pub bids: u32,
    pub anonymous: u32,
}

/// `[realtime]`: Socket.IO connections.
#[derive(Clone, Debug, Deserialize)]
pub struct RealtimeSettings {
    pub buffer: usize,
    pub max_per_account: usize,
    pub max_per_ip: usize,
    pub ping_interval_secs: u64,
    pub ping_timeout_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    /// `json | pretty`.
    pub format: String,
    /// Filter directive (`info`, `leadex=debug,sqlx=warn`, …).
    pub level: String,
}

/// `[telemetry]`.
#[derive(Clone, Debug, Deserialize)]
pub struct TelemetrySettings {
    /// Install the Prometheus recorder and serve `/metrics`.
    pub metrics: bool,
    /// OTLP/HTTP traces endpoint (`--features otlp`); empty: no export.
    pub otlp_endpoint: String,
}

/// All settings.
#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// HTTP server.
    pub server: ServerSettings,
    /// Database.
    pub database: DatabaseSettings,
    /// Redis.
    pub redis: RedisSettings,
    /// Chain.
    pub chain: ChainSettings,
    /// PII encryption.
    pub privacy: PrivacySettings,
    /// Limits.
    pub limits: LimitsSettings,
    /// Job queue.
    pub queue: QueueSettings,
    /// Quality scoring.
    pub scoring: ScoringSettings,
    /// Socket.IO connections.
    pub realtime: RealtimeSettings,
    /// Rate limits.
    pub rate_limits: RateLimitSettings,
    /// Logging.
    pub log: LogSettings,
    /// Metrics and trace export.
    pub telemetry: TelemetrySettings,
}

impl Settings {
    /// What wallet-linking (EIP-4361) messages name.
    pub fn siwe(&self) -> leadex_core::service::wallet::SiweConfig {
        let domain =
            if self.chain.siwe_domain.is_empty() { self.server.bind.clone() } else { self.chain.siwe_domain.clone() };
        leadex_core::service::wallet::SiweConfig {
            uri: format!("http://{domain}"),
            domain,
            chain_id: self.chain.chain_id,
            ..Default::default()
        }
    }

    /// Loads defaults, then `file`, then the environment; CLI overrides
    /// (`--bind`, `--data-dir`) are applied by the caller afterwards.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut b = config::Config::builder().add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        if let Some(f) = file {
            b = b.add_source(config::File::from(f).required(true));
        }
        b = b.add_source(
            config::Environment::with_prefix("LEADEX").prefix_separator("__").separator("__").try_parsing(true),
        );
        let s: Settings =
            b.build().context("reading configuration")?.try_deserialize().context("invalid configuration")?;
        s.validate()?;
        Ok(s)
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            bail!("server.bind `{}` is not an address such as 127.0.0.1:8080", self.server.bind);
        }
        let url = self.database.url.expose().trim();
        let known = ["postgres://", "postgresql://", "sqlite:"].iter().any(|p| url.starts_with(p));
        if !url.is_empty() && !known {
            bail!("database.url must be postgres://… or sqlite:… (unknown scheme)");
        }
        if !self.database.replica_url.is_empty() && !self.is_postgres() {
            bail!("database.replica_url needs a PostgreSQL database.url");
        }
        if !["embedded", "rpc", "off"].contains(&self.chain.mode.as_str()) {
            bail!("chain.mode must be embedded, rpc or off");
        }
        let c = &self.chain;
        if c.chain_id == 0 {
            bail!("chain.chain_id must be ≥ 1 (for rpc: the node's chain id)");
        }
        if c.mode == "rpc" && !(c.rpc_url.starts_with("http://") || c.rpc_url.starts_with("https://")) {
            bail!("chain.rpc_url must be an http(s) URL when chain.mode = \"rpc\"");
        }
        if c.mode != "off" && c.wallets.expose().trim().is_empty() && !(1..=64).contains(&c.wallet_count) {
            bail!("chain.wallet_count must be 1–64");
        }
        if c.mode != "off" && (c.confirmations == 0 || c.poll_ms == 0 || c.fee_bump_pct < 10) {
            bail!("chain.confirmations and chain.poll_ms must be ≥ 1 and chain.fee_bump_pct ≥ 10");
        }
        if c.mode != "off" && leadex_domain::Money::parse(&c.payout_min).is_err() {
            bail!("chain.payout_min must be a USDC amount like \"10.00\"");
        }
        let custody_ok = c.custody_address.starts_with("0x") && c.custody_address.len() == 42;
        if !c.custody_address.is_empty() && !custody_ok {
            bail!("chain.custody_address must be a 0x-prefixed 20-byte address");
        }
        if self.limits.default_daily_cap == 0 || self.limits.max_batch == 0 || self.limits.max_batch > 5_000 {
            bail!("limits.default_daily_cap must be ≥ 1 and limits.max_batch 1–5000");
        }
        if !(10..=600).contains(&self.limits.default_auction_secs) {
            bail!("limits.default_auction_secs must be 10–600");
        }
        let q = &self.queue;
        if q.concurrency == 0
            || q.batch == 0
            || q.lease_secs == 0
            || q.poll_ms == 0
            || q.default_vertical_limit == 0
            || q.background_limit == 0
        {
            bail!(
                "queue.concurrency, batch, lease_secs, poll_ms, default_vertical_limit and background_limit must be ≥ 1"
            );
        }
        if !self.scoring.external_url.is_empty() && !self.scoring.external_url.starts_with("http") {
            bail!("scoring.external_url must be an http(s) URL");
        }
        let l = &self.rate_limits;
        if l.window_secs == 0 || l.general == 0 || l.ingest == 0 || l.bids == 0 || l.anonymous == 0 {
            bail!("rate_limits.window_secs, general, ingest, bids and anonymous must be ≥ 1");
        }
        let r = &self.realtime;
        if r.buffer == 0
            || r.max_per_account == 0
            || r.max_per_ip == 0
            || r.ping_interval_secs == 0
            || r.ping_timeout_secs == 0
        {
            bail!("realtime.buffer, max_per_account, max_per_ip, ping_interval_secs and ping_timeout_secs must be ≥ 1");
        }
        let otlp = self.telemetry.otlp_endpoint.trim();
        if !otlp.is_empty() && !otlp.starts_with("http") {
            bail!("telemetry.otlp_endpoint must be an http(s) URL");
        }
        if !["json", "pretty"].contains(&self.log.format.as_str()) {
            bail!("log.format must be json or pretty");
        }
        Ok(())
    }

    /// Whether the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        let u = self.database.url.expose();
        u.starts_with("postgres://") || u.starts_with("postgresql://")
    }

    /// The effective database URL.
    pub fn database_url(&self) -> String {
        let u = self.database.url.expose().trim();
        if u.is_empty() { format!("sqlite://{}", self.data_dir.join("leadex.db").display()) } else { u.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_validate() {
        let s = Settings::load(None).expect("defaults are valid");
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert!(!s.is_postgres());
        assert!(s.database_url().starts_with("sqlite://"));
        assert_eq!(format!("{:?}", Secret("pw".into())), "[redacted]");
    }
}
