//! Job handlers of the lead pipeline. Each is idempotent: state changes are
//! conditional on the state the job expects, so a second run is a no-op.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use leadex_core::Leadex;
use leadex_core::model::{JobRecord, LeadRecord, LeadStatus, NewJob, ScoreAndOpen};
use leadex_domain::lead::{Source, keccak256};
use leadex_domain::score::{self, Score, ScoreInput, Tier};
use leadex_domain::vertical::VerticalStatus;
use leadex_domain::{JobId, LeadId};
use rand::RngCore;
use serde_json::json;

use crate::runtime::{JobContext, JobError, JobHandler};

/// Kind of the scoring job.
pub const SCORE_LEAD: &str = leadex_core::service::SCORE_LEAD;
pub use leadex_core::service::market::kinds::{
    AUCTION_CLOSING, AUTO_BID, CLOSE_AUCTION, EXPIRE_LISTING, MATCH_BOUNTIES, MINT_NFT,
};
/// A job that does nothing (benchmarks, queue tests).
pub const NOOP: &str = "noop";

fn lead_id(job: &JobRecord) -> Result<LeadId, JobError> {
    job.payload
        .get("lead_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| JobError::new("payload has no valid lead_id"))
}

/// An optional external scorer (e.g. a Chainlink CRE workflow over HTTP):
/// its answer replaces the local score when it arrives within the timeout.
#[derive(Clone, Debug)]
pub struct ExternalScorer {
    /// Endpoint receiving `POST {lead…, local_score}` and answering
    /// `{"score": 0..=10000}`.
    pub url: String,
    /// Longest wait.
    pub timeout: Duration,
    client: reqwest::Client,
}

impl ExternalScorer {
    /// A scorer for `url`.
    pub fn new(url: String, timeout: Duration) -> Self {
        Self { url, timeout, client: reqwest::Client::new() }
    }

    async fn score(&self, lead: &LeadRecord, local: &Score) -> Result<u32, String> {
        let body = json!({
            "lead_id": lead.id,
            "vertical": lead.vertical,
            "geo": {"country": lead.geo.country, "region": lead.geo.region},
            "fields": lead.fields,
            "source": lead.source,
            "local_score": local.value,
            "breakdown": local.breakdown,
        });
        let fut = self.client.post(&self.url).json(&body).send();
        let resp = tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| "timeout".to_owned())?
            .map_err(|_| "unreachable".to_owned())?;
        if !resp.status().is_success() {
            return Err("bad_status".into());
        }
        let v: serde_json::Value = tokio::time::timeout(self.timeout, resp.json())
            .await
            .map_err(|_| "timeout".to_owned())?
            .map_err(|_| "bad_body".to_owned())?;
        v.get("score")
            .and_then(|s| s.as_u64())
            .and_then(|s| u32::try_from(s).ok())
            .filter(|s| *s <= score::MAX_SCORE)
            .ok_or_else(|| "bad_body".to_owned())
    }
}

/// `score_lead`: scores a received lead (SPEC §4.2) and, in the same
/// transaction, opens its auction: end time from its terms, the tie-break
/// seed hash published, `close_auction` scheduled at the end and `auto_bid`
/// enqueued now.
#[derive(Clone, Debug)]
pub struct ScoreLead {
    svc: Leadex,
    external: Option<ExternalScorer>,
}

impl ScoreLead {
    /// The handler; `external` is the optional remote scorer.
    pub fn new(svc: Leadex, external: Option<ExternalScorer>) -> Self {
        Self { svc, external }
    }
}

#[async_trait]
impl JobHandler for ScoreLead {
    async fn run(&self, _ctx: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        let started = Instant::now();
        let id = lead_id(job)?;
        let Some(lead) = self.svc.store().get_lead(id).await? else {
            tracing::warn!(lead_id = %id, "score_lead: lead not found; nothing to do");
            return Ok(());
        };
        if lead.status != LeadStatus::Received {
            // Already scored by an earlier run: idempotent no-op.
            return Ok(());
        }
        let now = self.svc.clock().now();
        let active = self.svc.catalog().get(&lead.vertical).is_some_and(|v| v.def.status == VerticalStatus::Active);
        if !active {
            if self.svc.store().reject_lead(id, "vertical is no longer active", now).await? {
                metrics::counter!("leadex_leads_rejected_total", "vertical" => lead.vertical.clone(), "reason" => "vertical_inactive")
                    .increment(1);
            }
            return Ok(());
        }
        let source = Source::parse(&lead.source).unwrap_or(Source::Other);
        let mut s = score::score_input(
            &ScoreInput {
                consent_at: lead.consent_at,
                geo: &lead.geo,
                has_phone: lead.has_phone,
                has_email: lead.has_email,
                public_fields: lead.fields.len(),
                source,
            },
            now,
        );
        if let Some(ext) = &self.external {
            let called = std::time::Instant::now();
            let answer = ext.score(&lead, &s).await;
            let outcome = answer.as_ref().map_or_else(|r| r.clone(), |_| "ok".to_owned());
            metrics::histogram!("leadex_quality_score_external_duration_seconds", "outcome" => outcome)
                .record(called.elapsed().as_secs_f64());
            match answer {
                Ok(v) => {
                    s.value = v;
                    s.tier = Tier::of(v);
                }
                Err(reason) => {
                    metrics::counter!("leadex_quality_score_failures_total", "reason" => reason.clone()).increment(1);
                    tracing::warn!(lead_id = %id, reason, "external scorer failed; the local score stands");
                }
            }
        }
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        let ends_at = now + chrono::Duration::seconds(i64::from(lead.auction_duration_secs));
        let job_for = |kind: &str, run_at| NewJob {
            id: JobId::new(),
            kind: kind.to_owned(),
            vertical: Some(lead.vertical.clone()),
            payload: json!({ "lead_id": id }),
            run_at,
            priority: leadex_core::service::priority_of(kind),
            max_attempts: 3,
            correlation_id: lead.correlation_id.clone(),
            dedupe_key: Some(format!("{kind}:{id}")),
            created_at: now,
        };
        let open = ScoreAndOpen {
            lead_id: id,
            score: s,
            opened_at: now,
            ends_at,
            seed,
            seed_hash: keccak256(&seed),
            jobs: {
                let mut jobs = vec![job_for(CLOSE_AUCTION, ends_at), job_for(AUTO_BID, now)];
                if lead.auction_duration_secs > 10 {
                    jobs.push(job_for(AUCTION_CLOSING, ends_at - chrono::Duration::seconds(10)));
                }
                jobs
            },
        };
        let opened = self.svc.store().score_and_open(&open).await?;
        if opened {
            self.svc.jobs_notify().notify_waiters();
            // What the conditional update wrote, without reading it back.
            let open_lead = LeadRecord {
                status: LeadStatus::InAuction,
                score: Some(s),
                auction_opened_at: Some(now),
                auction_ends_at: Some(ends_at),
                seed_hash: Some(open.seed_hash),
                updated_at: now,
                ..lead.clone()
            };
            self.svc.emit_lead_new(&open_lead);
            metrics::histogram!("leadex_quality_score_duration_seconds").record(started.elapsed().as_secs_f64());
            metrics::counter!("leadex_leads_scored_total", "vertical" => lead.vertical.clone(), "tier" => s.tier.as_str())
                .increment(1);
            let lag = (Utc::now() - lead.created_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
            metrics::histogram!("leadex_ingest_to_auction_seconds").record(lag);
            tracing::info!(lead_id = %id, score = s.value, tier = s.tier.as_str(), ends_at = %ends_at, "auction opened");
        }
        Ok(())
    }
}

/// `close_auction`: ranks the sealed bids at the end time and settles the
/// winner, releases the losers and lists or sells the lead, in one
/// transaction (conditional on `in_auction`, so a second run is a no-op).
#[derive(Clone, Debug)]
pub struct CloseAuction(pub Leadex);

#[async_trait]
impl JobHandler for CloseAuction {
    async fn run(&self, _ctx: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        let id = lead_id(job)?;
        let outcome = match self.0.close_auction(id).await? {
            leadex_core::market::CloseOutcome::Sold { .. } => "sold",
            leadex_core::market::CloseOutcome::Unsold => "unsold",
            leadex_core::market::CloseOutcome::NotInAuction => "already closed",
        };
        tracing::info!(lead_id = %id, outcome, "close_auction ran");
        Ok(())
    }
}

/// `auto_bid`: evaluates the active auto-bid rules of the lead's vertical
/// lineage and places one bid per buyer (its best-priority matching rule).
/// Placing a bid replaces the buyer's own earlier bid, so a rerun changes
/// nothing.
#[derive(Clone, Debug)]
pub struct AutoBid(pub Leadex);

#[async_trait]
impl JobHandler for AutoBid {
    async fn run(&self, _ctx: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        let id = lead_id(job)?;
        let started = Instant::now();
        let placed = self.0.run_auto_bids(id).await?;
        metrics::histogram!("leadex_auto_bid_evaluation_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(lead_id = %id, placed, "auto-bid rules evaluated");
        Ok(())
    }
}

/// `match_bounties`: pays the bounty pools a sold lead qualifies for, once
/// per pool and lead.
#[derive(Clone, Debug)]
pub struct MatchBounties(pub Leadex);

#[async_trait]
impl JobHandler for MatchBounties {
    async fn run(&self, _ctx: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        let id = lead_id(job)?;
        let paid = self.0.match_bounties(id).await?;
        tracing::info!(lead_id = %id, pools = paid.len(), "bounties matched");
        Ok(())
    }
}

/// `expire_listing`: ends an unsold lead's buy-now window.
#[derive(Clone, Debug)]
pub struct ExpireListing(pub Leadex);

#[async_trait]
impl JobHandler for ExpireListing {
    async fn run(&self, _ctx: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        let id = lead_id(job)?;
        self.0.expire_listing(id).await?;
        Ok(())
    }
}

/// `auction_closing`: tells the auction's watchers it ends in ten seconds.
#[derive(Clone, Debug)]
pub struct AuctionClosing(pub Leadex);

#[async_trait]
impl JobHandler for AuctionClosing {
    async fn run(&self, _ctx: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        self.0.announce_closing(lead_id(job)?).await?;
        Ok(())
    }
}

/// `mint_nft`: records the sold lead's token for the chain service's
/// batcher, which mints it to the buyer in a `mintBatch` (leadex-chain).
#[derive(Clone, Debug)]
pub struct MintNft(pub Leadex);

#[async_trait]
impl JobHandler for MintNft {
    async fn run(&self, _ctx: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        let id = lead_id(job)?;
        if self.0.queue_mint(id).await? {
            tracing::info!(lead_id = %id, "token queued for minting");
        }
        Ok(())
    }
}

/// `noop`: does nothing; for queue benchmarks and runtime tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct Noop;

#[async_trait]
impl JobHandler for Noop {
    async fn run(&self, _ctx: &JobContext, _job: &JobRecord) -> Result<(), JobError> {
        Ok(())
    }
}

/// A worker with every pipeline handler registered.
pub fn pipeline(worker: crate::Worker, svc: &Leadex, external: Option<ExternalScorer>) -> crate::Worker {
    // Fill rate per root vertical from the first close: a counter born at
    // 1 shows no increase (docs/metrics.md).
    for v in svc.catalog().iter().filter(|v| v.depth == 1) {
        for outcome in ["sold", "unsold"] {
            metrics::counter!("leadex_auctions_closed_total", "vertical" => v.slug().to_owned(), "outcome" => outcome)
                .increment(0);
        }
    }
    worker
        .handle(SCORE_LEAD, ScoreLead::new(svc.clone(), external))
        .handle(CLOSE_AUCTION, CloseAuction(svc.clone()))
        .handle(AUTO_BID, AutoBid(svc.clone()))
        .handle(MATCH_BOUNTIES, MatchBounties(svc.clone()))
        .handle(EXPIRE_LISTING, ExpireListing(svc.clone()))
        .handle(MINT_NFT, MintNft(svc.clone()))
        .handle(AUCTION_CLOSING, AuctionClosing(svc.clone()))
        .handle(NOOP, Noop)
}
