//! Ports: the traits adapters implement. One method is one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadex_domain::vertical::VerticalDef;
use leadex_domain::{AccountId, AskId, KeyId, LeadId};

use crate::crypto::SealedPii;
use crate::cursor::{Page, PageRequest};
use crate::model::{
    Account, ApiKeyInfo, Ask, AskQuery, ClaimRequest, FailOutcome, IngestError, IngestLead, IngestOutcome, JobFilter,
    JobRecord, LeadQuery, LeadRecord, NewApiKey, NewJob, PiiAccess, Principal, QueueStats, ScoreAndOpen,
};
use leadex_domain::JobId;

/// A storage failure the caller cannot fix by changing its input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or timed out; retrying may help.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row broke an invariant the store relies on (corrupt data).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A unique constraint rejected a write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Any other backend failure.
    #[error("database error: {0}")]
    Backend(String),
}

/// The database, seen from the services.
///
/// Implemented by the SQLite and PostgreSQL adapters of `leadex-store`, and
/// checked by one conformance suite on both.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Round trip to the primary.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Whether the read replica is serving list queries: `None` without a
    /// replica, `Some(false)` while reads fall back to the primary.
    fn replica_up(&self) -> Option<bool> {
        None
    }

    /// Inserts an account.
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;
    /// An account by id.
    async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    /// Accounts, newest first.
    async fn list_accounts(&self, page: &PageRequest) -> Result<Page<Account>, StoreError>;
    /// Sets (or clears) the operator's daily-cap override of a seller.
    async fn set_account_daily_cap(&self, id: AccountId, cap: Option<u32>) -> Result<bool, StoreError>;

    /// Inserts a key.
    async fn create_api_key(&self, key: &NewApiKey) -> Result<(), StoreError>;
    /// The account and key for a presented key's hash, if it exists (expiry
    /// and revocation are returned, not filtered, so the caller can say why).
    async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<Principal>, StoreError>;
    /// An account's keys.
    async fn list_api_keys(&self, account: AccountId) -> Result<Vec<ApiKeyInfo>, StoreError>;
    /// Revokes a key of `account` (conditional: only if not yet revoked).
    async fn revoke_api_key(&self, account: AccountId, key: KeyId, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Inserts or replaces vertical definitions.
    async fn upsert_verticals(&self, defs: &[VerticalDef]) -> Result<(), StoreError>;
    /// Every vertical definition.
    async fn load_verticals(&self) -> Result<Vec<VerticalDef>, StoreError>;

    /// Inserts a lead with its PII and `score_lead` job in one transaction,
    /// after the idempotency, duplicate and daily-cap checks (SPEC §4.1).
    async fn ingest_lead(&self, req: &IngestLead) -> Result<IngestOutcome, IngestError>;
    /// Ingests several leads, answering each on its own and in order: one
    /// item's refusal or failure never affects another, and each accepted
    /// item is durable when this returns. Engines may commit items together
    /// (SQLite group commit); the default runs them one by one.
    async fn ingest_leads(&self, reqs: Vec<IngestLead>) -> Vec<Result<IngestOutcome, IngestError>> {
        let mut out = Vec::with_capacity(reqs.len());
        for r in &reqs {
            out.push(self.ingest_lead(r).await);
        }
        out
    }
    /// A lead by id.
    async fn get_lead(&self, id: LeadId) -> Result<Option<LeadRecord>, StoreError>;
    /// Reads a lead's sealed PII and records the access, in one transaction.
    async fn read_lead_pii(&self, access: &PiiAccess) -> Result<Option<SealedPii>, StoreError>;
    /// Leads matching `query`, newest first (keyset).
    async fn list_leads(&self, query: &LeadQuery, page: &PageRequest) -> Result<Page<LeadRecord>, StoreError>;
    /// The jobs that refer to a lead (payload `lead_id`), oldest first.
    async fn jobs_for_lead(&self, id: LeadId) -> Result<Vec<JobRecord>, StoreError>;
    /// Number of PII accesses recorded for a lead.
    async fn pii_access_count(&self, id: LeadId) -> Result<u64, StoreError>;

    /// Inserts an ask.
    async fn create_ask(&self, ask: &Ask) -> Result<(), StoreError>;
    /// Replaces an ask's terms if `seller` owns it.
    async fn update_ask(&self, ask: &Ask) -> Result<bool, StoreError>;
    /// Deletes an ask if `seller` owns it.
    async fn delete_ask(&self, seller: AccountId, id: AskId) -> Result<bool, StoreError>;
    /// An ask by id.
    async fn get_ask(&self, id: AskId) -> Result<Option<Ask>, StoreError>;
    /// Asks matching `query`, newest first (keyset).
    async fn list_asks(&self, query: &AskQuery, page: &PageRequest) -> Result<Page<Ask>, StoreError>;
    /// A seller's active, unexpired asks for any of `verticals` (for ask
    /// resolution at ingestion; a seller has few).
    async fn seller_asks_for(
        &self,
        seller: AccountId,
        verticals: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<Ask>, StoreError>;

    /// Writes a lead's score and opens its auction, enqueueing the jobs it
    /// causes, in one transaction; conditional on the lead being `received`
    /// (false when it was not: already scored, or gone).
    async fn score_and_open(&self, s: &ScoreAndOpen) -> Result<bool, StoreError>;
    /// Moves a `received` lead to `rejected` with a reason.
    async fn reject_lead(&self, id: LeadId, reason: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// The durable job queue (SPEC §10): claim with a lease, complete, fail with
/// backoff into the dead-letter state, reap expired leases. Per-vertical
/// running limits hold across every worker process.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts jobs (a job whose dedupe key exists is skipped); returns how
    /// many were inserted.
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<u64, StoreError>;
    /// Claims up to `limit` ready jobs in one short transaction, respecting
    /// per-vertical limits; marks them running under `worker` with a lease.
    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<JobRecord>, StoreError>;
    /// Extends the lease of jobs this worker still holds.
    async fn heartbeat(&self, ids: &[JobId], worker: &str, until: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Marks jobs this worker holds done; returns how many it still held.
    async fn complete(&self, ids: &[JobId], worker: &str, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Records a failed attempt: queued again at `retry_at` while attempts
    /// remain, else dead with `error` kept.
    async fn fail(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        retry_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<FailOutcome, StoreError>;
    /// Gives a job back without counting the attempt (graceful shutdown).
    async fn release(&self, id: JobId, worker: &str) -> Result<bool, StoreError>;
    /// Returns running jobs whose lease expired to the queue (or to dead when
    /// out of attempts); returns how many.
    async fn reap(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    /// The earliest `run_at` of a queued job, if any.
    async fn next_run_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Jobs, newest first.
    async fn list_jobs(&self, filter: &JobFilter, page: &PageRequest) -> Result<Page<JobRecord>, StoreError>;
    /// A job by id.
    async fn get_job(&self, id: JobId) -> Result<Option<JobRecord>, StoreError>;
    /// Revives a dead job: queued now with a fresh attempt budget.
    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Discards a job that is not running.
    async fn delete_job(&self, id: JobId) -> Result<bool, StoreError>;
    /// Depth per kind and status, and queue lag.
    async fn queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats, StoreError>;
}
