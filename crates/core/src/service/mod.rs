//! Use-case services: what the HTTP layer and the CLI call. Each method
//! validates, decides, and calls the store once per transaction.

mod accounts;
pub mod asks;
mod events;
mod jobs;
mod leads;
pub mod market;
pub mod nft;
pub mod wallet;

use std::sync::Arc;

use leadex_domain::Money;
use leadex_domain::catalog;
use leadex_domain::vertical::Catalog;

use crate::clock::Clock;
use crate::crypto::PiiCipher;
use crate::error::AppError;
use crate::market::Market;
use crate::nft::NftStore;
use crate::ports::{JobQueue, Store};

pub use leads::{
    BatchItemResult, LeadListParams, LeadRead, SCORE_LEAD, SubmitResult, from_json_value, json_error, lead_error,
};

/// The claim priority of a job kind ([`crate::model::priority`]): closes
/// and listing expiries are due at a time users were promised; minting and
/// bounty matching follow a sale and may lag under load; the rest is normal.
pub fn priority_of(kind: &str) -> i16 {
    use crate::model::priority::{BACKGROUND, DEADLINE, NORMAL};
    use market::kinds::{CLOSE_AUCTION, EXPIRE_LISTING, MATCH_BOUNTIES, MINT_NFT};
    match kind {
        CLOSE_AUCTION | EXPIRE_LISTING => DEADLINE,
        MINT_NFT | MATCH_BOUNTIES => BACKGROUND,
        _ => NORMAL,
    }
}

/// Tunables of the services (from `limits.*` configuration).
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Leads per seller, vertical and UTC day when neither an ask nor the
    /// operator says otherwise.
    pub default_daily_cap: u32,
    /// Items per `POST /v1/leads:batch`.
    pub max_batch: usize,
    /// Auction duration without an ask.
    pub default_auction_secs: u32,
    /// Reserve when a vertical has no floor price for a country.
    pub fallback_reserve: Money,
    /// Buy-now price as a multiple of the reserve, in basis points
    /// (12 000 = 1.2 ×).
    pub buy_now_bps: i64,
    /// Days within which a shared contact makes a lead a duplicate.
    pub duplicate_window_days: i64,
    pub siwe: wallet::SiweConfig,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            default_daily_cap: 500,
            max_batch: 500,
            default_auction_secs: 60,
            fallback_reserve: Money::from_micros(10_000_000),
            buy_now_bps: 12_000,
            duplicate_window_days: 30,
            siwe: wallet::SiweConfig::default(),
        }
    }
}

/// The leadex application service.
#[derive(Clone, Debug)]
pub struct Leadex {
    store: Arc<dyn Store>,
    queue: Arc<dyn JobQueue>,
    market: Arc<dyn Market>,
    nft: Arc<dyn NftStore>,
    jobs_notify: Arc<tokio::sync::Notify>,
    events: Arc<crate::events::EventHub>,
    catalog: Arc<Catalog>,
    cipher: Arc<PiiCipher>,
    clock: Arc<dyn Clock>,
    config: Arc<ServiceConfig>,
    /// Active auto-bid rules per vertical, valid for one rule-set version.
    rule_cache: Arc<RuleCache>,
}

/// `(rule-set version, rules per lead vertical)`.
type RuleCache = std::sync::Mutex<(i64, std::collections::HashMap<String, Arc<Vec<crate::market::Rule>>>)>;

impl Leadex {
    /// Builds the service; seeds the vertical catalogue on a fresh database
    /// and loads it.
    pub async fn start(
        store: Arc<dyn Store>,
        queue: Arc<dyn JobQueue>,
        market: Arc<dyn Market>,
        nft: Arc<dyn NftStore>,
        cipher: PiiCipher,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
    ) -> Result<Self, AppError> {
        let mut defs = store.load_verticals().await?;
        if defs.is_empty() {
            store.upsert_verticals(&catalog::seed()).await?;
            defs = store.load_verticals().await?;
        }
        let catalog = Catalog::new(defs).map_err(AppError::internal)?;
        Ok(Self {
            store,
            queue,
            market,
            nft,
            jobs_notify: Arc::new(tokio::sync::Notify::new()),
            events: Arc::new(crate::events::EventHub::default()),
            catalog: Arc::new(catalog),
            cipher: Arc::new(cipher),
            clock,
            config: Arc::new(config),
            rule_cache: Arc::new(std::sync::Mutex::new((-1, std::collections::HashMap::new()))),
        })
    }

    /// The vertical catalogue.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The store (for health checks and operator tools).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The market port.
    pub fn market(&self) -> &Arc<dyn Market> {
        &self.market
    }

    /// The job queue.
    pub fn nft(&self) -> &Arc<dyn NftStore> {
        &self.nft
    }

    pub fn queue(&self) -> &Arc<dyn JobQueue> {
        &self.queue
    }

    /// Signalled whenever this process enqueues a job, so local workers
    /// wake at once instead of at their next poll.
    pub fn jobs_notify(&self) -> &Arc<tokio::sync::Notify> {
        &self.jobs_notify
    }

    /// The realtime event hub.
    pub fn events(&self) -> &Arc<crate::events::EventHub> {
        &self.events
    }

    /// The PII keyring (workers that must read PII, e.g. external scoring).
    pub fn cipher(&self) -> &PiiCipher {
        &self.cipher
    }

    /// The service configuration.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
