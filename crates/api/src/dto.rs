//! Wire types (SPEC §15): snake_case, money as decimal strings, RFC 3339
//! UTC times, UUIDv7 ids. Built from core records; what a caller may see
//! is decided by the service and applied here.

use chrono::{DateTime, Utc};
use leadex_core::cursor::Page;
use leadex_core::model::{Account, ApiKeyInfo, Ask, JobRecord, LeadRecord};
use leadex_domain::vertical::{FieldDef, Vertical};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// A list page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Cursor of the next (older) page; `null` at the end.
    pub next_cursor: Option<String>,
    /// Cursor of the previous (newer) page; `null` on the first page.
    pub prev_cursor: Option<String>,
}

impl<T> ListResponse<T> {
    /// From a core page.
    pub fn from_page<U>(p: Page<U>, f: impl FnMut(U) -> T) -> Self {
        let p = p.map(f);
        Self { items: p.items, next_cursor: p.next_cursor, prev_cursor: p.prev_cursor }
    }
}

/// `GET /v1/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// Account id.
    pub id: Uuid,
    /// `admin | seller | buyer`.
    pub role: String,
    /// Display name.
    pub name: String,
    /// `active | suspended`.
    pub status: String,
    /// Linked wallet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_address: Option<String>,
    /// KYC verified.
    pub kyc_verified: bool,
    /// Operator daily-cap override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u32>,
    /// Scopes of the key used.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl MeResponse {
    /// From an account and the scopes of the key used.
    pub fn new(a: &Account, key: &ApiKeyInfo) -> Self {
        Self {
            id: a.id.as_uuid(),
            role: a.role.as_str().into(),
            name: a.name.clone(),
            status: a.status.clone(),
            wallet_address: a.wallet_address.clone(),
            kyc_verified: a.kyc_verified,
            daily_cap: a.daily_cap,
            scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: a.created_at,
        }
    }
}

/// An account (operator view).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// Id.
    pub id: Uuid,
    /// Role.
    pub role: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
    /// Wallet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_address: Option<String>,
    /// KYC verified.
    pub kyc_verified: bool,
    /// Daily-cap override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u32>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.as_uuid(),
            role: a.role.as_str().into(),
            name: a.name,
            status: a.status,
            wallet_address: a.wallet_address,
            kyc_verified: a.kyc_verified,
            daily_cap: a.daily_cap,
            created_at: a.created_at,
        }
    }
}

/// `POST /v1/admin/accounts` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// `admin | seller | buyer`.
    pub role: String,
    /// Display name.
    pub name: String,
}

/// A created account with its first key (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccount {
    /// Account id.
    pub account_id: Uuid,
    /// The secret API key; store it now, it is never shown again.
    pub api_key: String,
    /// The account.
    pub account: AccountView,
    /// The key's metadata.
    pub key: KeyView,
}

/// `POST …/keys` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// Label.
    #[serde(default)]
    pub name: Option<String>,
    /// Scopes (default: the role's).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created key (secret shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The secret API key.
    pub api_key: String,
    /// Its metadata.
    pub key: KeyView,
}

/// API key metadata (never the secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Id.
    pub id: Uuid,
    /// First characters of the secret.
    pub prefix: String,
    /// Label.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyInfo> for KeyView {
    fn from(k: ApiKeyInfo) -> Self {
        Self {
            id: k.id.as_uuid(),
            prefix: k.prefix,
            name: k.name,
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// `PUT /v1/admin/accounts/{id}/daily-cap` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DailyCapRequest {
    /// New cap per vertical and UTC day, or `null` to clear the override.
    pub daily_cap: Option<u32>,
}

/// `202` answer to a lead submission.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LeadAccepted {
    /// Lead id.
    pub id: Uuid,
    /// `received`.
    pub status: String,
    /// Vertical slug.
    pub vertical: String,
    /// Acceptance time.
    pub created_at: DateTime<Utc>,
    /// Correlation id of the submitting request.
    pub correlation_id: String,
    /// Related resources.
    #[schema(value_type = Object)]
    pub links: Value,
}

/// `POST /v1/leads:batch` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1–500 lead submissions (the body of `POST /v1/leads` each).
    #[schema(value_type = Vec<Object>)]
    pub leads: Vec<Value>,
}

/// One item of a batch answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItem {
    /// Position in the request.
    pub index: usize,
    /// The status the item would have had alone (202 or 4xx).
    pub status: u16,
    /// The acceptance, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub lead: Option<Value>,
    /// The problem, when refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::problem::Problem>,
}

/// `POST /v1/leads:batch` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    /// Items accepted.
    pub accepted: usize,
    /// Items refused.
    pub rejected: usize,
    /// One answer per submitted item, in order.
    pub items: Vec<BatchItem>,
}

/// Geo as shown: the public view carries country and region only.
#[derive(Debug, Serialize, ToSchema)]
pub struct GeoView {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Region code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code (seller and buyer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// City (seller and buyer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Latitude (seller and buyer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Longitude (seller and buyer only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lng: Option<f64>,
}

/// Auction state of a lead. Sealed: counts only, never amounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuctionView {
    /// Opening time.
    pub opened_at: Option<DateTime<Utc>>,
    /// End time.
    pub ends_at: Option<DateTime<Utc>>,
    /// Duration.
    pub duration_secs: u32,
    /// Number of live bids.
    pub bid_count: u32,
    /// keccak256(seed), hex, published at opening.
    pub seed_hash: Option<String>,
    /// The tie-break seed, hex, revealed at close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// A lead as read (SPEC §15). Members after `created_at` appear in the full
/// view of its seller (or buyer, or an operator) only.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeadView {
    /// Id.
    pub id: Uuid,
    /// Vertical slug.
    pub vertical: String,
    /// Status.
    pub status: String,
    /// Geo.
    pub geo: GeoView,
    /// Quality score 0–10 000, once scored.
    pub score: Option<u32>,
    /// Tier, once scored.
    pub tier: Option<String>,
    /// Non-PII fields.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// Reserve price.
    #[schema(value_type = String, example = "85.00")]
    pub reserve_price: String,
    /// Buy-now price.
    #[schema(value_type = String, example = "102.00")]
    pub buy_now_price: String,
    /// Auction.
    pub auction: AuctionView,
    /// Clearing price once sold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sold_price: Option<String>,
    /// Submission time.
    pub created_at: DateTime<Utc>,
    /// Score breakdown (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub score_breakdown: Option<Value>,
    /// Seller (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<Uuid>,
    /// Source (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Consent (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub consent: Option<Value>,
    /// Attribution (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub attribution: Option<Value>,
    /// Ask used (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask_id: Option<Uuid>,
    /// keccak-256 of the canonical PII JSON, hex (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pii_hash: Option<String>,
    /// Correlation id of the submission (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// Last change (full view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Decrypted PII (full view of `GET /v1/leads/{id}` only; audited).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub pii: Option<Map<String, Value>>,
}

impl LeadView {
    /// Renders `r`, redacted unless `full`.
    pub fn new(r: LeadRecord, full: bool) -> Self {
        use leadex_core::model::LeadStatus;
        let closed = matches!(r.status, LeadStatus::Sold | LeadStatus::Unsold | LeadStatus::Expired);
        let geo = GeoView {
            country: r.geo.country,
            region: r.geo.region,
            postal_code: r.geo.postal_code.filter(|_| full),
            city: r.geo.city.filter(|_| full),
            lat: r.geo.lat.filter(|_| full),
            lng: r.geo.lng.filter(|_| full),
        };
        Self {
            id: r.id.as_uuid(),
            vertical: r.vertical,
            status: r.status.as_str().into(),
            geo,
            score: r.score.map(|s| s.value),
            tier: r.score.map(|s| s.tier.as_str().to_owned()),
            fields: r.fields,
            reserve_price: r.reserve_price.to_string(),
            buy_now_price: r.buy_now_price.to_string(),
            auction: AuctionView {
                opened_at: r.auction_opened_at,
                ends_at: r.auction_ends_at,
                duration_secs: r.auction_duration_secs,
                bid_count: r.bid_count,
                seed_hash: r.seed_hash.map(hex::encode),
                // Sealed until the auction is over (SPEC §6).
                seed: r.seed.filter(|_| closed).map(hex::encode),
            },
            sold_price: r.sold_price.map(|p| p.to_string()),
            created_at: r.created_at,
            score_breakdown: if full { r.score.and_then(|s| serde_json::to_value(s.breakdown).ok()) } else { None },
            seller_id: full.then_some(r.seller_id.as_uuid()),
            source: full.then_some(r.source),
            consent: if full {
                r.consent.map(|mut c| {
                    if let (Value::Object(m), Some(at)) = (&mut c, r.consent_at) {
                        m.insert(
                            "tcpa_at".into(),
                            Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                        );
                    }
                    c
                })
            } else {
                None
            },
            attribution: if full { r.attribution } else { None },
            ask_id: if full { r.ask_id.map(|a| a.as_uuid()) } else { None },
            pii_hash: full.then(|| hex::encode(r.pii_hash)),
            correlation_id: full.then_some(r.correlation_id),
            updated_at: full.then_some(r.updated_at),
            pii: None,
        }
    }
}

/// A job (as seen on a lead or by operators).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Id.
    pub id: Uuid,
    /// Kind.
    pub kind: String,
    /// Vertical.
    pub vertical: Option<String>,
    /// Status.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Next start.
    pub run_at: DateTime<Utc>,
    /// Claim order among ready jobs: 0 deadline (closes, listing expiries), 1 normal, 2 background
    /// (minting, bounty matching).
    pub priority: i16,
    /// Last error.
    pub last_error: Option<String>,
    /// Correlation id.
    pub correlation_id: String,
    /// Payload.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Worker holding it (or that last ran it).
    pub locked_by: Option<String>,
    /// Lease end while running.
    pub locked_until: Option<DateTime<Utc>>,
    /// Start of the last attempt.
    pub started_at: Option<DateTime<Utc>>,
    /// End of the last attempt.
    pub finished_at: Option<DateTime<Utc>>,
    /// Dedupe key.
    pub dedupe_key: Option<String>,
}

impl From<JobRecord> for JobView {
    fn from(j: JobRecord) -> Self {
        Self {
            id: j.id.as_uuid(),
            kind: j.kind,
            vertical: j.vertical,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            priority: j.priority,
            last_error: j.last_error,
            correlation_id: j.correlation_id,
            payload: j.payload,
            created_at: j.created_at,
            locked_by: j.locked_by,
            locked_until: j.locked_until,
            started_at: j.started_at,
            finished_at: j.finished_at,
            dedupe_key: j.dedupe_key,
        }
    }
}

/// Jobs of one kind in one status.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueDepthView {
    /// Kind.
    pub kind: String,
    /// Status.
    pub status: String,
    /// Jobs.
    pub count: u64,
}

/// `GET /v1/admin/queues`.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueStatsView {
    /// Depth per kind and status (done jobs excluded).
    pub depths: Vec<QueueDepthView>,
    /// Jobs ready to run now.
    pub ready: u64,
    /// Jobs scheduled for later.
    pub scheduled: u64,
    /// Age of the oldest ready job, seconds (queue lag).
    pub oldest_ready_age_secs: f64,
}

impl From<leadex_core::model::QueueStats> for QueueStatsView {
    fn from(s: leadex_core::model::QueueStats) -> Self {
        Self {
            depths: s
                .depths
                .into_iter()
                .map(|d| QueueDepthView { kind: d.kind, status: d.status, count: d.count })
                .collect(),
            ready: s.ready,
            scheduled: s.scheduled,
            oldest_ready_age_secs: s.oldest_ready_age_secs,
        }
    }
}

/// Ask geo targets.
#[derive(Debug, Serialize, ToSchema)]
pub struct AskGeoView {
    /// Countries (empty: any).
    pub countries: Vec<String>,
    /// Regions (empty: any).
    pub regions: Vec<String>,
}

/// An ask. `seller_id`, `daily_cap` and `expires_at` are private to its
/// seller.
#[derive(Debug, Serialize, ToSchema)]
pub struct AskView {
    /// Id.
    pub id: Uuid,
    /// Vertical.
    pub vertical: String,
    /// Geo targets.
    pub geo: AskGeoView,
    /// Reserve price.
    #[schema(value_type = String, example = "10.00")]
    pub reserve_price: String,
    /// Buy-now price.
    #[schema(value_type = String, example = "12.00")]
    pub buy_now_price: String,
    /// Auction duration.
    pub auction_duration_secs: u32,
    /// `active | paused`.
    pub status: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Owner (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<Uuid>,
    /// Daily cap (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u32>,
    /// Expiry (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Last change (private).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl AskView {
    /// Renders an ask, with private members when `owner`.
    pub fn new(a: Ask, owner: bool) -> Self {
        Self {
            id: a.id.as_uuid(),
            vertical: a.vertical,
            geo: AskGeoView { countries: a.countries, regions: a.regions },
            reserve_price: a.reserve_price.to_string(),
            buy_now_price: a.buy_now_price.to_string(),
            auction_duration_secs: a.auction_duration_secs,
            status: a.status,
            created_at: a.created_at,
            seller_id: owner.then_some(a.seller_id.as_uuid()),
            daily_cap: owner.then_some(a.daily_cap),
            expires_at: if owner { a.expires_at } else { None },
            updated_at: owner.then_some(a.updated_at),
        }
    }
}

/// A field of a vertical schema.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldView {
    /// Key.
    pub key: String,
    /// Label.
    pub label: String,
    /// `text | number | boolean | select | email | phone | date | zip`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Required.
    pub required: bool,
    /// Options of a select.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<String>>,
    /// Minimum of a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Maximum of a number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// PII (encrypted, never shown before purchase).
    pub pii: bool,
    /// Usable in searches.
    pub filterable: bool,
    /// Usable in auto-bid rules.
    pub biddable: bool,
}

impl From<&FieldDef> for FieldView {
    fn from(f: &FieldDef) -> Self {
        Self {
            key: f.key.clone(),
            label: f.label.clone(),
            kind: serde_json::to_value(f.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            required: f.required,
            options: (!f.options.is_empty()).then(|| f.options.clone()),
            min: f.min,
            max: f.max,
            pii: f.pii,
            filterable: f.filterable,
            biddable: f.biddable,
        }
    }
}

/// Effective compliance flags.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplianceView {
    /// TCPA consent ≤ 30 days required.
    pub requires_tcpa: bool,
    /// Only KYC-verified buyers may bid.
    pub requires_kyc: bool,
    /// Countries or `CC-RR` regions where it may not trade.
    pub restricted_geos: Vec<String>,
}

/// `GET /v1/verticals/{slug}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerticalDetail {
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Parent slug.
    pub parent: Option<String>,
    /// Status.
    pub status: String,
    /// Depth (1 for a root).
    pub depth: usize,
    /// Aliases.
    pub aliases: Vec<String>,
    /// Child slugs.
    pub children: Vec<String>,
    /// Effective schema (inherited fields first).
    pub fields: Vec<FieldView>,
    /// Effective compliance flags.
    pub compliance: ComplianceView,
    /// Floor prices by country (`*`: every other country).
    #[schema(value_type = Object)]
    pub floor_prices: std::collections::BTreeMap<String, String>,
}

impl VerticalDetail {
    /// Renders a resolved vertical.
    pub fn new(v: &Vertical, children: &[String]) -> Self {
        Self {
            slug: v.def.slug.clone(),
            name: v.def.name.clone(),
            parent: v.def.parent.clone(),
            status: v.def.status.as_str().into(),
            depth: v.depth,
            aliases: v.def.aliases.clone(),
            children: children.to_vec(),
            fields: v.fields.iter().map(FieldView::from).collect(),
            compliance: ComplianceView {
                requires_tcpa: v.compliance.requires_tcpa,
                requires_kyc: v.compliance.requires_kyc,
                restricted_geos: v.compliance.restricted_geos.clone(),
            },
            floor_prices: v.def.floor_prices.iter().map(|(k, m)| (k.clone(), m.to_string())).collect(),
        }
    }
}

/// A node of `GET /v1/verticals`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerticalNode {
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Status.
    pub status: String,
    /// Children.
    #[schema(no_recursion)]
    pub children: Vec<VerticalNode>,
}

/// `GET /v1/verticals`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerticalTree {
    /// Root verticals with their descendants.
    pub items: Vec<VerticalNode>,
}

/// Health answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Per-dependency status.
    #[schema(value_type = Object)]
    pub checks: Map<String, Value>,
}

/// A bid, shown only to the buyer who placed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BidView {
    /// Id.
    pub id: Uuid,
    /// Lead.
    pub lead_id: Uuid,
    /// Amount.
    #[schema(value_type = String, example = "42.00")]
    pub amount: String,
    /// Fee locked with it ($1.00 for auto-bids).
    #[schema(value_type = String)]
    pub fee: String,
    /// `manual | auto`.
    pub source: String,
    /// Rule that placed it.
    pub rule_id: Option<Uuid>,
    /// `live | withdrawn | won | lost`.
    pub status: String,
    /// Placement.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<leadex_core::market::Bid> for BidView {
    fn from(b: leadex_core::market::Bid) -> Self {
        Self {
            id: b.id,
            lead_id: b.lead_id.as_uuid(),
            amount: b.amount.to_string(),
            fee: b.fee.to_string(),
            source: b.source.as_str().into(),
            rule_id: b.rule_id,
            status: b.status,
            created_at: b.created_at,
            updated_at: b.updated_at,
        }
    }
}

/// `POST /v1/leads/{id}/bids` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidRequest {
    /// Amount, a decimal string.
    #[schema(value_type = String, example = "42.00")]
    pub amount: leadex_domain::Money,
}

/// `POST /v1/admin/vaults/{account_id}/credit` body and other amounts.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// Amount, a decimal string.
    #[schema(value_type = String, example = "1000.00")]
    pub amount: leadex_domain::Money,
}

/// A ledger entry of the caller's accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// Id.
    pub id: Uuid,
    /// Movement.
    pub tx_id: Uuid,
    /// `available | locked | payable`.
    pub account: String,
    /// Signed amount.
    #[schema(value_type = String)]
    pub amount: String,
    /// Reason.
    pub reason: String,
    /// Reference (`lead:<id>`, `pool:<id>`, …).
    pub reference: String,
    /// Time.
    pub created_at: DateTime<Utc>,
}

impl From<leadex_core::market::LedgerEntry> for EntryView {
    fn from(e: leadex_core::market::LedgerEntry) -> Self {
        Self {
            id: e.id,
            tx_id: e.tx_id,
            account: e.account_id.split(':').next().unwrap_or_default().to_owned(),
            amount: e.amount.to_string(),
            reason: e.reason,
            reference: e.reference,
            created_at: e.created_at,
        }
    }
}

/// `GET /v1/me/vault`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VaultView {
    /// Spendable.
    #[schema(value_type = String, example = "970.00")]
    pub available: String,
    /// Locked by live bids.
    #[schema(value_type = String)]
    pub locked: String,
    /// Available + locked.
    #[schema(value_type = String)]
    pub total: String,
    /// Owed to a seller.
    #[schema(value_type = String)]
    pub payable: String,
    /// The newest statement entries (more at `/v1/me/vault/entries`).
    pub statement: ListResponse<EntryView>,
}

/// An auto-bid rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// Id.
    pub id: Uuid,
    /// Vertical or `*`.
    pub vertical: String,
    /// Countries.
    pub countries: Vec<String>,
    /// Regions included.
    pub regions_include: Vec<String>,
    /// Regions excluded.
    pub regions_exclude: Vec<String>,
    /// Minimum score.
    pub min_score: Option<u32>,
    /// Field filters.
    #[schema(value_type = Vec<Object>)]
    pub field_filters: Vec<leadex_domain::market::FieldFilter>,
    /// Bid amount.
    #[schema(value_type = String)]
    pub bid_amount: String,
    /// Highest bid.
    #[schema(value_type = String)]
    pub max_bid: String,
    /// Daily budget.
    #[schema(value_type = String)]
    pub daily_budget: String,
    /// Lower runs first.
    pub priority: i32,
    /// Active.
    pub active: bool,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<leadex_core::market::Rule> for RuleView {
    fn from(r: leadex_core::market::Rule) -> Self {
        Self {
            id: r.id,
            vertical: r.targets.vertical,
            countries: r.targets.countries,
            regions_include: r.targets.regions_include,
            regions_exclude: r.targets.regions_exclude,
            min_score: r.targets.min_score,
            field_filters: r.targets.field_filters,
            bid_amount: r.bid_amount.to_string(),
            max_bid: r.max_bid.to_string(),
            daily_budget: r.daily_budget.to_string(),
            priority: r.priority,
            active: r.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A rule's decision on a lead.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    /// Lead.
    pub lead_id: Uuid,
    /// `bid | skipped`.
    pub outcome: String,
    /// Why.
    pub reason: String,
    /// Amount considered.
    pub amount: Option<String>,
    /// Time.
    pub created_at: DateTime<Utc>,
}

impl From<leadex_core::market::Decision> for DecisionView {
    fn from(d: leadex_core::market::Decision) -> Self {
        Self {
            lead_id: d.lead_id,
            outcome: d.outcome,
            reason: d.reason,
            amount: d.amount.map(|m| m.to_string()),
            created_at: d.created_at,
        }
    }
}

/// A bounty pool (its funder's view).
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolView {
    /// Id.
    pub id: Uuid,
    /// Vertical.
    pub vertical: String,
    /// Reward per matching lead.
    #[schema(value_type = String)]
    pub reward_per_lead: String,
    /// Criteria.
    #[schema(value_type = Object)]
    pub criteria: leadex_domain::market::BountyCriteria,
    /// `active | closed`.
    pub status: String,
    /// Funded so far.
    #[schema(value_type = String)]
    pub funded_total: String,
    /// Remaining.
    #[schema(value_type = String)]
    pub remaining: String,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation.
    pub created_at: DateTime<Utc>,
}

impl From<leadex_core::market::Pool> for PoolView {
    fn from(p: leadex_core::market::Pool) -> Self {
        Self {
            id: p.id,
            vertical: p.vertical,
            reward_per_lead: p.reward_per_lead.to_string(),
            criteria: p.criteria,
            status: p.status,
            funded_total: p.funded_total.to_string(),
            remaining: p.remaining.to_string(),
            expires_at: p.expires_at,
            created_at: p.created_at,
        }
    }
}

/// Bounty totals of one vertical.
#[derive(Debug, Serialize, ToSchema)]
pub struct BountyTotalView {
    /// Vertical.
    pub vertical: String,
    /// Active pools.
    pub pools: u64,
    /// Remaining funds.
    #[schema(value_type = String)]
    pub remaining: String,
}

/// `GET /v1/leads/{id}/auction`: public state, plus the caller's own bid.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuctionStateView {
    /// Lead.
    pub lead_id: Uuid,
    /// Lead status.
    pub status: String,
    /// Opening.
    pub opened_at: Option<DateTime<Utc>>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// Live bids (no amounts).
    pub bid_count: u32,
    /// keccak256(seed), hex.
    pub seed_hash: Option<String>,
    /// The tie-break seed, hex, once closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// `sold | unsold`, once closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Clearing price, once sold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clearing_price: Option<String>,
    /// The caller's own bid (amount and outcome), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_bid: Option<BidView>,
}

/// `POST /v1/admin/announcements` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnnouncementRequest {
    /// Vertical slugs whose rooms receive it (exactly those rooms).
    pub verticals: Vec<String>,
    /// The notice (1–4096 bytes).
    pub message: String,
}

/// What an announcement reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct AnnouncementView {
    /// Rooms it was emitted to.
    pub rooms: Vec<String>,
    /// Correlation id carried by the event.
    pub correlation_id: String,
}
