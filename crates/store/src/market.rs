//! The market on both engines: ledger postings, bids, settlement, buy-now,
//! auto-bid rules and bounty pools.
//!
//! Money moves only through [`post!`]: each leg is one conditional update
//! (`balance + amount >= 0` unless the account is `escrow`) plus an entry
//! row, inside the caller's transaction, so a movement is all or nothing and
//! no ordinary balance can go negative. State changes that involve a lead
//! start by updating the lead row conditionally, which locks it: bids,
//! closes and buy-nows of one lead serialise on that row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadex_core::cursor::{Page, PageRequest};
use leadex_core::market::{
    AutoBidResult, AutoBids, AutoBidsOutcome, Bid, BidError, BidSource, BountyTotal, BuyError, CloseAuction,
    CloseOutcome, Decision, LedgerAccount, LedgerEntry, Market, Movement, PlaceBid, Pool, Rule, Vault,
};
use leadex_core::model::{LeadRecord, NewJob};
use leadex_core::ports::StoreError;
use leadex_domain::market::{BountyCriteria, RankedBid, RuleTargets, split, winner};
use leadex_domain::{AccountId, LeadId, Money};
use serde_json::Value;
use sqlx::AssertSqlSafe;
use sqlx::types::Json;
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

use crate::rows::lead_columns;
use crate::{Arg, BeginWrite, Db, SqlStore, in_list, keyset, map_err, micros, where_clause};

/// Why a posting failed inside a transaction.
pub(crate) enum PostError {
    Insufficient,
    Store(StoreError),
}

impl From<PostError> for BidError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::Insufficient => BidError::Insufficient,
            PostError::Store(s) => BidError::Store(s),
        }
    }
}

impl From<PostError> for BuyError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::Insufficient => BuyError::Insufficient,
            PostError::Store(s) => BuyError::Store(s),
        }
    }
}

impl From<PostError> for StoreError {
    fn from(e: PostError) -> Self {
        match e {
            PostError::Insufficient => StoreError::Corrupt("a settlement leg found insufficient funds".into()),
            PostError::Store(s) => s,
        }
    }
}

/// Applies a [`Movement`] on a transaction; evaluates to
/// `Result<Uuid, PostError>` (the movement's tx id).
macro_rules! post {
    ($tx:expr, $m:expr, $at:expr) => {{
        let m: &Movement = $m;
        let at = micros($at);
        let tx_id = Uuid::now_v7();
        let mut result: Result<Uuid, PostError> = Ok(tx_id);
        if !m.is_balanced() {
            result = Err(PostError::Store(StoreError::Corrupt(format!("unbalanced movement `{}`", m.reason))));
        }
        // Debits first (only they can fail), each group in account order;
        // a savepoint makes a refused movement leave no trace even when the
        // caller carries on with its transaction.
        let mut legs: Vec<&leadex_core::market::Leg> = m.legs.iter().collect();
        legs.sort_by(|a, b| (a.amount >= 0, &a.account.id).cmp(&(b.amount >= 0, &b.account.id)));
        if result.is_ok()
            && let Err(e) = sqlx::query("SAVEPOINT leadex_post").execute(&mut *$tx).await
        {
            result = Err(PostError::Store(map_err(e)));
        }
        for leg in legs {
            if result.is_err() || leg.amount == 0 {
                continue;
            }
            let a = &leg.account;
            let step: Result<(), PostError> = async {
                sqlx::query(
                    "INSERT INTO ledger_accounts (id, owner_id, kind, balance, created_at) VALUES ($1, $2, $3, 0, $4)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&a.id)
                .bind(a.owner)
                .bind(a.kind)
                .bind(at)
                .execute(&mut *$tx)
                .await
                .map_err(|e| PostError::Store(map_err(e)))?;
                let ok: Option<i64> = sqlx::query_scalar(
                    "UPDATE ledger_accounts SET balance = balance + $1
                     WHERE id = $2 AND (kind = 'escrow' OR balance + $1 >= 0) RETURNING balance",
                )
                .bind(leg.amount)
                .bind(&a.id)
                .fetch_optional(&mut *$tx)
                .await
                .map_err(|e| PostError::Store(map_err(e)))?;
                if ok.is_none() {
                    return Err(PostError::Insufficient);
                }
                sqlx::query(
                    "INSERT INTO ledger_entries (id, tx_id, account_id, amount, reason, reference, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(Uuid::now_v7())
                .bind(tx_id)
                .bind(&a.id)
                .bind(leg.amount)
                .bind(m.reason)
                .bind(&m.reference)
                .bind(at)
                .execute(&mut *$tx)
                .await
                .map_err(|e| PostError::Store(map_err(e)))?;
                Ok(())
            }
            .await;
            if let Err(e) = step {
                result = Err(e);
            }
        }
        let end = if result.is_ok() { "RELEASE SAVEPOINT leadex_post" } else { "ROLLBACK TO SAVEPOINT leadex_post" };
        if !matches!(result, Err(PostError::Store(_)))
            && let Err(e) = sqlx::query(end).execute(&mut *$tx).await
        {
            result = Err(PostError::Store(map_err(e)));
        }
        result
    }};
}

/// Locks ledger accounts in sorted id order (creating them if missing)
/// before a transaction posts to several, so two transactions touching the
/// same accounts always lock them in the same order and cannot deadlock
/// (PostgreSQL; SQLite has one writer anyway).
macro_rules! lock_accounts {
    ($tx:expr, $accounts:expr, $at:expr) => {{
        let mut accounts: Vec<LedgerAccount> = $accounts;
        accounts.sort();
        accounts.dedup();
        let mut r: Result<(), StoreError> = Ok(());
        for a in &accounts {
            let step: Result<(), sqlx::Error> = async {
                sqlx::query(
                    "INSERT INTO ledger_accounts (id, owner_id, kind, balance, created_at) VALUES ($1, $2, $3, 0, $4)
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(&a.id)
                .bind(a.owner)
                .bind(a.kind)
                .bind(micros($at))
                .execute(&mut *$tx)
                .await?;
                sqlx::query("UPDATE ledger_accounts SET balance = balance WHERE id = $1")
                    .bind(&a.id)
                    .execute(&mut *$tx)
                    .await?;
                Ok(())
            }
            .await;
            if let Err(e) = step {
                r = Err(map_err(e));
                break;
            }
        }
        r
    }};
}

/// Applies many [`Movement`]s on a transaction in a constant number of
/// statements, whatever their count: the legs are netted per account, the
/// accounts created if missing, locked in id order (PostgreSQL, `FOR NO KEY
/// UPDATE`), updated by one conditional multi-row `UPDATE … FROM (VALUES
/// …)` and every leg written as its own entry row. `close_auction` runs it
/// last before committing, so hot balance rows (a big buyer's) are held for
/// as short a time as possible. Evaluates to `Result<(), PostError>`; on
/// `Insufficient` the caller must roll back (nothing is undone here).
///
/// Lock order: every path that touches several accounts locks them in id
/// order, so this and [`lock_accounts!`] cannot deadlock with each other.
macro_rules! apply_movements {
    ($tx:expr, $movements:expr, $at:expr, $pg:expr) => {{
        let movements: &[Movement] = $movements;
        let at = micros($at);
        let mut net: std::collections::BTreeMap<&str, (&LedgerAccount, i64)> = std::collections::BTreeMap::new();
        let mut result: Result<(), PostError> = Ok(());
        let mut entries = 0usize;
        for m in movements {
            if !m.is_balanced() {
                result = Err(PostError::Store(StoreError::Corrupt(format!("unbalanced movement `{}`", m.reason))));
            }
            for leg in &m.legs {
                let e = net.entry(leg.account.id.as_str()).or_insert((&leg.account, 0));
                match e.1.checked_add(leg.amount) {
                    Some(v) => e.1 = v,
                    None => result = Err(PostError::Store(StoreError::Corrupt("ledger overflow".into()))),
                }
                entries += usize::from(leg.amount != 0);
            }
        }
        let changed: Vec<(&LedgerAccount, i64)> = net.values().filter(|(_, d)| *d != 0).copied().collect();
        if result.is_ok() && !changed.is_empty() {
            let step: Result<(), PostError> = async {
                let mut args = Vec::with_capacity(changed.len() * 5);
                for (a, _) in &changed {
                    args.push(Arg::Text(a.id.clone()));
                    args.push(Arg::OptUuid(a.owner));
                    args.push(Arg::Text(a.kind.to_owned()));
                    args.push(Arg::I64(at));
                }
                let (rows, args) = crate::multi_rows($pg, 4, args);
                let sql =
                    format!("INSERT INTO ledger_accounts (id, owner_id, kind, created_at) {rows} ON CONFLICT (id) DO NOTHING");
                bind_args!(sqlx::query(AssertSqlSafe(sql)), args)
                    .execute(&mut *$tx)
                    .await
                    .map_err(|e| PostError::Store(map_err(e)))?;
                if $pg {
                    let mut args = Vec::with_capacity(changed.len());
                    let l = crate::member_of(true, &mut args, changed.iter().map(|(a, _)| Arg::Text(a.id.clone())));
                    let sql = format!("SELECT id FROM ledger_accounts WHERE id {l} ORDER BY id FOR NO KEY UPDATE");
                    bind_args!(sqlx::query(AssertSqlSafe(sql)), args)
                        .fetch_all(&mut *$tx)
                        .await
                        .map_err(|e| PostError::Store(map_err(e)))?;
                }
                let mut args = Vec::with_capacity(changed.len() * 2);
                for (a, d) in &changed {
                    args.push(Arg::Text(a.id.clone()));
                    args.push(Arg::I64(*d));
                }
                let (rows, args) = crate::multi_rows($pg, 2, args);
                let sql = format!(
                    "UPDATE ledger_accounts SET balance = ledger_accounts.balance + v.column2
                     FROM ({rows}) AS v
                     WHERE ledger_accounts.id = v.column1
                       AND (ledger_accounts.kind = 'escrow' OR ledger_accounts.balance + v.column2 >= 0)
                     RETURNING id"
                );
                let done = bind_args!(sqlx::query(AssertSqlSafe(sql)), args)
                    .fetch_all(&mut *$tx)
                    .await
                    .map_err(|e| PostError::Store(map_err(e)))?;
                if done.len() != changed.len() {
                    return Err(PostError::Insufficient);
                }
                // Entries after the lock (7 binds each, chunks well under both
                // engines' limits): their foreign-key share locks then fall on
                // rows this transaction already holds. Taken before, on a
                // balance row another transaction holds, they turn it into a
                // PostgreSQL MultiXact (our reading; not profiled): in the
                // end-to-end benchmark closes then averaged 1.7 s, not 0.18 s.
                let mut rows = Vec::with_capacity(entries);
                for m in movements {
                    let tx_id = Uuid::now_v7();
                    for leg in m.legs.iter().filter(|l| l.amount != 0) {
                        rows.push((tx_id, leg, m));
                    }
                }
                for chunk in rows.chunks(500) {
                    let mut args = Vec::with_capacity(chunk.len() * 7);
                    for (tx_id, leg, m) in chunk {
                        args.push(Arg::Uuid(Uuid::now_v7()));
                        args.push(Arg::Uuid(*tx_id));
                        args.push(Arg::Text(leg.account.id.clone()));
                        args.push(Arg::I64(leg.amount));
                        args.push(Arg::Text(m.reason.to_owned()));
                        args.push(Arg::Text(m.reference.clone()));
                        args.push(Arg::I64(at));
                    }
                    let (rows, args) = crate::multi_rows($pg, 7, args);
                    let sql = format!(
                        "INSERT INTO ledger_entries (id, tx_id, account_id, amount, reason, reference, created_at) {rows}"
                    );
                    bind_args!(sqlx::query(AssertSqlSafe(sql)), args)
                        .execute(&mut *$tx)
                        .await
                        .map_err(|e| PostError::Store(map_err(e)))?;
                }
                Ok(())
            }
            .await;
            result = step;
        }
        result
    }};
}

/// Inserts decision rows (multi-row, chunked); evaluates to
/// `Result<(), StoreError>`.
macro_rules! insert_decisions {
    ($tx:expr, $decisions:expr, $pg:expr) => {{
        let mut r: Result<(), StoreError> = Ok(());
        for chunk in $decisions.chunks(500) {
            let mut args = Vec::with_capacity(chunk.len() * 7);
            for x in chunk {
                let x: &Decision = x;
                args.push(Arg::Uuid(x.id));
                args.push(Arg::Uuid(x.rule_id));
                args.push(Arg::Uuid(x.lead_id));
                args.push(Arg::Text(x.outcome.clone()));
                args.push(Arg::Text(x.reason.clone()));
                args.push(Arg::OptI64(x.amount.map(|m| m.micros())));
                args.push(Arg::I64(micros(x.created_at)));
            }
            let (rows, args) = crate::multi_rows($pg, 7, args);
            let sql = format!(
                "INSERT INTO rule_decisions (id, rule_id, lead_id, outcome, reason, amount, created_at) {rows}"
            );
            if let Err(e) = bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *$tx).await {
                r = Err(map_err(e));
                break;
            }
        }
        r
    }};
}

/// Today's spend of `$rules` (a `BTreeSet<Uuid>`) for `$day`, evaluating to
/// `Result<HashMap<Uuid, i64>, StoreError>`. PostgreSQL materialises the
/// missing `(rule, day)` rows first and locks them all in rule order, so two
/// evaluations cannot both spend the same budget (SQLite's one writer
/// already excludes that). Shared by the per-lead and the group auto-bids.
macro_rules! read_rule_spend {
    ($tx:expr, $rules:expr, $day:expr, $pg:expr) => {{
        let rules: &BTreeSet<Uuid> = $rules;
        let day: i64 = $day;
        let mut spent: HashMap<Uuid, i64> = HashMap::new();
        let mut result: Result<(), StoreError> = Ok(());
        if !rules.is_empty() {
            if $pg {
                let mut args = Vec::with_capacity(rules.len() * 2);
                for r in rules {
                    args.push(Arg::Uuid(*r));
                    args.push(Arg::I64(day));
                }
                let (rows, args) = crate::multi_rows($pg, 2, args);
                let sql = format!(
                    "INSERT INTO rule_spend (rule_id, day, spent) SELECT v.column1, v.column2, 0
                     FROM ({rows}) AS v ON CONFLICT (rule_id, day) DO NOTHING"
                );
                if let Err(e) = bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *$tx).await {
                    result = Err(map_err(e));
                }
            }
            if result.is_ok() {
                let mut args = vec![Arg::I64(day)];
                let l = crate::member_of($pg, &mut args, rules.iter().map(|r| Arg::Uuid(*r)));
                let lock = if $pg { " ORDER BY rule_id FOR NO KEY UPDATE" } else { "" };
                let sql = format!("SELECT rule_id, spent FROM rule_spend WHERE day = $1 AND rule_id {l}{lock}");
                match bind_args!(sqlx::query_as::<_, (Uuid, i64)>(AssertSqlSafe(sql)), args).fetch_all(&mut *$tx).await
                {
                    Ok(rows) => spent.extend(rows),
                    Err(e) => result = Err(map_err(e)),
                }
            }
        }
        result.map(|()| spent)
    }};
}

/// Decides one lead's auto-bid attempts in order against the locked state
/// (`existing`: the lead's live bidders; `spent`: today's spend per rule;
/// `available`: balances by account id, debited as bids are placed): per
/// buyer only its first (best-priority) affordable attempt within budget.
/// Shared by the per-lead transaction and the SQLite group writer.
pub(crate) fn decide_auto_bids<'a>(
    a: &'a AutoBids,
    at: i64,
    existing: &HashSet<AccountId>,
    spent: &mut HashMap<Uuid, i64>,
    available: &mut HashMap<String, i64>,
) -> (Vec<AutoBidResult>, Vec<&'a PlaceBid>) {
    let mut results = Vec::with_capacity(a.attempts.len());
    let mut placed = Vec::new();
    let mut done: HashSet<AccountId> = HashSet::new();
    for b in &a.attempts {
        let lock = b.amount.checked_add(b.fee);
        let avail = available.entry(LedgerAccount::available(b.buyer_id).id).or_insert(0);
        let r = if existing.contains(&b.buyer_id) {
            AutoBidResult::AlreadyBid
        } else if done.contains(&b.buyer_id) {
            AutoBidResult::LowerPriority
        } else if b.budget.is_some_and(|x| {
            spent.get(&x.rule_id).copied().unwrap_or(0).saturating_add(b.amount.micros()) > x.limit.micros()
        }) {
            AutoBidResult::Budget
        } else if lock.is_none_or(|l| *avail < l.micros()) {
            AutoBidResult::Insufficient
        } else {
            *avail -= lock.map_or(0, |l| l.micros());
            if let Some(x) = b.budget {
                *spent.entry(x.rule_id).or_insert(0) += b.amount.micros();
            }
            done.insert(b.buyer_id);
            placed.push(b);
            AutoBidResult::Placed(Bid {
                id: b.id,
                lead_id: b.lead_id,
                buyer_id: b.buyer_id,
                amount: b.amount,
                fee: b.fee,
                source: b.source,
                rule_id: b.rule_id,
                status: "live".into(),
                created_at: leadex_core::clock::from_micros(at),
                updated_at: leadex_core::clock::from_micros(at),
            })
        };
        results.push(r);
    }
    (results, placed)
}

/// The decision rows of one lead's auto-bids: the skips known before the
/// store, then one per attempt.
pub(crate) fn decisions_of(a: &AutoBids, results: &[AutoBidResult]) -> Vec<Decision> {
    let mut decisions: Vec<Decision> = a.skipped.clone();
    for (b, r) in a.attempts.iter().zip(results) {
        let (outcome, reason) = r.decision();
        decisions.push(Decision {
            id: Uuid::now_v7(),
            rule_id: b.rule_id.unwrap_or_default(),
            lead_id: a.lead_id.as_uuid(),
            outcome: outcome.into(),
            reason: reason.into(),
            amount: (!matches!(r, AutoBidResult::LowerPriority | AutoBidResult::AlreadyBid)).then_some(b.amount),
            created_at: a.at,
        });
    }
    decisions
}

/// The ledger movement locking an auto-bid's amount and fee.
pub(crate) fn bid_lock(b: &PlaceBid) -> Movement {
    Movement::transfer(
        LedgerAccount::available(b.buyer_id),
        LedgerAccount::locked(b.buyer_id),
        b.amount.checked_add(b.fee).unwrap_or(b.amount),
        "bid_lock",
        format!("lead:{}", b.lead_id),
    )
}

/// Bumps the rule-set version (in the transaction of a rule change).
const BUMP_RULE_SET: &str = "UPDATE rule_set_version SET version = version + 1 WHERE id = 1";

#[derive(sqlx::FromRow)]
pub(crate) struct BidRow {
    id: Uuid,
    lead_id: Uuid,
    buyer_id: Uuid,
    amount: i64,
    fee: i64,
    source: String,
    rule_id: Option<Uuid>,
    status: String,
    created_at: i64,
    updated_at: i64,
}

pub(crate) const BID_COLUMNS: &str =
    "id, lead_id, buyer_id, amount, fee, source, rule_id, status, created_at, updated_at";

impl From<BidRow> for Bid {
    fn from(r: BidRow) -> Self {
        Bid {
            id: r.id,
            lead_id: LeadId::from_uuid(r.lead_id),
            buyer_id: AccountId::from_uuid(r.buyer_id),
            amount: Money::from_micros(r.amount),
            fee: Money::from_micros(r.fee),
            source: if r.source == "auto" { BidSource::Auto } else { BidSource::Manual },
            rule_id: r.rule_id,
            status: r.status,
            created_at: leadex_core::clock::from_micros(r.created_at),
            updated_at: leadex_core::clock::from_micros(r.updated_at),
        }
    }
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: Uuid,
    buyer_id: Uuid,
    def: Json<Value>,
    priority: i64,
    active: bool,
    created_at: i64,
    updated_at: i64,
}

const RULE_COLUMNS: &str = "id, buyer_id, def, priority, active, created_at, updated_at";

fn money_of(v: &Value, k: &str) -> Result<Money, StoreError> {
    v.get(k)
        .and_then(Value::as_str)
        .and_then(|s| Money::parse(s).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("bid_rules.def.{k}")))
}

impl TryFrom<RuleRow> for Rule {
    type Error = StoreError;
    fn try_from(r: RuleRow) -> Result<Self, StoreError> {
        let def = r.def.0;
        let targets: RuleTargets =
            serde_json::from_value(def.clone()).map_err(|e| StoreError::Corrupt(format!("bid_rules.def: {e}")))?;
        Ok(Rule {
            id: r.id,
            buyer_id: AccountId::from_uuid(r.buyer_id),
            targets,
            bid_amount: money_of(&def, "bid_amount")?,
            max_bid: money_of(&def, "max_bid")?,
            daily_budget: money_of(&def, "daily_budget")?,
            priority: i32::try_from(r.priority).map_err(|_| StoreError::Corrupt("bid_rules.priority".into()))?,
            active: r.active,
            created_at: leadex_core::clock::from_micros(r.created_at),
            updated_at: leadex_core::clock::from_micros(r.updated_at),
        })
    }
}

fn rule_def(r: &Rule) -> Value {
    let mut v = serde_json::to_value(&r.targets).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("bid_amount".into(), Value::String(r.bid_amount.to_string()));
        m.insert("max_bid".into(), Value::String(r.max_bid.to_string()));
        m.insert("daily_budget".into(), Value::String(r.daily_budget.to_string()));
    }
    v
}

#[derive(sqlx::FromRow)]
struct PoolRow {
    id: Uuid,
    buyer_id: Uuid,
    vertical: String,
    reward_per_lead: i64,
    criteria: Json<BountyCriteria>,
    status: String,
    funded_total: i64,
    remaining: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
}

const POOL_COLUMNS: &str =
    "id, buyer_id, vertical, reward_per_lead, criteria, status, funded_total, remaining, expires_at, created_at";

/// Pools with their remaining balance, as one relation with plain column
/// names (so keyset pagination works unchanged).
const POOL_FROM: &str = "(SELECT p.id, p.buyer_id, p.vertical, p.reward_per_lead, p.criteria, p.status,
        p.funded_total, a.balance AS remaining, p.expires_at, p.created_at
    FROM bounty_pools p LEFT JOIN ledger_accounts a ON a.id = p.account_id) pv";

impl From<PoolRow> for Pool {
    fn from(r: PoolRow) -> Self {
        Pool {
            id: r.id,
            buyer_id: AccountId::from_uuid(r.buyer_id),
            vertical: r.vertical,
            reward_per_lead: Money::from_micros(r.reward_per_lead),
            criteria: r.criteria.0,
            status: r.status,
            funded_total: Money::from_micros(r.funded_total),
            remaining: Money::from_micros(r.remaining.unwrap_or(0)),
            expires_at: r.expires_at.map(leadex_core::clock::from_micros),
            created_at: leadex_core::clock::from_micros(r.created_at),
        }
    }
}

fn lock_total(b: &Bid) -> Money {
    b.amount.checked_add(b.fee).unwrap_or(b.amount)
}

/// A close's ledger movements: the winner's lock → seller 95 % of the
/// amount, platform 5 % + fee; every loser's lock back to available.
/// Posted netted: a constant number of statements however many bids.
pub(crate) fn close_movements(lead: LeadId, seller: AccountId, win: &Bid, losers: &[Bid]) -> Vec<Movement> {
    let reference = format!("lead:{lead}");
    let (to_seller, platform) = split(win.amount);
    let mut movements = Vec::with_capacity(losers.len() + 1);
    movements.push(Movement {
        legs: vec![
            leadex_core::market::Leg {
                account: LedgerAccount::locked(win.buyer_id),
                amount: -lock_total(win).micros(),
            },
            leadex_core::market::Leg { account: LedgerAccount::payable(seller), amount: to_seller.micros() },
            leadex_core::market::Leg { account: LedgerAccount::fees(), amount: platform.micros() + win.fee.micros() },
        ],
        reason: "settlement",
        reference: reference.clone(),
    });
    movements.extend(losers.iter().map(|l| {
        Movement::transfer(
            LedgerAccount::locked(l.buyer_id),
            LedgerAccount::available(l.buyer_id),
            lock_total(l),
            "bid_released",
            reference.clone(),
        )
    }));
    movements
}

#[async_trait]
impl Market for SqlStore {
    async fn post(&self, m: &Movement, at: DateTime<Utc>) -> Result<Uuid, BidError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            match post!(tx, m, at) {
                Ok(id) => {
                    tx.commit().await.map_err(map_err)?;
                    Ok(id)
                }
                Err(e) => {
                    tx.rollback().await.map_err(map_err)?;
                    Err(e.into())
                }
            }
        })
    }

    async fn vault(&self, owner: AccountId) -> Result<Vault, StoreError> {
        Ok(self.vaults(&[owner]).await?.pop().map(|(_, v)| v).unwrap_or_default())
    }

    async fn entries(&self, owner: AccountId, page: &PageRequest) -> Result<Page<LedgerEntry>, StoreError> {
        let ids: Vec<String> =
            [LedgerAccount::available(owner), LedgerAccount::locked(owner), LedgerAccount::payable(owner)]
                .into_iter()
                .map(|a| a.id)
                .collect();
        let mut args = Vec::new();
        let l = in_list(&mut args, ids.into_iter().map(Arg::Text));
        let mut conds = vec![format!("account_id IN ({l})")];
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!(
            "SELECT id, tx_id, account_id, amount, reason, reference, created_at FROM ledger_entries{}{tail}",
            where_clause(&conds)
        );
        type Row = (Uuid, Uuid, String, i64, String, String, i64);
        let rows: Vec<Row> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        let items = rows
            .into_iter()
            .map(|(id, tx_id, account_id, amount, reason, reference, t)| LedgerEntry {
                id,
                tx_id,
                account_id,
                amount: Money::from_micros(amount),
                reason,
                reference,
                created_at: leadex_core::clock::from_micros(t),
            })
            .collect();
        Ok(Page::from_rows(page, items))
    }

    async fn ledger_totals(&self) -> Result<(i64, i64), StoreError> {
        with_pool!(self, write, |p| sqlx::query_as::<_, (i64, i64)>(
            "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN kind <> 'escrow' THEN balance ELSE 0 END), 0) AS BIGINT)
             FROM ledger_accounts"
        )
        .fetch_one(p)
        .await
        .map_err(map_err))
    }

    async fn place_bid(&self, b: &PlaceBid) -> Result<Bid, BidError> {
        let at = micros(b.at);
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            // Lock the lead row and check the auction is open, in one statement.
            let open: Option<Uuid> = sqlx::query_scalar(
                "UPDATE leads SET updated_at = updated_at
                 WHERE id = $1 AND status = 'in_auction' AND auction_ends_at > $2 RETURNING id",
            )
            .bind(b.lead_id.as_uuid())
            .bind(at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            if open.is_none() {
                tx.rollback().await.map_err(map_err)?;
                return Err(BidError::NotOpen);
            }
            if let Some(budget) = &b.budget {
                let day = crate::days_since_epoch(budget.day);
                let ok: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO rule_spend (rule_id, day, spent) SELECT $1, $2, $3 WHERE $3 <= $4
                     ON CONFLICT (rule_id, day) DO UPDATE SET spent = rule_spend.spent + excluded.spent
                        WHERE rule_spend.spent + excluded.spent <= $4
                     RETURNING spent",
                )
                .bind(budget.rule_id)
                .bind(day)
                .bind(b.amount.micros())
                .bind(budget.limit.micros())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                if ok.is_none() {
                    tx.rollback().await.map_err(map_err)?;
                    return Err(BidError::Budget);
                }
            }
            let existing: Option<BidRow> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {BID_COLUMNS} FROM bids WHERE lead_id = $1 AND buyer_id = $2 AND status = 'live'"
            )))
            .bind(b.lead_id.as_uuid())
            .bind(b.buyer_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let new_lock = b.amount.micros() + b.fee.micros();
            let old_lock = existing.as_ref().map_or(0, |e| e.amount + e.fee);
            let delta = new_lock - old_lock;
            let reference = format!("lead:{}", b.lead_id);
            let movement = if delta >= 0 {
                Movement::transfer(
                    LedgerAccount::available(b.buyer_id),
                    LedgerAccount::locked(b.buyer_id),
                    Money::from_micros(delta),
                    "bid_lock",
                    reference,
                )
            } else {
                Movement::transfer(
                    LedgerAccount::locked(b.buyer_id),
                    LedgerAccount::available(b.buyer_id),
                    Money::from_micros(-delta),
                    "bid_unlock",
                    reference,
                )
            };
            if let Err(e) = post!(tx, &movement, b.at) {
                tx.rollback().await.map_err(map_err)?;
                return Err(e.into());
            }
            let row: BidRow = match existing {
                Some(old) => sqlx::query_as(AssertSqlSafe(format!(
                    "UPDATE bids SET amount = $1, fee = $2, source = $3, rule_id = $4, updated_at = $5
                     WHERE id = $6 RETURNING {BID_COLUMNS}"
                )))
                .bind(b.amount.micros())
                .bind(b.fee.micros())
                .bind(b.source.as_str())
                .bind(b.rule_id)
                .bind(at)
                .bind(old.id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?,
                None => {
                    sqlx::query("UPDATE leads SET bid_count = bid_count + 1 WHERE id = $1")
                        .bind(b.lead_id.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    sqlx::query_as(AssertSqlSafe(format!(
                        "INSERT INTO bids ({BID_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 'live', $8, $8)
                         RETURNING {BID_COLUMNS}"
                    )))
                    .bind(b.id)
                    .bind(b.lead_id.as_uuid())
                    .bind(b.buyer_id.as_uuid())
                    .bind(b.amount.micros())
                    .bind(b.fee.micros())
                    .bind(b.source.as_str())
                    .bind(b.rule_id)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?
                }
            };
            tx.commit().await.map_err(map_err)?;
            Ok(Bid::from(row))
        })
    }

    async fn place_auto_bids(&self, a: &AutoBids) -> Result<AutoBidsOutcome, StoreError> {
        // Decided with whatever other leads are waiting, in one transaction
        // (crates/store/src/groups.rs); this per-lead transaction is the
        // group's fallback.
        if let Some(outcome) = crate::groups::submit(self.market_groups().0, a).await {
            return Ok(outcome);
        }
        let pg = self.postgres();
        let at = micros(a.at);
        let lead = a.lead_id.as_uuid();
        let day = crate::days_since_epoch(a.at.date_naive());
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            if pg {
                // Idempotent job: a commit lost in a crash is redone by the
                // job's re-run (its completion is later in the WAL); the hot
                // spend and balance rows are not held through an fsync.
                sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await.map_err(map_err)?;
            }
            // Lock the lead row while its auction is open (bids, closes and
            // buy-nows of one lead serialise on it).
            let count: Option<i64> = sqlx::query_scalar(
                "UPDATE leads SET updated_at = updated_at
                 WHERE id = $1 AND status = 'in_auction' AND auction_ends_at > $2 RETURNING bid_count",
            )
            .bind(lead)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let mut results = Vec::with_capacity(a.attempts.len());
            let mut bid_count = count.unwrap_or(0);
            let mut placed: Vec<&PlaceBid> = Vec::new();
            if count.is_some() && !a.attempts.is_empty() {
                let existing: Vec<Uuid> =
                    sqlx::query_scalar("SELECT buyer_id FROM bids WHERE lead_id = $1 AND status = 'live'")
                        .bind(lead)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(map_err)?;
                let existing: HashSet<AccountId> = existing.into_iter().map(AccountId::from_uuid).collect();
                // Budgets: PostgreSQL materialises and locks the (rule, day)
                // rows so two evaluations cannot both spend the same budget.
                let rules: BTreeSet<Uuid> = a.attempts.iter().filter_map(|b| b.budget.map(|x| x.rule_id)).collect();
                let mut spent = read_rule_spend!(tx, &rules, day, pg)?;
                // Available balances of the candidate buyers, locked in id order.
                let buyers: BTreeSet<AccountId> =
                    a.attempts.iter().map(|b| b.buyer_id).filter(|b| !existing.contains(b)).collect();
                let mut available: HashMap<String, i64> = HashMap::new();
                if !buyers.is_empty() {
                    let mut args = Vec::with_capacity(buyers.len());
                    let l = in_list(&mut args, buyers.iter().map(|b| Arg::Text(LedgerAccount::available(*b).id)));
                    let lock = if pg { " ORDER BY id FOR NO KEY UPDATE" } else { "" };
                    let sql = format!("SELECT id, balance FROM ledger_accounts WHERE id IN ({l}){lock}");
                    let rows: Vec<(String, i64)> = bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args)
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    available.extend(rows);
                }
                // Decide every attempt in order against the locked state.
                let (r, p) = decide_auto_bids(a, at, &existing, &mut spent, &mut available);
                results = r;
                placed = p;
            } else {
                results.extend(a.attempts.iter().map(|_| AutoBidResult::Closed));
            }
            if !placed.is_empty() {
                let budgeted: Vec<(Uuid, i64)> =
                    placed.iter().filter_map(|b| b.budget.map(|x| (x.rule_id, b.amount.micros()))).collect();
                if !budgeted.is_empty() {
                    let mut args = Vec::with_capacity(budgeted.len() * 3);
                    for (r, amount) in &budgeted {
                        args.push(Arg::Uuid(*r));
                        args.push(Arg::I64(day));
                        args.push(Arg::I64(*amount));
                    }
                    let sql = format!(
                        "INSERT INTO rule_spend (rule_id, day, spent) VALUES {}
                         ON CONFLICT (rule_id, day) DO UPDATE SET spent = rule_spend.spent + excluded.spent",
                        crate::tuples(pg, budgeted.len(), 3)
                    );
                    bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *tx).await.map_err(map_err)?;
                }
                let locks: Vec<Movement> = placed.iter().map(|b| bid_lock(b)).collect();
                if let Err(e) = apply_movements!(tx, &locks, a.at, pg) {
                    tx.rollback().await.map_err(map_err)?;
                    return Err(match e {
                        PostError::Insufficient => {
                            StoreError::Backend("auto-bid locks found a balance changed under the lock".into())
                        }
                        PostError::Store(s) => s,
                    });
                }
                for chunk in placed.chunks(500) {
                    let mut args = Vec::with_capacity(chunk.len() * 9);
                    for b in chunk {
                        args.push(Arg::Uuid(b.id));
                        args.push(Arg::Uuid(lead));
                        args.push(Arg::Uuid(b.buyer_id.as_uuid()));
                        args.push(Arg::I64(b.amount.micros()));
                        args.push(Arg::I64(b.fee.micros()));
                        args.push(Arg::Text(b.source.as_str().to_owned()));
                        args.push(Arg::OptUuid(b.rule_id));
                        args.push(Arg::Text("live".into()));
                        args.push(Arg::I64(at));
                        args.push(Arg::I64(at));
                    }
                    let sql = format!("INSERT INTO bids ({BID_COLUMNS}) VALUES {}", crate::tuples(pg, chunk.len(), 10));
                    bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *tx).await.map_err(map_err)?;
                }
                bid_count =
                    sqlx::query_scalar("UPDATE leads SET bid_count = bid_count + $1 WHERE id = $2 RETURNING bid_count")
                        .bind(placed.len() as i64)
                        .bind(lead)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
            }
            let decisions = decisions_of(a, &results);
            insert_decisions!(tx, &decisions, pg)?;
            tx.commit().await.map_err(map_err)?;
            Ok(AutoBidsOutcome { results, bid_count })
        })
    }

    async fn kyc_verified(&self, ids: &[AccountId]) -> Result<HashSet<AccountId>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut args = Vec::with_capacity(ids.len());
        let l = in_list(&mut args, ids.iter().map(|a| Arg::Uuid(a.as_uuid())));
        let sql = format!("SELECT id FROM accounts WHERE kyc_verified = TRUE AND id IN ({l})");
        let rows: Vec<Uuid> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_scalar(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        Ok(rows.into_iter().map(AccountId::from_uuid).collect())
    }

    async fn vaults(&self, owners: &[AccountId]) -> Result<Vec<(AccountId, Vault)>, StoreError> {
        if owners.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Vec::with_capacity(owners.len());
        let l = in_list(&mut args, owners.iter().map(|a| Arg::Uuid(a.as_uuid())));
        let sql = format!("SELECT owner_id, kind, balance FROM ledger_accounts WHERE owner_id IN ({l})");
        let rows: Vec<(Uuid, String, i64)> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        let mut by_owner: HashMap<Uuid, Vault> = HashMap::with_capacity(owners.len());
        for (owner, kind, bal) in rows {
            let v = by_owner.entry(owner).or_default();
            let m = Money::from_micros(bal);
            match kind.as_str() {
                "available" => v.available = m,
                "locked" => v.locked = m,
                "payable" => v.payable = m,
                _ => {}
            }
        }
        let out = owners.iter().map(|o| (*o, by_owner.get(&o.as_uuid()).copied().unwrap_or_default())).collect();
        Ok(out)
    }

    async fn withdraw_bid(&self, lead: LeadId, buyer: AccountId, at: DateTime<Utc>) -> Result<Bid, BidError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let open: Option<Uuid> = sqlx::query_scalar(
                "UPDATE leads SET updated_at = updated_at
                 WHERE id = $1 AND status = 'in_auction' AND auction_ends_at > $2 RETURNING id",
            )
            .bind(lead.as_uuid())
            .bind(micros(at))
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            if open.is_none() {
                tx.rollback().await.map_err(map_err)?;
                return Err(BidError::NotOpen);
            }
            let row: Option<BidRow> = sqlx::query_as(AssertSqlSafe(format!(
                "UPDATE bids SET status = 'withdrawn', updated_at = $1
                 WHERE lead_id = $2 AND buyer_id = $3 AND status = 'live' RETURNING {BID_COLUMNS}"
            )))
            .bind(micros(at))
            .bind(lead.as_uuid())
            .bind(buyer.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some(row) = row else {
                tx.rollback().await.map_err(map_err)?;
                return Err(BidError::NoBid);
            };
            let bid = Bid::from(row);
            sqlx::query("UPDATE leads SET bid_count = bid_count - 1 WHERE id = $1")
                .bind(lead.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            let m = Movement::transfer(
                LedgerAccount::locked(buyer),
                LedgerAccount::available(buyer),
                lock_total(&bid),
                "bid_withdrawn",
                format!("lead:{lead}"),
            );
            if let Err(e) = post!(tx, &m, at) {
                tx.rollback().await.map_err(map_err)?;
                return Err(e.into());
            }
            tx.commit().await.map_err(map_err)?;
            Ok(bid)
        })
    }

    async fn buyer_bids(&self, buyer: AccountId, page: &PageRequest) -> Result<Page<Bid>, StoreError> {
        let mut args = vec![Arg::Uuid(buyer.as_uuid())];
        let mut conds = vec!["buyer_id = $1".to_owned()];
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!("SELECT {BID_COLUMNS} FROM bids{}{tail}", where_clause(&conds));
        let rows: Vec<BidRow> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        Ok(Page::from_rows(page, rows.into_iter().map(Bid::from).collect()))
    }

    async fn buyer_bid(&self, lead: LeadId, buyer: AccountId) -> Result<Option<Bid>, StoreError> {
        let sql = format!(
            "SELECT {BID_COLUMNS} FROM bids WHERE lead_id = $1 AND buyer_id = $2 ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        let row: Option<BidRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(lead.as_uuid())
            .bind(buyer.as_uuid())
            .fetch_optional(p)
            .await
            .map_err(map_err))?;
        Ok(row.map(Bid::from))
    }

    async fn live_locked(&self, buyer: AccountId) -> Result<Money, StoreError> {
        let n: i64 = with_pool!(self, fresh, |p| {
            sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount + fee), 0) AS BIGINT) FROM bids WHERE buyer_id = $1 AND status = 'live'"
        )
        .bind(buyer.as_uuid())
        .fetch_one(p)
        .await
        .map_err(map_err)
        })?;
        Ok(Money::from_micros(n))
    }

    async fn close_auction(&self, c: &CloseAuction) -> Result<CloseOutcome, StoreError> {
        // Closed with whatever other leads are waiting, in one transaction
        // (crates/store/src/groups.rs); this per-lead transaction is the
        // group's fallback.
        if let Some(outcome) = crate::groups::submit(self.market_groups().1, c).await {
            return Ok(outcome);
        }
        let at = micros(c.at);
        let pg = self.postgres();
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            // Lock the lead while it is in auction; anything else: already closed.
            let lead: Option<(Uuid, Option<Vec<u8>>)> = sqlx::query_as(
                "UPDATE leads SET updated_at = $1 WHERE id = $2 AND status = 'in_auction' RETURNING seller_id, seed",
            )
            .bind(at)
            .bind(c.lead_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some((seller, seed)) = lead else {
                tx.rollback().await.map_err(map_err)?;
                return Ok(CloseOutcome::NotInAuction);
            };
            let seed: [u8; 32] = seed.and_then(|s| s.try_into().ok()).unwrap_or([0u8; 32]);
            let rows: Vec<BidRow> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {BID_COLUMNS} FROM bids WHERE lead_id = $1 AND status = 'live' ORDER BY id"
            )))
            .bind(c.lead_id.as_uuid())
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            let bids: Vec<Bid> = rows.into_iter().map(Bid::from).collect();
            let ranked: Vec<RankedBid> = bids.iter().map(|b| RankedBid { id: b.id, amount: b.amount }).collect();
            let Some(w) = winner(&ranked, &seed, &c.lead_id.as_uuid()) else {
                sqlx::query("UPDATE leads SET status = 'unsold', listed_until = $1, sale_kind = NULL WHERE id = $2")
                    .bind(micros(c.listed_until))
                    .bind(c.lead_id.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                for j in &c.unsold_jobs {
                    insert_job!(&mut *tx, j)?;
                }
                tx.commit().await.map_err(map_err)?;
                return Ok(CloseOutcome::Unsold);
            };
            let mut winning = None;
            let mut losers = Vec::new();
            for b in bids {
                if b.id == w.id { winning = Some(b) } else { losers.push(b) }
            }
            let Some(mut win) = winning else {
                tx.rollback().await.map_err(map_err)?;
                return Err(StoreError::Corrupt("winner not among bids".into()));
            };
            let movements = close_movements(c.lead_id, AccountId::from_uuid(seller), &win, &losers);
            sqlx::query("UPDATE bids SET status = 'won', updated_at = $1 WHERE id = $2")
                .bind(at)
                .bind(win.id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query("UPDATE bids SET status = 'lost', updated_at = $1 WHERE lead_id = $2 AND status = 'live'")
                .bind(at)
                .bind(c.lead_id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            sqlx::query(
                "UPDATE leads SET status = 'sold', sold_price = $1, buyer_id = $2, sold_at = $3, sale_kind = 'auction'
                 WHERE id = $4",
            )
            .bind(win.amount.micros())
            .bind(win.buyer_id.as_uuid())
            .bind(at)
            .bind(c.lead_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            for j in &c.sold_jobs {
                insert_job!(&mut *tx, j)?;
            }
            // The buyers' balance rows last: locked only until the commit.
            apply_movements!(tx, &movements, c.at, pg)?;
            tx.commit().await.map_err(map_err)?;
            win.status = "won".into();
            for l in &mut losers {
                l.status = "lost".into();
            }
            Ok(CloseOutcome::Sold { winner: win, losers })
        })
    }

    async fn buy_now(
        &self,
        lead: LeadId,
        buyer: AccountId,
        at: DateTime<Utc>,
        jobs: &[NewJob],
    ) -> Result<LeadRecord, BuyError> {
        let sql = format!(
            "UPDATE leads SET status = 'sold', buyer_id = $1, sold_price = buy_now_price, sold_at = $2,
                    sale_kind = 'buy_now', updated_at = $2
             WHERE id = $3 AND status = 'unsold' AND (listed_until IS NULL OR listed_until > $2)
             RETURNING {}",
            lead_columns()
        );
        let row: crate::rows::LeadRow = with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let row: Option<crate::rows::LeadRow> = sqlx::query_as(AssertSqlSafe(sql.clone()))
                .bind(buyer.as_uuid())
                .bind(micros(at))
                .bind(lead.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            let Some(row) = row else {
                tx.rollback().await.map_err(map_err)?;
                return Err(BuyError::NotForSale);
            };
            let price = Money::from_micros(row.buy_now_price);
            let (to_seller, platform) = split(price);
            let touched = vec![
                LedgerAccount::available(buyer),
                LedgerAccount::payable(AccountId::from_uuid(row.seller_id)),
                LedgerAccount::fees(),
            ];
            lock_accounts!(tx, touched, at)?;
            let m = Movement {
                legs: vec![
                    leadex_core::market::Leg { account: LedgerAccount::available(buyer), amount: -price.micros() },
                    leadex_core::market::Leg {
                        account: LedgerAccount::payable(AccountId::from_uuid(row.seller_id)),
                        amount: to_seller.micros(),
                    },
                    leadex_core::market::Leg { account: LedgerAccount::fees(), amount: platform.micros() },
                ],
                reason: "buy_now",
                reference: format!("lead:{lead}"),
            };
            if let Err(e) = post!(tx, &m, at) {
                tx.rollback().await.map_err(map_err)?;
                return Err(e.into());
            }
            for j in jobs {
                insert_job!(&mut *tx, j)?;
            }
            tx.commit().await.map_err(map_err)?;
            row
        });
        Ok(LeadRecord::try_from(row)?)
    }

    async fn expire_listing(&self, lead: LeadId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "UPDATE leads SET status = 'expired', updated_at = $1
             WHERE id = $2 AND status = 'unsold' AND (listed_until IS NULL OR listed_until <= $1)"
        )
        .bind(micros(at))
        .bind(lead.as_uuid())
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(map_err))
    }

    async fn create_rule(&self, r: &Rule) -> Result<(), StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO bid_rules ({RULE_COLUMNS}, vertical) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            )))
            .bind(r.id)
            .bind(r.buyer_id.as_uuid())
            .bind(Json(rule_def(r)))
            .bind(i64::from(r.priority))
            .bind(r.active)
            .bind(micros(r.created_at))
            .bind(micros(r.updated_at))
            .bind(&r.targets.vertical)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            sqlx::query(BUMP_RULE_SET).execute(&mut *tx).await.map_err(map_err)?;
            tx.commit().await.map_err(map_err)
        })
    }

    async fn update_rule(&self, r: &Rule) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let n = sqlx::query(
                "UPDATE bid_rules SET def = $1, priority = $2, active = $3, updated_at = $4, vertical = $5
                 WHERE id = $6 AND buyer_id = $7",
            )
            .bind(Json(rule_def(r)))
            .bind(i64::from(r.priority))
            .bind(r.active)
            .bind(micros(r.updated_at))
            .bind(&r.targets.vertical)
            .bind(r.id)
            .bind(r.buyer_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            sqlx::query(BUMP_RULE_SET).execute(&mut *tx).await.map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(n == 1)
        })
    }

    async fn delete_rule(&self, buyer: AccountId, id: Uuid) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let n = sqlx::query("DELETE FROM bid_rules WHERE id = $1 AND buyer_id = $2")
                .bind(id)
                .bind(buyer.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
            sqlx::query(BUMP_RULE_SET).execute(&mut *tx).await.map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(n == 1)
        })
    }

    async fn rule_set_version(&self) -> Result<i64, StoreError> {
        with_pool!(self, fresh, |p| sqlx::query_scalar("SELECT version FROM rule_set_version WHERE id = 1")
            .fetch_optional(p)
            .await
            .map(|v: Option<i64>| v.unwrap_or(0))
            .map_err(map_err))
    }

    async fn get_rule(&self, id: Uuid) -> Result<Option<Rule>, StoreError> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM bid_rules WHERE id = $1");
        let row: Option<RuleRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(p)
            .await
            .map_err(map_err))?;
        row.map(Rule::try_from).transpose()
    }

    async fn buyer_rules(&self, buyer: AccountId, page: &PageRequest) -> Result<Page<Rule>, StoreError> {
        let mut args = vec![Arg::Uuid(buyer.as_uuid())];
        let mut conds = vec!["buyer_id = $1".to_owned()];
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!("SELECT {RULE_COLUMNS} FROM bid_rules{}{tail}", where_clause(&conds));
        let rows: Vec<RuleRow> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        let items = rows.into_iter().map(Rule::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(page, items))
    }

    async fn count_rules(&self, buyer: AccountId) -> Result<u64, StoreError> {
        let n: i64 =
            with_pool!(self, fresh, |p| sqlx::query_scalar("SELECT COUNT(*) FROM bid_rules WHERE buyer_id = $1")
                .bind(buyer.as_uuid())
                .fetch_one(p)
                .await
                .map_err(map_err))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn rules_for(&self, verticals: &[String]) -> Result<Vec<Rule>, StoreError> {
        if verticals.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Vec::new();
        let l = in_list(&mut args, verticals.iter().cloned().map(Arg::Text));
        let sql = format!("SELECT {RULE_COLUMNS} FROM bid_rules WHERE vertical IN ({l}) AND active = TRUE");
        let rows: Vec<RuleRow> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        rows.into_iter().map(Rule::try_from).collect()
    }

    async fn decisions(&self, rule: Uuid, page: &PageRequest) -> Result<Page<Decision>, StoreError> {
        let mut args = vec![Arg::Uuid(rule)];
        let mut conds = vec!["rule_id = $1".to_owned()];
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!(
            "SELECT id, rule_id, lead_id, outcome, reason, amount, created_at FROM rule_decisions{}{tail}",
            where_clause(&conds)
        );
        type Row = (Uuid, Uuid, Uuid, String, String, Option<i64>, i64);
        let rows: Vec<Row> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        let items = rows
            .into_iter()
            .map(|(id, rule_id, lead_id, outcome, reason, amount, t)| Decision {
                id,
                rule_id,
                lead_id,
                outcome,
                reason,
                amount: amount.map(Money::from_micros),
                created_at: leadex_core::clock::from_micros(t),
            })
            .collect();
        Ok(Page::from_rows(page, items))
    }

    async fn create_pool(&self, pool: &Pool, at: DateTime<Utc>) -> Result<(), BidError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            sqlx::query(
                "INSERT INTO bounty_pools (id, buyer_id, vertical, reward_per_lead, criteria, status, funded_total,
                                           expires_at, created_at, updated_at, account_id)
                 VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $8, $9)",
            )
            .bind(pool.id)
            .bind(pool.buyer_id.as_uuid())
            .bind(&pool.vertical)
            .bind(pool.reward_per_lead.micros())
            .bind(Json(&pool.criteria))
            .bind(pool.funded_total.micros())
            .bind(pool.expires_at.map(micros))
            .bind(micros(at))
            .bind(LedgerAccount::pool(pool.id).id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            let m = Movement::transfer(
                LedgerAccount::available(pool.buyer_id),
                LedgerAccount::pool(pool.id),
                pool.funded_total,
                "bounty_funded",
                format!("pool:{}", pool.id),
            );
            if let Err(e) = post!(tx, &m, at) {
                tx.rollback().await.map_err(map_err)?;
                return Err(e.into());
            }
            tx.commit().await.map_err(map_err)?;
            Ok(())
        })
    }

    async fn top_up_pool(
        &self,
        buyer: AccountId,
        id: Uuid,
        amount: Money,
        at: DateTime<Utc>,
    ) -> Result<bool, BidError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let n = sqlx::query(
                "UPDATE bounty_pools SET funded_total = funded_total + $1, updated_at = $2
                 WHERE id = $3 AND buyer_id = $4 AND status = 'active'",
            )
            .bind(amount.micros())
            .bind(micros(at))
            .bind(id)
            .bind(buyer.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if n != 1 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(false);
            }
            let m = Movement::transfer(
                LedgerAccount::available(buyer),
                LedgerAccount::pool(id),
                amount,
                "bounty_top_up",
                format!("pool:{id}"),
            );
            if let Err(e) = post!(tx, &m, at) {
                tx.rollback().await.map_err(map_err)?;
                return Err(e.into());
            }
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    async fn withdraw_pool(&self, buyer: AccountId, id: Uuid, at: DateTime<Utc>) -> Result<Option<Money>, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let n = sqlx::query(
                "UPDATE bounty_pools SET status = 'closed', updated_at = $1
                 WHERE id = $2 AND buyer_id = $3 AND status = 'active'",
            )
            .bind(micros(at))
            .bind(id)
            .bind(buyer.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if n != 1 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(None);
            }
            let left: Option<i64> = sqlx::query_scalar("SELECT balance FROM ledger_accounts WHERE id = $1")
                .bind(LedgerAccount::pool(id).id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
            let left = Money::from_micros(left.unwrap_or(0));
            let m = Movement::transfer(
                LedgerAccount::pool(id),
                LedgerAccount::available(buyer),
                left,
                "bounty_withdrawn",
                format!("pool:{id}"),
            );
            post!(tx, &m, at)?;
            tx.commit().await.map_err(map_err)?;
            Ok(Some(left))
        })
    }

    async fn get_pool(&self, id: Uuid) -> Result<Option<Pool>, StoreError> {
        let sql = format!("SELECT {POOL_COLUMNS} FROM {POOL_FROM} WHERE id = $1");
        let row: Option<PoolRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(p)
            .await
            .map_err(map_err))?;
        Ok(row.map(Pool::from))
    }

    async fn buyer_pools(&self, buyer: AccountId, page: &PageRequest) -> Result<Page<Pool>, StoreError> {
        let mut args = vec![Arg::Uuid(buyer.as_uuid())];
        let mut conds = vec!["buyer_id = $1".to_owned()];
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!("SELECT {POOL_COLUMNS} FROM {POOL_FROM}{}{tail}", where_clause(&conds));
        let rows: Vec<PoolRow> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        Ok(Page::from_rows(page, rows.into_iter().map(Pool::from).collect()))
    }

    async fn pools_for(&self, verticals: &[String], at: DateTime<Utc>) -> Result<Vec<Pool>, StoreError> {
        if verticals.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec![Arg::I64(micros(at))];
        let l = in_list(&mut args, verticals.iter().cloned().map(Arg::Text));
        let sql = format!(
            "SELECT {POOL_COLUMNS} FROM {POOL_FROM}
             WHERE vertical IN ({l}) AND status = 'active' AND (expires_at IS NULL OR expires_at > $1)"
        );
        let rows: Vec<PoolRow> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        Ok(rows.into_iter().map(Pool::from).collect())
    }

    async fn pay_bounties(
        &self,
        lead: LeadId,
        seller: AccountId,
        payouts: &[(Uuid, Money)],
        at: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, Money)>, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let mut touched = vec![LedgerAccount::payable(seller), LedgerAccount::fees()];
            touched.extend(payouts.iter().map(|(pool, _)| LedgerAccount::pool(*pool)));
            lock_accounts!(tx, touched, at)?;
            let mut paid = Vec::new();
            for (pool, amount) in payouts {
                // Once per pool and lead: the payout row comes first.
                let fresh = sqlx::query(
                    "INSERT INTO bounty_payouts (pool_id, lead_id, amount, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (pool_id, lead_id) DO NOTHING",
                )
                .bind(pool)
                .bind(lead.as_uuid())
                .bind(amount.micros())
                .bind(micros(at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                    == 1;
                if !fresh {
                    continue;
                }
                let (to_seller, platform) = split(*amount);
                let m = Movement {
                    legs: vec![
                        leadex_core::market::Leg { account: LedgerAccount::pool(*pool), amount: -amount.micros() },
                        leadex_core::market::Leg {
                            account: LedgerAccount::payable(seller),
                            amount: to_seller.micros(),
                        },
                        leadex_core::market::Leg { account: LedgerAccount::fees(), amount: platform.micros() },
                    ],
                    reason: "bounty_paid",
                    reference: format!("lead:{lead}"),
                };
                match post!(tx, &m, at) {
                    Ok(_) => paid.push((*pool, *amount)),
                    Err(PostError::Insufficient) => {
                        // The pool ran dry: no payout from it.
                        sqlx::query("DELETE FROM bounty_payouts WHERE pool_id = $1 AND lead_id = $2")
                            .bind(pool)
                            .bind(lead.as_uuid())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    Err(PostError::Store(e)) => {
                        tx.rollback().await.map_err(map_err)?;
                        return Err(e);
                    }
                }
            }
            tx.commit().await.map_err(map_err)?;
            Ok(paid)
        })
    }

    async fn bounty_totals(&self) -> Result<Vec<BountyTotal>, StoreError> {
        let sql = format!(
            "SELECT vertical, COUNT(*), CAST(COALESCE(SUM(remaining), 0) AS BIGINT) FROM {POOL_FROM}
             WHERE status = 'active' GROUP BY vertical ORDER BY vertical"
        );
        let rows: Vec<(String, i64, i64)> =
            with_pool!(self, read, |p| sqlx::query_as(AssertSqlSafe(sql.clone())).fetch_all(p).await.map_err(map_err))?;
        Ok(rows
            .into_iter()
            .map(|(vertical, n, rem)| BountyTotal {
                vertical,
                pools: u64::try_from(n).unwrap_or(0),
                remaining: Money::from_micros(rem),
            })
            .collect())
    }
}

impl SqlStore {
    /// [`leadex_core::nft::NftStore::record_deposit`]: the deposit row and
    /// its credit (escrow → available) commit together or not at all.
    pub(crate) async fn record_deposit_tx(&self, d: &leadex_core::nft::ChainDeposit) -> Result<bool, StoreError> {
        let credit = d.account_id.map(|a| {
            Movement::transfer(
                LedgerAccount::escrow(),
                LedgerAccount::available(a),
                Money::from_micros(d.amount_micros),
                "deposit",
                format!("chain:{}:{}", d.tx_hash, d.log_index),
            )
        });
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let n = sqlx::query(
                "INSERT INTO chain_deposits (tx_hash, log_index, account_id, from_address, amount_micros, block_number,
                                             status, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tx_hash, log_index) DO NOTHING",
            )
            .bind(&d.tx_hash)
            .bind(d.log_index as i64)
            .bind(d.account_id.map(|a| a.as_uuid()))
            .bind(&d.from_address)
            .bind(d.amount_micros)
            .bind(d.block_number as i64)
            .bind(if credit.is_some() { "credited" } else { "unattributed" })
            .bind(micros(d.at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if n == 0 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(false);
            }
            if let Some(m) = &credit
                && let Err(e) = post!(tx, m, d.at)
            {
                tx.rollback().await.map_err(map_err)?;
                return Err(StoreError::from(e));
            }
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PayoutRow {
    id: Uuid,
    kind: String,
    account_id: Uuid,
    to_address: String,
    amount_micros: i64,
    status: String,
    chain_tx_id: Option<Uuid>,
    created_at: i64,
    finished_at: Option<i64>,
}

pub(crate) const PAYOUT_COLUMNS: &str =
    "id, kind, account_id, to_address, amount_micros, status, chain_tx_id, created_at, finished_at";

impl TryFrom<PayoutRow> for leadex_core::nft::Payout {
    type Error = StoreError;
    fn try_from(r: PayoutRow) -> Result<Self, StoreError> {
        use leadex_core::nft::PayoutKind;
        let kind = match r.kind.as_str() {
            "withdrawal" => PayoutKind::Withdrawal,
            "payout" => PayoutKind::Payout,
            _ => return Err(StoreError::Corrupt("chain_payouts.kind".into())),
        };
        Ok(Self {
            id: r.id,
            kind,
            account_id: AccountId::from_uuid(r.account_id),
            to_address: r.to_address,
            amount_micros: r.amount_micros,
            status: r.status,
            chain_tx_id: r.chain_tx_id,
            created_at: leadex_core::clock::from_micros(r.created_at),
            finished_at: r.finished_at.map(leadex_core::clock::from_micros),
        })
    }
}

/// The ledger account a payout's money came from.
fn payout_source(kind: &str, account: AccountId) -> LedgerAccount {
    if kind == "withdrawal" { LedgerAccount::available(account) } else { LedgerAccount::payable(account) }
}

impl SqlStore {
    pub(crate) async fn request_withdrawal_tx(&self, w: &leadex_core::nft::Payout) -> Result<bool, StoreError> {
        let m = Movement::transfer(
            LedgerAccount::available(w.account_id),
            LedgerAccount::outbound(),
            Money::from_micros(w.amount_micros),
            "withdrawal",
            format!("withdrawal:{}", w.id),
        );
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            match post!(tx, &m, w.created_at) {
                Ok(_) => {}
                Err(PostError::Insufficient) => {
                    tx.rollback().await.map_err(map_err)?;
                    return Ok(false);
                }
                Err(PostError::Store(e)) => return Err(e),
            }
            sqlx::query(
                "INSERT INTO chain_payouts (id, kind, account_id, to_address, amount_micros, status, created_at)
                 VALUES ($1, 'withdrawal', $2, $3, $4, 'queued', $5)",
            )
            .bind(w.id)
            .bind(w.account_id.as_uuid())
            .bind(&w.to_address)
            .bind(w.amount_micros)
            .bind(micros(w.created_at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    pub(crate) async fn queue_seller_payouts_tx(&self, min_micros: i64, at: DateTime<Utc>) -> Result<u64, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let due: Vec<(Uuid, i64, String)> = sqlx::query_as(
                "SELECT a.owner_id, a.balance, w.address FROM ledger_accounts a
                 JOIN buyer_wallets w ON w.account_id = a.owner_id
                 WHERE a.kind = 'payable' AND a.balance >= $1 AND a.balance > 0",
            )
            .bind(min_micros)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            for (owner, balance, address) in &due {
                let id = Uuid::now_v7();
                let m = Movement::transfer(
                    LedgerAccount::payable(AccountId::from_uuid(*owner)),
                    LedgerAccount::outbound(),
                    Money::from_micros(*balance),
                    "payout",
                    format!("payout:{id}"),
                );
                if let Err(e) = post!(tx, &m, at) {
                    tx.rollback().await.map_err(map_err)?;
                    return Err(StoreError::from(e));
                }
                sqlx::query(
                    "INSERT INTO chain_payouts (id, kind, account_id, to_address, amount_micros, status, created_at)
                     VALUES ($1, 'payout', $2, $3, $4, 'queued', $5)",
                )
                .bind(id)
                .bind(owner)
                .bind(address)
                .bind(balance)
                .bind(micros(at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            tx.commit().await.map_err(map_err)?;
            Ok(due.len() as u64)
        })
    }

    pub(crate) async fn settle_payouts_tx(&self, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let finished: Vec<(Uuid, String, Uuid, i64, String)> = with_pool!(self, write, |p| sqlx::query_as(
            "SELECT p.id, p.kind, p.account_id, p.amount_micros, t.status FROM chain_payouts p
             JOIN chain_txs t ON t.id = p.chain_tx_id
             WHERE p.status = 'sending' AND t.status <> 'pending'"
        )
        .fetch_all(p)
        .await
        .map_err(map_err))?;
        let mut moved = 0;
        for (id, kind, account, amount, tx_status) in finished {
            let account = AccountId::from_uuid(account);
            let (to_status, movement) = match tx_status.as_str() {
                "confirmed" => (
                    "paid",
                    Some(Movement::transfer(
                        LedgerAccount::outbound(),
                        LedgerAccount::escrow(),
                        Money::from_micros(amount),
                        "paid_out",
                        format!("{kind}:{id}"),
                    )),
                ),
                "reverted" => (
                    "failed",
                    Some(Movement::transfer(
                        LedgerAccount::outbound(),
                        payout_source(&kind, account),
                        Money::from_micros(amount),
                        "payout_failed",
                        format!("{kind}:{id}"),
                    )),
                ),
                _ => ("queued", None),
            };
            let done = with_pool!(self, write, |p| {
                let mut tx = p.begin_write().await.map_err(map_err)?;
                let n = sqlx::query(
                    "UPDATE chain_payouts SET status = $2,
                            chain_tx_id = CASE WHEN $2 = 'queued' THEN NULL ELSE chain_tx_id END,
                            finished_at = CASE WHEN $2 = 'queued' THEN NULL ELSE $3 END
                     WHERE id = $1 AND status = 'sending'",
                )
                .bind(id)
                .bind(to_status)
                .bind(micros(at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected();
                if n == 1
                    && let Some(m) = &movement
                    && let Err(e) = post!(tx, m, at)
                {
                    tx.rollback().await.map_err(map_err)?;
                    return Err(StoreError::from(e));
                }
                tx.commit().await.map_err(map_err)?;
                Ok::<u64, StoreError>(n)
            })?;
            moved += done;
        }
        Ok(moved)
    }
}
