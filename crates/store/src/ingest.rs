//! Group commit of lead ingestion on SQLite.
//!
//! SQLite has one writer, so a transaction per lead serialises every
//! submission behind a full `BEGIN … COMMIT` of ~8 statements, each a
//! hand-off between a tokio worker and the SQLite worker thread. Here one
//! task owns ingestion writes: it drains whatever submissions are waiting
//! (up to [`MAX_GROUP`] leads), and runs them as one `BEGIN IMMEDIATE`
//! transaction:
//!
//! 1. read the idempotency keys, contact rows and cap counters the group
//!    touches (one keyed join each);
//! 2. decide every lead in arrival order in memory — replay, idempotency
//!    mismatch, duplicate, cap reached or accepted — applying each accepted
//!    lead's effects before deciding the next, exactly as if the leads had
//!    committed one after the other;
//! 3. write the accepted leads' rows as multi-row inserts, [`CHUNK`] leads
//!    per statement batch;
//! 4. commit, then answer every submitter.
//!
//! `BEGIN IMMEDIATE` takes the write lock before the reads, so the decisions
//! hold even when another process writes the same file. A lead is answered
//! only after its group committed, so an accepted (202) lead is durable. If
//! the group transaction fails, its leads are retried one by one on the
//! single-lead path, so one bad lead cannot fail its neighbours.
//! ADR 0008 records the measurements behind this design.

use std::collections::HashMap;

use leadex_core::model::{IngestError, IngestLead, IngestOutcome, LeadRecord, NewJob};
use leadex_core::ports::StoreError;
use serde_json::Value;
use sqlx::sqlite::SqlitePool;
use sqlx::types::Json;
use sqlx::{QueryBuilder, Sqlite};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use leadex_domain::LeadId;

use crate::{BeginWrite, LEAD_INSERT_COLUMNS, days_since_epoch, map_err, micros, push_jobs_insert};

/// Most leads one group transaction decides. Larger groups amortise more but
/// hold the writer longer; a single `:batch` request larger than this still
/// runs as one group.
pub(crate) const MAX_GROUP: usize = 512;

/// Leads per multi-row write (~45 bound parameters per lead with its PII and
/// job, well under SQLite's 32 766).
const CHUNK: usize = 128;

/// Submissions waiting for the group writer; senders wait when it is full.
const QUEUE: usize = 4096;

type Answer = Result<IngestOutcome, IngestError>;

/// A submitter's leads and where to send their answers.
#[derive(Debug)]
pub(crate) struct Submission {
    reqs: Vec<IngestLead>,
    reply: oneshot::Sender<Vec<Answer>>,
}

/// The handle `SqlStore` keeps to the group writer.
pub(crate) type GroupSender = mpsc::Sender<Submission>;

/// Starts the group writer on `write` (the one-connection writer pool). It
/// stops when every sender is dropped.
pub(crate) fn spawn_group_writer(write: SqlitePool) -> GroupSender {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(group_writer(write, rx));
    tx
}

/// Hands `reqs` to the group writer and waits for their answers, in order.
pub(crate) async fn submit(sender: &GroupSender, reqs: Vec<IngestLead>) -> Vec<Answer> {
    let n = reqs.len();
    let (reply, answer) = oneshot::channel();
    let gone = || (0..n).map(|_| Err(IngestError::Store(StoreError::Unavailable("the store is closed".into()))));
    if sender.send(Submission { reqs, reply }).await.is_err() {
        return gone().collect();
    }
    answer.await.unwrap_or_else(|_| gone().collect())
}

async fn group_writer(pool: SqlitePool, mut rx: mpsc::Receiver<Submission>) {
    let mut carry: Option<Submission> = None;
    loop {
        let first = match carry.take() {
            Some(s) => s,
            None => match rx.recv().await {
                Some(s) => s,
                None => return,
            },
        };
        let mut total = first.reqs.len();
        let mut group = vec![first];
        while total < MAX_GROUP {
            match rx.try_recv() {
                Ok(s) if total + s.reqs.len() > MAX_GROUP => {
                    carry = Some(s);
                    break;
                }
                Ok(s) => {
                    total += s.reqs.len();
                    group.push(s);
                }
                Err(_) => break,
            }
        }
        let reqs: Vec<&IngestLead> = group.iter().flat_map(|s| s.reqs.iter()).collect();
        let mut answers = run_group(&pool, &reqs).await.into_iter();
        for s in group {
            let mine: Vec<Answer> = answers.by_ref().take(s.reqs.len()).collect();
            // The submitter may have gone (request cancelled): its leads are
            // committed all the same.
            let _ = s.reply.send(mine);
        }
    }
}

/// Runs one group, falling back to one transaction per lead on failure.
async fn run_group(pool: &SqlitePool, reqs: &[&IngestLead]) -> Vec<Answer> {
    match try_group(pool, reqs).await {
        Ok(answers) => answers,
        Err(StoreError::Unavailable(msg)) => {
            reqs.iter().map(|_| Err(IngestError::Store(StoreError::Unavailable(msg.clone())))).collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, leads = reqs.len(), "group ingest failed; retrying its leads one by one");
            let mut out = Vec::with_capacity(reqs.len());
            for r in reqs {
                out.push(ingest_one!(Sqlite, pool, r));
            }
            out
        }
    }
}

/// (root vertical, contact hash).
type ContactKey = (String, Vec<u8>);
/// (seller, vertical, day since the epoch).
type CounterKey = (Uuid, String, i64);

/// Keys of the rows a group reads, and what it learnt and changed.
#[derive(Default)]
struct GroupState {
    /// (account, key) → (request hash, stored response).
    idempotency: HashMap<(Uuid, String), (String, Value)>,
    /// (root vertical, contact hash) → (lead id, seen at µs).
    contacts: HashMap<ContactKey, (Uuid, i64)>,
    /// (seller, vertical, day) → count.
    counters: HashMap<CounterKey, i64>,
}

async fn try_group(pool: &SqlitePool, reqs: &[&IngestLead]) -> Result<Vec<Answer>, StoreError> {
    let mut tx = pool.begin_write().await.map_err(map_err)?;
    let mut st = read_state(&mut tx, reqs).await?;

    // Decide in arrival order, applying each acceptance before the next.
    let mut answers: Vec<Answer> = Vec::with_capacity(reqs.len());
    let mut accepted: Vec<&IngestLead> = Vec::with_capacity(reqs.len());
    let mut new_keys: Vec<&IngestLead> = Vec::new();
    let mut touched_contacts: Vec<ContactKey> = Vec::new();
    let mut touched_counters: Vec<CounterKey> = Vec::new();
    for &req in reqs {
        let lead = &req.lead;
        let seller = lead.seller_id.as_uuid();
        if let Some(idem) = &req.idempotency
            && let Some((hash, response)) = st.idempotency.get(&(seller, idem.key.clone()))
        {
            answers.push(if *hash == idem.request_hash {
                Ok(IngestOutcome::Replayed(response.clone()))
            } else {
                Err(IngestError::IdempotencyMismatch)
            });
            continue;
        }
        let since = micros(req.duplicate_since);
        let first = req.contact_hashes.iter().find_map(|h| {
            st.contacts
                .get(&(lead.root_vertical.clone(), h.to_vec()))
                .and_then(|(id, seen)| (*seen >= since).then_some(*id))
        });
        if let Some(first) = first {
            answers.push(Err(IngestError::Duplicate(LeadId::from_uuid(first))));
            continue;
        }
        let counter = (seller, lead.vertical.clone(), days_since_epoch(req.cap_day));
        let count = st.counters.get(&counter).copied().unwrap_or(0);
        if req.daily_cap == 0 || count >= i64::from(req.daily_cap) {
            answers.push(Err(IngestError::DailyCapReached));
            continue;
        }
        // Accepted: its effects are visible to the leads after it.
        st.counters.insert(counter.clone(), count + 1);
        touched_counters.push(counter);
        for h in &req.contact_hashes {
            let k = (lead.root_vertical.clone(), h.to_vec());
            st.contacts.insert(k.clone(), (lead.id.as_uuid(), micros(lead.created_at)));
            touched_contacts.push(k);
        }
        if let Some(idem) = &req.idempotency {
            st.idempotency.insert((seller, idem.key.clone()), (idem.request_hash.clone(), idem.response.clone()));
            new_keys.push(req);
        }
        accepted.push(req);
        answers.push(Ok(IngestOutcome::Accepted));
    }

    if !accepted.is_empty() {
        touched_contacts.sort();
        touched_contacts.dedup();
        touched_counters.sort();
        touched_counters.dedup();
        write_side_rows(&mut tx, &st, &new_keys, &touched_contacts, &touched_counters).await?;
        for chunk in accepted.chunks(CHUNK) {
            write_leads(&mut tx, chunk).await?;
        }
    }
    tx.commit().await.map_err(map_err)?;
    Ok(answers)
}

/// Reads every row the group's decisions depend on.
async fn read_state(tx: &mut sqlx::SqliteConnection, reqs: &[&IngestLead]) -> Result<GroupState, StoreError> {
    let mut st = GroupState::default();

    let keyed: Vec<(Uuid, &str)> = reqs
        .iter()
        .filter_map(|r| r.idempotency.as_ref().map(|i| (r.lead.seller_id.as_uuid(), i.key.as_str())))
        .collect();
    if !keyed.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH v(a, k) AS (");
        qb.push_values(&keyed, |mut b, (a, k)| {
            b.push_bind(*a).push_bind((*k).to_owned());
        });
        qb.push(
            ") SELECT i.account_id, i.key, i.request_hash, i.response FROM v
               CROSS JOIN idempotency_keys i ON i.account_id = v.a AND i.key = v.k",
        );
        let rows: Vec<(Uuid, String, String, Json<Value>)> =
            qb.build_query_as().fetch_all(&mut *tx).await.map_err(map_err)?;
        for (a, k, hash, Json(response)) in rows {
            st.idempotency.insert((a, k), (hash, response));
        }
    }

    let hashes: Vec<(&str, &[u8; 32])> =
        reqs.iter().flat_map(|r| r.contact_hashes.iter().map(|h| (r.lead.root_vertical.as_str(), h))).collect();
    if !hashes.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH v(r, h) AS (");
        qb.push_values(&hashes, |mut b, (r, h)| {
            b.push_bind((*r).to_owned()).push_bind(h.to_vec());
        });
        qb.push(
            ") SELECT c.root_vertical, c.contact_hash, c.lead_id, c.seen_at FROM v
               CROSS JOIN lead_contacts c ON c.root_vertical = v.r AND c.contact_hash = v.h",
        );
        let rows: Vec<(String, Vec<u8>, Uuid, i64)> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(map_err)?;
        for (r, h, lead, seen) in rows {
            st.contacts.insert((r, h), (lead, seen));
        }
    }

    let counters: Vec<(Uuid, &str, i64)> = reqs
        .iter()
        .map(|r| (r.lead.seller_id.as_uuid(), r.lead.vertical.as_str(), days_since_epoch(r.cap_day)))
        .collect();
    if !counters.is_empty() {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH v(s, vt, d) AS (");
        qb.push_values(&counters, |mut b, (s, vt, d)| {
            b.push_bind(*s).push_bind((*vt).to_owned()).push_bind(*d);
        });
        qb.push(
            ") SELECT c.seller_id, c.vertical, c.day, c.count FROM v
               CROSS JOIN ingest_counters c ON c.seller_id = v.s AND c.vertical = v.vt AND c.day = v.d",
        );
        let rows: Vec<(Uuid, String, i64, i64)> = qb.build_query_as().fetch_all(&mut *tx).await.map_err(map_err)?;
        for (s, vt, d, count) in rows {
            st.counters.insert((s, vt, d), count);
        }
    }
    Ok(st)
}

/// Idempotency keys, contact rows and cap counters of the accepted leads,
/// as one multi-statement batch.
async fn write_side_rows(
    tx: &mut sqlx::SqliteConnection,
    st: &GroupState,
    new_keys: &[&IngestLead],
    contacts: &[ContactKey],
    counters: &[CounterKey],
) -> Result<(), StoreError> {
    let mut qb = QueryBuilder::<Sqlite>::new("");
    if !new_keys.is_empty() {
        qb.push("INSERT INTO idempotency_keys (account_id, key, request_hash, response, created_at) ");
        qb.push_values(new_keys, |mut b, r| {
            if let Some(i) = &r.idempotency {
                b.push_bind(r.lead.seller_id.as_uuid())
                    .push_bind(i.key.clone())
                    .push_bind(i.request_hash.clone())
                    .push_bind(Json(i.response.clone()))
                    .push_bind(micros(r.lead.created_at));
            }
        });
        qb.push("; ");
    }
    let contact_rows: Vec<(&ContactKey, &(Uuid, i64))> =
        contacts.iter().filter_map(|k| st.contacts.get(k).map(|v| (k, v))).collect();
    if !contact_rows.is_empty() {
        qb.push("INSERT INTO lead_contacts (root_vertical, contact_hash, lead_id, seen_at) ");
        qb.push_values(contact_rows, |mut b, ((r, h), (lead, seen))| {
            b.push_bind(r.clone()).push_bind(h.clone()).push_bind(*lead).push_bind(*seen);
        });
        qb.push(
            " ON CONFLICT (root_vertical, contact_hash) DO UPDATE
                SET lead_id = excluded.lead_id, seen_at = excluded.seen_at; ",
        );
    }
    let counter_rows: Vec<(&CounterKey, i64)> =
        counters.iter().filter_map(|k| st.counters.get(k).map(|c| (k, *c))).collect();
    if !counter_rows.is_empty() {
        qb.push("INSERT INTO ingest_counters (seller_id, vertical, day, count) ");
        qb.push_values(counter_rows, |mut b, ((s, vt, d), c)| {
            b.push_bind(*s).push_bind(vt.clone()).push_bind(*d).push_bind(c);
        });
        qb.push(" ON CONFLICT (seller_id, vertical, day) DO UPDATE SET count = excluded.count; ");
    }
    if new_keys.is_empty() && contacts.is_empty() && counters.is_empty() {
        return Ok(());
    }
    qb.build().execute(&mut *tx).await.map_err(map_err)?;
    Ok(())
}

/// Leads, their sealed PII and their `score_lead` jobs, as one
/// multi-statement batch.
async fn write_leads(tx: &mut sqlx::SqliteConnection, chunk: &[&IngestLead]) -> Result<(), StoreError> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!("INSERT INTO leads ({LEAD_INSERT_COLUMNS}) "));
    qb.push_values(chunk.iter().map(|r| &r.lead), |mut b, l: &LeadRecord| push_lead_tuple!(b, l));
    qb.push("; INSERT INTO lead_pii (lead_id, key_id, nonce, ciphertext) ");
    qb.push_values(chunk, |mut b, r| {
        b.push_bind(r.lead.id.as_uuid())
            .push_bind(r.pii.key_id.clone())
            .push_bind(r.pii.nonce.clone())
            .push_bind(r.pii.ciphertext.clone());
    });
    qb.push("; ");
    push_jobs_insert(&mut qb, chunk.iter().map(|r| &r.job));
    qb.build().execute(&mut *tx).await.map_err(map_err)?;
    Ok(())
}
