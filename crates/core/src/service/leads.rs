//! Lead ingestion, reading and listing (SPEC §4).

use chrono::{DateTime, Duration, NaiveTime, Utc};
use leadex_domain::account::Role;
use leadex_domain::lead::{self, LeadError, LeadSubmission, ValidLead};
use leadex_domain::vertical::FieldType;
use leadex_domain::{AccountId, AskId, JobId, LeadId, Money};
use serde_json::{Map, Value, json};

use super::Leadex;
use crate::crypto;
use crate::cursor::{Page, PageRequest};
use crate::error::{AppError, ErrorKind};
use crate::model::{
    Ask, FieldValue, IdempotencyClaim, IngestError, IngestLead, IngestOutcome, LeadQuery, LeadRecord, LeadStatus,
    NewJob, PiiAccess, Principal,
};

/// The job kind that scores a new lead.
pub const SCORE_LEAD: &str = "score_lead";

/// What a submission answered.
#[derive(Clone, Debug, PartialEq)]
pub struct SubmitResult {
    /// The 202 body (`id`, `status`, `created_at`, `links`).
    pub body: Value,
    /// Whether this is a replay of an earlier identical request.
    pub replayed: bool,
}

/// What a prepared submission needs to be answered.
struct Prepared {
    body: Value,
    now: DateTime<Utc>,
    daily_cap: u32,
}

/// One item of a batch answer.
#[derive(Debug)]
pub enum BatchItemResult {
    /// Accepted (or replayed).
    Accepted(SubmitResult),
    /// Refused.
    Rejected(AppError),
}

/// A lead read back, with what the caller may see.
#[derive(Clone, Debug, PartialEq)]
pub struct LeadRead {
    /// The stored lead.
    pub record: LeadRecord,
    /// Whether the caller sees the full (seller/owner) view.
    pub full: bool,
}

/// Raw list filters as they arrive on a query string.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LeadListParams {
    /// Vertical slug (a parent matches its descendants).
    pub vertical: Option<String>,
    /// Status name.
    pub status: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Minimum score.
    pub min_score: Option<u32>,
    /// Maximum score.
    pub max_score: Option<u32>,
    /// Minimum price, decimal string.
    pub min_price: Option<String>,
    /// Maximum price, decimal string.
    pub max_price: Option<String>,
    /// RFC 3339.
    pub created_after: Option<String>,
    /// RFC 3339.
    pub created_before: Option<String>,
    /// `field.<key>=<value>` pairs.
    pub fields: Vec<(String, String)>,
}

/// Maps a domain validation failure to an application error.
pub fn lead_error(e: LeadError) -> AppError {
    let mut a = AppError::new(ErrorKind::Unprocessable, e.code(), e.to_string());
    a.field = e.field();
    a
}

/// Parses a JSON value into `T`, mapping serde failures to precise codes
/// with the offending path (`unknown_field`, `missing_field`,
/// `invalid_value`).
pub fn from_json_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(json_error)
}

/// `path.name`, unless serde already ended the path with `name`.
fn join_path(path: &str, name: &str) -> String {
    if path == "." || path.is_empty() {
        name.to_owned()
    } else if path == name || path.ends_with(&format!(".{name}")) {
        path.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Maps a serde_path_to_error failure to a problem.
pub fn json_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> AppError {
    let path = e.path().to_string();
    let msg = e.inner().to_string();
    let (code, field) = if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        ("unknown_field", join_path(&path, name))
    } else if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        ("missing_field", join_path(&path, name))
    } else if msg.starts_with("amount") {
        // Money's own parse errors (negative, sub-micro precision, …).
        ("invalid_amount", path)
    } else {
        ("invalid_value", path)
    };
    // Keep serde's text but strip the Rust type names it sometimes adds.
    let detail = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
    let mut a = AppError::invalid(code, detail);
    if !field.is_empty() && field != "." {
        a.field = Some(field);
    }
    a
}

/// `leadex_leads_ingested_total` for a new lead (replays are not new),
/// `leadex_leads_rejected_total` for a refused one (docs/metrics.md).
fn count_submission(vertical: String, result: &Result<SubmitResult, AppError>) {
    match result {
        Ok(r) if !r.replayed => metrics::counter!("leadex_leads_ingested_total", "vertical" => vertical).increment(1),
        Ok(_) => {}
        Err(e) => count_rejected(vertical, e),
    }
}

/// Counts a refusal whose problem is the caller's (a 4xx): `reason` is its
/// stable code, a bounded set.
fn count_rejected(vertical: String, e: &AppError) {
    if e.kind.is_client_error() {
        metrics::counter!("leadex_leads_rejected_total", "vertical" => vertical, "reason" => e.code).increment(1);
    }
}

fn next_utc_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    tomorrow.and_time(NaiveTime::MIN).and_utc()
}

impl Leadex {
    /// Submits one lead for `seller` (SPEC §4.1). `body` is the request JSON;
    /// its canonical hash fingerprints the idempotency key.
    pub async fn submit_lead(
        &self,
        seller: &Principal,
        body: Value,
        idempotency_key: Option<&str>,
        correlation_id: &str,
    ) -> Result<SubmitResult, AppError> {
        let vertical = self.vertical_label(&body);
        let result = match self.prepare_submission(seller, body, idempotency_key, correlation_id).await {
            Ok((req, meta)) => {
                let outcome = self.store.ingest_lead(&req).await;
                self.conclude_submission(meta, outcome)
            }
            Err(e) => Err(e),
        };
        count_submission(vertical, &result);
        result
    }

    /// The `vertical` label of a submission's metrics: its slug when the
    /// catalogue knows it, else `unknown` (labels stay bounded).
    fn vertical_label(&self, body: &Value) -> String {
        body.get("vertical")
            .and_then(Value::as_str)
            .and_then(|v| self.catalog.get(v))
            .map_or_else(|| "unknown".to_owned(), |v| v.slug().to_owned())
    }

    /// Validates a submission and builds everything its insert writes.
    async fn prepare_submission(
        &self,
        seller: &Principal,
        body: Value,
        idempotency_key: Option<&str>,
        correlation_id: &str,
    ) -> Result<(IngestLead, Prepared), AppError> {
        if seller.account.role != Role::Seller {
            return Err(AppError::forbidden("forbidden", "only seller accounts submit leads"));
        }
        if idempotency_key.is_some_and(|k| k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic())) {
            return Err(AppError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1–255 visible ASCII characters",
            )
            .with_field("Idempotency-Key"));
        }
        let request_hash = crypto::sha256_hex(lead::canonical_json(&body).as_bytes());
        let sub: LeadSubmission = from_json_value(body)?;
        let now = self.clock.now();
        let valid = lead::validate(&self.catalog, &sub, now).map_err(lead_error)?;
        let terms = self.resolve_terms(seller, &valid, now).await?;

        let id = LeadId::new();
        let pii_json = Value::Object(valid.pii_fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        let pii_plain = lead::canonical_json(&pii_json);
        let sealed = self.cipher.seal(&id.as_uuid(), pii_plain.as_bytes());
        let mut contact_hashes = Vec::new();
        if let Some(p) = &valid.contacts.phone {
            contact_hashes.push(self.cipher.contact_hash("phone", p));
        }
        if let Some(e) = &valid.contacts.email {
            contact_hashes.push(self.cipher.contact_hash("email", e));
        }
        let body = json!({
            "id": id,
            "status": LeadStatus::Received.as_str(),
            "vertical": valid.vertical,
            "created_at": now,
            "correlation_id": correlation_id,
            "links": {
                "self": format!("/v1/leads/{id}"),
                "pii": format!("/v1/leads/{id}/pii"),
            },
        });
        let record = LeadRecord {
            id,
            seller_id: seller.account.id,
            vertical: valid.vertical.clone(),
            root_vertical: valid.root_vertical.clone(),
            status: LeadStatus::Received,
            geo: valid.geo.clone(),
            fields: valid.public_fields.clone(),
            source: valid.source.as_str().to_owned(),
            consent_at: valid.consent.as_ref().map(|c| c.tcpa_at),
            consent: valid.consent.as_ref().map(|c| json!({"text": c.text, "proof_url": c.proof_url})),
            attribution: valid.attribution.as_ref().and_then(|a| serde_json::to_value(a).ok()),
            score: None,
            ask_id: terms.ask_id,
            reserve_price: terms.reserve,
            buy_now_price: terms.buy_now,
            auction_duration_secs: terms.duration,
            pii_hash: lead::pii_hash(&valid.pii_fields),
            correlation_id: correlation_id.to_owned(),
            created_at: now,
            updated_at: now,
            auction_opened_at: None,
            auction_ends_at: None,
            bid_count: 0,
            seed_hash: None,
            seed: None,
            sold_price: None,
            buyer_id: None,
            sold_at: None,
            has_phone: valid.has_phone,
            has_email: valid.has_email,
            rejection_reason: None,
        };
        let req = IngestLead {
            job: NewJob {
                id: JobId::new(),
                kind: SCORE_LEAD.into(),
                vertical: Some(record.vertical.clone()),
                payload: json!({ "lead_id": id }),
                run_at: now,
                priority: super::priority_of(SCORE_LEAD),
                max_attempts: 3,
                correlation_id: correlation_id.to_owned(),
                dedupe_key: Some(format!("{SCORE_LEAD}:{id}")),
                created_at: now,
            },
            lead: record,
            pii: sealed,
            contact_hashes,
            duplicate_since: now - Duration::days(self.config.duplicate_window_days),
            cap_day: now.date_naive(),
            daily_cap: terms.daily_cap,
            idempotency: idempotency_key.map(|k| IdempotencyClaim {
                key: k.to_owned(),
                request_hash,
                response: body.clone(),
            }),
        };
        Ok((req, Prepared { body, now, daily_cap: terms.daily_cap }))
    }

    /// Turns the store's answer for a prepared submission into the API's.
    fn conclude_submission(
        &self,
        Prepared { body, now, daily_cap }: Prepared,
        outcome: Result<IngestOutcome, IngestError>,
    ) -> Result<SubmitResult, AppError> {
        match outcome {
            Ok(IngestOutcome::Accepted) => {
                self.jobs_notify.notify_waiters();
                Ok(SubmitResult { body, replayed: false })
            }
            Ok(IngestOutcome::Replayed(original)) => Ok(SubmitResult { body: original, replayed: true }),
            Err(IngestError::Duplicate(first)) => Err(AppError::conflict(
                "duplicate_lead",
                format!(
                    "a lead with the same phone or e-mail was submitted in this vertical within {} days",
                    self.config.duplicate_window_days
                ),
            )
            .with_extra("duplicate_of", first.to_string())),
            Err(IngestError::DailyCapReached) => {
                let retry = (next_utc_midnight(now) - now).num_seconds().max(1);
                Err(AppError::new(
                    ErrorKind::TooManyRequests,
                    "daily_cap_reached",
                    format!("daily cap of {daily_cap} leads for this vertical is reached until 00:00 UTC"),
                )
                .with_retry_after(u64::try_from(retry).unwrap_or(1)))
            }
            Err(IngestError::IdempotencyMismatch) => Err(AppError::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request body",
            )
            .with_field("Idempotency-Key")),
            Err(IngestError::Store(e)) => Err(e.into()),
        }
    }

    /// Submits up to `max_batch` leads; each item is answered on its own
    /// (one item's failure never affects another).
    pub async fn submit_batch(
        &self,
        seller: &Principal,
        items: Vec<Value>,
        correlation_id: &str,
    ) -> Result<Vec<BatchItemResult>, AppError> {
        if items.is_empty() || items.len() > self.config.max_batch {
            return Err(AppError::invalid(
                "invalid_batch_size",
                format!("a batch holds 1 to {} leads", self.config.max_batch),
            )
            .with_field("leads"));
        }
        // Validate every item first, then hand the valid ones to the store in
        // one call (one transaction per item on PostgreSQL; a group commit
        // on SQLite), and answer in the order received.
        let mut out: Vec<Option<BatchItemResult>> = Vec::with_capacity(items.len());
        let mut reqs = Vec::with_capacity(items.len());
        let mut metas = Vec::with_capacity(items.len());
        let mut labels = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let cid = format!("{correlation_id}/{i}");
            labels.push(self.vertical_label(&item));
            match self.prepare_submission(seller, item, None, &cid).await {
                Ok((req, meta)) => {
                    reqs.push(req);
                    metas.push((i, meta));
                    out.push(None);
                }
                Err(e) => {
                    count_rejected(labels[i].clone(), &e);
                    out.push(Some(BatchItemResult::Rejected(e)));
                }
            }
        }
        let outcomes = if reqs.is_empty() { Vec::new() } else { self.store.ingest_leads(reqs).await };
        for ((i, meta), outcome) in metas.into_iter().zip(outcomes) {
            if let Some(slot) = out.get_mut(i) {
                let result = self.conclude_submission(meta, outcome);
                count_submission(labels.get(i).cloned().unwrap_or_default(), &result);
                *slot = Some(match result {
                    Ok(r) => BatchItemResult::Accepted(r),
                    Err(e) => BatchItemResult::Rejected(e),
                });
            }
        }
        Ok(out
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    BatchItemResult::Rejected(AppError::from(crate::ports::StoreError::Backend(
                        "the store answered fewer items than it was given".into(),
                    )))
                })
            })
            .collect())
    }

    /// Reserve, buy-now, duration, cap and ask for a new lead (SPEC §5): the
    /// named ask, else the seller's most specific matching active ask, else
    /// platform defaults; the operator's seller cap bounds any ask's cap.
    async fn resolve_terms(&self, seller: &Principal, lead: &ValidLead, now: DateTime<Utc>) -> Result<Terms, AppError> {
        let lineage = self.catalog.lineage(&lead.vertical);
        let geo_ok = |a: &Ask| {
            (a.countries.is_empty() || a.countries.contains(&lead.geo.country))
                && (a.regions.is_empty() || lead.geo.region.as_ref().is_some_and(|r| a.regions.contains(r)))
        };
        let ask = match lead.ask_id {
            Some(ask_id) => {
                let ask = self
                    .store
                    .get_ask(AskId::from_uuid(ask_id))
                    .await?
                    .filter(|a| a.seller_id == seller.account.id)
                    .ok_or_else(|| {
                        AppError::invalid("ask_not_found", "no such ask for this seller").with_field("ask_id")
                    })?;
                if ask.status != "active" || ask.expires_at.is_some_and(|e| e <= now) {
                    return Err(
                        AppError::invalid("ask_not_active", "the ask is paused or expired").with_field("ask_id")
                    );
                }
                if !lineage.contains(&ask.vertical) || !geo_ok(&ask) {
                    return Err(AppError::invalid(
                        "ask_mismatch",
                        "the ask does not cover this lead's vertical or geo",
                    )
                    .with_field("ask_id"));
                }
                Some(ask)
            }
            None => {
                let asks = self.store.seller_asks_for(seller.account.id, &lineage, now).await?;
                // Most specific vertical first, then newest.
                lineage.iter().find_map(|slug| {
                    asks.iter()
                        .filter(|a| &a.vertical == slug && geo_ok(a))
                        .max_by_key(|a| (a.created_at, a.id))
                        .cloned()
                })
            }
        };
        let cap_override = seller.account.daily_cap;
        let terms = match ask {
            Some(a) => Terms {
                ask_id: Some(a.id),
                reserve: a.reserve_price,
                buy_now: a.buy_now_price,
                duration: a.auction_duration_secs,
                daily_cap: cap_override.map_or(a.daily_cap, |c| c.min(a.daily_cap)),
            },
            None => {
                let reserve =
                    self.catalog.floor_price(&lead.vertical, &lead.geo.country).unwrap_or(self.config.fallback_reserve);
                Terms {
                    ask_id: None,
                    reserve,
                    buy_now: reserve.bps(self.config.buy_now_bps).unwrap_or(reserve),
                    duration: self.config.default_auction_secs,
                    daily_cap: cap_override.unwrap_or(self.config.default_daily_cap),
                }
            }
        };
        Ok(terms)
    }

    /// Reads a lead: its seller (and operators) get the full view, everyone
    /// else the redacted one.
    pub async fn read_lead(&self, viewer: Option<&Principal>, id: LeadId) -> Result<LeadRead, AppError> {
        let record =
            self.store.get_lead(id).await?.ok_or_else(|| AppError::not_found("lead_not_found", "no such lead"))?;
        let full = viewer
            .is_some_and(|p| p.is_admin() || p.account.id == record.seller_id || record.buyer_id == Some(p.account.id));
        if record.status == LeadStatus::Rejected && !full {
            return Err(AppError::not_found("lead_not_found", "no such lead"));
        }
        Ok(LeadRead { record, full })
    }

    /// Decrypts a lead's PII for its seller or its buyer and audits the
    /// access (SPEC §13). Anyone else gets a 404, so lead ids of other
    /// sellers cannot be probed.
    pub async fn read_pii(
        &self,
        viewer: &Principal,
        id: LeadId,
        correlation_id: &str,
    ) -> Result<Map<String, Value>, AppError> {
        let record =
            self.store.get_lead(id).await?.ok_or_else(|| AppError::not_found("lead_not_found", "no such lead"))?;
        let purpose = if viewer.account.id == record.seller_id {
            "seller"
        } else if record.buyer_id == Some(viewer.account.id) {
            "buyer"
        } else if viewer.is_admin() {
            "operator"
        } else {
            return Err(AppError::not_found("lead_not_found", "no such lead"));
        };
        let sealed = self
            .store
            .read_lead_pii(&PiiAccess {
                lead_id: id,
                account_id: viewer.account.id,
                purpose: purpose.into(),
                correlation_id: correlation_id.to_owned(),
                at: self.clock.now(),
            })
            .await?
            .ok_or_else(|| AppError::not_found("lead_not_found", "no such lead"))?;
        let plain = self.cipher.open(&id.as_uuid(), &sealed).map_err(AppError::internal)?;
        match serde_json::from_slice::<Value>(&plain) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(AppError::internal(crate::ports::StoreError::Corrupt("PII plaintext is not an object".into()))),
        }
    }

    /// Lists leads. `seller` restricts to one seller's leads (all statuses);
    /// the public feed hides rejected leads unless a status is asked for.
    pub async fn list_leads(
        &self,
        seller: Option<AccountId>,
        params: &LeadListParams,
        page: &PageRequest,
    ) -> Result<Page<LeadRecord>, AppError> {
        let query = self.lead_query(seller, params)?;
        Ok(self.store.list_leads(&query, page).await?)
    }

    fn lead_query(&self, seller: Option<AccountId>, p: &LeadListParams) -> Result<LeadQuery, AppError> {
        let bad =
            |field: &str, code: &'static str, detail: String| AppError::bad_request(code, detail).with_field(field);
        let mut q = LeadQuery { seller_id: seller, ..LeadQuery::default() };
        let vertical = match &p.vertical {
            Some(v) => {
                let vert = self
                    .catalog
                    .get(v)
                    .ok_or_else(|| bad("vertical", "unknown_vertical", format!("unknown vertical `{v}`")))?;
                if vert.depth == 1 {
                    q.root_vertical = Some(vert.def.slug.clone());
                } else {
                    q.verticals = Some(self.catalog.subtree(vert.slug()));
                }
                Some(vert)
            }
            None => None,
        };
        q.statuses = match &p.status {
            Some(s) => Some(vec![
                LeadStatus::parse(s).ok_or_else(|| bad("status", "invalid_status", format!("unknown status `{s}`")))?,
            ]),
            None => {
                q.hide_rejected = seller.is_none();
                None
            }
        };
        if let Some(c) = &p.country {
            let country = leadex_domain::geo::country(c)
                .ok_or_else(|| bad("country", "unknown_country", format!("unknown country `{c}`")))?;
            q.country = Some(country.code.to_owned());
        }
        q.region = p.region.as_ref().map(|r| r.trim().to_ascii_uppercase());
        for (name, v) in [("min_score", p.min_score), ("max_score", p.max_score)] {
            if v.is_some_and(|s| s > leadex_domain::score::MAX_SCORE) {
                return Err(bad(name, "invalid_score", "score is between 0 and 10000".into()));
            }
        }
        q.min_score = p.min_score;
        q.max_score = p.max_score;
        let money = |name: &str, v: &Option<String>| -> Result<Option<Money>, AppError> {
            v.as_ref().map(|s| Money::parse(s).map_err(|e| bad(name, "invalid_amount", e.to_string()))).transpose()
        };
        q.min_price = money("min_price", &p.min_price)?;
        q.max_price = money("max_price", &p.max_price)?;
        let time = |name: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>, AppError> {
            v.as_ref()
                .map(|s| {
                    DateTime::parse_from_rfc3339(s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| bad(name, "invalid_timestamp", format!("`{s}` is not an RFC 3339 timestamp")))
                })
                .transpose()
        };
        q.created_after = time("created_after", &p.created_after)?;
        q.created_before = time("created_before", &p.created_before)?;
        if p.fields.len() > 10 {
            return Err(bad("field", "too_many_filters", "at most 10 field filters".into()));
        }
        for (key, raw) in &p.fields {
            let name = format!("field.{key}");
            let def = match vertical {
                Some(v) => v.field(key).cloned(),
                None => self.catalog.iter().find_map(|v| v.field(key).cloned()),
            }
            .filter(|d| d.filterable && !d.pii)
            .ok_or_else(|| bad(&name, "invalid_filter", format!("`{key}` is not a filterable field")))?;
            let value = match def.kind {
                FieldType::Number => FieldValue::Number(
                    raw.parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .ok_or_else(|| bad(&name, "invalid_filter", format!("`{key}` takes a number")))?,
                ),
                FieldType::Boolean => FieldValue::Bool(match raw.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(&name, "invalid_filter", format!("`{key}` takes true or false"))),
                }),
                _ => FieldValue::Text(raw.clone()),
            };
            q.field_eq.push((key.clone(), value));
        }
        Ok(q)
    }
}

struct Terms {
    ask_id: Option<AskId>,
    reserve: Money,
    buy_now: Money,
    duration: u32,
    daily_cap: u32,
}
