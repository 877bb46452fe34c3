//! Group commit for the market's auto-bids, auction closes and scoring
//! (both engines) and, on SQLite, for mint records (ADR 8, applied to
//! the market; ADR 7 addenda of sessions 6, 7 and 9). The auto-bid group is
//! described here; the others follow it.
//!
//! On SQLite every statement is a round trip to sqlx's worker thread, and a
//! profile of the `auto_bid` job shows those hand-offs, not SQLite's work,
//! dominate (BENCHMARKS.md, issue 4 §3): one lead's auto-bids cost ~13
//! statements. On PostgreSQL every lead's auto-bids and close lock the same
//! buyers' balance rows, so per-lead transactions queue behind each other on
//! those locks (§5). So, as for ingestion, one task owns auto-bid writes:
//! callers send their lead's plan and wait; the task drains what is waiting
//! (up to [`MAX_LEADS`] leads of one UTC day) into one transaction that
//!
//! 1. reads (on PostgreSQL: locks, in the per-lead path's order) the
//!    group's leads, their live bidders and the rules' spend, and reads the
//!    buyers' balances (four statements for the whole group);
//! 2. decides every lead **in arrival order in memory** with the same
//!    function as the per-lead path, each lead seeing the balances, budgets
//!    and bidders the earlier ones left;
//! 3. writes spend, bids, bid counts and decisions as multi-row statements
//!    (one batch on SQLite), then posts every bid lock as one netted ledger
//!    posting, which locks the balance rows last;
//!
//! then commits and answers. If the group transaction fails, its callers
//! are told to run the per-lead transaction instead, so one bad lead fails
//! alone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use leadex_core::market::{
    AutoBidResult, AutoBids, AutoBidsOutcome, Bid, CloseAuction, CloseOutcome, Decision, LedgerAccount, Movement,
    PlaceBid,
};
use leadex_core::model::{NewJob, ScoreAndOpen};
use leadex_core::nft::NewMint;
use leadex_core::ports::StoreError;
use leadex_domain::market::{RankedBid, winner};
use leadex_domain::{AccountId, LeadId};
use sqlx::AssertSqlSafe;
use sqlx::{PgPool, QueryBuilder, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::market::{BID_COLUMNS, BidRow, PostError, bid_lock, close_movements, decide_auto_bids, decisions_of};
use crate::{Arg, BeginWrite, JOB_INSERT_COLUMNS, JOB_INSERT_CONFLICT, in_list, job_args, map_err, micros};

/// Most leads one group decides (bounds the transaction and its statements'
/// bind counts: rows are also chunked).
const MAX_LEADS: usize = 32;
/// Most auto-bid attempts (or bids to settle) one group decides.
const MAX_WEIGHT: usize = 4_000;
/// Rows per multi-row statement (≤ 13 binds each: far below SQLite's limit).
const CHUNK: usize = 400;

/// Work that one task decides for many leads in one transaction.
pub(crate) trait Grouped: Send + Sync + 'static {
    /// The connection pool the group's transaction runs on.
    type Pool: Send + Sync + 'static;
    /// One lead's request.
    type Plan: Clone + Send + Sync + 'static;
    /// Its answer.
    type Outcome: Send + 'static;
    /// For logs and the group-size histogram's label.
    const NAME: &'static str;
    /// How much of [`MAX_WEIGHT`] a plan uses (one unit by default).
    fn weight(_: &Self::Plan) -> usize {
        1
    }
    /// Whether `next` may share a group that `first` started (always, by
    /// default).
    fn joins(_first: &Self::Plan, _next: &Self::Plan) -> bool {
        true
    }
    /// Decides and writes the group in one transaction (one outcome per
    /// plan, in order); an error rolls it all back.
    fn run(
        pool: &Self::Pool,
        plans: &[&Self::Plan],
    ) -> impl std::future::Future<Output = Result<Vec<Self::Outcome>, StoreError>> + Send;
}

/// The write pool of either engine, for the groups whose code runs on both.
#[derive(Clone, Debug)]
pub(crate) enum GroupPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the engine's pool and `$pg` to whether
/// it is PostgreSQL (the body is compiled once per engine).
macro_rules! with_group_pool {
    ($pool:expr, |$p:ident, $pg:ident| $body:expr) => {
        match $pool {
            GroupPool::Sqlite($p) => {
                let $pg = false;
                $body
            }
            GroupPool::Postgres($p) => {
                let $pg = true;
                $body
            }
        }
    };
}

/// A group's multi-row writes, engine-neutral: SQLite sends them as one
/// multi-statement batch (one hand-off to its worker thread), PostgreSQL
/// one statement at a time (its extended protocol takes one per query).
struct Batch {
    pg: bool,
    statements: Vec<(String, Vec<Arg>)>,
}

impl Batch {
    fn new(pg: bool) -> Self {
        Self { pg, statements: Vec::new() }
    }

    /// `head`, then `items` as [`crate::multi_rows`] of `cols` binds each
    /// ([`CHUNK`] rows per statement), then `tail`; nothing for no items.
    fn rows<T>(&mut self, head: &str, items: &[T], cols: usize, args: impl Fn(&T) -> Vec<Arg>, tail: &str) {
        for chunk in items.chunks(CHUNK) {
            let (rows, binds) = crate::multi_rows(self.pg, cols, chunk.iter().flat_map(&args).collect());
            self.statements.push((format!("{head}{rows}{tail}"), binds));
        }
    }

    /// A multi-row insert of `jobs` (a dedupe key already taken skips its
    /// row, as the per-lead insert).
    fn jobs(&mut self, jobs: &[&NewJob]) {
        let head = format!("INSERT INTO jobs ({JOB_INSERT_COLUMNS}) ");
        self.rows(&head, jobs, 14, |j| job_args(j).into(), JOB_INSERT_CONFLICT);
    }
}

/// Runs a [`Batch`] in `$tx`; evaluates to `Result<(), StoreError>`.
macro_rules! run_batch {
    ($tx:expr, $batch:expr, $pg:expr) => {{
        let batch: Batch = $batch;
        let mut result: Result<(), StoreError> = Ok(());
        if $pg {
            for (sql, args) in batch.statements {
                if let Err(e) = bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *$tx).await {
                    result = Err(map_err(e));
                    break;
                }
            }
        } else if !batch.statements.is_empty() {
            let mut sql = String::new();
            let mut all = Vec::new();
            for (s, a) in batch.statements {
                sql.push_str(&s);
                sql.push_str("; ");
                all.extend(a);
            }
            result =
                bind_args!(sqlx::query(AssertSqlSafe(sql)), all).execute(&mut *$tx).await.map(|_| ()).map_err(map_err);
        }
        result
    }};
}

/// Times a group transaction's phases into
/// `leadex_market_group_phase_seconds{kind, phase}`.
struct Phases {
    kind: &'static str,
    at: std::time::Instant,
}

impl Phases {
    fn start(kind: &'static str) -> Self {
        Self { kind, at: std::time::Instant::now() }
    }

    /// Records the time since the last mark as `phase`.
    fn mark(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        metrics::histogram!("leadex_market_group_phase_seconds", "kind" => self.kind, "phase" => phase)
            .record(now.duration_since(self.at).as_secs_f64());
        self.at = now;
    }
}

struct Request<G: Grouped> {
    plan: G::Plan,
    /// When it was handed over (for the wait phase).
    queued: std::time::Instant,
    /// `None`: run the per-lead transaction instead.
    reply: oneshot::Sender<Option<G::Outcome>>,
}

/// The handle `SqlStore` keeps to one group writer.
pub(crate) struct GroupWriter<G: Grouped> {
    tx: mpsc::Sender<Request<G>>,
    /// The most leads one committed group decided (tests, diagnostics).
    pub(crate) largest: Arc<AtomicUsize>,
}

impl<G: Grouped> Clone for GroupWriter<G> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone(), largest: self.largest.clone() }
    }
}

impl<G: Grouped> std::fmt::Debug for GroupWriter<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter").field("kind", &G::NAME).finish()
    }
}

/// Starts a group writer on `write` (the one-connection writer pool).
pub(crate) fn spawn_writer<G: Grouped>(write: G::Pool) -> GroupWriter<G> {
    let (tx, rx) = mpsc::channel(1_024);
    let largest = Arc::new(AtomicUsize::new(0));
    tokio::spawn(writer::<G>(write, rx, largest.clone()));
    GroupWriter { tx, largest }
}

/// Hands `plan` to the writer; `None` when the caller must run the per-lead
/// transaction (the group failed, or the writer is gone).
pub(crate) async fn submit<G: Grouped>(w: &GroupWriter<G>, plan: &G::Plan) -> Option<G::Outcome> {
    let (reply, rx) = oneshot::channel();
    w.tx.send(Request { plan: plan.clone(), queued: std::time::Instant::now(), reply }).await.ok()?;
    rx.await.ok().flatten()
}

async fn writer<G: Grouped>(pool: G::Pool, mut rx: mpsc::Receiver<Request<G>>, largest: Arc<AtomicUsize>) {
    let mut next: Option<Request<G>> = None;
    loop {
        let first = match next.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let mut weight = G::weight(&first.plan);
        let mut group = vec![first];
        while group.len() < MAX_LEADS && weight < MAX_WEIGHT {
            match rx.try_recv() {
                Ok(r) if G::joins(&group[0].plan, &r.plan) => {
                    weight += G::weight(&r.plan);
                    group.push(r);
                }
                Ok(r) => {
                    next = Some(r);
                    break;
                }
                Err(_) => break,
            }
        }
        for r in &group {
            metrics::histogram!("leadex_market_group_phase_seconds", "kind" => G::NAME, "phase" => "wait")
                .record(r.queued.elapsed().as_secs_f64());
        }
        let plans: Vec<&G::Plan> = group.iter().map(|r| &r.plan).collect();
        let mut answers: Vec<Option<G::Outcome>> = match G::run(&pool, &plans).await {
            Ok(outcomes) if outcomes.len() == plans.len() => {
                largest.fetch_max(plans.len(), Ordering::Relaxed);
                outcomes.into_iter().map(Some).collect()
            }
            Ok(_) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, leads = plans.len(), kind = G::NAME, "group transaction failed; each lead runs alone");
                Vec::new()
            }
        };
        answers.resize_with(group.len(), || None);
        metrics::histogram!("leadex_market_group_leads", "kind" => G::NAME).record(group.len() as f64);
        for (r, a) in group.into_iter().zip(answers) {
            let _ = r.reply.send(a);
        }
    }
}

/// Auto-bids (`place_auto_bids`).
#[derive(Debug)]
pub(crate) struct AutoBidGroups;

impl Grouped for AutoBidGroups {
    type Pool = GroupPool;
    type Plan = AutoBids;
    type Outcome = AutoBidsOutcome;
    const NAME: &'static str = "auto_bid";
    fn weight(p: &AutoBids) -> usize {
        p.attempts.len()
    }
    // One UTC day per group: budgets are per (rule, day).
    fn joins(first: &AutoBids, next: &AutoBids) -> bool {
        first.at.date_naive() == next.at.date_naive()
    }
    fn run(
        pool: &GroupPool,
        plans: &[&AutoBids],
    ) -> impl std::future::Future<Output = Result<Vec<AutoBidsOutcome>, StoreError>> + Send {
        try_group(pool, plans)
    }
}

/// Decides and writes one group in one transaction; one outcome per plan.
/// The same code runs on both engines: PostgreSQL also locks leads, then
/// rule spend, then (at the posting) the buyers' accounts, each in id order
/// — the per-lead path's order, so the two cannot deadlock — and runs the
/// writes one statement at a time; SQLite's one writer needs no locks and
/// sends the writes as one batch.
async fn try_group(pool: &GroupPool, plans: &[&AutoBids]) -> Result<Vec<AutoBidsOutcome>, StoreError> {
    let Some(first) = plans.first() else { return Ok(Vec::new()) };
    let day = crate::days_since_epoch(first.at.date_naive());
    let leads: BTreeSet<Uuid> = plans.iter().map(|a| a.lead_id.as_uuid()).collect();
    let rules: BTreeSet<Uuid> =
        plans.iter().flat_map(|a| a.attempts.iter().filter_map(|b| b.budget.map(|x| x.rule_id))).collect();
    let buyers: BTreeSet<AccountId> = plans.iter().flat_map(|a| a.attempts.iter().map(|b| b.buyer_id)).collect();
    let mut phases = Phases::start(AutoBidGroups::NAME);
    with_group_pool!(pool, |p, pg| {
        let mut tx = p.begin_write().await.map_err(map_err)?;
        phases.mark("begin");
        if pg {
            // As the per-lead path: an idempotent job redoes a commit lost
            // in a crash, so the hot balance rows are not held through an
            // fsync.
            sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await.map_err(map_err)?;
        }
        let lock = |order: &str| if pg { format!(" ORDER BY {order} FOR NO KEY UPDATE") } else { String::new() };

        // 1. The state the group's decisions depend on.
        let mut args = Vec::with_capacity(leads.len());
        let l = crate::member_of(pg, &mut args, leads.iter().map(|l| Arg::Uuid(*l)));
        let sql = format!(
            "SELECT id, bid_count, auction_ends_at FROM leads WHERE {} AND id {l}{}",
            crate::state_is("status", "in_auction"),
            lock("id")
        );
        let rows: Vec<(Uuid, i64, Option<i64>)> =
            bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(&mut *tx).await.map_err(map_err)?;
        let open: HashMap<Uuid, (i64, i64)> =
            rows.into_iter().map(|(id, n, ends)| (id, (n, ends.unwrap_or(0)))).collect();

        let mut bidders: HashMap<Uuid, HashSet<AccountId>> = HashMap::new();
        if !open.is_empty() {
            let mut args = Vec::with_capacity(open.len());
            let l = crate::member_of(pg, &mut args, open.keys().map(|l| Arg::Uuid(*l)));
            let sql = format!("SELECT lead_id, buyer_id FROM bids WHERE status = 'live' AND lead_id {l}");
            let rows: Vec<(Uuid, Uuid)> =
                bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(&mut *tx).await.map_err(map_err)?;
            for (lead, buyer) in rows {
                bidders.entry(lead).or_default().insert(AccountId::from_uuid(buyer));
            }
        }

        let mut spent = read_rule_spend!(tx, &rules, day, pg)?;

        let mut available: HashMap<String, i64> = HashMap::new();
        if !buyers.is_empty() {
            let mut args = Vec::with_capacity(buyers.len());
            let l = crate::member_of(pg, &mut args, buyers.iter().map(|b| Arg::Text(LedgerAccount::available(*b).id)));
            // Not locked: the posting below locks them last and its
            // conditional update refuses a balance that fell meanwhile
            // (the group then fails and each lead runs alone), so the
            // buyers' rows, which every close also posts to, are held only
            // for the posting and the commit.
            let sql = format!("SELECT id, balance FROM ledger_accounts WHERE id {l}");
            let rows: Vec<(String, i64)> =
                bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(&mut *tx).await.map_err(map_err)?;
            available.extend(rows);
        }

        phases.mark("read");
        // 2. Every lead in arrival order, each on what the earlier ones left.
        let d = decide_group(plans, &open, bidders, &mut spent, &mut available);

        // 3. Writes: spend, bids, counts and decisions, then the netted
        // ledger posting (its balance row locks held only until the commit).
        run_batch!(tx, auto_bid_writes(pg, day, &d), pg)?;
        phases.mark("write");
        if !d.placed.is_empty() {
            let locks: Vec<Movement> = d.placed.iter().map(|b| bid_lock(b)).collect();
            let at = plans.iter().map(|a| a.at).max().unwrap_or(first.at);
            if let Err(e) = apply_movements!(tx, &locks, at, pg) {
                let _ = tx.rollback().await;
                return Err(match e {
                    PostError::Insufficient => {
                        StoreError::Backend("auto-bid group: a balance fell after it was read".into())
                    }
                    PostError::Store(s) => s,
                });
            }
        }
        phases.mark("post");
        tx.commit().await.map_err(map_err)?;
        phases.mark("commit");
        Ok(d.outcomes)
    })
}

/// An auto-bid group decided in memory.
struct DecidedGroup<'a> {
    outcomes: Vec<AutoBidsOutcome>,
    placed: Vec<&'a PlaceBid>,
    decisions: Vec<Decision>,
    /// Bids added per lead.
    added: Vec<(Uuid, i64)>,
}

/// Decides every lead of the group in arrival order with the per-lead
/// path's [`decide_auto_bids`], each on the bidders, spend and balances the
/// earlier ones left.
fn decide_group<'a>(
    plans: &[&'a AutoBids],
    open: &HashMap<Uuid, (i64, i64)>,
    mut bidders: HashMap<Uuid, HashSet<AccountId>>,
    spent: &mut HashMap<Uuid, i64>,
    available: &mut HashMap<String, i64>,
) -> DecidedGroup<'a> {
    let mut outcomes = Vec::with_capacity(plans.len());
    let mut placed_all: Vec<&PlaceBid> = Vec::new();
    let mut decisions = Vec::new();
    let mut counts: HashMap<Uuid, (i64, i64)> = HashMap::new(); // lead → (bid count, added)
    for a in plans {
        let lead = a.lead_id.as_uuid();
        let at = micros(a.at);
        let state = open.get(&lead).filter(|(_, ends)| *ends > at);
        let count = counts.entry(lead).or_insert((open.get(&lead).map_or(0, |s| s.0), 0));
        let results = match state {
            Some(_) if !a.attempts.is_empty() => {
                let existing = bidders.entry(lead).or_default();
                let (results, placed) = decide_auto_bids(a, at, existing, spent, available);
                for b in &placed {
                    existing.insert(b.buyer_id);
                }
                count.0 += placed.len() as i64;
                count.1 += placed.len() as i64;
                placed_all.extend(placed);
                results
            }
            Some(_) => Vec::new(),
            None => a.attempts.iter().map(|_| AutoBidResult::Closed).collect(),
        };
        decisions.extend(decisions_of(a, &results));
        outcomes.push(AutoBidsOutcome { results, bid_count: count.0 });
    }
    let mut added: Vec<(Uuid, i64)> = counts.into_iter().filter(|(_, c)| c.1 > 0).map(|(l, c)| (l, c.1)).collect();
    added.sort_unstable();
    DecidedGroup { outcomes, placed: placed_all, decisions, added }
}

/// The writes of a decided auto-bid group after its ledger posting: rule
/// spend, bids, bid counts, decisions.
fn auto_bid_writes(pg: bool, day: i64, d: &DecidedGroup<'_>) -> Batch {
    let mut batch = Batch::new(pg);
    let mut spend: BTreeMap<Uuid, i64> = BTreeMap::new();
    for b in &d.placed {
        if let Some(x) = b.budget {
            *spend.entry(x.rule_id).or_insert(0) += b.amount.micros();
        }
    }
    let spend: Vec<(&Uuid, &i64)> = spend.iter().collect();
    batch.rows(
        "INSERT INTO rule_spend (rule_id, day, spent) ",
        &spend,
        3,
        |(r, amount)| vec![Arg::Uuid(**r), Arg::I64(day), Arg::I64(**amount)],
        " ON CONFLICT (rule_id, day) DO UPDATE SET spent = rule_spend.spent + excluded.spent",
    );
    batch.rows(
        &format!("INSERT INTO bids ({BID_COLUMNS}) "),
        &d.placed,
        10,
        |b| {
            let at = micros(b.at);
            vec![
                Arg::Uuid(b.id),
                Arg::Uuid(b.lead_id.as_uuid()),
                Arg::Uuid(b.buyer_id.as_uuid()),
                Arg::I64(b.amount.micros()),
                Arg::I64(b.fee.micros()),
                Arg::Text(b.source.as_str().to_owned()),
                Arg::OptUuid(b.rule_id),
                Arg::Text("live".into()),
                Arg::I64(at),
                Arg::I64(at),
            ]
        },
        "",
    );
    batch.rows(
        "UPDATE leads SET bid_count = leads.bid_count + v.column2 FROM (",
        &d.added,
        2,
        |(l, n)| vec![Arg::Uuid(*l), Arg::I64(*n)],
        ") AS v WHERE leads.id = v.column1",
    );
    batch.rows(
        "INSERT INTO rule_decisions (id, rule_id, lead_id, outcome, reason, amount, created_at) ",
        &d.decisions,
        7,
        |x| {
            vec![
                Arg::Uuid(x.id),
                Arg::Uuid(x.rule_id),
                Arg::Uuid(x.lead_id),
                Arg::Text(x.outcome.clone()),
                Arg::Text(x.reason.clone()),
                Arg::OptI64(x.amount.map(|m| m.micros())),
                Arg::I64(micros(x.created_at)),
            ]
        },
        "",
    );
    batch
}

/// Auction closes (`close_auction`): the same group commit for the
/// settlement of many leads (ADR 7 addendum, session 6).
#[derive(Debug)]
pub(crate) struct CloseGroups;

impl Grouped for CloseGroups {
    type Pool = GroupPool;
    type Plan = CloseAuction;
    type Outcome = CloseOutcome;
    // Bids per lead are read in the transaction; leads bound the group
    // (the default weight of one).
    const NAME: &'static str = "close_auction";
    fn run(
        pool: &GroupPool,
        plans: &[&CloseAuction],
    ) -> impl std::future::Future<Output = Result<Vec<CloseOutcome>, StoreError>> + Send {
        try_close_group(pool, plans)
    }
}

/// Closes every lead of the group in arrival order in one transaction:
/// two reads (open leads, locked on PostgreSQL in id order; their live
/// bids), the winners picked in memory exactly as the per-lead close does,
/// the writes (bid statuses, sold and unsold leads, follow-up jobs) and one
/// netted posting of every settlement and release, the balance rows last.
async fn try_close_group(pool: &GroupPool, closes: &[&CloseAuction]) -> Result<Vec<CloseOutcome>, StoreError> {
    let Some(first) = closes.first() else { return Ok(Vec::new()) };
    let ids: BTreeSet<Uuid> = closes.iter().map(|c| c.lead_id.as_uuid()).collect();
    let mut phases = Phases::start(CloseGroups::NAME);
    with_group_pool!(pool, |p, pg| {
        let mut tx = p.begin_write().await.map_err(map_err)?;
        phases.mark("begin");
        let mut args = Vec::with_capacity(ids.len());
        let l = crate::member_of(pg, &mut args, ids.iter().map(|l| Arg::Uuid(*l)));
        let lock = if pg { " ORDER BY id FOR NO KEY UPDATE" } else { "" };
        let sql = format!(
            "SELECT id, seller_id, seed FROM leads WHERE {} AND id {l}{lock}",
            crate::state_is("status", "in_auction")
        );
        let rows: Vec<(Uuid, Uuid, Option<Vec<u8>>)> =
            bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(&mut *tx).await.map_err(map_err)?;
        let open: HashMap<Uuid, (Uuid, Option<Vec<u8>>)> =
            rows.into_iter().map(|(id, s, seed)| (id, (s, seed))).collect();
        phases.mark("lock");
        let mut bids: HashMap<Uuid, Vec<Bid>> = HashMap::new();
        if !open.is_empty() {
            let mut args = Vec::with_capacity(open.len());
            let l = crate::member_of(pg, &mut args, open.keys().map(|l| Arg::Uuid(*l)));
            let sql = format!("SELECT {BID_COLUMNS} FROM bids WHERE status = 'live' AND lead_id {l} ORDER BY id");
            let rows: Vec<BidRow> =
                bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(&mut *tx).await.map_err(map_err)?;
            for r in rows {
                let b = Bid::from(r);
                bids.entry(b.lead_id.as_uuid()).or_default().push(b);
            }
        }
        let d = match decide_closes(closes, &open, bids) {
            Ok(d) => d,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        phases.mark("read");
        run_batch!(tx, close_writes(pg, &d), pg)?;
        phases.mark("write");
        if !d.movements.is_empty() {
            let at = closes.iter().map(|c| c.at).max().unwrap_or(first.at);
            if let Err(e) = apply_movements!(tx, &d.movements, at, pg) {
                let _ = tx.rollback().await;
                return Err(match e {
                    PostError::Insufficient => {
                        StoreError::Corrupt("close group: a lock exceeds its locked balance".into())
                    }
                    PostError::Store(s) => s,
                });
            }
        }
        phases.mark("post");
        tx.commit().await.map_err(map_err)?;
        phases.mark("commit");
        Ok(d.outcomes)
    })
}

/// A close group decided in memory.
struct DecidedCloses<'a> {
    outcomes: Vec<CloseOutcome>,
    movements: Vec<Movement>,
    statuses: Vec<(Uuid, &'static str, i64)>,
    sold: Vec<(Uuid, i64, Uuid, i64)>,
    unsold: Vec<(Uuid, i64, i64)>,
    jobs: Vec<&'a NewJob>,
}

/// Picks each open lead's winner with the verifiable tie-break, in arrival
/// order; a lead named twice is closed by its first plan.
fn decide_closes<'a>(
    closes: &[&'a CloseAuction],
    open: &HashMap<Uuid, (Uuid, Option<Vec<u8>>)>,
    mut bids: HashMap<Uuid, Vec<Bid>>,
) -> Result<DecidedCloses<'a>, StoreError> {
    let mut d = DecidedCloses {
        outcomes: Vec::with_capacity(closes.len()),
        movements: Vec::new(),
        statuses: Vec::new(),
        sold: Vec::new(),
        unsold: Vec::new(),
        jobs: Vec::new(),
    };
    let mut closed: HashSet<Uuid> = HashSet::new();
    for c in closes {
        let lead = c.lead_id.as_uuid();
        let at = micros(c.at);
        let Some((seller, seed)) = open.get(&lead).filter(|_| closed.insert(lead)) else {
            d.outcomes.push(CloseOutcome::NotInAuction);
            continue;
        };
        let seed: [u8; 32] = seed.clone().and_then(|s| s.try_into().ok()).unwrap_or([0u8; 32]);
        let lead_bids = bids.remove(&lead).unwrap_or_default();
        let ranked: Vec<RankedBid> = lead_bids.iter().map(|b| RankedBid { id: b.id, amount: b.amount }).collect();
        let Some(w) = winner(&ranked, &seed, &lead) else {
            d.unsold.push((lead, micros(c.listed_until), at));
            d.jobs.extend(&c.unsold_jobs);
            d.outcomes.push(CloseOutcome::Unsold);
            continue;
        };
        let (mut won, mut lost): (Vec<Bid>, Vec<Bid>) = lead_bids.into_iter().partition(|b| b.id == w.id);
        let Some(mut win) = won.pop() else {
            return Err(StoreError::Corrupt("winner not among bids".into()));
        };
        d.movements.extend(close_movements(c.lead_id, AccountId::from_uuid(*seller), &win, &lost));
        d.statuses.push((win.id, "won", at));
        d.statuses.extend(lost.iter().map(|l| (l.id, "lost", at)));
        d.sold.push((lead, win.amount.micros(), win.buyer_id.as_uuid(), at));
        d.jobs.extend(&c.sold_jobs);
        win.status = "won".into();
        for l in &mut lost {
            l.status = "lost".into();
        }
        d.outcomes.push(CloseOutcome::Sold { winner: win, losers: lost });
    }
    Ok(d)
}

/// A decided close group's writes before its ledger posting.
fn close_writes(pg: bool, d: &DecidedCloses<'_>) -> Batch {
    let mut batch = Batch::new(pg);
    batch.rows(
        "UPDATE bids SET status = v.column2, updated_at = v.column3 FROM (",
        &d.statuses,
        3,
        |(id, status, at)| vec![Arg::Uuid(*id), Arg::Text((*status).to_owned()), Arg::I64(*at)],
        ") AS v WHERE bids.id = v.column1",
    );
    batch.rows(
        "UPDATE leads SET status = 'sold', sold_price = v.column2, buyer_id = v.column3, sold_at = v.column4, \
         sale_kind = 'auction', updated_at = v.column4 FROM (",
        &d.sold,
        4,
        |(id, price, buyer, at)| vec![Arg::Uuid(*id), Arg::I64(*price), Arg::Uuid(*buyer), Arg::I64(*at)],
        ") AS v WHERE leads.id = v.column1",
    );
    batch.rows(
        "UPDATE leads SET status = 'unsold', listed_until = v.column2, sale_kind = NULL, updated_at = v.column3 \
         FROM (",
        &d.unsold,
        3,
        |(id, until, at)| vec![Arg::Uuid(*id), Arg::I64(*until), Arg::I64(*at)],
        ") AS v WHERE leads.id = v.column1",
    );
    batch.jobs(&d.jobs);
    batch
}

/// The first plan of each lead, in order: a lead named twice in one group
/// is written once, by its first plan (as the per-lead path's conditional
/// write lets only the first through).
fn first_per_lead<'p, P>(plans: &[&'p P], lead: impl Fn(&P) -> LeadId) -> Vec<&'p P> {
    let mut seen = HashSet::new();
    plans.iter().copied().filter(|p| seen.insert(lead(p))).collect()
}

/// Per plan, whether it wrote: it is its lead's first and the statement
/// returned that lead in `written`.
fn answers<P>(plans: &[&P], lead: impl Fn(&P) -> LeadId, written: &HashSet<Uuid>) -> Vec<bool> {
    let mut seen = HashSet::new();
    plans.iter().map(|p| seen.insert(lead(p)) && written.contains(&lead(p).as_uuid())).collect()
}

/// Scoring (`score_and_open`): many leads' auctions opened in one
/// transaction of four statements (BEGIN, one `UPDATE … FROM (rows)
/// RETURNING`, one multi-row job insert, COMMIT) instead of 3 + jobs each.
#[derive(Debug)]
pub(crate) struct ScoreGroups;

impl Grouped for ScoreGroups {
    type Pool = GroupPool;
    type Plan = ScoreAndOpen;
    type Outcome = bool;
    const NAME: &'static str = "score_lead";
    fn weight(p: &ScoreAndOpen) -> usize {
        1 + p.jobs.len()
    }
    fn run(
        pool: &GroupPool,
        plans: &[&ScoreAndOpen],
    ) -> impl std::future::Future<Output = Result<Vec<bool>, StoreError>> + Send {
        try_score_group(pool, plans)
    }
}

/// Opens every still-`received` lead of the group; a lead named twice is
/// opened by its first plan only (the per-lead path's conditional update).
/// PostgreSQL needs no row locks beyond the update's own: each lead is
/// opened once, by whichever transaction updates it first.
async fn try_score_group(pool: &GroupPool, plans: &[&ScoreAndOpen]) -> Result<Vec<bool>, StoreError> {
    let firsts = first_per_lead(plans, |o| o.lead_id);
    if firsts.is_empty() {
        return Ok(Vec::new());
    }
    let breakdowns = firsts
        .iter()
        .map(|o| serde_json::to_value(o.score.breakdown))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt(format!("score breakdown: {e}")))?;
    let firsts: Vec<(&ScoreAndOpen, serde_json::Value)> = firsts.into_iter().zip(breakdowns).collect();
    with_group_pool!(pool, |p, pg| {
        let mut tx = p.begin_write().await.map_err(map_err)?;
        let mut opened: HashSet<Uuid> = HashSet::new();
        for chunk in firsts.chunks(CHUNK / 8) {
            let args = chunk
                .iter()
                .flat_map(|(o, breakdown)| {
                    [
                        Arg::Uuid(o.lead_id.as_uuid()),
                        Arg::I64(i64::from(o.score.value)),
                        Arg::Text(o.score.tier.as_str().to_owned()),
                        Arg::Json(breakdown.clone()),
                        Arg::I64(micros(o.opened_at)),
                        Arg::I64(micros(o.ends_at)),
                        Arg::Bytes(o.seed.to_vec()),
                        Arg::Bytes(o.seed_hash.to_vec()),
                    ]
                })
                .collect();
            let (rows, args) = crate::multi_rows(pg, 8, args);
            let sql = format!(
                "UPDATE leads SET status = 'in_auction', score = v.column2, tier = v.column3, \
                 score_breakdown = v.column4, auction_opened_at = v.column5, auction_ends_at = v.column6, \
                 seed = v.column7, seed_hash = v.column8, updated_at = v.column5 FROM ({rows}) AS v \
                 WHERE leads.id = v.column1 AND {} RETURNING leads.id",
                crate::state_is("leads.status", "received")
            );
            let ids: Vec<Uuid> =
                bind_args!(sqlx::query_scalar(AssertSqlSafe(sql)), args).fetch_all(&mut *tx).await.map_err(map_err)?;
            opened.extend(ids);
        }
        let jobs: Vec<&NewJob> = firsts
            .iter()
            .filter(|(o, _)| opened.contains(&o.lead_id.as_uuid()))
            .flat_map(|(o, _)| o.jobs.iter())
            .collect();
        let mut batch = Batch::new(pg);
        batch.jobs(&jobs);
        run_batch!(tx, batch, pg)?;
        tx.commit().await.map_err(map_err)?;
        Ok(answers(plans, |o| o.lead_id, &opened))
    })
}

/// Tokens to mint (`queue_mint`): many sold leads' mint records in one
/// transaction (BEGIN, the verticals' numbers, rarely a new vertical's
/// number, one multi-row insert, COMMIT).
#[derive(Debug)]
pub(crate) struct MintGroups;

impl Grouped for MintGroups {
    type Pool = SqlitePool;
    type Plan = NewMint;
    type Outcome = bool;
    const NAME: &'static str = "mint_nft";
    fn run(
        pool: &SqlitePool,
        plans: &[&NewMint],
    ) -> impl std::future::Future<Output = Result<Vec<bool>, StoreError>> + Send {
        try_mint_group(pool, plans)
    }
}

/// Records every first mint of a lead in the group (`ON CONFLICT (lead_id)
/// DO NOTHING`, as the per-lead path); a vertical's first token numbers it
/// `MAX + 1`, one vertical at a time (the one SQLite writer holds the lock).
async fn try_mint_group(pool: &SqlitePool, plans: &[&NewMint]) -> Result<Vec<bool>, StoreError> {
    let firsts = first_per_lead(plans, |m| m.lead_id);
    if firsts.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
    let verticals: BTreeSet<&str> = firsts.iter().map(|m| m.vertical.as_str()).collect();
    let mut args = Vec::with_capacity(verticals.len());
    let l = in_list(&mut args, verticals.iter().map(|v| Arg::Text((*v).to_owned())));
    let sql = format!("SELECT vertical FROM nft_verticals WHERE vertical IN ({l})");
    let known: HashSet<String> = bind_args!(sqlx::query_scalar(AssertSqlSafe(sql)), args)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?
        .into_iter()
        .collect();
    for v in verticals.iter().filter(|v| !known.contains(**v)) {
        sqlx::query(crate::nft::NUMBER_VERTICAL).bind(*v).execute(&mut *tx).await.map_err(map_err)?;
    }
    let mut inserted: HashSet<Uuid> = HashSet::new();
    for chunk in firsts.chunks(CHUNK / 10) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO nft_mints (lead_id, token_id, buyer_id, vertical, vertical_number, score, price_micros, \
             sold_at, status, attempts, correlation_id, created_at) \
             SELECT v.column1, v.column2, v.column3, v.column4, n.number, v.column5, v.column6, v.column7, 'queued', 0, \
             v.column8, v.column9 FROM (",
        );
        qb.push_values(chunk.iter(), |mut t, m| {
            t.push_bind(m.lead_id.as_uuid())
                .push_bind(m.token_id.clone())
                .push_bind(m.buyer_id.as_uuid())
                .push_bind(m.vertical.clone())
                .push_bind(i64::from(m.score))
                .push_bind(m.price_micros)
                .push_bind(micros(m.sold_at))
                .push_bind(m.correlation_id.clone())
                .push_bind(micros(m.created_at));
        });
        qb.push(
            ") AS v JOIN nft_verticals n ON n.vertical = v.column4 WHERE true \
             ON CONFLICT (lead_id) DO NOTHING RETURNING lead_id",
        );
        let ids: Vec<Uuid> = qb.build_query_scalar().fetch_all(&mut *tx).await.map_err(map_err)?;
        inserted.extend(ids);
    }
    tx.commit().await.map_err(map_err)?;
    Ok(answers(plans, |m| m.lead_id, &inserted))
}
