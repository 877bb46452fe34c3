//! Ports: the traits adapters implement. One method is one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadex_domain::vertical::VerticalDef;
use leadex_domain::{AccountId, AskId, KeyId, LeadId};

use crate::crypto::SealedPii;
use crate::cursor::{Page, PageRequest};
use crate::model::{
    Account, ApiKeyInfo, Ask, AskQuery, IngestError, IngestLead, IngestOutcome, JobRecord, LeadQuery, LeadRecord,
    NewApiKey, PiiAccess, Principal,
};

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
}
