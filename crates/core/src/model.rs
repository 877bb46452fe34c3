//! Records exchanged between services and the store. Plain data; the
//! store maps them to rows, the API maps them to DTOs.

use chrono::{DateTime, NaiveDate, Utc};
use leadex_domain::account::{Role, Scope};
use leadex_domain::geo::Geo;
use leadex_domain::score::Score;
use leadex_domain::{AccountId, AskId, JobId, KeyId, LeadId, Money};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::crypto::SealedPii;
use crate::cursor::Keyed;

/// An account.
#[derive(Clone, Debug, PartialEq)]
pub struct Account {
    /// Id.
    pub id: AccountId,
    /// Role.
    pub role: Role,
    /// Display name.
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Linked wallet, `0x…` lower case.
    pub wallet_address: Option<String>,
    /// Whether KYC is verified.
    pub kyc_verified: bool,
    /// Operator override of the per-vertical daily ingestion cap.
    pub daily_cap: Option<u32>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Keyed for Account {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id.as_uuid())
    }
}

/// An API key as stored (never the secret).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKeyInfo {
    /// Id.
    pub id: KeyId,
    /// Owner.
    pub account_id: AccountId,
    /// First characters of the secret.
    pub prefix: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// When revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key to store.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// Id.
    pub id: KeyId,
    /// Owner.
    pub account_id: AccountId,
    /// SHA-256 of the secret.
    pub hash: [u8; 32],
    /// Display prefix.
    pub prefix: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<Scope>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who is calling: an account authenticated by one of its keys.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// The account.
    pub account: Account,
    /// The key used.
    pub key: ApiKeyInfo,
}

impl Principal {
    /// Whether the key carries `scope` (or `admin`) and the account's role
    /// allows it.
    pub fn can(&self, scope: Scope) -> bool {
        self.account.role.allows(scope) && (self.key.scopes.contains(&scope) || self.key.scopes.contains(&Scope::Admin))
    }

    /// Whether the caller is an operator.
    pub fn is_admin(&self) -> bool {
        self.account.role == Role::Admin && self.key.scopes.contains(&Scope::Admin)
    }
}

/// Lead lifecycle status (SPEC §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeadStatus {
    /// Accepted, waiting for scoring.
    Received,
    /// Scored, not yet auctioned.
    Scored,
    /// Scoring found it invalid.
    Rejected,
    /// Auction running.
    InAuction,
    /// Sold.
    Sold,
    /// Auction ended without a valid bid; buy-now open.
    Unsold,
    /// Buy-now window over.
    Expired,
}

impl LeadStatus {
    /// Every status.
    pub const ALL: [LeadStatus; 7] =
        [Self::Received, Self::Scored, Self::Rejected, Self::InAuction, Self::Sold, Self::Unsold, Self::Expired];

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Scored => "scored",
            Self::Rejected => "rejected",
            Self::InAuction => "in_auction",
            Self::Sold => "sold",
            Self::Unsold => "unsold",
            Self::Expired => "expired",
        }
    }

    /// Parses a stored or queried name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A lead as stored (PII excluded; it lives sealed in its own table).
#[derive(Clone, Debug, PartialEq)]
pub struct LeadRecord {
    /// Id.
    pub id: LeadId,
    /// Submitting seller.
    pub seller_id: AccountId,
    /// Vertical slug.
    pub vertical: String,
    /// Root vertical slug.
    pub root_vertical: String,
    /// Status.
    pub status: LeadStatus,
    /// Geo.
    pub geo: Geo,
    /// Non-PII fields.
    pub fields: Map<String, Value>,
    /// Source name.
    pub source: String,
    /// Consent time.
    pub consent_at: Option<DateTime<Utc>>,
    /// Consent text and proof, as JSON.
    pub consent: Option<Value>,
    /// Attribution, as JSON.
    pub attribution: Option<Value>,
    /// Quality score once scored.
    pub score: Option<Score>,
    /// The ask it sells under.
    pub ask_id: Option<AskId>,
    /// Reserve price.
    pub reserve_price: Money,
    /// Buy-now price.
    pub buy_now_price: Money,
    /// Auction duration.
    pub auction_duration_secs: u32,
    /// keccak-256 of the canonical PII JSON.
    pub pii_hash: [u8; 32],
    /// Correlation id of the submitting request.
    pub correlation_id: String,
    /// Submission time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Auction opening time.
    pub auction_opened_at: Option<DateTime<Utc>>,
    /// Auction end.
    pub auction_ends_at: Option<DateTime<Utc>>,
    /// Live bid count.
    pub bid_count: u32,
    /// keccak256(seed), published at opening.
    pub seed_hash: Option<[u8; 32]>,
    /// The seed, revealed at close.
    pub seed: Option<[u8; 32]>,
    /// Clearing price once sold.
    pub sold_price: Option<Money>,
    /// Buyer once sold.
    pub buyer_id: Option<AccountId>,
    /// Sale time.
    pub sold_at: Option<DateTime<Utc>>,
    /// Whether a valid phone was given (scored without decrypting PII).
    pub has_phone: bool,
    /// Whether a valid e-mail was given.
    pub has_email: bool,
    /// Why scoring rejected it.
    pub rejection_reason: Option<String>,
}

impl Keyed for LeadRecord {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id.as_uuid())
    }
}

/// Claim order of jobs (ADR 7 addendum, session 8): every ready job of a
/// lower level is claimed before any ready job of a higher one; within a
/// level the oldest `run_at` goes first. Under overload the work whose
/// `run_at` is a promise to users (an auction's end) is not queued behind
/// work that can wait (minting a sold lead).
pub mod priority {
    /// The scheduled time is a promise: auction closes, listing expiries.
    pub const DEADLINE: i16 = 0;
    /// Everything not classed otherwise (scoring, auto-bids).
    pub const NORMAL: i16 = 1;
    /// Follow-up work after a sale: minting, bounty payouts.
    pub const BACKGROUND: i16 = 2;
    /// Every level, in claim order (the store's `CHECK` holds the same).
    pub const LEVELS: [i16; 3] = [DEADLINE, NORMAL, BACKGROUND];
}

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewJob {
    /// Id.
    pub id: JobId,
    /// Handler kind (`score_lead`, …).
    pub kind: String,
    /// Vertical for per-vertical concurrency limits.
    pub vertical: Option<String>,
    /// Handler input.
    pub payload: Value,
    /// Earliest start.
    pub run_at: DateTime<Utc>,
    /// Claim order among ready jobs, one of [`priority::LEVELS`].
    pub priority: i16,
    /// Attempts before `dead`.
    pub max_attempts: u32,
    /// Correlation id of the cause.
    pub correlation_id: String,
    /// Unique key where the job must exist once.
    pub dedupe_key: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

/// A job as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct JobRecord {
    /// Id.
    pub id: JobId,
    /// Kind.
    pub kind: String,
    /// Vertical.
    pub vertical: Option<String>,
    /// Payload.
    pub payload: Value,
    /// `queued | running | done | dead`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Earliest (next) start.
    pub run_at: DateTime<Utc>,
    /// Claim order among ready jobs ([`priority`]).
    pub priority: i16,
    /// Last error.
    pub last_error: Option<String>,
    /// Correlation id.
    pub correlation_id: String,
    /// Dedupe key.
    pub dedupe_key: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Worker holding it (or that finished it).
    pub locked_by: Option<String>,
    /// Lease end while running.
    pub locked_until: Option<DateTime<Utc>>,
    /// Start of the last attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// End of the last attempt.
    pub finished_at: Option<DateTime<Utc>>,
}

impl Keyed for JobRecord {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id.as_uuid())
    }
}

/// What a worker asks for when claiming jobs.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimRequest {
    /// Worker id (process and runtime), recorded as `locked_by`.
    pub worker: String,
    /// Most jobs to claim.
    pub limit: u32,
    /// Lease end for the claimed jobs.
    pub lease_until: DateTime<Utc>,
    /// Claim time (also `started_at`).
    pub now: DateTime<Utc>,
    /// Only these kinds (the ones with free capacity here).
    pub kinds: Option<Vec<String>>,
    /// Only these priority levels, each with the most jobs to take from it
    /// (`None`: every level, up to `limit`).
    pub levels: Option<Vec<(i16, u32)>>,
    /// Deadline jobs due up to this time are claimed already (`None`: `now`);
    /// the worker starts them at their `run_at`, so the claim's own wait is
    /// spent before the deadline rather than after it.
    pub deadline_until: Option<DateTime<Utc>>,
    /// Running jobs allowed per vertical across all workers.
    pub default_vertical_limit: u32,
    /// Per-vertical overrides.
    pub vertical_limits: std::collections::HashMap<String, u32>,
}

impl ClaimRequest {
    /// The limit of `vertical`.
    pub fn vertical_limit(&self, vertical: &str) -> u32 {
        self.vertical_limits.get(vertical).copied().unwrap_or(self.default_vertical_limit)
    }
}

/// Where a failed attempt left its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOutcome {
    /// Queued again for `run_at`.
    Retrying,
    /// Out of attempts: dead-lettered.
    Dead,
    /// The job was no longer this worker's (lease lost).
    Lost,
}

/// Filters of the operator job list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobFilter {
    /// Status.
    pub status: Option<String>,
    /// Kind.
    pub kind: Option<String>,
    /// Vertical.
    pub vertical: Option<String>,
}

/// Depth of one (kind, status) pair.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueDepth {
    /// Kind.
    pub kind: String,
    /// Status.
    pub status: String,
    /// Jobs.
    pub count: u64,
}

/// Queue statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueStats {
    /// Depth per kind and status (done jobs excluded).
    pub depths: Vec<QueueDepth>,
    /// Age of the oldest job ready to run (`run_at ≤ now`), seconds.
    pub oldest_ready_age_secs: f64,
    /// Jobs ready to run now.
    pub ready: u64,
    /// Jobs scheduled for later.
    pub scheduled: u64,
}

/// The outcome of scoring a lead, written with its auction opening.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreAndOpen {
    /// Lead.
    pub lead_id: LeadId,
    /// Its score.
    pub score: Score,
    /// Auction start.
    pub opened_at: DateTime<Utc>,
    /// Auction end.
    pub ends_at: DateTime<Utc>,
    /// Tie-break seed (revealed at close).
    pub seed: [u8; 32],
    /// keccak256(seed), published now.
    pub seed_hash: [u8; 32],
    /// Jobs caused: `close_auction` at the end, `auto_bid` now.
    pub jobs: Vec<NewJob>,
}

/// Idempotency claim for a submission.
#[derive(Clone, Debug, PartialEq)]
pub struct IdempotencyClaim {
    /// The client's `Idempotency-Key`.
    pub key: String,
    /// SHA-256 of the canonical request body.
    pub request_hash: String,
    /// The response to replay for a retry.
    pub response: Value,
}

/// Everything one lead insert writes, in one transaction.
#[derive(Clone, Debug)]
pub struct IngestLead {
    /// The lead row.
    pub lead: LeadRecord,
    /// Its sealed PII.
    pub pii: SealedPii,
    /// Keyed hashes of its normalised contacts (duplicate scope: root vertical).
    pub contact_hashes: Vec<[u8; 32]>,
    /// Duplicate window start: an earlier lead with a shared contact at or
    /// after this time makes this one a duplicate.
    pub duplicate_since: DateTime<Utc>,
    /// UTC day the cap counts against.
    pub cap_day: NaiveDate,
    /// Cap for (seller, vertical, day).
    pub daily_cap: u32,
    /// The `score_lead` job.
    pub job: NewJob,
    /// Idempotency, when the client sent a key.
    pub idempotency: Option<IdempotencyClaim>,
}

/// What an ingest did.
#[derive(Clone, Debug, PartialEq)]
pub enum IngestOutcome {
    /// Inserted.
    Accepted,
    /// Same key, same body: the stored response.
    Replayed(Value),
}

/// Why an ingest was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A lead with a shared contact exists in the window.
    #[error("duplicate of lead {0}")]
    Duplicate(LeadId),
    /// The cap for (seller, vertical, day) is used up.
    #[error("daily cap reached")]
    DailyCapReached,
    /// Same idempotency key, different body.
    #[error("idempotency key reused with a different body")]
    IdempotencyMismatch,
    /// Backend failure.
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
}

/// Filters of the lead lists (SPEC §4.4).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeadQuery {
    /// Only this seller's leads.
    pub seller_id: Option<AccountId>,
    /// Only leads this buyer bought.
    pub buyer_id: Option<AccountId>,
    /// Exactly one of these verticals (already expanded to descendants).
    pub verticals: Option<Vec<String>>,
    /// Root vertical (used instead of `verticals` when the filter is a root).
    pub root_vertical: Option<String>,
    /// Statuses to include.
    pub statuses: Option<Vec<LeadStatus>>,
    /// Leave out rejected leads (the public feed).
    pub hide_rejected: bool,
    /// Country.
    pub country: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Minimum score.
    pub min_score: Option<u32>,
    /// Maximum score.
    pub max_score: Option<u32>,
    /// Minimum price (sold price if sold, else reserve).
    pub min_price: Option<Money>,
    /// Maximum price.
    pub max_price: Option<Money>,
    /// Created at or after.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    /// Equality filters on filterable non-PII fields.
    pub field_eq: Vec<(String, FieldValue)>,
}

/// A field filter value, typed from the schema.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// Text or select.
    Text(String),
    /// Number.
    Number(f64),
    /// Boolean.
    Bool(bool),
}

/// A seller's standing terms for a vertical (SPEC §5).
#[derive(Clone, Debug, PartialEq)]
pub struct Ask {
    /// Id.
    pub id: AskId,
    /// Owner.
    pub seller_id: AccountId,
    /// Vertical slug (a parent covers its descendants).
    pub vertical: String,
    /// Countries targeted (empty: any).
    pub countries: Vec<String>,
    /// Regions targeted (empty: any).
    pub regions: Vec<String>,
    /// Reserve price.
    pub reserve_price: Money,
    /// Buy-now price.
    pub buy_now_price: Money,
    /// Auction duration, 10–600 s.
    pub auction_duration_secs: u32,
    /// Daily cap for this seller and vertical.
    pub daily_cap: u32,
    /// `active | paused`.
    pub status: String,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Ask {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id.as_uuid())
    }
}

/// Filters of ask lists.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AskQuery {
    /// Only this seller's asks.
    pub seller_id: Option<AccountId>,
    /// Only these verticals.
    pub verticals: Option<Vec<String>>,
    /// Only this status.
    pub status: Option<String>,
    /// Exclude expired asks as of this time.
    pub live_at: Option<DateTime<Utc>>,
}

/// A PII access to audit.
#[derive(Clone, Debug, PartialEq)]
pub struct PiiAccess {
    /// Lead read.
    pub lead_id: LeadId,
    /// Who read it.
    pub account_id: AccountId,
    /// Why (`seller_view`, `buyer_purchase`, …).
    pub purpose: String,
    /// Request correlation id.
    pub correlation_id: String,
    /// When.
    pub at: DateTime<Utc>,
}
