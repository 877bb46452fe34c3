//! Conformance suite of the [`Store`] port.
//!
//! Every scenario is one `async fn scenario(engine: Engine)`; the macro at the
//! bottom runs each on SQLite (`sqlite::…`) and on PostgreSQL
//! (`postgres::…`, skipped with a note when `LEADEX_TEST_PG_URL` is unset).
//! Both engines must give the same answers: that is the point of one suite.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use leadex_core::clock::from_micros;
use leadex_core::crypto::PiiCipher;
use leadex_core::cursor::{Page, PageRequest};
use leadex_core::model::{
    Account, ApiKeyInfo, Ask, AskQuery, ClaimRequest, FieldValue, IdempotencyClaim, IngestError, IngestLead,
    IngestOutcome, JobRecord, LeadQuery, LeadRecord, LeadStatus, NewApiKey, NewJob, PiiAccess, Principal, ScoreAndOpen,
};
use leadex_core::ports::{JobQueue, Store, StoreError};
use leadex_domain::account::{Role, Scope};
use leadex_domain::geo::Geo;
use leadex_domain::score::{Breakdown, Score, Tier};
use leadex_domain::{AccountId, AskId, JobId, KeyId, LeadId, Money};
use leadex_store::SqlStore;
use leadex_store::testing::{Engine, TestDb, pg_admin_url};
use serde_json::{Map, json};
use tokio::sync::Barrier;
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// A fresh migrated store of `engine`, or `None` (after a note) when the
/// PostgreSQL side is not configured.
async fn open(engine: Engine) -> Option<(TestDb, SqlStore)> {
    let Some(db) = TestDb::create(engine).await else {
        assert!(
            engine == Engine::Postgres && pg_admin_url().is_none(),
            "could not create a {engine:?} test database (LEADEX_TEST_PG_URL set but unusable?)"
        );
        eprintln!("skipped on PostgreSQL: LEADEX_TEST_PG_URL is not set");
        return None;
    };
    let store = db.store().await;
    Some((db, store))
}

/// Now, truncated to the microsecond precision the store keeps.
fn now() -> DateTime<Utc> {
    from_micros(Utc::now().timestamp_micros())
}

fn usd(units: i64) -> Money {
    Money::from_micros(units * 1_000_000)
}

fn cipher() -> PiiCipher {
    PiiCipher::from_spec(&PiiCipher::generate_spec()).expect("a generated key spec parses")
}

/// Deterministic, well-mixed UUIDs (splitmix64), so that id order has
/// nothing to do with insertion order.
fn scrambled_uuid(seed: u64) -> Uuid {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    Uuid::from_u64_pair(mix(seed), mix(seed ^ 0x5EED_5EED_5EED_5EED))
}

fn account(role: Role, name: &str, created_at: DateTime<Utc>) -> Account {
    Account {
        id: AccountId::new(),
        role,
        name: name.to_owned(),
        status: "active".to_owned(),
        wallet_address: None,
        kyc_verified: false,
        daily_cap: None,
        created_at,
    }
}

async fn new_account(store: &SqlStore, role: Role) -> AccountId {
    let a = account(role, "fixture", now());
    store.create_account(&a).await.expect("create_account");
    a.id
}

fn geo(country: &str, region: Option<&str>) -> Geo {
    Geo {
        country: country.to_owned(),
        region: region.map(str::to_owned),
        postal_code: None,
        city: None,
        lat: None,
        lng: None,
    }
}

fn geo_us() -> Geo {
    Geo { postal_code: Some("90210".to_owned()), ..geo("US", Some("CA")) }
}

fn score(value: u32) -> Score {
    let part = value / 5;
    Score {
        value,
        tier: Tier::of(value),
        breakdown: Breakdown {
            consent_freshness: part,
            geo_completeness: part,
            contact_completeness: part,
            field_richness: part,
            source: value - 4 * part,
        },
    }
}

/// A received lead as ingestion writes it (no auction or sale state).
fn lead(seller: AccountId, vertical: &str, created_at: DateTime<Utc>) -> LeadRecord {
    let id = LeadId::new();
    LeadRecord {
        id,
        seller_id: seller,
        vertical: vertical.to_owned(),
        root_vertical: vertical.split('.').next().unwrap_or(vertical).to_owned(),
        status: LeadStatus::Received,
        geo: geo_us(),
        fields: Map::new(),
        source: "form".to_owned(),
        consent_at: Some(created_at - Duration::hours(1)),
        consent: None,
        attribution: None,
        score: None,
        ask_id: None,
        reserve_price: usd(10),
        buy_now_price: usd(12),
        auction_duration_secs: 60,
        pii_hash: [7; 32],
        correlation_id: format!("corr-{id}"),
        created_at,
        updated_at: created_at,
        auction_opened_at: None,
        auction_ends_at: None,
        bid_count: 0,
        seed_hash: None,
        seed: None,
        sold_price: None,
        buyer_id: None,
        sold_at: None,
        has_phone: true,
        has_email: true,
        rejection_reason: None,
    }
}

fn own_contact(cipher: &PiiCipher, lead: &LeadRecord) -> [u8; 32] {
    cipher.contact_hash("email", &format!("{}@example.test", lead.id))
}

/// Everything ingestion writes for `lead`: sealed PII, a contact hash of its
/// own, its `score_lead` job, a 30-day duplicate window and a cap that never
/// binds.
fn ingest(cipher: &PiiCipher, lead: LeadRecord) -> IngestLead {
    let pii = cipher.seal(&lead.id.as_uuid(), format!(r#"{{"email":"{}@example.test"}}"#, lead.id).as_bytes());
    IngestLead {
        job: NewJob {
            id: JobId::new(),
            kind: "score_lead".to_owned(),
            vertical: Some(lead.vertical.clone()),
            payload: json!({ "lead_id": lead.id }),
            run_at: lead.created_at,
            priority: leadex_core::model::priority::NORMAL,
            max_attempts: 3,
            correlation_id: lead.correlation_id.clone(),
            dedupe_key: Some(format!("score_lead:{}", lead.id)),
            created_at: lead.created_at,
        },
        pii,
        contact_hashes: vec![own_contact(cipher, &lead)],
        duplicate_since: lead.created_at - Duration::days(30),
        cap_day: lead.created_at.date_naive(),
        daily_cap: 1_000_000,
        idempotency: None,
        lead,
    }
}

async fn accept(store: &SqlStore, req: &IngestLead) {
    match store.ingest_lead(req).await {
        Ok(IngestOutcome::Accepted) => {}
        other => panic!("lead {} should be accepted, got {other:?}", req.lead.id),
    }
}

/// Asserts that nothing of a refused ingest was written.
async fn assert_not_written(store: &SqlStore, id: LeadId) {
    assert_eq!(store.get_lead(id).await.expect("get_lead"), None, "refused lead {id} was stored");
    assert!(store.jobs_for_lead(id).await.expect("jobs_for_lead").is_empty(), "refused lead {id} has a job");
}

fn page_at(limit: u32, cursor: &str) -> PageRequest {
    PageRequest::parse(Some(limit), Some(cursor)).expect("cursors the store hands out decode")
}

/// Every lead matching `q`, following `next_cursor` with pages of `limit`.
async fn list_all(store: &SqlStore, q: &LeadQuery, limit: u32) -> Vec<LeadRecord> {
    let mut out = Vec::new();
    let mut req = PageRequest::first(limit);
    for _ in 0..10_000 {
        let page = store.list_leads(q, &req).await.expect("list_leads");
        assert!(page.items.len() <= limit as usize, "page larger than its limit");
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => req = page_at(limit, &c),
            None => return out,
        }
    }
    panic!("pagination did not terminate");
}

fn ids(leads: &[LeadRecord]) -> Vec<LeadId> {
    leads.iter().map(|l| l.id).collect()
}

/// Ids in list order: `(created_at DESC, id DESC)`.
fn newest_first<'a>(leads: impl IntoIterator<Item = &'a LeadRecord>) -> Vec<LeadId> {
    let mut keys: Vec<(DateTime<Utc>, LeadId)> = leads.into_iter().map(|l| (l.created_at, l.id)).collect();
    keys.sort_by(|a, b| b.cmp(a));
    keys.into_iter().map(|(_, id)| id).collect()
}

fn ask(seller: AccountId, vertical: &str, created_at: DateTime<Utc>) -> Ask {
    Ask {
        id: AskId::new(),
        seller_id: seller,
        vertical: vertical.to_owned(),
        countries: vec!["US".to_owned()],
        regions: vec!["CA".to_owned(), "NY".to_owned()],
        reserve_price: usd(10),
        buy_now_price: usd(12),
        auction_duration_secs: 60,
        daily_cap: 500,
        status: "active".to_owned(),
        expires_at: None,
        created_at,
        updated_at: created_at,
    }
}

fn sorted_asks(mut v: Vec<Ask>) -> Vec<Ask> {
    v.sort_by_key(|a| a.id);
    v
}

// ---------------------------------------------------------------------------
// 1. Accounts and API keys
// ---------------------------------------------------------------------------

async fn accounts_and_api_keys(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    store.ping().await.expect("ping");
    let t0 = now();

    let mut seller = account(Role::Seller, "Sunny Leads LLC", t0);
    seller.status = "suspended".to_owned();
    seller.wallet_address = Some("0x00000000000000000000000000000000000000aa".to_owned());
    seller.kyc_verified = true;
    seller.daily_cap = Some(250);
    store.create_account(&seller).await.expect("create_account");
    assert_eq!(store.get_account(seller.id).await.expect("get_account"), Some(seller.clone()));
    assert_eq!(store.get_account(AccountId::new()).await.expect("get_account"), None);
    assert!(
        matches!(store.create_account(&seller).await, Err(StoreError::Conflict(_))),
        "a second account with the same id is a conflict"
    );

    // Pagination over accounts, with created_at ties.
    let mut all = vec![seller.clone()];
    for i in 0..11u8 {
        let role = [Role::Seller, Role::Buyer, Role::Admin][usize::from(i % 3)];
        let mut a = account(role, &format!("account {i}"), t0 - Duration::seconds(i64::from(i / 2)));
        a.id = AccountId::from_uuid(scrambled_uuid(u64::from(i)));
        store.create_account(&a).await.expect("create_account");
        all.push(a);
    }
    all.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.id)));
    let mut listed = Vec::new();
    let mut req = PageRequest::first(4);
    let mut pages = 0;
    loop {
        let page = store.list_accounts(&req).await.expect("list_accounts");
        assert_eq!(page.prev_cursor.is_none(), pages == 0, "only the first page has no prev_cursor");
        pages += 1;
        listed.extend(page.items);
        match page.next_cursor {
            Some(c) => req = page_at(4, &c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(listed, all, "accounts newest first, every one exactly once");

    // Keys.
    let buyer = new_account(&store, Role::Buyer).await;
    let key = NewApiKey {
        id: KeyId::new(),
        account_id: seller.id,
        hash: [0x11; 32],
        prefix: "lx_sk_abcd".to_owned(),
        name: "ci".to_owned(),
        scopes: vec![Scope::LeadsRead, Scope::LeadsWrite, Scope::AsksWrite],
        created_at: t0,
        expires_at: Some(t0 + Duration::days(90)),
    };
    store.create_api_key(&key).await.expect("create_api_key");
    let info = ApiKeyInfo {
        id: key.id,
        account_id: seller.id,
        prefix: key.prefix.clone(),
        name: key.name.clone(),
        scopes: key.scopes.clone(),
        created_at: t0,
        expires_at: key.expires_at,
        revoked_at: None,
    };
    assert_eq!(
        store.find_api_key(&key.hash).await.expect("find_api_key"),
        Some(Principal { account: seller.clone(), key: info.clone() })
    );
    assert_eq!(store.find_api_key(&[0x22; 32]).await.expect("find_api_key"), None);
    let same_hash = NewApiKey { id: KeyId::new(), ..key.clone() };
    assert!(matches!(store.create_api_key(&same_hash).await, Err(StoreError::Conflict(_))), "key hashes are unique");

    let key2 = NewApiKey {
        id: KeyId::new(),
        hash: [0x33; 32],
        name: "second".to_owned(),
        scopes: vec![Scope::Admin],
        created_at: t0 + Duration::seconds(1),
        expires_at: None,
        ..key.clone()
    };
    store.create_api_key(&key2).await.expect("create_api_key");
    let info2 = ApiKeyInfo {
        id: key2.id,
        name: key2.name.clone(),
        scopes: key2.scopes.clone(),
        created_at: key2.created_at,
        expires_at: None,
        ..info.clone()
    };
    assert_eq!(store.list_api_keys(seller.id).await.expect("list_api_keys"), vec![info2.clone(), info.clone()]);
    assert!(store.list_api_keys(buyer).await.expect("list_api_keys").is_empty());

    // Revocation: only the owner, only once; a revoked key is still found.
    let t1 = t0 + Duration::minutes(5);
    assert!(!store.revoke_api_key(buyer, key.id, t1).await.expect("revoke"), "another account cannot revoke");
    assert!(!store.revoke_api_key(seller.id, KeyId::new(), t1).await.expect("revoke"), "unknown key");
    assert!(store.revoke_api_key(seller.id, key.id, t1).await.expect("revoke"));
    assert!(!store.revoke_api_key(seller.id, key.id, t1 + Duration::minutes(1)).await.expect("revoke"));
    let found = store.find_api_key(&key.hash).await.expect("find_api_key").expect("revoked key still found");
    assert_eq!(found.key, ApiKeyInfo { revoked_at: Some(t1), ..info.clone() });
    assert_eq!(
        store.list_api_keys(seller.id).await.expect("list_api_keys"),
        vec![info2, ApiKeyInfo { revoked_at: Some(t1), ..info }]
    );

    // Daily-cap override.
    assert!(store.set_account_daily_cap(seller.id, Some(40)).await.expect("set cap"));
    assert_eq!(store.get_account(seller.id).await.expect("get").map(|a| a.daily_cap), Some(Some(40)));
    assert!(store.set_account_daily_cap(seller.id, Some(0)).await.expect("set cap"));
    assert_eq!(store.get_account(seller.id).await.expect("get").map(|a| a.daily_cap), Some(Some(0)));
    assert!(store.set_account_daily_cap(seller.id, None).await.expect("clear cap"));
    assert_eq!(store.get_account(seller.id).await.expect("get").map(|a| a.daily_cap), Some(None));
    assert!(!store.set_account_daily_cap(AccountId::new(), Some(1)).await.expect("set cap"), "unknown account");
}

// ---------------------------------------------------------------------------
// 2. Verticals
// ---------------------------------------------------------------------------

async fn verticals_round_trip_in_order(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    assert!(store.load_verticals().await.expect("load_verticals").is_empty());
    let seed = leadex_domain::catalog::seed();
    assert!(!seed.is_empty(), "the catalogue seed is empty");
    store.upsert_verticals(&seed).await.expect("upsert_verticals");
    assert_eq!(store.load_verticals().await.expect("load_verticals"), seed);

    // Upserting again replaces (names changed, order kept).
    let mut changed = seed.clone();
    if let Some(first) = changed.first_mut() {
        first.name = format!("{} (renamed)", first.name);
        first.aliases.push("renamed-alias".to_owned());
    }
    if let Some(last) = changed.last_mut() {
        last.name = format!("{} (renamed too)", last.name);
    }
    store.upsert_verticals(&changed).await.expect("upsert_verticals");
    let loaded = store.load_verticals().await.expect("load_verticals");
    assert_eq!(loaded.len(), seed.len(), "an upsert replaces, it never adds rows");
    assert_eq!(loaded, changed);

    // An empty upsert is a no-op.
    store.upsert_verticals(&[]).await.expect("upsert_verticals");
    assert_eq!(store.load_verticals().await.expect("load_verticals"), changed);
}

// ---------------------------------------------------------------------------
// 3. Ingest and read back
// ---------------------------------------------------------------------------

async fn ingest_then_get_round_trips_every_field(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let buyer = new_account(&store, Role::Buyer).await;
    let t = now();

    let mut l = lead(seller, "roofing.repair", t);
    l.geo = Geo {
        country: "US".to_owned(),
        region: Some("CA".to_owned()),
        postal_code: Some("90210".to_owned()),
        city: Some("Beverly Hills".to_owned()),
        lat: Some(34.0901),
        lng: Some(-118.4065),
    };
    l.fields = json!({
        "roof_type": "tile",
        "roof_age": 12,
        "roof_area_sqft": 1850.5,
        "insurance_claim": true,
        "notes": "ünïcödé ✓ and \"quotes\"",
    })
    .as_object()
    .cloned()
    .expect("object");
    l.source = "partner".to_owned();
    l.consent = Some(json!({ "text": "I agree to be contacted", "proof_url": "https://cert.example/abc" }));
    l.attribution = Some(json!({ "utm_source": "google", "utm_campaign": "spring", "gclid": "xyz" }));
    l.score = Some(score(7_400));
    l.ask_id = Some(AskId::new());
    l.reserve_price = Money::from_micros(12_345_678);
    l.buy_now_price = Money::from_micros(14_814_814);
    l.auction_duration_secs = 90;
    l.pii_hash = std::array::from_fn(|i| u8::try_from(i).unwrap_or(0).wrapping_mul(7));
    l.updated_at = t + Duration::microseconds(1);
    l.has_phone = false;
    l.has_email = true;
    let req = ingest(&cipher, l.clone());
    accept(&store, &req).await;

    assert_eq!(store.get_lead(l.id).await.expect("get_lead"), Some(l.clone()), "every field round-trips");
    assert_eq!(store.get_lead(LeadId::new()).await.expect("get_lead"), None);

    let job = &req.job;
    let want_job = JobRecord {
        id: job.id,
        kind: "score_lead".to_owned(),
        vertical: Some("roofing.repair".to_owned()),
        payload: job.payload.clone(),
        status: "queued".to_owned(),
        attempts: 0,
        max_attempts: 3,
        run_at: job.run_at,
        priority: leadex_core::model::priority::NORMAL,
        last_error: None,
        correlation_id: l.correlation_id.clone(),
        dedupe_key: job.dedupe_key.clone(),
        created_at: job.created_at,
        locked_by: None,
        locked_until: None,
        started_at: None,
        finished_at: None,
    };
    assert_eq!(store.jobs_for_lead(l.id).await.expect("jobs_for_lead"), vec![want_job]);
    assert!(store.jobs_for_lead(LeadId::new()).await.expect("jobs_for_lead").is_empty());

    // PII: sealed as given, every read audited.
    assert_eq!(store.pii_access_count(l.id).await.expect("count"), 0);
    let access = PiiAccess {
        lead_id: l.id,
        account_id: buyer,
        purpose: "buyer_purchase".to_owned(),
        correlation_id: "corr-read".to_owned(),
        at: t + Duration::seconds(3),
    };
    for n in 1..=3u64 {
        let sealed = store.read_lead_pii(&access).await.expect("read_lead_pii").expect("lead has PII");
        assert_eq!(sealed, req.pii);
        assert_eq!(
            cipher.open(&l.id.as_uuid(), &sealed).expect("opens"),
            format!(r#"{{"email":"{}@example.test"}}"#, l.id).into_bytes()
        );
        assert_eq!(store.pii_access_count(l.id).await.expect("count"), n);
    }
    let missing = PiiAccess { lead_id: LeadId::new(), ..access };
    assert_eq!(store.read_lead_pii(&missing).await.expect("read_lead_pii"), None);
    assert_eq!(store.pii_access_count(missing.lead_id).await.expect("count"), 0, "no audit row for nothing");

    // Lists return the same record (they never touch the PII table).
    let listed = store.list_leads(&LeadQuery::default(), &PageRequest::first(50)).await.expect("list_leads");
    assert_eq!(listed, Page { items: vec![l.clone()], next_cursor: None, prev_cursor: None });
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM lead_pii").await.expect("count"), 1);
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM jobs").await.expect("count"), 1);
}

// ---------------------------------------------------------------------------
// 3b. Lifecycle transitions of the Store port (score/open, reject)
// ---------------------------------------------------------------------------

async fn lifecycle_transitions_are_conditional(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let t = now();
    let a = lead(seller, "solar.residential", t - Duration::seconds(2));
    let b = lead(seller, "solar.residential", t - Duration::seconds(1));
    let (ra, rb) = (ingest(&cipher, a.clone()), ingest(&cipher, b.clone()));
    accept(&store, &ra).await;
    accept(&store, &rb).await;

    // Reject a received lead, once.
    let at = t + Duration::seconds(1);
    assert!(store.reject_lead(a.id, "invalid_contact", at).await.expect("reject"));
    assert!(!store.reject_lead(a.id, "again", at).await.expect("reject"));
    assert!(!store.reject_lead(LeadId::new(), "nothing", at).await.expect("reject"));
    let got = store.get_lead(a.id).await.expect("get_lead").expect("lead");
    assert_eq!(
        got,
        LeadRecord {
            status: LeadStatus::Rejected,
            rejection_reason: Some("invalid_contact".to_owned()),
            updated_at: at,
            ..a.clone()
        }
    );

    // Score and open: conditional on `received`, jobs written with it.
    let opened = t + Duration::seconds(2);
    let close = NewJob {
        id: JobId::new(),
        kind: "close_auction".to_owned(),
        vertical: Some(b.vertical.clone()),
        payload: json!({ "lead_id": b.id }),
        run_at: opened + Duration::seconds(60),
        priority: leadex_core::model::priority::DEADLINE,
        max_attempts: 5,
        correlation_id: b.correlation_id.clone(),
        dedupe_key: Some(format!("close_auction:{}", b.id)),
        created_at: opened,
    };
    let s = ScoreAndOpen {
        lead_id: b.id,
        score: score(8_800),
        opened_at: opened,
        ends_at: opened + Duration::seconds(60),
        seed: [9; 32],
        seed_hash: [10; 32],
        jobs: vec![close.clone()],
    };
    assert!(!store.score_and_open(&ScoreAndOpen { lead_id: a.id, ..s.clone() }).await.expect("open"), "rejected");
    assert!(store.score_and_open(&s).await.expect("score_and_open"));
    assert!(!store.score_and_open(&s).await.expect("score_and_open"), "only once");
    assert!(!store.reject_lead(b.id, "too late", at).await.expect("reject"), "an open lead cannot be rejected");
    let got = store.get_lead(b.id).await.expect("get_lead").expect("lead");
    assert_eq!(
        got,
        LeadRecord {
            status: LeadStatus::InAuction,
            score: Some(score(8_800)),
            auction_opened_at: Some(opened),
            auction_ends_at: Some(opened + Duration::seconds(60)),
            seed: Some([9; 32]),
            seed_hash: Some([10; 32]),
            updated_at: opened,
            ..b.clone()
        }
    );
    let jobs = store.jobs_for_lead(b.id).await.expect("jobs_for_lead");
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
    assert_eq!(kinds, ["score_lead", "close_auction"], "oldest first, the close job written once");
    assert_eq!(jobs.last().map(|j| (j.id, j.run_at)), Some((close.id, close.run_at)));
    assert_eq!(store.jobs_for_lead(a.id).await.expect("jobs_for_lead").len(), 1);
}

// ---------------------------------------------------------------------------
// 4. Keyset pagination
// ---------------------------------------------------------------------------

async fn keyset_pagination_walks_both_ways(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let other = new_account(&store, Role::Seller).await;
    let base = now();
    let mut leads = Vec::new();
    for i in 0..120u64 {
        // Groups of three share a created_at; ids are scrambled so the id
        // tie-break is independent of insertion order.
        let group = i64::try_from(i / 3).expect("small");
        let mut l = lead(seller, "solar.residential", base - Duration::milliseconds(group * 7 % 40 * 1000 + group));
        l.id = LeadId::from_uuid(scrambled_uuid(i + 1000));
        accept(&store, &ingest(&cipher, l.clone())).await;
        leads.push(l);
    }
    // Noise from another seller, filtered out below.
    for _ in 0..5 {
        accept(&store, &ingest(&cipher, lead(other, "solar.residential", base))).await;
    }
    let want = newest_first(&leads);
    let q = LeadQuery { seller_id: Some(seller), ..LeadQuery::default() };

    // Forwards with limit 7: 17 full pages and one of a single lead.
    let mut pages: Vec<Page<LeadRecord>> = Vec::new();
    let mut req = PageRequest::first(7);
    loop {
        let page = store.list_leads(&q, &req).await.expect("list_leads");
        let next = page.next_cursor.clone();
        pages.push(page);
        match next {
            Some(c) => req = page_at(7, &c),
            None => break,
        }
        assert!(pages.len() <= 18, "too many pages");
    }
    assert_eq!(pages.len(), 18);
    let flat: Vec<LeadId> = pages.iter().flat_map(|p| ids(&p.items)).collect();
    assert_eq!(flat, want, "every lead exactly once, (created_at DESC, id DESC)");
    assert!(pages.first().is_some_and(|p| p.prev_cursor.is_none()), "first page has no prev_cursor");
    assert!(pages.iter().skip(1).all(|p| p.prev_cursor.is_some()), "later pages have a prev_cursor");
    assert!(pages.last().is_some_and(|p| p.next_cursor.is_none() && p.items.len() == 1));
    // Pages carry full records.
    let by_id: std::collections::HashMap<LeadId, &LeadRecord> = leads.iter().map(|l| (l.id, l)).collect();
    for p in &pages {
        for item in &p.items {
            assert_eq!(Some(&item), by_id.get(&item.id), "listed record equals the ingested one");
        }
    }

    // Backwards from the middle: each prev_cursor yields exactly the
    // previous forward page, and its next_cursor leads forward again.
    let mid = 9;
    let mut cursor = pages[mid].prev_cursor.clone().expect("middle page has a prev_cursor");
    for k in (0..mid).rev() {
        let back = store.list_leads(&q, &page_at(7, &cursor)).await.expect("list_leads backwards");
        assert_eq!(ids(&back.items), ids(&pages[k].items), "backwards page {k}");
        let fwd = store
            .list_leads(&q, &page_at(7, back.next_cursor.as_deref().expect("a backward page has a next_cursor")))
            .await
            .expect("list_leads");
        assert_eq!(ids(&fwd.items), ids(&pages[k + 1].items), "forward again from backwards page {k}");
        match back.prev_cursor {
            Some(c) => cursor = c,
            None => {
                assert_eq!(k, 0, "prev_cursor ends only on the first page");
                break;
            }
        }
        assert_ne!(k, 0, "the first page reached backwards has no prev_cursor");
    }

    // A limit that divides the total: no empty trailing page.
    let mut req = PageRequest::first(8);
    let mut n_pages = 0;
    let mut seen = Vec::new();
    loop {
        let page = store.list_leads(&q, &req).await.expect("list_leads");
        assert!(!page.items.is_empty(), "no empty pages");
        n_pages += 1;
        seen.extend(ids(&page.items));
        match page.next_cursor {
            Some(c) => req = page_at(8, &c),
            None => break,
        }
    }
    assert_eq!((n_pages, seen), (15, want));
}

// ---------------------------------------------------------------------------
// 5. List filters
// ---------------------------------------------------------------------------

async fn check_filter(
    store: &SqlStore,
    all: &[LeadRecord],
    what: &str,
    q: &LeadQuery,
    pred: impl Fn(&LeadRecord) -> bool,
) {
    let want = newest_first(all.iter().filter(|l| pred(l)));
    assert!(!want.is_empty() && want.len() < all.len(), "{what}: the fixture does not make this filter meaningful");
    let got = list_all(store, q, 5).await;
    assert_eq!(ids(&got), want, "{what}");
}

async fn list_filters_select_exactly(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let (a, b) = (new_account(&store, Role::Seller).await, new_account(&store, Role::Seller).await);
    let base = now();
    let verticals = ["solar.residential", "solar.commercial", "roofing", "insurance.auto"];
    let statuses = [
        LeadStatus::Received,
        LeadStatus::Scored,
        LeadStatus::Rejected,
        LeadStatus::InAuction,
        LeadStatus::Sold,
        LeadStatus::Unsold,
    ];
    let geos = [("US", Some("CA")), ("US", Some("NY")), ("CA", Some("ON")), ("US", None)];
    let scores = [2_500, 4_000, 6_500, 8_499, 9_900];
    let prices = [5, 10, 20, 40];
    let mut all = Vec::new();
    for i in 0..36usize {
        let seller = if i % 3 == 0 { b } else { a };
        let mut l = lead(seller, verticals[i % 4], base - Duration::minutes(i64::try_from(i).expect("small")));
        l.status = statuses[i % 6];
        let (country, region) = geos[(i / 2) % 4];
        l.geo = geo(country, region);
        l.reserve_price = usd(prices[(i / 3) % 4]);
        l.buy_now_price = usd(50);
        if i % 5 != 0 {
            l.score = Some(score(scores[(i / 2) % 5]));
        }
        if l.vertical == "roofing" {
            l.fields.insert("roof_type".into(), json!(if (i / 4) % 2 == 0 { "tile" } else { "metal" }));
            l.fields.insert("roof_age".into(), json!(if (i / 8) % 2 == 0 { 12 } else { 20 }));
            l.fields.insert("insurance_claim".into(), json!((i / 4) % 3 == 0));
        } else {
            // Same keys with other JSON types: a typed filter must not
            // match them (12 is not "12", 1 is not true).
            l.fields.insert("panel_count".into(), json!(i));
            l.fields.insert("roof_type".into(), json!(12));
            l.fields.insert("insurance_claim".into(), json!(i % 2));
        }
        accept(&store, &ingest(&cipher, l.clone())).await;
        all.push(l);
    }
    let q = LeadQuery::default;

    // No filter: everything, in order.
    assert_eq!(ids(&list_all(&store, &q(), 5).await), newest_first(&all));

    check_filter(&store, &all, "seller", &LeadQuery { seller_id: Some(a), ..q() }, |l| l.seller_id == a).await;
    check_filter(&store, &all, "root vertical", &LeadQuery { root_vertical: Some("solar".into()), ..q() }, |l| {
        l.root_vertical == "solar"
    })
    .await;
    check_filter(
        &store,
        &all,
        "verticals (IN)",
        &LeadQuery { verticals: Some(vec!["solar.residential".into(), "roofing".into()]), ..q() },
        |l| l.vertical == "solar.residential" || l.vertical == "roofing",
    )
    .await;
    check_filter(&store, &all, "one vertical", &LeadQuery { verticals: Some(vec!["roofing".into()]), ..q() }, |l| {
        l.vertical == "roofing"
    })
    .await;
    check_filter(
        &store,
        &all,
        "statuses",
        &LeadQuery { statuses: Some(vec![LeadStatus::Received, LeadStatus::Sold]), ..q() },
        |l| matches!(l.status, LeadStatus::Received | LeadStatus::Sold),
    )
    .await;
    check_filter(&store, &all, "hide rejected", &LeadQuery { hide_rejected: true, ..q() }, |l| {
        l.status != LeadStatus::Rejected
    })
    .await;
    check_filter(&store, &all, "country", &LeadQuery { country: Some("CA".into()), ..q() }, |l| l.geo.country == "CA")
        .await;
    check_filter(&store, &all, "region", &LeadQuery { region: Some("NY".into()), ..q() }, |l| {
        l.geo.region.as_deref() == Some("NY")
    })
    .await;
    let sc = |l: &LeadRecord| l.score.map(|s| s.value);
    check_filter(&store, &all, "min score", &LeadQuery { min_score: Some(6_500), ..q() }, |l| {
        sc(l).is_some_and(|v| v >= 6_500)
    })
    .await;
    check_filter(&store, &all, "max score", &LeadQuery { max_score: Some(4_000), ..q() }, |l| {
        sc(l).is_some_and(|v| v <= 4_000)
    })
    .await;
    check_filter(
        &store,
        &all,
        "score range",
        &LeadQuery { min_score: Some(4_000), max_score: Some(8_499), ..q() },
        |l| sc(l).is_some_and(|v| (4_000..=8_499).contains(&v)),
    )
    .await;
    // sold_price is never set at ingestion, so COALESCE(sold_price,
    // reserve_price) is the reserve here.
    check_filter(&store, &all, "min price", &LeadQuery { min_price: Some(usd(10)), ..q() }, |l| {
        l.reserve_price >= usd(10)
    })
    .await;
    check_filter(&store, &all, "max price", &LeadQuery { max_price: Some(usd(20)), ..q() }, |l| {
        l.reserve_price <= usd(20)
    })
    .await;
    check_filter(
        &store,
        &all,
        "price range",
        &LeadQuery { min_price: Some(usd(10)), max_price: Some(usd(20)), ..q() },
        |l| l.reserve_price >= usd(10) && l.reserve_price <= usd(20),
    )
    .await;
    let (after, before) = (all[20].created_at, all[4].created_at);
    check_filter(&store, &all, "created_after (inclusive)", &LeadQuery { created_after: Some(after), ..q() }, |l| {
        l.created_at >= after
    })
    .await;
    check_filter(&store, &all, "created_before (exclusive)", &LeadQuery { created_before: Some(before), ..q() }, |l| {
        l.created_at < before
    })
    .await;
    check_filter(
        &store,
        &all,
        "created window",
        &LeadQuery { created_after: Some(after), created_before: Some(before), ..q() },
        |l| l.created_at >= after && l.created_at < before,
    )
    .await;
    let field = |l: &LeadRecord, k: &str| l.fields.get(k).cloned();
    check_filter(
        &store,
        &all,
        "field text",
        &LeadQuery { field_eq: vec![("roof_type".into(), FieldValue::Text("tile".into()))], ..q() },
        |l| field(l, "roof_type") == Some(json!("tile")),
    )
    .await;
    check_filter(
        &store,
        &all,
        "field number",
        &LeadQuery { field_eq: vec![("roof_age".into(), FieldValue::Number(12.0))], ..q() },
        |l| field(l, "roof_age") == Some(json!(12)),
    )
    .await;
    check_filter(
        &store,
        &all,
        "field bool true",
        &LeadQuery { field_eq: vec![("insurance_claim".into(), FieldValue::Bool(true))], ..q() },
        |l| field(l, "insurance_claim") == Some(json!(true)),
    )
    .await;
    check_filter(
        &store,
        &all,
        "field bool false",
        &LeadQuery { field_eq: vec![("insurance_claim".into(), FieldValue::Bool(false))], ..q() },
        |l| field(l, "insurance_claim") == Some(json!(false)),
    )
    .await;
    check_filter(
        &store,
        &all,
        "field number where others hold booleans",
        &LeadQuery { field_eq: vec![("insurance_claim".into(), FieldValue::Number(1.0))], ..q() },
        |l| field(l, "insurance_claim") == Some(json!(1)),
    )
    .await;
    check_filter(
        &store,
        &all,
        "two field filters",
        &LeadQuery {
            field_eq: vec![
                ("roof_type".into(), FieldValue::Text("tile".into())),
                ("roof_age".into(), FieldValue::Number(20.0)),
            ],
            ..q()
        },
        |l| field(l, "roof_type") == Some(json!("tile")) && field(l, "roof_age") == Some(json!(20)),
    )
    .await;
    check_filter(
        &store,
        &all,
        "combined",
        &LeadQuery {
            seller_id: Some(a),
            root_vertical: Some("roofing".into()),
            hide_rejected: true,
            min_price: Some(usd(10)),
            ..q()
        },
        |l| {
            l.seller_id == a
                && l.root_vertical == "roofing"
                && l.status != LeadStatus::Rejected
                && l.reserve_price >= usd(10)
        },
    )
    .await;

    // Filters that match nothing, including empty IN lists.
    let none: [(&str, LeadQuery); 6] = [
        ("unknown seller", LeadQuery { seller_id: Some(AccountId::new()), ..q() }),
        ("empty verticals", LeadQuery { verticals: Some(vec![]), ..q() }),
        ("empty statuses", LeadQuery { statuses: Some(vec![]), ..q() }),
        ("rejected but hidden", LeadQuery { statuses: Some(vec![LeadStatus::Rejected]), hide_rejected: true, ..q() }),
        ("text vs number", LeadQuery { field_eq: vec![("roof_age".into(), FieldValue::Text("12".into()))], ..q() }),
        ("text vs number 2", LeadQuery { field_eq: vec![("roof_type".into(), FieldValue::Text("12".into()))], ..q() }),
    ];
    for (what, query) in none {
        let page = store.list_leads(&query, &PageRequest::first(50)).await;
        let page = page.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(page, Page { items: vec![], next_cursor: None, prev_cursor: None }, "{what}");
    }
}

// ---------------------------------------------------------------------------
// 6. Duplicates
// ---------------------------------------------------------------------------

async fn duplicates_are_refused_without_side_effects(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let t = now();
    let shared = cipher.contact_hash("phone", "+15555550100");

    let mut r1 = ingest(&cipher, lead(seller, "solar.residential", t - Duration::minutes(3)));
    r1.contact_hashes.push(shared);
    accept(&store, &r1).await;

    // Same root vertical, shared phone: refused, and nothing written. Its
    // own e-mail comes first, so its contact row was written and must have
    // been rolled back; its cap of 1 must not have been consumed.
    let mut r2 = ingest(&cipher, lead(seller, "solar.commercial", t - Duration::minutes(2)));
    r2.contact_hashes.push(shared);
    r2.daily_cap = 1;
    match store.ingest_lead(&r2).await {
        Err(IngestError::Duplicate(first)) => assert_eq!(first, r1.lead.id, "names the first lead"),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_not_written(&store, r2.lead.id).await;
    let reader = PiiAccess {
        lead_id: r2.lead.id,
        account_id: seller,
        purpose: "seller_view".into(),
        correlation_id: "c".into(),
        at: t,
    };
    assert_eq!(store.read_lead_pii(&reader).await.expect("read_lead_pii"), None);
    let mut r3 = ingest(&cipher, lead(seller, "solar.commercial", t - Duration::minutes(1)));
    r3.contact_hashes = r2.contact_hashes[..1].to_vec();
    r3.daily_cap = 1;
    accept(&store, &r3).await;

    // Another root vertical: not a duplicate.
    let mut r4 = ingest(&cipher, lead(seller, "roofing", t));
    r4.contact_hashes.push(shared);
    accept(&store, &r4).await;

    // The window: a previous lead older than duplicate_since is taken over.
    let window = Duration::days(30);
    let contact = cipher.contact_hash("email", "returning@example.test");
    let mut old = ingest(&cipher, lead(seller, "insurance.auto", t - Duration::days(40)));
    old.contact_hashes = vec![contact];
    accept(&store, &old).await;
    let mut second = ingest(&cipher, lead(seller, "insurance.home", t - Duration::days(1)));
    second.contact_hashes = vec![contact];
    second.duplicate_since = second.lead.created_at - window;
    accept(&store, &second).await;
    let mut third = ingest(&cipher, lead(seller, "insurance.auto", t));
    third.contact_hashes = vec![contact];
    third.duplicate_since = t - window;
    match store.ingest_lead(&third).await {
        Err(IngestError::Duplicate(first)) => assert_eq!(first, second.lead.id, "duplicates the newer lead"),
        other => panic!("expected a duplicate of the second lead, got {other:?}"),
    }
    assert_not_written(&store, third.lead.id).await;

    // Window bounds: a previous lead exactly at duplicate_since is still a
    // duplicate; one microsecond later the window has passed.
    third.duplicate_since = second.lead.created_at;
    assert!(matches!(store.ingest_lead(&third).await, Err(IngestError::Duplicate(id)) if id == second.lead.id));
    third.duplicate_since = second.lead.created_at + Duration::microseconds(1);
    accept(&store, &third).await;

    let total = store.scalar_i64("SELECT COUNT(*) FROM leads").await.expect("count");
    assert_eq!(total, 6, "r1, r3, r4, old, second, third");
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM jobs").await.expect("count"), 6);
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM lead_pii").await.expect("count"), 6);
}

async fn concurrent_duplicates_admit_one(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let shared = cipher.contact_hash("phone", "+15555550199");
    let t = now();
    let n = 12;
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut req = ingest(&cipher, lead(seller, "mortgage.refinance", t + Duration::microseconds(i as i64)));
        req.contact_hashes.push(shared);
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (req.lead.id, store.ingest_lead(&req).await)
        }));
    }
    let mut accepted = Vec::new();
    let mut duplicate_of = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (id, Ok(IngestOutcome::Accepted)) => accepted.push(id),
            (_, Err(IngestError::Duplicate(first))) => duplicate_of.push(first),
            (id, other) => panic!("lead {id}: unexpected {other:?}"),
        }
    }
    assert_eq!(accepted.len(), 1, "exactly one lead wins the contact");
    assert_eq!(duplicate_of.len(), n - 1);
    assert!(duplicate_of.iter().all(|d| *d == accepted[0]), "every duplicate names the winner");
    let q = LeadQuery { seller_id: Some(seller), ..LeadQuery::default() };
    assert_eq!(ids(&list_all(&store, &q, 200).await), accepted);
}

// ---------------------------------------------------------------------------
// 7. Daily caps
// ---------------------------------------------------------------------------

async fn daily_cap_is_exact_per_seller_vertical_and_day(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let t = now();
    let day = NaiveDate::from_ymd_opt(2025, 6, 1).expect("date");
    let capped = |vertical: &str, seller: AccountId, day: NaiveDate, cap: u32| {
        let mut r = ingest(&cipher, lead(seller, vertical, t));
        r.cap_day = day;
        r.daily_cap = cap;
        r
    };

    for _ in 0..3 {
        accept(&store, &capped("roofing", seller, day, 3)).await;
    }
    let fourth = capped("roofing", seller, day, 3);
    assert!(matches!(store.ingest_lead(&fourth).await, Err(IngestError::DailyCapReached)));
    assert_not_written(&store, fourth.lead.id).await;

    // Separate counters: another vertical, another day, another seller.
    accept(&store, &capped("roofing.repair", seller, day, 3)).await;
    accept(&store, &capped("roofing", seller, day.succ_opt().expect("date"), 3)).await;
    let other = new_account(&store, Role::Seller).await;
    accept(&store, &capped("roofing", other, day, 3)).await;

    // The cap in force is the one passed: raising it admits more.
    accept(&store, &capped("roofing", seller, day, 4)).await;
    assert!(matches!(store.ingest_lead(&capped("roofing", seller, day, 4)).await, Err(IngestError::DailyCapReached)));

    // Cap 1 admits one; cap 0 admits none, even on a fresh counter.
    let fresh = new_account(&store, Role::Seller).await;
    accept(&store, &capped("solar", fresh, day, 1)).await;
    assert!(matches!(store.ingest_lead(&capped("solar", fresh, day, 1)).await, Err(IngestError::DailyCapReached)));
    let blocked = capped("solar", fresh, day.pred_opt().expect("date"), 0);
    assert!(
        matches!(store.ingest_lead(&blocked).await, Err(IngestError::DailyCapReached)),
        "a cap of 0 admits nothing"
    );
    assert_not_written(&store, blocked.lead.id).await;

    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM leads").await.expect("count"), 8);
}

async fn daily_cap_holds_under_concurrency(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let t = now();
    let n = 50;
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let mut req = ingest(&cipher, lead(seller, "home_services.hvac", t + Duration::microseconds(i as i64)));
        req.daily_cap = 20;
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.ingest_lead(&req).await
        }));
    }
    let (mut accepted, mut capped) = (0, 0);
    for task in tasks {
        match task.await.expect("task") {
            Ok(IngestOutcome::Accepted) => accepted += 1,
            Err(IngestError::DailyCapReached) => capped += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((accepted, capped), (20, 30));
    let q = LeadQuery { seller_id: Some(seller), ..LeadQuery::default() };
    assert_eq!(list_all(&store, &q, 200).await.len(), 20);
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM jobs").await.expect("count"), 20);
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM lead_pii").await.expect("count"), 20);
}

/// First mints of many verticals at once (the chain issue's `mint_nft`
/// jobs run concurrently): every one is queued, and each vertical gets one
/// distinct uint16 number.
async fn first_mints_of_many_verticals_at_once_number_them_uniquely(engine: Engine) {
    use leadex_core::nft::{NewMint, NftStore};
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let buyer = new_account(&store, Role::Buyer).await;
    let t = now();
    let n = 24;
    let mut mints = Vec::new();
    for i in 0..n {
        let l = lead(seller, "home_services.hvac", t + Duration::microseconds(i as i64));
        accept(&store, &ingest(&cipher, l.clone())).await;
        mints.push(NewMint {
            lead_id: l.id,
            token_id: format!("0x{:064x}", i + 1),
            buyer_id: buyer,
            vertical: format!("v{}", i % 12),
            score: 5_000,
            price_micros: 1_000_000,
            sold_at: t,
            correlation_id: "conformance".into(),
            created_at: t,
        });
    }
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    let again = mints.clone();
    for m in mints {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.queue_mint(&m).await
        }));
    }
    for task in tasks {
        assert!(task.await.expect("task").expect("queued, no conflict"), "a new mint is queued");
    }
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM nft_verticals").await.expect("count"), 12);
    assert_eq!(store.scalar_i64("SELECT COUNT(DISTINCT number) FROM nft_verticals").await.expect("count"), 12);
    assert_eq!(store.scalar_i64("SELECT MAX(number) FROM nft_verticals").await.expect("max"), 12);
    let mismatched = "SELECT COUNT(*) FROM nft_mints m JOIN nft_verticals v ON v.vertical = m.vertical
                      WHERE v.number <> m.vertical_number";
    assert_eq!(store.scalar_i64(mismatched).await.expect("count"), 0);

    // Again, each twice at once: nothing new, and no error.
    let barrier = Arc::new(Barrier::new(2 * n));
    let mut tasks = Vec::new();
    for m in again.iter().chain(again.iter()) {
        let (store, barrier, m) = (store.clone(), barrier.clone(), m.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.queue_mint(&m).await
        }));
    }
    for task in tasks {
        assert!(!task.await.expect("task").expect("no conflict"), "a lead is minted once");
    }
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM nft_mints").await.expect("count"), n as i64);
    if let Some(largest) = store.largest_group("mint_nft") {
        assert!(largest > 1, "SQLite recorded concurrent mints in one group (largest {largest})");
    }
}

/// Many leads scored at once (SQLite groups them into one transaction):
/// each still-received lead opens exactly once with its own score, seed and
/// jobs; a rejected lead and a second plan for the same lead do not open.
async fn scores_of_many_leads_at_once_open_each_once(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let t = now();
    let n = 24usize;
    let mut plans = Vec::new();
    for i in 0..n {
        let l = lead(seller, "home_services.hvac", t + Duration::microseconds(i as i64));
        accept(&store, &ingest(&cipher, l.clone())).await;
        let job = |kind: &str, run_at| NewJob {
            id: JobId::new(),
            kind: kind.to_owned(),
            vertical: Some(l.vertical.clone()),
            payload: json!({ "lead_id": l.id }),
            run_at,
            priority: leadex_core::service::priority_of(kind),
            max_attempts: 3,
            correlation_id: l.correlation_id.clone(),
            dedupe_key: Some(format!("{kind}:{}", l.id)),
            created_at: t,
        };
        let ends = t + Duration::seconds(60 + i as i64);
        plans.push(ScoreAndOpen {
            lead_id: l.id,
            score: score(1_000 + 100 * i as u32),
            opened_at: t,
            ends_at: ends,
            seed: [i as u8; 32],
            seed_hash: [i as u8 + 100; 32],
            jobs: vec![job("close_auction", ends), job("auto_bid", t)],
        });
    }
    let rejected = plans[0].lead_id;
    assert!(store.reject_lead(rejected, "test", t).await.expect("reject"));
    // Every plan twice (the second with other jobs ids), all at once.
    let twice: Vec<ScoreAndOpen> = plans
        .iter()
        .cloned()
        .chain(plans.iter().cloned().map(|mut p| {
            for j in &mut p.jobs {
                j.id = JobId::new();
            }
            p
        }))
        .collect();
    let barrier = Arc::new(Barrier::new(twice.len()));
    let mut tasks = Vec::new();
    for p in twice {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (p.lead_id, store.score_and_open(&p).await.expect("score_and_open"))
        }));
    }
    let mut opened: std::collections::HashMap<LeadId, usize> = std::collections::HashMap::new();
    for task in tasks {
        let (id, ok) = task.await.expect("task");
        *opened.entry(id).or_insert(0) += usize::from(ok);
    }
    for p in &plans {
        let want = usize::from(p.lead_id != rejected);
        assert_eq!(opened.get(&p.lead_id).copied(), Some(want), "lead {} opened {want} time(s)", p.lead_id);
        let got = store.get_lead(p.lead_id).await.expect("get").expect("lead");
        if p.lead_id == rejected {
            assert_eq!(got.status, LeadStatus::Rejected);
            continue;
        }
        assert_eq!(got.status, LeadStatus::InAuction);
        assert_eq!(got.score, Some(p.score));
        assert_eq!(got.auction_ends_at, Some(p.ends_at));
        assert_eq!(got.seed_hash, Some(p.seed_hash));
    }
    let jobs = "SELECT COUNT(*) FROM jobs WHERE kind IN ('close_auction', 'auto_bid')";
    assert_eq!(store.scalar_i64(jobs).await.expect("count"), 2 * (n as i64 - 1), "two jobs per opened lead");
    if let Some(largest) = store.largest_group("score_lead") {
        assert!(largest > 1, "concurrent leads opened in one group (largest {largest})");
    }
}

// ---------------------------------------------------------------------------
// 8. Idempotency
// ---------------------------------------------------------------------------

fn with_key(mut req: IngestLead, key: &str, hash: &str) -> IngestLead {
    req.idempotency = Some(IdempotencyClaim {
        key: key.to_owned(),
        request_hash: hash.to_owned(),
        response: json!({
            "id": req.lead.id,
            "status": "received",
            "links": { "self": format!("/v1/leads/{}", req.lead.id) },
            "n": [1, 2.5, null, true],
        }),
    });
    req
}

async fn idempotency_replays_and_rejects_mismatches(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let t = now();

    let first = with_key(ingest(&cipher, lead(seller, "legal.injury", t)), "key-1", "hash-1");
    accept(&store, &first).await;
    let original = first.idempotency.as_ref().map(|c| c.response.clone()).expect("claim");

    // Same key and body: the original response, no second lead.
    let retry = with_key(ingest(&cipher, lead(seller, "legal.injury", t)), "key-1", "hash-1");
    assert_eq!(store.ingest_lead(&retry).await.expect("replay"), IngestOutcome::Replayed(original.clone()));
    assert_not_written(&store, retry.lead.id).await;

    // Same key, different body.
    let other_body = with_key(ingest(&cipher, lead(seller, "legal.injury", t)), "key-1", "hash-2");
    assert!(matches!(store.ingest_lead(&other_body).await, Err(IngestError::IdempotencyMismatch)));
    assert_not_written(&store, other_body.lead.id).await;

    // Keys belong to an account.
    let seller2 = new_account(&store, Role::Seller).await;
    accept(&store, &with_key(ingest(&cipher, lead(seller2, "legal.injury", t)), "key-1", "hash-2")).await;

    // A refused submission does not keep its key: the corrected retry goes in.
    let shared = cipher.contact_hash("phone", "+15555550123");
    let mut dup_first = ingest(&cipher, lead(seller, "legal.family", t));
    dup_first.contact_hashes.push(shared);
    accept(&store, &dup_first).await;
    let mut dup = with_key(ingest(&cipher, lead(seller, "legal.family", t)), "key-2", "hash-3");
    dup.contact_hashes.push(shared);
    assert!(matches!(store.ingest_lead(&dup).await, Err(IngestError::Duplicate(_))));
    let fixed = with_key(ingest(&cipher, lead(seller, "legal.family", t)), "key-2", "hash-3");
    accept(&store, &fixed).await;

    let q = LeadQuery { seller_id: Some(seller), ..LeadQuery::default() };
    let mut got = ids(&list_all(&store, &q, 200).await);
    got.sort();
    let mut want = vec![first.lead.id, dup_first.lead.id, fixed.lead.id];
    want.sort();
    assert_eq!(got, want);
}

async fn idempotency_holds_under_concurrency(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let t = now();
    let n = 20;
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let req = with_key(
            ingest(&cipher, lead(seller, "auto.warranty", t + Duration::microseconds(i as i64))),
            "same-key",
            "same-hash",
        );
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let out = store.ingest_lead(&req).await;
            (req, out)
        }));
    }
    let mut winners = Vec::new();
    let mut replays = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            (req, Ok(IngestOutcome::Accepted)) => winners.push(req),
            (_, Ok(IngestOutcome::Replayed(v))) => replays.push(v),
            (req, Err(e)) => panic!("lead {}: unexpected {e:?}", req.lead.id),
        }
    }
    assert_eq!((winners.len(), replays.len()), (1, n - 1));
    let winner = &winners[0];
    let response = winner.idempotency.as_ref().map(|c| c.response.clone()).expect("claim");
    assert!(replays.iter().all(|r| *r == response), "every replay is the winner's response");
    let q = LeadQuery { seller_id: Some(seller), ..LeadQuery::default() };
    assert_eq!(ids(&list_all(&store, &q, 200).await), vec![winner.lead.id]);
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM jobs").await.expect("count"), 1);
}

/// A multi-lead ingest answers every item as if they had been submitted one
/// after the other, in order; refused items write nothing, and an item
/// the database rejects fails alone.
async fn batch_ingest_decides_each_item_in_order(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let cipher = cipher();
    let seller = new_account(&store, Role::Seller).await;
    let t = now();
    let at = |i: i64| t + Duration::microseconds(i);
    let shared = cipher.contact_hash("phone", "+15555550177");

    let mut a = ingest(&cipher, lead(seller, "solar.residential", at(0)));
    a.contact_hashes.push(shared);
    a.daily_cap = 2;
    let mut dup = ingest(&cipher, lead(seller, "solar.commercial", at(1)));
    dup.contact_hashes.push(shared);
    let keyed = with_key(ingest(&cipher, lead(seller, "legal.injury", at(2))), "batch-key", "h1");
    let replay = with_key(ingest(&cipher, lead(seller, "legal.injury", at(3))), "batch-key", "h1");
    let mismatch = with_key(ingest(&cipher, lead(seller, "legal.injury", at(4))), "batch-key", "h2");
    let mut second = ingest(&cipher, lead(seller, "solar.residential", at(5)));
    second.daily_cap = 2;
    let mut capped = ingest(&cipher, lead(seller, "solar.residential", at(6)));
    capped.daily_cap = 2;
    // No such seller: the database refuses the row (foreign key).
    let orphan = ingest(&cipher, lead(AccountId::new(), "roofing", at(7)));
    let mut reqs = vec![a.clone(), dup.clone(), keyed.clone(), replay.clone(), mismatch.clone()];
    reqs.extend([second.clone(), capped.clone(), orphan.clone()]);
    // Enough plain leads to span several multi-row writes.
    let plain: Vec<IngestLead> = (0..300).map(|i| ingest(&cipher, lead(seller, "roofing", at(100 + i)))).collect();
    reqs.extend(plain.iter().cloned());

    let out = store.ingest_leads(reqs).await;
    assert_eq!(out.len(), 308, "one answer per item");
    assert!(matches!(out[0], Ok(IngestOutcome::Accepted)), "{:?}", out[0]);
    assert!(matches!(out[1], Err(IngestError::Duplicate(id)) if id == a.lead.id), "{:?}", out[1]);
    assert!(matches!(out[2], Ok(IngestOutcome::Accepted)), "{:?}", out[2]);
    let response = keyed.idempotency.as_ref().map(|c| c.response.clone()).expect("claim");
    assert_eq!(out[3].as_ref().expect("replay"), &IngestOutcome::Replayed(response));
    assert!(matches!(out[4], Err(IngestError::IdempotencyMismatch)), "{:?}", out[4]);
    assert!(matches!(out[5], Ok(IngestOutcome::Accepted)), "{:?}", out[5]);
    assert!(matches!(out[6], Err(IngestError::DailyCapReached)), "{:?}", out[6]);
    assert!(matches!(out[7], Err(IngestError::Store(_))), "{:?}", out[7]);
    assert!(out[8..].iter().all(|r| matches!(r, Ok(IngestOutcome::Accepted))), "every plain lead is accepted");

    for refused in [&dup, &replay, &mismatch, &capped, &orphan] {
        assert_not_written(&store, refused.lead.id).await;
    }
    for kept in [&a, &keyed, &second].into_iter().chain(plain.iter()) {
        let got = store.get_lead(kept.lead.id).await.expect("get_lead").expect("accepted lead stored");
        assert_eq!(got, kept.lead);
        assert_eq!(store.jobs_for_lead(kept.lead.id).await.expect("jobs").len(), 1);
    }
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM leads").await.expect("count"), 303);
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM lead_pii").await.expect("count"), 303);
    assert_eq!(store.scalar_i64("SELECT COUNT(*) FROM jobs").await.expect("count"), 303);

    // The effects persist across calls: the cap is used up, the contact is
    // taken and the key replays.
    let mut later = ingest(&cipher, lead(seller, "solar.residential", at(1_000)));
    later.daily_cap = 2;
    assert!(matches!(store.ingest_lead(&later).await, Err(IngestError::DailyCapReached)));
    let mut later_dup = ingest(&cipher, lead(seller, "solar.commercial", at(1_001)));
    later_dup.contact_hashes.push(shared);
    assert!(matches!(store.ingest_lead(&later_dup).await, Err(IngestError::Duplicate(id)) if id == a.lead.id));
    let later_key = with_key(ingest(&cipher, lead(seller, "legal.injury", at(1_002))), "batch-key", "h1");
    assert!(matches!(store.ingest_lead(&later_key).await, Ok(IngestOutcome::Replayed(_))));
}

/// The claim walks the ready-jobs index in order even when the planner has
/// no statistics (a backlog bulk-loaded since the last analyze): a plan
/// that sorts the backlog costs 250× more per claim.
async fn claim_plan_is_an_ordered_index_scan(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let t = now();
    let jobs: Vec<NewJob> = (0..3_000)
        .map(|i| NewJob {
            id: JobId::new(),
            kind: if i % 2 == 0 { "noop" } else { "other" }.to_owned(),
            vertical: Some(format!("v{}", i % 50)),
            payload: json!({}),
            run_at: t + Duration::milliseconds(i),
            priority: leadex_core::model::priority::NORMAL,
            max_attempts: 3,
            correlation_id: "c".into(),
            dedupe_key: None,
            created_at: t,
        })
        .collect();
    assert_eq!(JobQueue::enqueue(&store, &jobs).await.expect("enqueue"), 3_000);
    let plan = store.explain_claim(&["noop".to_owned(), "other".to_owned()]).await.expect("explain");
    assert!(plan.contains("jobs_queued"), "claim does not use the ready-jobs index:\n{plan}");
    for sort in ["Sort", "TEMP B-TREE"] {
        assert!(!plan.contains(sort), "claim sorts the backlog:\n{plan}");
    }
}

/// Ready jobs are claimed by priority level first, then oldest `run_at`:
/// a close due now goes before normal work queued earlier, which goes before
/// older background work; scheduled jobs of a lower level (not yet due) do
/// not hold back ready ones, and `next_run_at` sees every level.
async fn claims_take_ready_jobs_by_priority_then_age(engine: Engine) {
    use leadex_core::model::priority::{BACKGROUND, DEADLINE, NORMAL};
    let Some((_db, store)) = open(engine).await else { return };
    let t = now();
    let job = |kind: &str, priority: i16, run_at: DateTime<Utc>| NewJob {
        id: JobId::new(),
        kind: kind.to_owned(),
        vertical: Some("v".to_owned()),
        payload: json!({}),
        run_at,
        priority,
        max_attempts: 3,
        correlation_id: "c".into(),
        dedupe_key: None,
        created_at: t,
    };
    let jobs = vec![
        job("mint", BACKGROUND, t - Duration::seconds(30)),
        job("mint", BACKGROUND, t - Duration::seconds(29)),
        job("score", NORMAL, t - Duration::seconds(20)),
        job("score", NORMAL, t - Duration::seconds(10)),
        job("close", DEADLINE, t - Duration::seconds(1)),
        job("close", DEADLINE, t - Duration::milliseconds(500)),
        // Due later: never claimed now, whatever its level.
        job("close", DEADLINE, t + Duration::seconds(60)),
    ];
    assert_eq!(JobQueue::enqueue(&store, &jobs).await.expect("enqueue"), 7);
    let claim_in = |limit: u32, levels: Option<Vec<(i16, u32)>>| ClaimRequest {
        worker: "w".into(),
        limit,
        lease_until: t + Duration::seconds(30),
        now: t,
        kinds: None,
        levels,
        deadline_until: None,
        default_vertical_limit: 100,
        vertical_limits: Default::default(),
    };
    let ids = |js: Vec<JobRecord>| js.into_iter().map(|j| (j.id, j.priority)).collect::<Vec<_>>();
    let want = |idx: &[usize]| idx.iter().map(|&i| (jobs[i].id, jobs[i].priority)).collect::<Vec<_>>();
    let claim = |limit: u32| claim_in(limit, None);
    assert_eq!(ids(store.claim(&claim(1)).await.expect("claim")), want(&[4]), "the due close first");
    // A worker that keeps room for deadlines takes at most one job of each
    // of the other levels here, and no close.
    let capped = claim_in(10, Some(vec![(NORMAL, 1), (BACKGROUND, 1)]));
    assert_eq!(ids(store.claim(&capped).await.expect("claim")), want(&[2, 0]), "one per allowed level");
    assert_eq!(ids(store.claim(&claim(2)).await.expect("claim")), want(&[5, 3]), "the close, then normal work");
    assert_eq!(ids(store.claim(&claim(10)).await.expect("claim")), want(&[1]), "background last");
    assert!(store.claim(&claim(10)).await.expect("claim").is_empty(), "the scheduled close is not due");
    assert_eq!(store.next_run_at().await.expect("next_run_at"), Some(jobs[6].run_at));
    let stored = store.get_job(jobs[6].id).await.expect("get_job").expect("job");
    assert_eq!((stored.priority, stored.status.as_str()), (DEADLINE, "queued"));
}

// ---------------------------------------------------------------------------
// 9. Asks
// ---------------------------------------------------------------------------

async fn all_asks(store: &SqlStore, q: &AskQuery, limit: u32) -> Vec<Ask> {
    let mut out = Vec::new();
    let mut req = PageRequest::first(limit);
    for _ in 0..1_000 {
        let page = store.list_asks(q, &req).await.expect("list_asks");
        assert!(page.items.len() <= limit as usize);
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => req = page_at(limit, &c),
            None => return out,
        }
    }
    panic!("pagination did not terminate");
}

fn asks_newest_first<'a>(asks: impl IntoIterator<Item = &'a Ask>) -> Vec<Ask> {
    let mut v: Vec<Ask> = asks.into_iter().cloned().collect();
    v.sort_by_key(|a| std::cmp::Reverse((a.created_at, a.id)));
    v
}

type AskPredicate = Box<dyn Fn(&Ask) -> bool>;

async fn asks_crud_lists_and_resolution(engine: Engine) {
    let Some((_db, store)) = open(engine).await else { return };
    let (a, b) = (new_account(&store, Role::Seller).await, new_account(&store, Role::Seller).await);
    let t = now();

    // Round trip, ownership.
    let mut first = ask(a, "solar.residential", t - Duration::hours(10));
    first.countries = vec!["US".into(), "CA".into()];
    first.regions = vec![];
    first.expires_at = Some(t + Duration::days(30));
    store.create_ask(&first).await.expect("create_ask");
    assert_eq!(store.get_ask(first.id).await.expect("get_ask"), Some(first.clone()));
    assert_eq!(store.get_ask(AskId::new()).await.expect("get_ask"), None);

    let changed = Ask {
        countries: vec!["GB".into()],
        regions: vec!["SCT".into(), "ENG".into()],
        reserve_price: usd(15),
        buy_now_price: Money::from_micros(18_500_000),
        auction_duration_secs: 300,
        daily_cap: 75,
        status: "paused".into(),
        expires_at: None,
        updated_at: t - Duration::hours(1),
        ..first.clone()
    };
    let hijack = Ask { seller_id: b, reserve_price: usd(1), buy_now_price: usd(1), ..changed.clone() };
    assert!(!store.update_ask(&hijack).await.expect("update_ask"), "another seller cannot update");
    assert_eq!(store.get_ask(first.id).await.expect("get_ask"), Some(first.clone()));
    assert!(store.update_ask(&changed).await.expect("update_ask"));
    assert_eq!(store.get_ask(first.id).await.expect("get_ask"), Some(changed.clone()));
    assert!(!store.update_ask(&Ask { id: AskId::new(), ..changed.clone() }).await.expect("update_ask"));

    assert!(!store.delete_ask(b, first.id).await.expect("delete_ask"), "another seller cannot delete");
    assert!(store.get_ask(first.id).await.expect("get_ask").is_some());
    assert!(store.delete_ask(a, first.id).await.expect("delete_ask"));
    assert_eq!(store.get_ask(first.id).await.expect("get_ask"), None);
    assert!(!store.delete_ask(a, first.id).await.expect("delete_ask"), "already gone");

    // Lists.
    let at = t;
    let spec: [(AccountId, &str, &str, Option<DateTime<Utc>>); 9] = [
        (a, "solar.residential", "active", None),
        (a, "solar", "active", Some(at + Duration::days(1))),
        (a, "solar.residential", "paused", None),
        (a, "solar.residential", "active", Some(at - Duration::seconds(1))),
        (a, "solar.residential", "active", Some(at)),
        (a, "roofing", "active", None),
        (b, "solar.residential", "active", None),
        (b, "roofing", "paused", Some(at - Duration::days(1))),
        (a, "solar.commercial", "active", Some(at + Duration::microseconds(1))),
    ];
    let mut asks = Vec::new();
    for (i, (seller, vertical, status, expires_at)) in spec.into_iter().enumerate() {
        // Pairs share a created_at, to exercise the id tie-break.
        let created = t - Duration::minutes(i64::try_from(i / 2).expect("small"));
        let mut x = ask(seller, vertical, created);
        x.id = AskId::from_uuid(scrambled_uuid(7_000 + i as u64));
        x.status = status.to_owned();
        x.expires_at = expires_at;
        store.create_ask(&x).await.expect("create_ask");
        asks.push(x);
    }
    assert_eq!(all_asks(&store, &AskQuery::default(), 2).await, asks_newest_first(&asks));
    let cases: [(&str, AskQuery, AskPredicate); 5] = [
        ("seller", AskQuery { seller_id: Some(b), ..AskQuery::default() }, Box::new(move |x| x.seller_id == b)),
        (
            "verticals",
            AskQuery { verticals: Some(vec!["solar".into(), "roofing".into()]), ..AskQuery::default() },
            Box::new(move |x| x.vertical == "solar" || x.vertical == "roofing"),
        ),
        (
            "status",
            AskQuery { status: Some("paused".into()), ..AskQuery::default() },
            Box::new(move |x| x.status == "paused"),
        ),
        (
            "live_at",
            AskQuery { live_at: Some(at), ..AskQuery::default() },
            Box::new(move |x| x.expires_at.is_none_or(|e| e > at)),
        ),
        (
            "combined",
            AskQuery {
                seller_id: Some(a),
                verticals: Some(vec!["solar.residential".into()]),
                status: Some("active".into()),
                live_at: Some(at),
            },
            Box::new(move |x| {
                x.seller_id == a
                    && x.vertical == "solar.residential"
                    && x.status == "active"
                    && x.expires_at.is_none_or(|e| e > at)
            }),
        ),
    ];
    for (what, q, pred) in cases {
        let want = asks_newest_first(asks.iter().filter(|x| pred(x)));
        assert!(!want.is_empty() && want.len() < asks.len(), "{what}: fixture not meaningful");
        assert_eq!(all_asks(&store, &q, 2).await, want, "{what}");
    }
    let empty = AskQuery { verticals: Some(vec![]), ..AskQuery::default() };
    let page = store.list_asks(&empty, &PageRequest::first(10)).await.expect("list_asks with no verticals");
    assert!(page.items.is_empty(), "an empty vertical list matches nothing");

    // Resolution: active, unexpired, this seller, these verticals.
    let verticals = vec!["solar".to_owned(), "solar.residential".to_owned(), "solar.commercial".to_owned()];
    let got = store.seller_asks_for(a, &verticals, at).await.expect("seller_asks_for");
    let want: Vec<Ask> = asks
        .iter()
        .filter(|x| {
            x.seller_id == a
                && verticals.contains(&x.vertical)
                && x.status == "active"
                && x.expires_at.is_none_or(|e| e > at)
        })
        .cloned()
        .collect();
    assert_eq!(want.len(), 3);
    assert_eq!(sorted_asks(got), sorted_asks(want));
    assert!(store.seller_asks_for(b, &["roofing".to_owned()], at).await.expect("seller_asks_for").is_empty());
    assert!(store.seller_asks_for(a, &[], at).await.expect("seller_asks_for with no verticals").is_empty());
}

// ---------------------------------------------------------------------------
// 10. Migrations in lockstep
// ---------------------------------------------------------------------------

#[test]
fn migrations_are_in_lockstep() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let names = |engine: &str| -> BTreeSet<String> {
        std::fs::read_dir(dir.join(engine))
            .expect("migrations directory")
            .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
            .collect()
    };
    let (sqlite, postgres) = (names("sqlite"), names("postgres"));
    assert!(!sqlite.is_empty(), "no migrations");
    assert_eq!(sqlite, postgres, "SQLite and PostgreSQL migrations must have the same files");
    for (i, name) in sqlite.iter().enumerate() {
        let (number, rest) = name.split_once('_').unwrap_or_else(|| panic!("`{name}` is not NNNN_name.sql"));
        assert_eq!(number.parse::<usize>().ok(), Some(i + 1), "`{name}`: migrations are numbered 1, 2, 3, …");
        assert!(rest.ends_with(".sql"), "`{name}` is not a .sql file");
    }
}

// ---------------------------------------------------------------------------
// One module per engine
// ---------------------------------------------------------------------------

macro_rules! per_engine {
    (plain: [$($plain:ident),* $(,)?], concurrent: [$($conc:ident),* $(,)?]) => {
        per_engine!(@engine sqlite, Sqlite, [$($plain),*], [$($conc),*]);
        per_engine!(@engine postgres, Postgres, [$($plain),*], [$($conc),*]);
    };
    (@engine $module:ident, $engine:ident, [$($plain:ident),*], [$($conc:ident),*]) => {
        mod $module {
            use leadex_store::testing::Engine;
            $(
                #[tokio::test]
                async fn $plain() {
                    super::$plain(Engine::$engine).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $conc() {
                    super::$conc(Engine::$engine).await;
                }
            )*
        }
    };
}

per_engine!(
    plain: [
        accounts_and_api_keys,
        verticals_round_trip_in_order,
        ingest_then_get_round_trips_every_field,
        lifecycle_transitions_are_conditional,
        keyset_pagination_walks_both_ways,
        list_filters_select_exactly,
        duplicates_are_refused_without_side_effects,
        daily_cap_is_exact_per_seller_vertical_and_day,
        idempotency_replays_and_rejects_mismatches,
        asks_crud_lists_and_resolution,
        batch_ingest_decides_each_item_in_order,
        claim_plan_is_an_ordered_index_scan,
        claims_take_ready_jobs_by_priority_then_age,
    ],
    concurrent: [
        concurrent_duplicates_admit_one,
        daily_cap_holds_under_concurrency,
        idempotency_holds_under_concurrency,
        first_mints_of_many_verticals_at_once_number_them_uniquely,
        scores_of_many_leads_at_once_open_each_once,
    ]
);
