//! Group commit for auto-bids on SQLite (ADR 8, applied to the market).
//!
//! On SQLite every statement is a round trip to sqlx's worker thread, and a
//! profile of the `auto_bid` job shows those hand-offs, not SQLite's work,
//! dominate (BENCHMARKS.md, issue 4 §3): one lead's auto-bids cost ~13
//! statements. So, as for ingestion, one task owns auto-bid writes: callers
//! send their lead's plan and wait; the task drains what is waiting (up to
//! [`MAX_LEADS`] leads of one UTC day) into one `BEGIN IMMEDIATE`
//! transaction that
//!
//! 1. reads the group's leads, their live bidders, the rules' spend and the
//!    buyers' balances (four statements for the whole group);
//! 2. decides every lead **in arrival order in memory** with the same
//!    function as the per-lead path, each lead seeing the balances, budgets
//!    and bidders the earlier ones left;
//! 3. posts every bid lock as one netted ledger posting and writes spend,
//!    bids, bid counts and decisions as one multi-statement batch;
//!
//! then commits and answers. If the group transaction fails, its callers
//! are told to run the per-lead transaction instead, so one bad lead fails
//! alone. PostgreSQL keeps the per-lead transaction (row locks, several
//! writers).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use leadex_core::market::{AutoBidResult, AutoBids, AutoBidsOutcome, LedgerAccount, Movement, PlaceBid};
use leadex_core::ports::StoreError;
use leadex_domain::AccountId;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::market::{PostError, bid_lock, decide_auto_bids, decisions_of, post_sqlite};
use crate::{map_err, micros};

/// Most leads one group decides (bounds the transaction and its statements'
/// bind counts: rows are also chunked).
const MAX_LEADS: usize = 32;
/// Most attempts one group decides.
const MAX_ATTEMPTS: usize = 4_000;
/// Rows per multi-row statement (≤ 10 binds each: far below SQLite's limit).
const CHUNK: usize = 400;

/// The group's answer to one plan; `None`: run the per-lead transaction.
type Answer = Option<AutoBidsOutcome>;

struct Request {
    plan: AutoBids,
    reply: oneshot::Sender<Answer>,
}

/// The handle `SqlStore` keeps to the auto-bid writer.
#[derive(Clone, Debug)]
pub(crate) struct AutoBidSender {
    tx: mpsc::Sender<Request>,
    /// The most leads one committed group decided (tests, diagnostics).
    pub(crate) largest: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request").field("lead", &self.plan.lead_id).finish()
    }
}

/// Starts the auto-bid writer on `write` (the one-connection writer pool).
pub(crate) fn spawn_writer(write: SqlitePool) -> AutoBidSender {
    let (tx, rx) = mpsc::channel(1_024);
    let largest = Arc::new(AtomicUsize::new(0));
    tokio::spawn(writer(write, rx, largest.clone()));
    AutoBidSender { tx, largest }
}

/// Hands `plan` to the writer; `None` when the caller must run the per-lead
/// transaction (the group failed, or the writer is gone).
pub(crate) async fn submit(sender: &AutoBidSender, plan: &AutoBids) -> Answer {
    let (reply, rx) = oneshot::channel();
    sender.tx.send(Request { plan: plan.clone(), reply }).await.ok()?;
    rx.await.ok().flatten()
}

async fn writer(pool: SqlitePool, mut rx: mpsc::Receiver<Request>, largest: Arc<AtomicUsize>) {
    let mut next: Option<Request> = None;
    loop {
        let first = match next.take() {
            Some(r) => r,
            None => match rx.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let day = first.plan.at.date_naive();
        let mut attempts = first.plan.attempts.len();
        let mut group = vec![first];
        while group.len() < MAX_LEADS && attempts < MAX_ATTEMPTS {
            match rx.try_recv() {
                // One UTC day per group: budgets are per (rule, day).
                Ok(r) if r.plan.at.date_naive() == day => {
                    attempts += r.plan.attempts.len();
                    group.push(r);
                }
                Ok(r) => {
                    next = Some(r);
                    break;
                }
                Err(_) => break,
            }
        }
        let plans: Vec<&AutoBids> = group.iter().map(|r| &r.plan).collect();
        let answers = match try_group(&pool, &plans).await {
            Ok(outcomes) => {
                largest.fetch_max(plans.len(), Ordering::Relaxed);
                outcomes.into_iter().map(Some).collect()
            }
            Err(e) => {
                tracing::warn!(error = %e, leads = plans.len(), "auto-bid group failed; each lead runs alone");
                vec![None; plans.len()]
            }
        };
        metrics::histogram!("leadex_auto_bid_group_leads").record(group.len() as f64);
        for (r, a) in group.into_iter().zip(answers) {
            let _ = r.reply.send(a);
        }
    }
}

/// Decides and writes one group in one transaction; one outcome per plan.
async fn try_group(pool: &SqlitePool, plans: &[&AutoBids]) -> Result<Vec<AutoBidsOutcome>, StoreError> {
    let Some(first) = plans.first() else { return Ok(Vec::new()) };
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;

    // 1. The state the group's decisions depend on.
    let leads: BTreeSet<Uuid> = plans.iter().map(|a| a.lead_id.as_uuid()).collect();
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT id, bid_count, auction_ends_at FROM leads WHERE status = 'in_auction' AND id IN (",
    );
    let mut sep = qb.separated(", ");
    for l in &leads {
        sep.push_bind(*l);
    }
    qb.push(")");
    let rows: Vec<(Uuid, i64, Option<i64>)> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(map_err)?;
    let open: HashMap<Uuid, (i64, i64)> = rows.into_iter().map(|(id, n, ends)| (id, (n, ends.unwrap_or(0)))).collect();

    let mut bidders: HashMap<Uuid, HashSet<AccountId>> = HashMap::new();
    if !open.is_empty() {
        let mut qb =
            QueryBuilder::<Sqlite>::new("SELECT lead_id, buyer_id FROM bids WHERE status = 'live' AND lead_id IN (");
        let mut sep = qb.separated(", ");
        for l in open.keys() {
            sep.push_bind(*l);
        }
        qb.push(")");
        let rows: Vec<(Uuid, Uuid)> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(map_err)?;
        for (lead, buyer) in rows {
            bidders.entry(lead).or_default().insert(AccountId::from_uuid(buyer));
        }
    }

    let day = crate::days_since_epoch(first.at.date_naive());
    let rules: BTreeSet<Uuid> =
        plans.iter().flat_map(|a| a.attempts.iter().filter_map(|b| b.budget.map(|x| x.rule_id))).collect();
    let mut spent: HashMap<Uuid, i64> = HashMap::new();
    if !rules.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT rule_id, spent FROM rule_spend WHERE day = ");
        qb.push_bind(day).push(" AND rule_id IN (");
        let mut sep = qb.separated(", ");
        for r in &rules {
            sep.push_bind(*r);
        }
        qb.push(")");
        let rows: Vec<(Uuid, i64)> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(map_err)?;
        spent.extend(rows);
    }

    let accounts: BTreeSet<String> =
        plans.iter().flat_map(|a| a.attempts.iter().map(|b| LedgerAccount::available(b.buyer_id).id)).collect();
    let mut available: HashMap<String, i64> = HashMap::new();
    if !accounts.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new("SELECT id, balance FROM ledger_accounts WHERE id IN (");
        let mut sep = qb.separated(", ");
        for a in &accounts {
            sep.push_bind(a.clone());
        }
        qb.push(")");
        let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(map_err)?;
        available.extend(rows);
    }

    // 2. Every lead in arrival order, each on what the earlier ones left.
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
                let (results, placed) = decide_auto_bids(a, at, existing, &mut spent, &mut available);
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

    // 3. Writes: the netted ledger posting, then one multi-statement batch.
    if !placed_all.is_empty() {
        let locks: Vec<Movement> = placed_all.iter().map(|b| bid_lock(b)).collect();
        let at = plans.iter().map(|a| a.at).max().unwrap_or(first.at);
        if let Err(e) = post_sqlite(&mut tx, &locks, at).await {
            let _ = tx.rollback().await;
            return Err(match e {
                PostError::Insufficient => {
                    StoreError::Backend("auto-bid group: a balance changed under the lock".into())
                }
                PostError::Store(s) => s,
            });
        }
    }
    let mut spend: HashMap<Uuid, i64> = HashMap::new();
    for b in &placed_all {
        if let Some(x) = b.budget {
            *spend.entry(x.rule_id).or_insert(0) += b.amount.micros();
        }
    }
    let mut qb = QueryBuilder::<Sqlite>::new("");
    let mut statements = 0;
    if !spend.is_empty() {
        qb.push("INSERT INTO rule_spend (rule_id, day, spent) ");
        qb.push_values(spend.iter(), |mut t, (r, amount)| {
            t.push_bind(*r).push_bind(day).push_bind(*amount);
        });
        qb.push(" ON CONFLICT (rule_id, day) DO UPDATE SET spent = rule_spend.spent + excluded.spent; ");
        statements += 1;
    }
    for chunk in placed_all.chunks(CHUNK) {
        qb.push(
            "INSERT INTO bids (id, lead_id, buyer_id, amount, fee, source, rule_id, status, created_at, updated_at) ",
        );
        qb.push_values(chunk.iter(), |mut t, b| {
            let at = micros(b.at);
            t.push_bind(b.id)
                .push_bind(b.lead_id.as_uuid())
                .push_bind(b.buyer_id.as_uuid())
                .push_bind(b.amount.micros())
                .push_bind(b.fee.micros())
                .push_bind(b.source.as_str())
                .push_bind(b.rule_id)
                .push_bind("live")
                .push_bind(at)
                .push_bind(at);
        });
        qb.push("; ");
        statements += 1;
    }
    let added: Vec<(Uuid, i64)> = counts.iter().filter(|(_, c)| c.1 > 0).map(|(l, c)| (*l, c.1)).collect();
    if !added.is_empty() {
        qb.push("UPDATE leads SET bid_count = bid_count + v.column2 FROM (");
        qb.push_values(added.iter(), |mut t, (l, n)| {
            t.push_bind(*l).push_bind(*n);
        });
        qb.push(") AS v WHERE leads.id = v.column1; ");
        statements += 1;
    }
    for chunk in decisions.chunks(CHUNK) {
        qb.push("INSERT INTO rule_decisions (id, rule_id, lead_id, outcome, reason, amount, created_at) ");
        qb.push_values(chunk.iter(), |mut t, d| {
            t.push_bind(d.id)
                .push_bind(d.rule_id)
                .push_bind(d.lead_id)
                .push_bind(d.outcome.clone())
                .push_bind(d.reason.clone())
                .push_bind(d.amount.map(|m| m.micros()))
                .push_bind(micros(d.created_at));
        });
        qb.push("; ");
        statements += 1;
    }
    if statements > 0 {
        qb.build().execute(&mut *tx).await.map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)?;
    Ok(outcomes)
}
