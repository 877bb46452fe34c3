//! Row structs decoded by `FromRow` (generic over the engine's row type)
//! and their conversions to core records.

use leadex_core::clock::from_micros;
use leadex_core::model::{Account, ApiKeyInfo, Ask, JobRecord, LeadRecord, LeadStatus};
use leadex_core::ports::StoreError;
use leadex_domain::account::{Role, Scope};
use leadex_domain::geo::Geo;
use leadex_domain::score::{Breakdown, Score, Tier};
use leadex_domain::{AccountId, AskId, JobId, KeyId, LeadId, Money};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn u32_of(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt(what))
}

fn hash32(v: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    v.try_into().map_err(|_| corrupt(what))
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    pub id: Uuid,
    pub role: String,
    pub name: String,
    pub status: String,
    pub wallet_address: Option<String>,
    pub kyc_verified: bool,
    pub daily_cap: Option<i64>,
    pub created_at: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;
    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        Ok(Account {
            id: AccountId::from_uuid(r.id),
            role: r.role.parse::<Role>().map_err(|_| corrupt("accounts.role"))?,
            name: r.name,
            status: r.status,
            wallet_address: r.wallet_address,
            kyc_verified: r.kyc_verified,
            daily_cap: r.daily_cap.map(|c| u32_of(c, "accounts.daily_cap")).transpose()?,
            created_at: from_micros(r.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub prefix: String,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl TryFrom<KeyRow> for ApiKeyInfo {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<Self, StoreError> {
        Ok(ApiKeyInfo {
            id: KeyId::from_uuid(r.id),
            account_id: AccountId::from_uuid(r.account_id),
            prefix: r.prefix,
            name: r.name,
            scopes: r
                .scopes
                .split_whitespace()
                .map(|s| s.parse::<Scope>().map_err(|_| corrupt("api_keys.scopes")))
                .collect::<Result<_, _>>()?,
            created_at: from_micros(r.created_at),
            expires_at: r.expires_at.map(from_micros),
            revoked_at: r.revoked_at.map(from_micros),
        })
    }
}

/// Columns of a lead row, in [`LeadRow`] order. List queries never select
/// PII (it lives in `lead_pii`).
pub(crate) fn lead_columns() -> &'static str {
    "id, seller_id, vertical, root_vertical, status, country, region, postal_code, city, lat, lng, fields, source,
     consent_at, consent, attribution, score, tier, score_breakdown, ask_id, reserve_price, buy_now_price,
     auction_duration_secs, pii_hash, correlation_id, created_at, updated_at, auction_opened_at, auction_ends_at,
     bid_count, seed_hash, seed, sold_price, buyer_id, sold_at, has_phone, has_email, rejection_reason"
}

#[derive(sqlx::FromRow)]
pub(crate) struct LeadRow {
    pub id: Uuid,
    pub seller_id: Uuid,
    pub vertical: String,
    pub root_vertical: String,
    pub status: String,
    pub country: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    pub fields: Json<Value>,
    pub source: String,
    pub consent_at: Option<i64>,
    pub consent: Option<Json<Value>>,
    pub attribution: Option<Json<Value>>,
    pub score: Option<i64>,
    pub tier: Option<String>,
    pub score_breakdown: Option<Json<Breakdown>>,
    pub ask_id: Option<Uuid>,
    pub reserve_price: i64,
    pub buy_now_price: i64,
    pub auction_duration_secs: i64,
    pub pii_hash: Vec<u8>,
    pub correlation_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub auction_opened_at: Option<i64>,
    pub auction_ends_at: Option<i64>,
    pub bid_count: i64,
    pub seed_hash: Option<Vec<u8>>,
    pub seed: Option<Vec<u8>>,
    pub sold_price: Option<i64>,
    pub buyer_id: Option<Uuid>,
    pub sold_at: Option<i64>,
    pub has_phone: bool,
    pub has_email: bool,
    pub rejection_reason: Option<String>,
}

impl TryFrom<LeadRow> for LeadRecord {
    type Error = StoreError;
    fn try_from(r: LeadRow) -> Result<Self, StoreError> {
        let score = match (r.score, r.tier, r.score_breakdown) {
            (Some(v), Some(t), Some(Json(b))) => Some(Score {
                value: u32_of(v, "leads.score")?,
                tier: Tier::parse(&t).ok_or_else(|| corrupt("leads.tier"))?,
                breakdown: b,
            }),
            _ => None,
        };
        let fields = match r.fields.0 {
            Value::Object(m) => m,
            _ => return Err(corrupt("leads.fields")),
        };
        Ok(LeadRecord {
            id: LeadId::from_uuid(r.id),
            seller_id: AccountId::from_uuid(r.seller_id),
            vertical: r.vertical,
            root_vertical: r.root_vertical,
            status: LeadStatus::parse(&r.status).ok_or_else(|| corrupt("leads.status"))?,
            geo: Geo {
                country: r.country,
                region: r.region,
                postal_code: r.postal_code,
                city: r.city,
                lat: r.lat,
                lng: r.lng,
            },
            fields,
            source: r.source,
            consent_at: r.consent_at.map(from_micros),
            consent: r.consent.map(|j| j.0),
            attribution: r.attribution.map(|j| j.0),
            score,
            ask_id: r.ask_id.map(AskId::from_uuid),
            reserve_price: Money::from_micros(r.reserve_price),
            buy_now_price: Money::from_micros(r.buy_now_price),
            auction_duration_secs: u32_of(r.auction_duration_secs, "leads.auction_duration_secs")?,
            pii_hash: hash32(r.pii_hash, "leads.pii_hash")?,
            correlation_id: r.correlation_id,
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
            auction_opened_at: r.auction_opened_at.map(from_micros),
            auction_ends_at: r.auction_ends_at.map(from_micros),
            bid_count: u32_of(r.bid_count, "leads.bid_count")?,
            seed_hash: r.seed_hash.map(|h| hash32(h, "leads.seed_hash")).transpose()?,
            seed: r.seed.map(|h| hash32(h, "leads.seed")).transpose()?,
            sold_price: r.sold_price.map(Money::from_micros),
            buyer_id: r.buyer_id.map(AccountId::from_uuid),
            sold_at: r.sold_at.map(from_micros),
            has_phone: r.has_phone,
            has_email: r.has_email,
            rejection_reason: r.rejection_reason,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AskRow {
    pub id: Uuid,
    pub seller_id: Uuid,
    pub vertical: String,
    pub countries: Json<Vec<String>>,
    pub regions: Json<Vec<String>>,
    pub reserve_price: i64,
    pub buy_now_price: i64,
    pub auction_duration_secs: i64,
    pub daily_cap: i64,
    pub status: String,
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TryFrom<AskRow> for Ask {
    type Error = StoreError;
    fn try_from(r: AskRow) -> Result<Self, StoreError> {
        Ok(Ask {
            id: AskId::from_uuid(r.id),
            seller_id: AccountId::from_uuid(r.seller_id),
            vertical: r.vertical,
            countries: r.countries.0,
            regions: r.regions.0,
            reserve_price: Money::from_micros(r.reserve_price),
            buy_now_price: Money::from_micros(r.buy_now_price),
            auction_duration_secs: u32_of(r.auction_duration_secs, "asks.auction_duration_secs")?,
            daily_cap: u32_of(r.daily_cap, "asks.daily_cap")?,
            status: r.status,
            expires_at: r.expires_at.map(from_micros),
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    pub id: Uuid,
    pub kind: String,
    pub vertical: Option<String>,
    pub payload: Json<Value>,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub priority: i16,
    pub last_error: Option<String>,
    pub correlation_id: String,
    pub dedupe_key: Option<String>,
    pub created_at: i64,
    pub locked_by: Option<String>,
    pub locked_until: Option<i64>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// Columns of a job row, in [`JobRow`] order.
pub(crate) const JOB_COLUMNS: &str =
    "id, kind, vertical, payload, status, attempts, max_attempts, run_at, priority, last_error,
     correlation_id, dedupe_key, created_at, locked_by, locked_until, started_at, finished_at";

impl TryFrom<JobRow> for JobRecord {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(JobRecord {
            id: JobId::from_uuid(r.id),
            kind: r.kind,
            vertical: r.vertical,
            payload: r.payload.0,
            status: r.status,
            attempts: u32_of(r.attempts, "jobs.attempts")?,
            max_attempts: u32_of(r.max_attempts, "jobs.max_attempts")?,
            run_at: from_micros(r.run_at),
            priority: r.priority,
            last_error: r.last_error,
            correlation_id: r.correlation_id,
            dedupe_key: r.dedupe_key,
            created_at: from_micros(r.created_at),
            locked_by: r.locked_by,
            locked_until: r.locked_until.map(from_micros),
            started_at: r.started_at.map(from_micros),
            finished_at: r.finished_at.map(from_micros),
        })
    }
}
