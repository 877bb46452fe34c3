//! The job queue on both engines.
//!
//! A claim is one short transaction: select ready jobs (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL so concurrent claimers never wait on each other;
//! SQLite has a single writer), take per-vertical slots (rows locked in
//! sorted order, so two claimers cannot deadlock), mark the chosen jobs
//! running with a lease. Every transition out of `running` gives its slot
//! back in the same transaction, so slot counts cannot drift, and the
//! reaper heals what a dead worker left behind.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadex_core::cursor::{Page, PageRequest};
use leadex_core::model::{ClaimRequest, FailOutcome, JobFilter, JobRecord, NewJob, QueueDepth, QueueStats, priority};
use leadex_core::ports::{JobQueue, StoreError};
use leadex_domain::JobId;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use crate::rows::{JOB_COLUMNS, JobRow};
use crate::{Arg, BeginWrite, Db, SqlStore, in_list, keyset, map_err, micros, push, state_is, where_clause};

/// Gives back one slot per job of each vertical in `verticals`: one
/// statement for all of them (two on PostgreSQL, which first locks the rows
/// in sorted order so that concurrent releases cannot deadlock).
macro_rules! release_slots {
    ($exec:expr, $postgres:expr, $verticals:expr) => {{
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for v in $verticals.into_iter().flatten() {
            *counts.entry(v).or_default() += 1;
        }
        if !counts.is_empty() {
            if $postgres {
                let (sql, args) = lock_slots(counts.keys(), true);
                bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *$exec).await.map_err(map_err)?;
            }
            let (sql, args) = change_slots("-", &counts);
            bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *$exec).await.map_err(map_err)?;
        }
    }};
}

/// `running = running <op> n` for every `(vertical, n)` of `counts`, as one
/// statement (a multi-statement loop here cost a writer round trip per
/// vertical on every claim and completion).
fn change_slots(op: &str, counts: &BTreeMap<String, i64>) -> (String, Vec<Arg>) {
    let mut args = Vec::with_capacity(counts.len() * 2);
    let rows: Vec<String> = counts
        .iter()
        .map(|(v, n)| {
            let v = push(&mut args, Arg::Text(v.clone()));
            let n = push(&mut args, Arg::I64(*n));
            format!("(CAST({v} AS TEXT), CAST({n} AS BIGINT))")
        })
        .collect();
    let sql = format!(
        "UPDATE vertical_slots SET running = running {op} v.column2 FROM (VALUES {}) AS v
         WHERE vertical_slots.vertical = v.column1",
        rows.join(", ")
    );
    (sql, args)
}

/// The slot rows of `verticals` (sorted), locked in that order on
/// PostgreSQL (`lock`).
fn lock_slots<'v>(verticals: impl IntoIterator<Item = &'v String>, lock: bool) -> (String, Vec<Arg>) {
    let mut args = Vec::new();
    let l = in_list(&mut args, verticals.into_iter().map(|v| Arg::Text(v.clone())));
    let lock = if lock { " FOR UPDATE" } else { "" };
    (format!("SELECT vertical, running FROM vertical_slots WHERE vertical IN ({l}) ORDER BY vertical{lock}"), args)
}

/// Settings of a PostgreSQL claim transaction: no sorts (see
/// [`claim_select`]), and an asynchronous commit (see [`ASYNC_COMMIT`]).
const PIN_CLAIM_PLAN: &str =
    "SELECT set_config('enable_sort', 'off', true), set_config('synchronous_commit', 'off', true)";

/// The queue's own bookkeeping (claims, completions) commits without
/// waiting for the WAL flush on PostgreSQL: losing one in a database crash
/// only re-runs an idempotent job after its lease expires — what a worker
/// crash does anyway — while a synchronous commit stalls every claim behind
/// a slow fsync (1.0–1.2 s stalls were measured here, the whole p99 of
/// scheduling accuracy). State changes made by handlers, and the jobs they
/// enqueue, stay synchronous.
const ASYNC_COMMIT: &str = "SELECT set_config('synchronous_commit', 'off', true)";

/// The claim's candidate query: ready jobs of each priority level in
/// `(run_at, id)` order, up to `fetch` per level, lower levels first.
///
/// Each level is its own range of the `jobs_queued` partial index
/// `(priority, run_at, id)`, walked in order and stopped after `fetch` rows;
/// one ordered walk over all levels would first pass every *scheduled* job
/// of a lower level (e.g. 18 000 closes due in the next minute). Without
/// statistics (a table bulk-filled since its last analyze) both planners
/// prefer `jobs_kind` for the `kind IN` filter and then sort the whole
/// backlog: 100 ms instead of 0.4 ms per claim with 100 000 queued jobs. So
/// the plan is pinned: `INDEXED BY` on SQLite; on PostgreSQL the claim
/// transaction disables sorts ([`PIN_CLAIM_PLAN`]), which leaves the
/// ordered index scan as the only sensible plan.
///
/// `$1` is now; deadline jobs are taken up to `ahead_us` microseconds
/// before they are due (a constant per worker, so the text stays the same).
fn claim_select(postgres: bool, kinds: &str, levels: &[(i16, u64)], ahead_us: i64) -> String {
    let (lock, indexed) = if postgres { (" FOR UPDATE SKIP LOCKED", "") } else { ("", " INDEXED BY jobs_queued") };
    levels
        .iter()
        .map(|(level, fetch)| {
            let due =
                if *level == priority::DEADLINE && ahead_us > 0 { format!("$1 + {ahead_us}") } else { "$1".into() };
            format!(
                "SELECT * FROM (SELECT id, vertical, priority, run_at FROM jobs{indexed}
                   WHERE status = 'queued' AND priority = {level} AND run_at <= {due}{kinds}
                   ORDER BY run_at, id LIMIT {fetch}{lock}) p{level}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

impl SqlStore {
    /// The query plan of a claim for `kinds`, as the engine prints it
    /// (operators and the conformance suite: it must be an ordered index
    /// scan, never a sort of the backlog).
    pub async fn explain_claim(&self, kinds: &[String]) -> Result<String, StoreError> {
        let postgres = self.postgres();
        let mut args = vec![Arg::I64(i64::MAX)];
        let kinds = format!(" AND kind IN ({})", in_list(&mut args, kinds.iter().cloned().map(Arg::Text)));
        let prefix = if postgres { "EXPLAIN " } else { "EXPLAIN QUERY PLAN " };
        let levels: Vec<(i16, u64)> = priority::LEVELS.iter().map(|l| (*l, 512)).collect();
        let sql = format!("{prefix}{}", claim_select(postgres, &kinds, &levels, 0));
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            if postgres {
                sqlx::query(PIN_CLAIM_PLAN).execute(&mut *tx).await.map_err(map_err)?;
            }
            let rows = bind_args!(sqlx::query(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(&mut *tx)
                .await
                .map_err(map_err)?;
            tx.rollback().await.map_err(map_err)?;
            // PostgreSQL: one text column; SQLite: (id, parent, notused, detail).
            let col = if postgres { 0 } else { 3 };
            let lines: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>(col).unwrap_or_default()).collect();
            Ok(lines.join("\n"))
        })
    }
}

#[async_trait]
impl JobQueue for SqlStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<u64, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let mut n = 0;
            for j in jobs {
                n += insert_job!(&mut *tx, j)?;
            }
            tx.commit().await.map_err(map_err)?;
            Ok(n)
        })
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<Vec<JobRecord>, StoreError> {
        if req.limit == 0 {
            return Ok(Vec::new());
        }
        let postgres = self.postgres();
        let ahead_us = req.deadline_until.map_or(0, |u| (micros(u) - micros(req.now)).max(0));
        let mut args = vec![Arg::I64(micros(req.now))];
        let kinds = match &req.kinds {
            Some(k) if k.is_empty() => return Ok(Vec::new()),
            Some(k) => format!(" AND kind IN ({})", in_list(&mut args, k.iter().cloned().map(Arg::Text))),
            None => String::new(),
        };
        // Most to take per level: the request's caps, within its limit.
        let caps: BTreeMap<i16, u32> = match &req.levels {
            Some(levels) => levels.iter().map(|(l, n)| (*l, (*n).min(req.limit))).filter(|(_, n)| *n > 0).collect(),
            None => priority::LEVELS.iter().map(|l| (*l, req.limit)).collect(),
        };
        if caps.is_empty() {
            return Ok(Vec::new());
        }
        // Over-fetch so jobs of verticals at their limit do not starve the
        // batch; what is not taken stays queued.
        let levels: Vec<(i16, u64)> = caps.iter().map(|(l, n)| (*l, u64::from(*n) * 2)).collect();
        let select = claim_select(postgres, &kinds, &levels, ahead_us);
        let rows: Vec<JobRow> = with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            if postgres {
                sqlx::query(PIN_CLAIM_PLAN).execute(&mut *tx).await.map_err(map_err)?;
            }
            let mut candidates: Vec<(Uuid, Option<String>, i16, i64)> =
                bind_args!(sqlx::query_as(AssertSqlSafe(select.clone())), args.clone())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?;
            candidates.sort_by_key(|(id, _, level, run_at)| (*level, *run_at, *id));
            if candidates.is_empty() {
                tx.rollback().await.map_err(map_err)?;
                return Ok(Vec::new());
            }
            // Free slots per vertical, locked in sorted order.
            let mut wanted: BTreeMap<String, u32> = BTreeMap::new();
            for (_, v, _, _) in &candidates {
                if let Some(v) = v {
                    *wanted.entry(v.clone()).or_default() += 1;
                }
            }
            let mut free: BTreeMap<String, i64> = BTreeMap::new();
            if !wanted.is_empty() {
                let mut args = Vec::with_capacity(wanted.len());
                let rows: Vec<String> =
                    wanted.keys().map(|v| format!("({}, 0)", push(&mut args, Arg::Text(v.clone())))).collect();
                let sql = format!(
                    "INSERT INTO vertical_slots (vertical, running) VALUES {} ON CONFLICT (vertical) DO NOTHING",
                    rows.join(", ")
                );
                bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *tx).await.map_err(map_err)?;
                let (sql, args) = lock_slots(wanted.keys(), postgres);
                let running: Vec<(String, i64)> =
                    bind_args!(sqlx::query_as(AssertSqlSafe(sql)), args).fetch_all(&mut *tx).await.map_err(map_err)?;
                for (v, running) in running {
                    let limit = i64::from(req.vertical_limit(&v));
                    free.insert(v, (limit - running).max(0));
                }
            }
            let mut chosen = Vec::new();
            let mut taken: BTreeMap<String, i64> = BTreeMap::new();
            let mut level_left = caps.clone();
            for (id, v, level, _) in candidates {
                if chosen.len() >= req.limit as usize {
                    break;
                }
                let Some(left) = level_left.get_mut(&level).filter(|n| **n > 0) else { continue };
                if let Some(v) = v {
                    let f = free.entry(v.clone()).or_default();
                    if *f == 0 {
                        continue;
                    }
                    *f -= 1;
                    *taken.entry(v).or_default() += 1;
                }
                *left -= 1;
                chosen.push(id);
            }
            if chosen.is_empty() {
                tx.rollback().await.map_err(map_err)?;
                return Ok(Vec::new());
            }
            if !taken.is_empty() {
                let (sql, args) = change_slots("+", &taken);
                bind_args!(sqlx::query(AssertSqlSafe(sql)), args).execute(&mut *tx).await.map_err(map_err)?;
            }
            let mut uargs =
                vec![Arg::Text(req.worker.clone()), Arg::I64(micros(req.lease_until)), Arg::I64(micros(req.now))];
            let ids = in_list(&mut uargs, chosen.iter().copied().map(Arg::Uuid));
            let update = format!(
                "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1,
                        started_at = $3, finished_at = NULL, updated_at = $3
                 WHERE id IN ({ids}) AND {}
                 RETURNING {JOB_COLUMNS}",
                state_is("status", "queued")
            );
            let rows: Vec<JobRow> =
                bind_args!(sqlx::query_as(AssertSqlSafe(update)), uargs).fetch_all(&mut *tx).await.map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            rows
        });
        let mut jobs = rows.into_iter().map(JobRecord::try_from).collect::<Result<Vec<_>, _>>()?;
        jobs.sort_by_key(|j| (j.priority, j.run_at, j.id));
        Ok(jobs)
    }

    async fn heartbeat(&self, ids: &[JobId], worker: &str, until: DateTime<Utc>) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut args = vec![Arg::I64(micros(until)), Arg::Text(worker.to_owned())];
        let l = in_list(&mut args, ids.iter().map(|i| Arg::Uuid(i.as_uuid())));
        let sql = format!(
            "UPDATE jobs SET locked_until = $1 WHERE id IN ({l}) AND {} AND locked_by = $2",
            state_is("status", "running")
        );
        with_pool!(self, write, |p| bind_args!(sqlx::query(AssertSqlSafe(sql.clone())), args.clone())
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(map_err))
    }

    async fn complete(&self, ids: &[JobId], worker: &str, at: DateTime<Utc>) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut args = vec![Arg::I64(micros(at)), Arg::Text(worker.to_owned())];
        let l = in_list(&mut args, ids.iter().map(|i| Arg::Uuid(i.as_uuid())));
        let sql = format!(
            "UPDATE jobs SET status = 'done', locked_until = NULL, finished_at = $1, updated_at = $1
             WHERE id IN ({l}) AND {} AND locked_by = $2
             RETURNING vertical",
            state_is("status", "running")
        );
        let postgres = self.postgres();
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            if postgres {
                sqlx::query(ASYNC_COMMIT).execute(&mut *tx).await.map_err(map_err)?;
            }
            let verticals: Vec<Option<String>> =
                bind_args!(sqlx::query_scalar(AssertSqlSafe(sql.clone())), args.clone())
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err)?;
            let n = verticals.len() as u64;
            release_slots!(tx, postgres, verticals);
            tx.commit().await.map_err(map_err)?;
            Ok(n)
        })
    }

    async fn fail(
        &self,
        id: JobId,
        worker: &str,
        error: &str,
        retry_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<FailOutcome, StoreError> {
        let postgres = self.postgres();
        let error: String = error.chars().take(4_000).collect();
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let row: Option<(String, Option<String>)> = sqlx::query_as(
                "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                        run_at = $1, last_error = $2, locked_until = NULL, finished_at = $3, updated_at = $3
                 WHERE id = $4 AND status = 'running' AND locked_by = $5
                 RETURNING status, vertical",
            )
            .bind(micros(retry_at))
            .bind(&error)
            .bind(micros(at))
            .bind(id.as_uuid())
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some((status, vertical)) = row else {
                tx.rollback().await.map_err(map_err)?;
                return Ok(FailOutcome::Lost);
            };
            release_slots!(tx, postgres, [vertical]);
            tx.commit().await.map_err(map_err)?;
            Ok(if status == "dead" { FailOutcome::Dead } else { FailOutcome::Retrying })
        })
    }

    async fn release(&self, id: JobId, worker: &str) -> Result<bool, StoreError> {
        let postgres = self.postgres();
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let row: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE jobs SET status = 'queued', attempts = attempts - 1, locked_until = NULL
                 WHERE id = $1 AND status = 'running' AND locked_by = $2
                 RETURNING vertical",
            )
            .bind(id.as_uuid())
            .bind(worker)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            let Some(vertical) = row else {
                tx.rollback().await.map_err(map_err)?;
                return Ok(false);
            };
            release_slots!(tx, postgres, [vertical]);
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    async fn reap(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let postgres = self.postgres();
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let verticals: Vec<Option<String>> = sqlx::query_scalar(
                "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
                        run_at = $1, last_error = 'lease expired: the worker stopped renewing it',
                        locked_until = NULL, updated_at = $1
                 WHERE status = 'running' AND locked_until < $1
                 RETURNING vertical",
            )
            .bind(micros(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?;
            let n = verticals.len() as u64;
            release_slots!(tx, postgres, verticals);
            tx.commit().await.map_err(map_err)?;
            Ok(n)
        })
    }

    async fn next_run_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        // One index lookup per level (see `claim_select`).
        let sql = priority::LEVELS
            .iter()
            .map(|l| {
                // Not MIN(run_at): on stale statistics PostgreSQL aggregated
                // the whole level (18 000 scheduled closes) instead of
                // reading its first index entry, 15–20 ms per wake-up.
                format!(
                    "SELECT * FROM (SELECT run_at AS m FROM jobs WHERE status = 'queued' AND priority = {l} \
                     ORDER BY run_at LIMIT 1) l{l}"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!("SELECT MIN(m) FROM ({sql}) levels");
        let t: Option<i64> = with_pool!(self, fresh, |p| sqlx::query_scalar(AssertSqlSafe(sql.clone()))
            .fetch_one(p)
            .await
            .map_err(map_err))?;
        Ok(t.map(leadex_core::clock::from_micros))
    }

    async fn list_jobs(&self, f: &JobFilter, page: &PageRequest) -> Result<Page<JobRecord>, StoreError> {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        if let Some(s) = &f.status {
            conds.push(format!("status = {}", push(&mut args, Arg::Text(s.clone()))));
        }
        if let Some(k) = &f.kind {
            conds.push(format!("kind = {}", push(&mut args, Arg::Text(k.clone()))));
        }
        if let Some(v) = &f.vertical {
            conds.push(format!("vertical = {}", push(&mut args, Arg::Text(v.clone()))));
        }
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs{}{tail}", where_clause(&conds));
        let rows: Vec<JobRow> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        let items = rows.into_iter().map(JobRecord::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(page, items))
    }

    async fn get_job(&self, id: JobId) -> Result<Option<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row: Option<JobRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id.as_uuid())
            .fetch_optional(p)
            .await
            .map_err(map_err))?;
        row.map(JobRecord::try_from).transpose()
    }

    async fn retry_job(&self, id: JobId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $1, locked_by = NULL, locked_until = NULL,
                    updated_at = $1
             WHERE id = $2 AND status = 'dead'"
        )
        .bind(micros(now))
        .bind(id.as_uuid())
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(map_err))
    }

    async fn delete_job(&self, id: JobId) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query("DELETE FROM jobs WHERE id = $1 AND status <> 'running'")
            .bind(id.as_uuid())
            .execute(p)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(map_err))
    }

    async fn queue_stats(&self, now: DateTime<Utc>) -> Result<QueueStats, StoreError> {
        let now_us = micros(now);
        let (depths, ready): (Vec<(String, String, i64)>, (Option<i64>, i64, i64)) = with_pool!(self, fresh, |p| {
            let d = sqlx::query_as(
                "SELECT kind, status, COUNT(*) FROM jobs WHERE status <> 'done' GROUP BY kind, status ORDER BY kind, status",
            )
            .fetch_all(p)
            .await
            .map_err(map_err)?;
            let r = sqlx::query_as(
                // SUM is NUMERIC on PostgreSQL: cast so both engines decode i64.
                "SELECT MIN(run_at),
                        CAST(COALESCE(SUM(CASE WHEN run_at <= $1 THEN 1 ELSE 0 END), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN run_at > $1 THEN 1 ELSE 0 END), 0) AS BIGINT)
                 FROM jobs WHERE status = 'queued'",
            )
            .bind(now_us)
            .fetch_one(p)
            .await
            .map_err(map_err)?;
            (d, r)
        });
        let (oldest, ready_n, scheduled) = ready;
        Ok(QueueStats {
            depths: depths
                .into_iter()
                .map(|(kind, status, count)| QueueDepth { kind, status, count: u64::try_from(count).unwrap_or(0) })
                .collect(),
            oldest_ready_age_secs: oldest.filter(|t| *t <= now_us).map_or(0.0, |t| (now_us - t) as f64 / 1e6),
            ready: u64::try_from(ready_n).unwrap_or(0),
            scheduled: u64::try_from(scheduled).unwrap_or(0),
        })
    }
}
