//! SQLite and PostgreSQL adapters of the leadex [`Store`] port.
//!
//! One [`SqlStore`] serves both engines: every method is written once, with
//! SQL text that both dialects accept (`$n` placeholders, `ON CONFLICT`,
//! `RETURNING`, row-value comparisons), and the [`with_pool!`] macro expands
//! its body once per engine so each expansion is checked against that
//! engine's concrete sqlx types. Where the dialects differ (JSON access) the
//! code branches explicitly. Rows are decoded through `FromRow` structs that
//! are generic over the row type.
//!
//! SQLite runs in WAL mode with one writer connection (SQLite allows one
//! writer at a time; queuing in the pool is cheaper than `SQLITE_BUSY`
//! retries) and a pool of read-only readers. PostgreSQL has a write pool on
//! the primary and a read pool on the replica (the primary when none is
//! configured).

mod rows;
pub mod testing;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadex_core::crypto::SealedPii;
use leadex_core::cursor::{Cursor, Direction, Page, PageRequest};
use leadex_core::model::{
    Account, ApiKeyInfo, Ask, AskQuery, FieldValue, IngestError, IngestLead, IngestOutcome, JobRecord, LeadQuery,
    LeadRecord, NewApiKey, NewJob, PiiAccess, Principal, ScoreAndOpen,
};
use leadex_core::ports::{Store, StoreError};
use leadex_domain::vertical::VerticalDef;
use leadex_domain::{AccountId, AskId, KeyId, LeadId};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Sqlite};
use uuid::Uuid;

use crate::rows::{AccountRow, AskRow, JOB_COLUMNS, JobRow, KeyRow, LeadRow, lead_columns};

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How to reach the database.
#[derive(Clone)]
pub struct StoreOptions {
    /// `postgres://…` selects PostgreSQL; `sqlite://path` or a plain path
    /// selects SQLite.
    pub url: String,
    /// Read replica (PostgreSQL only); reads use the primary when absent.
    pub replica_url: Option<String>,
    /// Connections per pool.
    pub max_connections: u32,
    /// How long to wait for a connection before reporting the database
    /// unavailable.
    pub acquire_timeout: Duration,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("url", &redact_url(&self.url))
            .field("replica_url", &self.replica_url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Hides the password of a database URL for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:[redacted]{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl StoreOptions {
    /// Options for `url` with defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), replica_url: None, max_connections: 16, acquire_timeout: Duration::from_secs(5) }
    }
}

#[derive(Clone, Debug)]
enum Db {
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        ingest: ingest::GroupSender,
        autobid: groups::GroupWriter<groups::AutoBidGroups>,
        closes: groups::GroupWriter<groups::CloseGroups>,
        scores: groups::GroupWriter<groups::ScoreGroups>,
        mints: groups::GroupWriter<groups::MintGroups>,
    },
    Postgres {
        write: PgPool,
        read: PgPool,
        replica: Arc<ReplicaHealth>,
        autobid: groups::GroupWriter<groups::AutoBidGroups>,
        closes: groups::GroupWriter<groups::CloseGroups>,
        scores: groups::GroupWriter<groups::ScoreGroups>,
    },
}

/// Whether list queries may go to the read replica. Without a replica the
/// read pool *is* the primary and this stays up. A read that finds the
/// replica unreachable marks it down and is retried on the primary; the
/// monitor (every 2 s) measures lag and brings it back up.
#[derive(Debug, Default)]
struct ReplicaHealth {
    /// A replica is configured (else the read pool is the primary).
    enabled: bool,
    down: std::sync::atomic::AtomicBool,
}

impl ReplicaHealth {
    fn is_up(&self) -> bool {
        !self.down.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set(&self, up: bool) {
        let was_up = !self.down.swap(!up, std::sync::atomic::Ordering::Relaxed);
        if was_up != up {
            if up {
                tracing::info!("read replica is back; list queries return to it");
            } else {
                tracing::warn!("read replica unreachable; list queries fall back to the primary");
            }
        }
        metrics::gauge!("leadex_db_replica_up").set(if up { 1.0 } else { 0.0 });
    }
}

/// Every 2 s: the replica's replay lag (`leadex_db_replica_lag_seconds`; 0
/// when it has replayed everything it received, so an idle primary does not
/// look like lag) and whether it answers at all.
async fn monitor_replica(read: PgPool, health: Arc<ReplicaHealth>) {
    const LAG: &str = "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8
                       ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8, 0) END";
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    loop {
        tick.tick().await;
        if read.is_closed() {
            return;
        }
        let probe = tokio::time::timeout(Duration::from_secs(2), sqlx::query_scalar::<_, f64>(LAG).fetch_one(&read));
        match probe.await {
            Ok(Ok(lag)) => {
                metrics::gauge!("leadex_db_replica_lag_seconds").set(lag);
                health.set(true);
            }
            _ => health.set(false),
        }
    }
}

/// The sqlx-backed store.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: Db,
}

/// Expands `$body` once per engine with `$pool` bound to that engine's
/// write (`write`) or read (`read`) pool.
macro_rules! with_pool {
    ($self:expr, write, |$pool:ident| $body:expr) => {
        match &$self.db {
            Db::Sqlite { write: $pool, .. } => $body,
            Db::Postgres { write: $pool, .. } => $body,
        }
    };
    // List queries: the replica when it is up; a read that finds it
    // unreachable marks it down and runs again on the primary.
    ($self:expr, read, |$pool:ident| $body:expr) => {
        match &$self.db {
            Db::Sqlite { read: $pool, .. } => $body,
            Db::Postgres { read, write, replica, .. } => {
                let on_replica = replica.enabled && replica.is_up();
                let first = {
                    let $pool = if on_replica { read } else { write };
                    $body
                };
                match first {
                    Err(StoreError::Unavailable(e)) if on_replica => {
                        tracing::debug!(error = %e, "replica read failed; retrying on the primary");
                        metrics::counter!("leadex_db_replica_fallbacks_total").increment(1);
                        replica.set(false);
                        let $pool = write;
                        $body
                    }
                    r => r,
                }
            }
        }
    };
    // Reads that must see the latest commit (read-your-writes): on
    // PostgreSQL the primary, on SQLite the readers (WAL readers see every
    // committed transaction, and they never queue behind the one writer).
    ($self:expr, fresh, |$pool:ident| $body:expr) => {
        match &$self.db {
            Db::Sqlite { read: $pool, .. } => $body,
            Db::Postgres { write: $pool, .. } => $body,
        }
    };
}

/// Binds a list of dynamic arguments onto a query.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::I64(v) => q.bind(v),
                Arg::F64(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::Uuid(v) => q.bind(v),
                Arg::OptI64(v) => q.bind(v),
                Arg::OptUuid(v) => q.bind(v),
                Arg::I16(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
                Arg::Json(v) => q.bind(sqlx::types::Json(v)),
                Arg::Bytes(v) => q.bind(v),
                Arg::Uuids(v) => q.bind(v),
                Arg::I64s(v) => q.bind(v),
                Arg::Texts(v) => q.bind(v),
                Arg::I16s(v) => q.bind(v),
                Arg::F64s(v) => q.bind(v),
                Arg::Jsons(v) => q.bind(v),
                Arg::Byteas(v) => q.bind(v),
            };
        }
        q
    }};
}

/// A dynamically bound argument.
#[derive(Clone, Debug)]
enum Arg {
    I64(i64),
    F64(f64),
    Text(String),
    Uuid(Uuid),
    OptI64(Option<i64>),
    OptUuid(Option<Uuid>),
    I16(i16),
    OptText(Option<String>),
    Json(serde_json::Value),
    Bytes(Vec<u8>),
    // One column of a PostgreSQL `UNNEST` ([`multi_rows`]).
    Uuids(PgArray<Uuid>),
    I64s(PgArray<i64>),
    Texts(PgArray<String>),
    I16s(PgArray<i16>),
    F64s(PgArray<f64>),
    Jsons(PgArray<Json<serde_json::Value>>),
    Byteas(PgArray<Vec<u8>>),
}

/// A column of values bound as one PostgreSQL array. It is a type of its
/// own so that [`bind_args!`] compiles for SQLite too, which has no arrays
/// and refuses one at bind time ([`multi_rows`] and [`member_of`] only
/// build them for PostgreSQL).
#[derive(Clone, Debug, Default)]
struct PgArray<T>(Vec<Option<T>>);

impl<T> sqlx::Type<sqlx::Postgres> for PgArray<T>
where
    Vec<Option<T>>: sqlx::Type<sqlx::Postgres>,
{
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <Vec<Option<T>> as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <Vec<Option<T>> as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'q, T> sqlx::Encode<'q, sqlx::Postgres> for PgArray<T>
where
    Vec<Option<T>>: sqlx::Encode<'q, sqlx::Postgres>,
{
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <Vec<Option<T>> as sqlx::Encode<'q, sqlx::Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<T> sqlx::Type<Sqlite> for PgArray<T> {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }
}

impl<'q, T> sqlx::Encode<'q, Sqlite> for PgArray<T> {
    fn encode_by_ref(
        &self,
        _: &mut <Sqlite as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Err("arrays are bound on PostgreSQL only".into())
    }
}

/// The rows of a multi-row statement: `args` row-major, `cols` per row.
/// SQLite: `VALUES (?, …), …`. PostgreSQL: `SELECT * FROM UNNEST($1::uuid[],
/// …) AS u(column1, …)`, one array per column, so the text is the same for
/// any number of rows and is parsed and planned once per connection instead
/// of once per row count. Either way the columns are named `column1…`, as
/// a `VALUES` list's are, for `UPDATE … FROM (…) AS v WHERE … = v.column1`.
fn multi_rows(pg: bool, cols: usize, args: Vec<Arg>) -> (String, Vec<Arg>) {
    let rows = args.len() / cols.max(1);
    if !pg {
        return (format!("VALUES {}", tuples(false, rows, cols)), args);
    }
    let columns = to_columns(cols, rows, args);
    let arrays: Vec<String> =
        columns.iter().enumerate().map(|(i, c)| format!("${}::{}[]", i + 1, array_type(c))).collect();
    let names: Vec<String> = (1..=columns.len()).map(|i| format!("column{i}")).collect();
    (format!("SELECT * FROM UNNEST({}) AS u({})", arrays.join(", "), names.join(", ")), columns)
}

/// `rows` tuples of `cols` placeholders for a statement whose only binds
/// they are, shared by both engines: `($1, $2, …), (…)` on PostgreSQL,
/// anonymous `(?, ?, …)` on SQLite. SQLite looks every named (`$N`)
/// parameter up by a linear scan when sqlx binds it, so a 3 500-bind entry
/// insert cost ~6 M steps: 13 % of the end-to-end benchmark's CPU
/// (BENCHMARKS.md, issue 4 §4).
fn tuples(pg: bool, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            if pg {
                s.push('$');
                s.push_str(&(1 + r * cols + c).to_string());
            } else {
                s.push('?');
            }
        }
        s.push(')');
    }
    s
}

/// Opens a write transaction on a write pool.
///
/// SQLite: `BEGIN IMMEDIATE`, which takes the write lock up front. A
/// deferred transaction that reads first and writes later fails at once
/// with `SQLITE_BUSY` — no busy-timeout wait — when another connection
/// (another process on the same file: `serve` + `work`, two `work`s)
/// committed in between; an immediate one waits its turn instead.
/// PostgreSQL: a plain `BEGIN`.
trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin()
    }
}

/// Maps sqlx failures to what the caller can act on.
fn map_err(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::Database(ref d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_owned()),
        sqlx::Error::Database(ref d) if is_busy(d.code().as_deref()) => StoreError::Unavailable(d.message().to_owned()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        other => StoreError::Backend(other.to_string()),
    }
}

/// SQLite `BUSY`/`LOCKED`, PostgreSQL serialization and admin-shutdown codes.
fn is_busy(code: Option<&str>) -> bool {
    // Class 08: connection exceptions (e.g. PgBouncer cannot reach its server).
    matches!(code, Some("5" | "6" | "517" | "57P01" | "57P03" | "53300")) || code.is_some_and(|c| c.starts_with("08"))
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn days_since_epoch(d: chrono::NaiveDate) -> i64 {
    i64::from(d.signed_duration_since(chrono::NaiveDate::default()).num_days() as i32)
}

impl SqlStore {
    /// Connects to the engine `opts.url` names. Does not migrate.
    pub async fn connect(opts: &StoreOptions) -> Result<Self, StoreError> {
        let url = opts.url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = |u: &str, acquire: Duration| -> Result<_, StoreError> {
                let o = PgConnectOptions::from_str(u).map_err(|e| StoreError::Backend(e.to_string()))?;
                Ok(PgPoolOptions::new()
                    .max_connections(opts.max_connections)
                    .acquire_timeout(acquire)
                    .connect_lazy_with(o))
            };
            let write = pool(url, opts.acquire_timeout)?;
            let (read, replica) = match &opts.replica_url {
                Some(r) if !r.trim().is_empty() => {
                    // A replica that cannot hand out a connection within
                    // a second sends the read to the primary instead.
                    let read = pool(r.trim(), opts.acquire_timeout.min(Duration::from_secs(1)))?;
                    let health = Arc::new(ReplicaHealth { enabled: true, ..ReplicaHealth::default() });
                    tokio::spawn(monitor_replica(read.clone(), health.clone()));
                    (read, health)
                }
                _ => (write.clone(), Arc::new(ReplicaHealth::default())),
            };
            // Fail fast on a wrong URL rather than at the first request.
            sqlx::query("SELECT 1").execute(&write).await.map_err(map_err)?;
            let autobid = groups::spawn_writer(groups::GroupPool::Postgres(write.clone()));
            let closes = groups::spawn_writer(groups::GroupPool::Postgres(write.clone()));
            let scores = groups::spawn_writer(groups::GroupPool::Postgres(write.clone()));
            Ok(Self { db: Db::Postgres { write, read, replica, autobid, closes, scores } })
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .or_else(|| (!url.contains("://")).then_some(url))
        {
            let base = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .pragma("temp_store", "memory")
                .pragma("cache_size", "-65536");
            // The writer never checkpoints (a checkpoint fsyncs, and the one
            // writer would stall every request behind it); a background
            // connection checkpoints passively instead, off the hot path.
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(opts.acquire_timeout.max(Duration::from_secs(30)))
                .connect_with(base.clone().pragma("wal_autocheckpoint", "0").pragma("journal_size_limit", "67108864"))
                .await
                .map_err(map_err)?;
            let read = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.clamp(1, 8))
                .acquire_timeout(opts.acquire_timeout)
                .connect_lazy_with(base.clone().read_only(true));
            // No busy handler: a restart that would have to wait for the
            // writer or a reader gives up at once and is tried again.
            let checkpointer =
                SqlitePoolOptions::new().max_connections(1).connect_lazy_with(base.busy_timeout(Duration::ZERO));
            tokio::spawn(checkpoint_loop(checkpointer, write.clone()));
            let ingest = ingest::spawn_group_writer(write.clone());
            let autobid = groups::spawn_writer(groups::GroupPool::Sqlite(write.clone()));
            let closes = groups::spawn_writer(groups::GroupPool::Sqlite(write.clone()));
            let scores = groups::spawn_writer(groups::GroupPool::Sqlite(write.clone()));
            let mints = groups::spawn_writer(write.clone());
            Ok(Self { db: Db::Sqlite { write, read, ingest, autobid, closes, scores, mints } })
        } else {
            Err(StoreError::Backend(format!(
                "unsupported database URL scheme in `{}` (use postgres:// or sqlite://)",
                redact_url(url)
            )))
        }
    }

    /// The most leads one group transaction has handled, by group kind
    /// (`auto_bid`, `close_auction`, `score_lead` on both engines;
    /// `mint_nft` on SQLite). `None` for a kind the engine writes per lead.
    pub fn largest_group(&self, kind: &str) -> Option<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        let counter = match (&self.db, kind) {
            (Db::Sqlite { autobid, .. } | Db::Postgres { autobid, .. }, "auto_bid") => &autobid.largest,
            (Db::Sqlite { closes, .. } | Db::Postgres { closes, .. }, "close_auction") => &closes.largest,
            (Db::Sqlite { scores, .. } | Db::Postgres { scores, .. }, "score_lead") => &scores.largest,
            (Db::Sqlite { mints, .. }, "mint_nft") => &mints.largest,
            _ => return None,
        };
        Some(counter.load(Relaxed))
    }

    /// The auto-bid and close group writers (both engines have them).
    fn market_groups(
        &self,
    ) -> (&groups::GroupWriter<groups::AutoBidGroups>, &groups::GroupWriter<groups::CloseGroups>) {
        match &self.db {
            Db::Sqlite { autobid, closes, .. } | Db::Postgres { autobid, closes, .. } => (autobid, closes),
        }
    }

    /// Applies pending migrations of this engine.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let r = match &self.db {
            Db::Sqlite { write, .. } => SQLITE_MIGRATOR.run(write).await,
            Db::Postgres { write, .. } => POSTGRES_MIGRATOR.run(write).await,
        };
        r.map_err(|e| StoreError::Backend(format!("migration failed: {e}")))
    }

    /// `sqlite` or `postgres`.
    pub fn engine(&self) -> &'static str {
        match self.db {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres { .. } => "postgres",
        }
    }

    /// Whether the store runs on PostgreSQL (SQL that differs by engine).
    fn postgres(&self) -> bool {
        matches!(self.db, Db::Postgres { .. })
    }

    /// Closes every pool (waits for connections to be returned).
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { write, read, .. } => {
                write.close().await;
                read.close().await;
            }
            Db::Postgres { write, read, .. } => {
                write.close().await;
                read.close().await;
            }
        }
    }

    /// Runs a read-only statement returning one integer (operator tools
    /// and tests: counts, sums).
    pub async fn scalar_i64(&self, sql: &'static str) -> Result<i64, StoreError> {
        with_pool!(self, write, |p| sqlx::query_scalar::<_, i64>(sql).fetch_one(p).await.map_err(map_err))
    }

    /// Ids of every lead in `status` (operator tools and tests).
    pub async fn lead_ids_with_status(&self, status: &str) -> Result<Vec<Uuid>, StoreError> {
        with_pool!(self, write, |p| sqlx::query_scalar::<_, Uuid>("SELECT id FROM leads WHERE status = $1 ORDER BY id")
            .bind(status)
            .fetch_all(p)
            .await
            .map_err(map_err))
    }
}

/// WAL frames (~4 KiB each) above which the checkpointer restarts the log.
/// Below the writer's `journal_size_limit` (64 MiB), so a restarted log is
/// overwritten in place rather than truncated and grown again.
const WAL_RESTART_FRAMES: i64 = 8_192;

/// Most frames not yet copied back that a restart may have to copy itself
/// (~1 MiB): it does so holding the write lock, so every write waits for
/// it; the passive checkpoints copy the rest without blocking anyone.
const WAL_RESTART_LEFT: i64 = 256;

/// Attempts per tick at a restart. The checkpointer has no busy handler, so
/// an attempt that finds the writer or a reader in the way returns at once
/// instead of holding the write lock while SQLite's busy handler sleeps in
/// growing steps (65–205 ms per restart, every ~0.8 s, in the end-to-end
/// benchmark: BENCHMARKS.md, issue 4 §6).
const WAL_RESTART_TRIES: usize = 20;

/// Checkpoints the WAL from its own connection, passively every 250 ms
/// (never blocks the writer), until the writer pool closes.
///
/// A passive checkpoint copies frames back but cannot *restart* the log:
/// SQLite restarts it only when a write transaction begins while every
/// frame is copied back and no reader still reads from the log. Under a
/// steady load of readers that moment never comes (checkpoint starvation):
/// the end-to-end benchmark grew an 8.8 GB WAL in three minutes, and the
/// kernel's zeroing of its new blocks took 8.5 % of the CPU (BENCHMARKS.md,
/// issue 4 §4). So once a passive checkpoint reports the log at
/// [`WAL_RESTART_FRAMES`] or more with at most [`WAL_RESTART_LEFT`] not yet
/// copied back (what the readers of the last moments still pin), a
/// `RESTART` checkpoint follows, tried without waiting (see
/// [`WAL_RESTART_TRIES`]): it holds the write lock only to copy that
/// remainder, never a whole log's worth, and never to wait. Not `TRUNCATE`: a truncated log is grown
/// again block by block.
async fn checkpoint_loop(conn: SqlitePool, writer: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if writer.is_closed() {
            conn.close().await;
            return;
        }
        let passive: Result<(i64, i64, i64), _> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&conn).await;
        match passive {
            Ok((_, log, copied)) if log >= WAL_RESTART_FRAMES && log - copied <= WAL_RESTART_LEFT => {
                let mut done = false;
                for _ in 0..WAL_RESTART_TRIES {
                    match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)").fetch_one(&conn).await
                    {
                        Ok((0, _, _)) => {
                            done = true;
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::debug!(error = %e, "WAL restart checkpoint failed"),
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if !done {
                    tracing::debug!(log, "WAL restart deferred: the writer or a reader was always in the way");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "passive WAL checkpoint failed"),
        }
    }
}

/// Builds the keyset part of a list query: the cursor condition and the
/// ORDER BY/LIMIT, for `(created_at, id)` of table alias-less columns.
fn keyset(page: &PageRequest, conds: &mut Vec<String>, args: &mut Vec<Arg>) -> String {
    let desc = match page.cursor {
        Some(Cursor { created_at, id, direction }) => {
            args.push(Arg::I64(created_at));
            args.push(Arg::Uuid(id));
            let (a, b) = (args.len() - 1, args.len());
            match direction {
                Direction::After => {
                    conds.push(format!("(created_at, id) < (${a}, ${b})"));
                    true
                }
                Direction::Before => {
                    conds.push(format!("(created_at, id) > (${a}, ${b})"));
                    false
                }
            }
        }
        None => true,
    };
    let order = if desc { "DESC" } else { "ASC" };
    format!(" ORDER BY created_at {order}, id {order} LIMIT {}", u64::from(page.limit) + 1)
}

fn where_clause(conds: &[String]) -> String {
    if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) }
}

fn push(args: &mut Vec<Arg>, a: Arg) -> String {
    args.push(a);
    format!("${}", args.len())
}

/// Row-major `args` (`cols` per row) as one array [`Arg`] per column.
fn to_columns(cols: usize, rows: usize, args: Vec<Arg>) -> Vec<Arg> {
    let mut columns: Vec<Arg> = Vec::with_capacity(cols);
    for (i, a) in args.into_iter().enumerate() {
        let c = i % cols;
        if columns.len() <= c {
            columns.push(match &a {
                Arg::Uuid(_) | Arg::OptUuid(_) | Arg::Uuids(_) => Arg::Uuids(PgArray(Vec::with_capacity(rows))),
                Arg::I64(_) | Arg::OptI64(_) | Arg::I64s(_) => Arg::I64s(PgArray(Vec::with_capacity(rows))),
                Arg::Text(_) | Arg::OptText(_) | Arg::Texts(_) => Arg::Texts(PgArray(Vec::with_capacity(rows))),
                Arg::I16(_) | Arg::I16s(_) => Arg::I16s(PgArray(Vec::with_capacity(rows))),
                Arg::F64(_) | Arg::F64s(_) => Arg::F64s(PgArray(Vec::with_capacity(rows))),
                Arg::Json(_) | Arg::Jsons(_) => Arg::Jsons(PgArray(Vec::with_capacity(rows))),
                Arg::Bytes(_) | Arg::Byteas(_) => Arg::Byteas(PgArray(Vec::with_capacity(rows))),
            });
        }
        match (&mut columns[c], a) {
            (Arg::Uuids(PgArray(v)), Arg::Uuid(x)) => v.push(Some(x)),
            (Arg::Uuids(PgArray(v)), Arg::OptUuid(x)) => v.push(x),
            (Arg::I64s(PgArray(v)), Arg::I64(x)) => v.push(Some(x)),
            (Arg::I64s(PgArray(v)), Arg::OptI64(x)) => v.push(x),
            (Arg::Texts(PgArray(v)), Arg::Text(x)) => v.push(Some(x)),
            (Arg::Texts(PgArray(v)), Arg::OptText(x)) => v.push(x),
            (Arg::I16s(PgArray(v)), Arg::I16(x)) => v.push(Some(x)),
            (Arg::F64s(PgArray(v)), Arg::F64(x)) => v.push(Some(x)),
            (Arg::Jsons(PgArray(v)), Arg::Json(x)) => v.push(Some(Json(x))),
            (Arg::Byteas(PgArray(v)), Arg::Bytes(x)) => v.push(Some(x)),
            // A column whose rows disagree on their type: NULL, which the
            // column's constraints then reject (no caller builds one).
            (Arg::Uuids(PgArray(v)), _) => v.push(None),
            (Arg::I64s(PgArray(v)), _) => v.push(None),
            (Arg::Texts(PgArray(v)), _) => v.push(None),
            (Arg::I16s(PgArray(v)), _) => v.push(None),
            (Arg::F64s(PgArray(v)), _) => v.push(None),
            (Arg::Jsons(PgArray(v)), _) => v.push(None),
            (Arg::Byteas(PgArray(v)), _) => v.push(None),
            (_, _) => {}
        }
    }
    columns
}

/// The PostgreSQL element type of an array [`Arg`].
fn array_type(column: &Arg) -> &'static str {
    match column {
        Arg::Uuids(_) => "uuid",
        Arg::I64s(_) => "int8",
        Arg::Texts(_) => "text",
        Arg::I16s(_) => "int2",
        Arg::F64s(_) => "float8",
        Arg::Byteas(_) => "bytea",
        _ => "jsonb",
    }
}

/// `column || '' = 'state'`: the state guard of a statement that finds its
/// rows by primary key (a list of ids), written so that no planner can use
/// it to pick an index: an expression of the column matches no index and
/// implies no partial index's predicate, so only the key's index remains.
/// With a plain `status = 'received'` PostgreSQL costed the state's index
/// from statistics that lag a table filling faster than autovacuum
/// analyzes it, and that never count the dead index entries a short-lived
/// state leaves behind: it walked the whole `leads_status` range (or the
/// `jobs_queued` partial index), alone or ANDed with the key, for every
/// group — 10–20 ms statements on 18 000 open auctions (BENCHMARKS.md,
/// issue 4 §8). An opaque `(SELECT 'state')` value is not enough: the
/// planner still probes the state index with it.
fn state_is(column: &str, state: &'static str) -> String {
    debug_assert!(state.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    format!("{column} || '' = '{state}'")
}

/// `IN (…)` on SQLite; on PostgreSQL `= ANY($n::type[])` with the values as
/// one array, so the statement text does not depend on how many there are.
fn member_of(pg: bool, args: &mut Vec<Arg>, values: impl IntoIterator<Item = Arg>) -> String {
    if !pg {
        return format!("IN ({})", in_list(args, values));
    }
    let values: Vec<Arg> = values.into_iter().collect();
    let n = values.len();
    match to_columns(1, n, values).pop() {
        Some(column) => {
            let t = array_type(&column);
            args.push(column);
            format!("= ANY(${}::{t}[])", args.len())
        }
        None => "IN (NULL)".to_owned(),
    }
}

/// Placeholders for `x IN (…)`. An empty list gives `NULL`: `x IN (NULL)`
/// matches nothing on both engines, where `x IN ()` is a PostgreSQL syntax
/// error.
fn in_list(args: &mut Vec<Arg>, values: impl IntoIterator<Item = Arg>) -> String {
    let ph: Vec<String> = values.into_iter().map(|v| push(args, v)).collect();
    if ph.is_empty() { "NULL".to_owned() } else { ph.join(", ") }
}

/// Columns of a `jobs` insert, in the order [`push_jobs_insert`] binds.
const JOB_INSERT_COLUMNS: &str = "id, kind, vertical, lead_id, payload, status, attempts, max_attempts, run_at, \
    priority, correlation_id, dedupe_key, created_at, updated_at";

/// Appends one multi-row `INSERT INTO jobs … ON CONFLICT (dedupe_key) DO
/// NOTHING` of `jobs` to a SQLite statement batch: the multi-row twin of
/// [`insert_job!`], for the group writers.
fn push_jobs_insert<'j>(qb: &mut QueryBuilder<Sqlite>, jobs: impl IntoIterator<Item = &'j NewJob>) {
    qb.push(format!("INSERT INTO jobs ({JOB_INSERT_COLUMNS}) "));
    qb.push_values(jobs, |mut b, j| {
        for a in job_args(j) {
            match a {
                Arg::I64(v) => b.push_bind(v),
                Arg::F64(v) => b.push_bind(v),
                Arg::Text(v) => b.push_bind(v),
                Arg::Uuid(v) => b.push_bind(v),
                Arg::OptI64(v) => b.push_bind(v),
                Arg::OptUuid(v) => b.push_bind(v),
                Arg::I16(v) => b.push_bind(v),
                Arg::OptText(v) => b.push_bind(v),
                Arg::Json(v) => b.push_bind(Json(v)),
                Arg::Bytes(v) => b.push_bind(v),
                // Arrays are PostgreSQL `UNNEST` columns; a job row has none.
                Arg::Uuids(_)
                | Arg::I64s(_)
                | Arg::Texts(_)
                | Arg::I16s(_)
                | Arg::F64s(_)
                | Arg::Jsons(_)
                | Arg::Byteas(_) => b.push_bind(None::<String>),
            };
        }
    });
    qb.push(JOB_INSERT_CONFLICT);
}

/// What follows a multi-row `jobs` insert.
const JOB_INSERT_CONFLICT: &str = " ON CONFLICT (dedupe_key) DO NOTHING";

/// A new job's values in [`JOB_INSERT_COLUMNS`] order.
fn job_args(j: &NewJob) -> [Arg; 14] {
    let lead_id = j.payload.get("lead_id").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok());
    [
        Arg::Uuid(j.id.as_uuid()),
        Arg::Text(j.kind.clone()),
        Arg::OptText(j.vertical.clone()),
        Arg::OptUuid(lead_id),
        Arg::Json(j.payload.clone()),
        Arg::Text("queued".into()),
        Arg::I64(0),
        Arg::I64(i64::from(j.max_attempts)),
        Arg::I64(micros(j.run_at)),
        Arg::I16(j.priority),
        Arg::Text(j.correlation_id.clone()),
        Arg::OptText(j.dedupe_key.clone()),
        Arg::I64(micros(j.created_at)),
        Arg::I64(micros(j.created_at)),
    ]
}

/// Inserts a [`NewJob`] (skipped when its dedupe key exists); evaluates to
/// the number of rows inserted. Used inside the transaction of the state
/// change that causes the job.
/// Static SQL (not `QueryBuilder`): one prepared statement on the hot
/// path of every engine; multi-row inserts use [`push_jobs_insert`].
macro_rules! insert_job {
    ($exec:expr, $job:expr) => {{
        let j: &NewJob = $job;
        let lead_id = j.payload.get("lead_id").and_then(|v| v.as_str()).and_then(|s| Uuid::parse_str(s).ok());
        sqlx::query(
            "INSERT INTO jobs (id, kind, vertical, lead_id, payload, status, attempts, max_attempts, run_at,
                               priority, correlation_id, dedupe_key, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8, $9, $10, $11, $11)
             ON CONFLICT (dedupe_key) DO NOTHING",
        )
        .bind(j.id.as_uuid())
        .bind(&j.kind)
        .bind(&j.vertical)
        .bind(lead_id)
        .bind(Json(&j.payload))
        .bind(i64::from(j.max_attempts))
        .bind(micros(j.run_at))
        .bind(j.priority)
        .bind(&j.correlation_id)
        .bind(&j.dedupe_key)
        .bind(micros(j.created_at))
        .execute($exec)
        .await
        .map(|r| r.rows_affected())
        .map_err(map_err)
    }};
}

/// Columns of a `leads` insert, in the order [`push_lead_tuple!`] binds.
const LEAD_INSERT_COLUMNS: &str = "id, seller_id, vertical, root_vertical, status, country, region, postal_code, \
    city, lat, lng, fields, source, consent_at, consent, attribution, score, tier, score_breakdown, ask_id, \
    reserve_price, buy_now_price, auction_duration_secs, pii_hash, correlation_id, created_at, updated_at, \
    bid_count, has_phone, has_email";

/// Binds one [`LeadRecord`] as a `VALUES` tuple of [`LEAD_INSERT_COLUMNS`]
/// (a `push_values` closure body).
macro_rules! push_lead_tuple {
    ($b:expr, $lead:expr) => {{
        let l: &LeadRecord = $lead;
        $b.push_bind(l.id.as_uuid())
            .push_bind(l.seller_id.as_uuid())
            .push_bind(l.vertical.clone())
            .push_bind(l.root_vertical.clone())
            .push_bind(l.status.as_str())
            .push_bind(l.geo.country.clone())
            .push_bind(l.geo.region.clone())
            .push_bind(l.geo.postal_code.clone())
            .push_bind(l.geo.city.clone())
            .push_bind(l.geo.lat)
            .push_bind(l.geo.lng)
            .push_bind(Json(l.fields.clone()))
            .push_bind(l.source.clone())
            .push_bind(l.consent_at.map($crate::micros))
            .push_bind(l.consent.clone().map(Json))
            .push_bind(l.attribution.clone().map(Json))
            .push_bind(l.score.map(|s| i64::from(s.value)))
            .push_bind(l.score.map(|s| s.tier.as_str()))
            .push_bind(l.score.map(|s| Json(s.breakdown)))
            .push_bind(l.ask_id.map(|a| a.as_uuid()))
            .push_bind(l.reserve_price.micros())
            .push_bind(l.buy_now_price.micros())
            .push_bind(i64::from(l.auction_duration_secs))
            .push_bind(l.pii_hash.to_vec())
            .push_bind(l.correlation_id.clone())
            .push_bind($crate::micros(l.created_at))
            .push_bind($crate::micros(l.updated_at))
            .push_bind(0_i64)
            .push_bind(l.has_phone)
            .push_bind(l.has_email);
    }};
}

/// Inserts a [`LeadRecord`] on an executor (used inside transactions).
macro_rules! insert_lead {
    ($exec:expr, $lead:expr) => {{
        let l: &LeadRecord = $lead;
        sqlx::query(
            "INSERT INTO leads (id, seller_id, vertical, root_vertical, status, country, region, postal_code, city,
                lat, lng, fields, source, consent_at, consent, attribution, score, tier, score_breakdown, ask_id,
                reserve_price, buy_now_price, auction_duration_secs, pii_hash, correlation_id, created_at,
                updated_at, bid_count, has_phone, has_email)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                $21, $22, $23, $24, $25, $26, $27, 0, $28, $29)",
        )
        .bind(l.id.as_uuid())
        .bind(l.seller_id.as_uuid())
        .bind(&l.vertical)
        .bind(&l.root_vertical)
        .bind(l.status.as_str())
        .bind(&l.geo.country)
        .bind(&l.geo.region)
        .bind(&l.geo.postal_code)
        .bind(&l.geo.city)
        .bind(l.geo.lat)
        .bind(l.geo.lng)
        .bind(Json(&l.fields))
        .bind(&l.source)
        .bind(l.consent_at.map(micros))
        .bind(l.consent.as_ref().map(Json))
        .bind(l.attribution.as_ref().map(Json))
        .bind(l.score.map(|s| i64::from(s.value)))
        .bind(l.score.map(|s| s.tier.as_str()))
        .bind(l.score.map(|s| Json(s.breakdown)))
        .bind(l.ask_id.map(|a| a.as_uuid()))
        .bind(l.reserve_price.micros())
        .bind(l.buy_now_price.micros())
        .bind(i64::from(l.auction_duration_secs))
        .bind(l.pii_hash.to_vec())
        .bind(&l.correlation_id)
        .bind(micros(l.created_at))
        .bind(micros(l.updated_at))
        .bind(l.has_phone)
        .bind(l.has_email)
        .execute($exec)
        .await
        .map(|_| ())
        .map_err(map_err)
    }};
}

/// One lead in its own transaction (PostgreSQL always; SQLite when a group
/// commit failed and its items are retried one by one): the idempotency
/// claim, the duplicate and cap checks as conditional upserts whose row
/// locks serialise concurrent submissions, then the inserts.
macro_rules! ingest_one {
    ($db:ty, $pool:expr, $req:expr) => {{
        let p = $pool;
        let req: &IngestLead = $req;
        let lead = &req.lead;
        let seller = lead.seller_id.as_uuid();
        async move {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            // 1. Claim the idempotency key first: a concurrent request with
            // the same key blocks on this row until we commit or roll back.
            if let Some(idem) = &req.idempotency {
                let claimed = sqlx::query(
                    "INSERT INTO idempotency_keys (account_id, key, request_hash, response, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, key) DO NOTHING",
                )
                .bind(seller)
                .bind(&idem.key)
                .bind(&idem.request_hash)
                .bind(Json(&idem.response))
                .bind(micros(lead.created_at))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?
                .rows_affected()
                    == 1;
                if !claimed {
                    tx.rollback().await.map_err(map_err)?;
                    let (hash, Json(response)): (String, Json<Value>) = sqlx::query_as(
                        "SELECT request_hash, response FROM idempotency_keys WHERE account_id = $1 AND key = $2",
                    )
                    .bind(seller)
                    .bind(&idem.key)
                    .fetch_one(p)
                    .await
                    .map_err(map_err)?;
                    return if hash == idem.request_hash {
                        Ok(IngestOutcome::Replayed(response))
                    } else {
                        Err(IngestError::IdempotencyMismatch)
                    };
                }
            }
            // 2. Duplicates: take over each contact row only if its last
            // lead is outside the window; otherwise it is a duplicate.
            for h in &req.contact_hashes {
                let taken: Option<Uuid> = sqlx::query_scalar(
                    "INSERT INTO lead_contacts (root_vertical, contact_hash, lead_id, seen_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (root_vertical, contact_hash) DO UPDATE
                        SET lead_id = excluded.lead_id, seen_at = excluded.seen_at
                        WHERE lead_contacts.seen_at < $5
                     RETURNING lead_id",
                )
                .bind(&lead.root_vertical)
                .bind(h.to_vec())
                .bind(lead.id.as_uuid())
                .bind(micros(lead.created_at))
                .bind(micros(req.duplicate_since))
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?;
                if taken.is_none() {
                    let first: Uuid = sqlx::query_scalar(
                        "SELECT lead_id FROM lead_contacts WHERE root_vertical = $1 AND contact_hash = $2",
                    )
                    .bind(&lead.root_vertical)
                    .bind(h.to_vec())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.rollback().await.map_err(map_err)?;
                    return Err(IngestError::Duplicate(LeadId::from_uuid(first)));
                }
            }
            // 3. Exact daily cap: the counter row is locked by the upsert
            // until commit, so concurrent inserts serialise on it.
            // A cap of 0 admits nothing (the insert below would count 1).
            let counted: Option<i64> = if req.daily_cap == 0 {
                None
            } else {
                sqlx::query_scalar(
                    "INSERT INTO ingest_counters (seller_id, vertical, day, count) VALUES ($1, $2, $3, 1)
                 ON CONFLICT (seller_id, vertical, day) DO UPDATE SET count = ingest_counters.count + 1
                    WHERE ingest_counters.count < $4
                 RETURNING count",
                )
                .bind(seller)
                .bind(&lead.vertical)
                .bind(days_since_epoch(req.cap_day))
                .bind(i64::from(req.daily_cap))
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err)?
            };
            if counted.is_none() {
                tx.rollback().await.map_err(map_err)?;
                return Err(IngestError::DailyCapReached);
            }
            // 4. The lead, its sealed PII and its job.
            insert_lead!(&mut *tx, lead)?;
            sqlx::query("INSERT INTO lead_pii (lead_id, key_id, nonce, ciphertext) VALUES ($1, $2, $3, $4)")
                .bind(lead.id.as_uuid())
                .bind(&req.pii.key_id)
                .bind(&req.pii.nonce)
                .bind(&req.pii.ciphertext)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            insert_job!(&mut *tx, &req.job)?;
            tx.commit().await.map_err(map_err)?;
            Ok(IngestOutcome::Accepted)
        }
        .await
    }};
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, write, |p| sqlx::query("SELECT 1").execute(p).await.map(|_| ()).map_err(map_err))
    }

    fn replica_up(&self) -> Option<bool> {
        match &self.db {
            Db::Postgres { replica, .. } if replica.enabled => Some(replica.is_up()),
            _ => None,
        }
    }

    async fn create_account(&self, a: &Account) -> Result<(), StoreError> {
        with_pool!(self, write, |p| {
            sqlx::query(
                "INSERT INTO accounts (id, role, name, status, wallet_address, kyc_verified, daily_cap, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(a.id.as_uuid())
            .bind(a.role.as_str())
            .bind(&a.name)
            .bind(&a.status)
            .bind(&a.wallet_address)
            .bind(a.kyc_verified)
            .bind(a.daily_cap.map(i64::from))
            .bind(micros(a.created_at))
            .execute(p)
            .await
            .map(|_| ())
            .map_err(map_err)
        })
    }

    async fn get_account(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let row: Option<AccountRow> = with_pool!(self, fresh, |p| {
            sqlx::query_as(
            "SELECT id, role, name, status, wallet_address, kyc_verified, daily_cap, created_at FROM accounts WHERE id = $1"
        )
        .bind(id.as_uuid())
        .fetch_optional(p)
        .await
        .map_err(map_err)
        })?;
        row.map(Account::try_from).transpose()
    }

    async fn list_accounts(&self, page: &PageRequest) -> Result<Page<Account>, StoreError> {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!(
            "SELECT id, role, name, status, wallet_address, kyc_verified, daily_cap, created_at FROM accounts{}{tail}",
            where_clause(&conds)
        );
        let rows: Vec<AccountRow> =
            with_pool!(self, read, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        let items = rows.into_iter().map(Account::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(page, items))
    }

    async fn set_account_daily_cap(&self, id: AccountId, cap: Option<u32>) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query("UPDATE accounts SET daily_cap = $1 WHERE id = $2")
            .bind(cap.map(i64::from))
            .bind(id.as_uuid())
            .execute(p)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(map_err))
    }

    async fn create_api_key(&self, k: &NewApiKey) -> Result<(), StoreError> {
        let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
        with_pool!(self, write, |p| sqlx::query(
            "INSERT INTO api_keys (id, account_id, key_hash, prefix, name, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )
        .bind(k.id.as_uuid())
        .bind(k.account_id.as_uuid())
        .bind(k.hash.to_vec())
        .bind(&k.prefix)
        .bind(&k.name)
        .bind(scopes.join(" "))
        .bind(micros(k.created_at))
        .bind(k.expires_at.map(micros))
        .execute(p)
        .await
        .map(|_| ())
        .map_err(map_err))
    }

    async fn find_api_key(&self, hash: &[u8; 32]) -> Result<Option<Principal>, StoreError> {
        // Authentication reads the primary: a key created a moment ago on
        // another process must work at once.
        let row: Option<(KeyRow, AccountRow)> = with_pool!(self, fresh, |p| {
            let r = sqlx::query(
                "SELECT k.id AS k_id, k.account_id AS k_account_id, k.prefix AS k_prefix, k.name AS k_name,
                        k.scopes AS k_scopes, k.created_at AS k_created_at, k.expires_at AS k_expires_at,
                        k.revoked_at AS k_revoked_at,
                        a.id, a.role, a.name, a.status, a.wallet_address, a.kyc_verified, a.daily_cap, a.created_at
                 FROM api_keys k JOIN accounts a ON a.id = k.account_id
                 WHERE k.key_hash = $1",
            )
            .bind(hash.to_vec())
            .fetch_optional(p)
            .await
            .map_err(map_err)?;
            match r {
                Some(r) => Some((
                    KeyRow {
                        id: r.try_get("k_id").map_err(map_err)?,
                        account_id: r.try_get("k_account_id").map_err(map_err)?,
                        prefix: r.try_get("k_prefix").map_err(map_err)?,
                        name: r.try_get("k_name").map_err(map_err)?,
                        scopes: r.try_get("k_scopes").map_err(map_err)?,
                        created_at: r.try_get("k_created_at").map_err(map_err)?,
                        expires_at: r.try_get("k_expires_at").map_err(map_err)?,
                        revoked_at: r.try_get("k_revoked_at").map_err(map_err)?,
                    },
                    sqlx::FromRow::from_row(&r).map_err(map_err)?,
                )),
                None => None,
            }
        });
        match row {
            Some((k, a)) => Ok(Some(Principal { account: a.try_into()?, key: k.try_into()? })),
            None => Ok(None),
        }
    }

    async fn list_api_keys(&self, account: AccountId) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let rows: Vec<KeyRow> = with_pool!(self, fresh, |p| sqlx::query_as(
            "SELECT id, account_id, prefix, name, scopes, created_at, expires_at, revoked_at
             FROM api_keys WHERE account_id = $1 ORDER BY created_at DESC, id DESC"
        )
        .bind(account.as_uuid())
        .fetch_all(p)
        .await
        .map_err(map_err))?;
        rows.into_iter().map(ApiKeyInfo::try_from).collect()
    }

    async fn revoke_api_key(&self, account: AccountId, key: KeyId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL"
        )
        .bind(micros(at))
        .bind(key.as_uuid())
        .bind(account.as_uuid())
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(map_err))
    }

    async fn upsert_verticals(&self, defs: &[VerticalDef]) -> Result<(), StoreError> {
        let now = micros(Utc::now());
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            for (i, d) in defs.iter().enumerate() {
                let def = serde_json::to_value(d).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(
                    "INSERT INTO verticals (slug, parent, name, status, position, def, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (slug) DO UPDATE SET parent = excluded.parent, name = excluded.name,
                        status = excluded.status, position = excluded.position, def = excluded.def,
                        updated_at = excluded.updated_at",
                )
                .bind(&d.slug)
                .bind(&d.parent)
                .bind(&d.name)
                .bind(d.status.as_str())
                .bind(i as i64)
                .bind(Json(def))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
            }
            tx.commit().await.map_err(map_err)
        })
    }

    async fn load_verticals(&self) -> Result<Vec<VerticalDef>, StoreError> {
        let rows: Vec<Json<Value>> =
            with_pool!(self, fresh, |p| sqlx::query_scalar("SELECT def FROM verticals ORDER BY position, slug")
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        rows.into_iter()
            .map(|Json(v)| serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    async fn ingest_lead(&self, req: &IngestLead) -> Result<IngestOutcome, IngestError> {
        match &self.db {
            Db::Sqlite { ingest, .. } => {
                let mut out = ingest::submit(ingest, vec![req.clone()]).await;
                out.pop().unwrap_or_else(|| Err(IngestError::Store(StoreError::Backend("no answer".into()))))
            }
            Db::Postgres { write, .. } => ingest_one!(sqlx::Postgres, write, req),
        }
    }

    async fn ingest_leads(&self, reqs: Vec<IngestLead>) -> Vec<Result<IngestOutcome, IngestError>> {
        match &self.db {
            Db::Sqlite { ingest, .. } => ingest::submit(ingest, reqs).await,
            Db::Postgres { write, .. } => {
                let mut out = Vec::with_capacity(reqs.len());
                for r in &reqs {
                    out.push(ingest_one!(sqlx::Postgres, write, r));
                }
                out
            }
        }
    }

    async fn get_lead(&self, id: LeadId) -> Result<Option<LeadRecord>, StoreError> {
        let sql = format!("SELECT {} FROM leads WHERE id = $1", lead_columns());
        let row: Option<LeadRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id.as_uuid())
            .fetch_optional(p)
            .await
            .map_err(map_err))?;
        row.map(LeadRecord::try_from).transpose()
    }

    async fn read_lead_pii(&self, access: &PiiAccess) -> Result<Option<SealedPii>, StoreError> {
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let row: Option<(String, Vec<u8>, Vec<u8>)> =
                sqlx::query_as("SELECT key_id, nonce, ciphertext FROM lead_pii WHERE lead_id = $1")
                    .bind(access.lead_id.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
            let Some((key_id, nonce, ciphertext)) = row else {
                return Ok(None);
            };
            sqlx::query(
                "INSERT INTO pii_access_log (id, lead_id, account_id, purpose, correlation_id, at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(Uuid::now_v7())
            .bind(access.lead_id.as_uuid())
            .bind(access.account_id.as_uuid())
            .bind(&access.purpose)
            .bind(&access.correlation_id)
            .bind(micros(access.at))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            tx.commit().await.map_err(map_err)?;
            Ok(Some(SealedPii { key_id, nonce, ciphertext }))
        })
    }

    async fn list_leads(&self, q: &LeadQuery, page: &PageRequest) -> Result<Page<LeadRecord>, StoreError> {
        let postgres = self.postgres();
        let mut conds = Vec::new();
        let mut args = Vec::new();
        if let Some(s) = q.seller_id {
            conds.push(format!("seller_id = {}", push(&mut args, Arg::Uuid(s.as_uuid()))));
        }
        if let Some(b) = q.buyer_id {
            conds.push(format!("buyer_id = {}", push(&mut args, Arg::Uuid(b.as_uuid()))));
        }
        if let Some(r) = &q.root_vertical {
            conds.push(format!("root_vertical = {}", push(&mut args, Arg::Text(r.clone()))));
        }
        if let Some(vs) = &q.verticals {
            if vs.len() == 1 {
                conds.push(format!("vertical = {}", push(&mut args, Arg::Text(vs[0].clone()))));
            } else {
                let l = in_list(&mut args, vs.iter().cloned().map(Arg::Text));
                conds.push(format!("vertical IN ({l})"));
            }
        }
        if let Some(st) = &q.statuses {
            let l = in_list(&mut args, st.iter().map(|s| Arg::Text(s.as_str().into())));
            conds.push(format!("status IN ({l})"));
        }
        if q.hide_rejected {
            conds.push("status <> 'rejected'".into());
        }
        if let Some(c) = &q.country {
            conds.push(format!("country = {}", push(&mut args, Arg::Text(c.clone()))));
        }
        if let Some(r) = &q.region {
            conds.push(format!("region = {}", push(&mut args, Arg::Text(r.clone()))));
        }
        if let Some(s) = q.min_score {
            conds.push(format!("score >= {}", push(&mut args, Arg::I64(s.into()))));
        }
        if let Some(s) = q.max_score {
            conds.push(format!("score <= {}", push(&mut args, Arg::I64(s.into()))));
        }
        if let Some(m) = q.min_price {
            conds.push(format!("COALESCE(sold_price, reserve_price) >= {}", push(&mut args, Arg::I64(m.micros()))));
        }
        if let Some(m) = q.max_price {
            conds.push(format!("COALESCE(sold_price, reserve_price) <= {}", push(&mut args, Arg::I64(m.micros()))));
        }
        if let Some(t) = q.created_after {
            conds.push(format!("created_at >= {}", push(&mut args, Arg::I64(micros(t)))));
        }
        if let Some(t) = q.created_before {
            conds.push(format!("created_at < {}", push(&mut args, Arg::I64(micros(t)))));
        }
        for (key, value) in &q.field_eq {
            // JSON access is the one place the dialects differ. Matches are
            // typed on both engines: "12" is not 12, and 1 is not true.
            let cond = if postgres {
                let k = push(&mut args, Arg::Text(key.clone()));
                match value {
                    FieldValue::Text(s) => {
                        format!("fields -> {k} = to_jsonb({}::text)", push(&mut args, Arg::Text(s.clone())))
                    }
                    FieldValue::Number(n) => {
                        format!("fields -> {k} = to_jsonb({}::float8)", push(&mut args, Arg::F64(*n)))
                    }
                    FieldValue::Bool(b) => {
                        format!("fields -> {k} = to_jsonb({}::boolean)", push(&mut args, Arg::Text(b.to_string())))
                    }
                }
            } else {
                let k = push(&mut args, Arg::Text(format!("$.\"{key}\"")));
                match value {
                    FieldValue::Text(s) => format!(
                        "json_type(fields, {k}) = 'text' AND json_extract(fields, {k}) = {}",
                        push(&mut args, Arg::Text(s.clone()))
                    ),
                    FieldValue::Number(n) => format!(
                        "json_type(fields, {k}) IN ('integer', 'real') AND json_extract(fields, {k}) = {}",
                        push(&mut args, Arg::F64(*n))
                    ),
                    FieldValue::Bool(b) => {
                        format!("json_type(fields, {k}) = {}", push(&mut args, Arg::Text(b.to_string())))
                    }
                }
            };
            conds.push(cond);
        }
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!("SELECT {} FROM leads{}{tail}", lead_columns(), where_clause(&conds));
        let rows: Vec<LeadRow> =
            with_pool!(self, read, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        let items = rows.into_iter().map(LeadRecord::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(page, items))
    }

    async fn jobs_for_lead(&self, id: LeadId) -> Result<Vec<JobRecord>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE lead_id = $1 ORDER BY created_at, id");
        let rows: Vec<JobRow> = with_pool!(self, fresh, |p| sqlx::query_as(AssertSqlSafe(sql.clone()))
            .bind(id.as_uuid())
            .fetch_all(p)
            .await
            .map_err(map_err))?;
        rows.into_iter().map(JobRecord::try_from).collect()
    }

    async fn pii_access_count(&self, id: LeadId) -> Result<u64, StoreError> {
        let n: i64 =
            with_pool!(self, fresh, |p| sqlx::query_scalar("SELECT COUNT(*) FROM pii_access_log WHERE lead_id = $1")
                .bind(id.as_uuid())
                .fetch_one(p)
                .await
                .map_err(map_err))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn create_ask(&self, a: &Ask) -> Result<(), StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "INSERT INTO asks (id, seller_id, vertical, countries, regions, reserve_price, buy_now_price,
                               auction_duration_secs, daily_cap, status, expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        )
        .bind(a.id.as_uuid())
        .bind(a.seller_id.as_uuid())
        .bind(&a.vertical)
        .bind(Json(&a.countries))
        .bind(Json(&a.regions))
        .bind(a.reserve_price.micros())
        .bind(a.buy_now_price.micros())
        .bind(i64::from(a.auction_duration_secs))
        .bind(i64::from(a.daily_cap))
        .bind(&a.status)
        .bind(a.expires_at.map(micros))
        .bind(micros(a.created_at))
        .bind(micros(a.updated_at))
        .execute(p)
        .await
        .map(|_| ())
        .map_err(map_err))
    }

    async fn update_ask(&self, a: &Ask) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "UPDATE asks SET countries = $1, regions = $2, reserve_price = $3, buy_now_price = $4,
                    auction_duration_secs = $5, daily_cap = $6, status = $7, expires_at = $8, updated_at = $9
             WHERE id = $10 AND seller_id = $11"
        )
        .bind(Json(&a.countries))
        .bind(Json(&a.regions))
        .bind(a.reserve_price.micros())
        .bind(a.buy_now_price.micros())
        .bind(i64::from(a.auction_duration_secs))
        .bind(i64::from(a.daily_cap))
        .bind(&a.status)
        .bind(a.expires_at.map(micros))
        .bind(micros(a.updated_at))
        .bind(a.id.as_uuid())
        .bind(a.seller_id.as_uuid())
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(map_err))
    }

    async fn delete_ask(&self, seller: AccountId, id: AskId) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query("DELETE FROM asks WHERE id = $1 AND seller_id = $2")
            .bind(id.as_uuid())
            .bind(seller.as_uuid())
            .execute(p)
            .await
            .map(|r| r.rows_affected() == 1)
            .map_err(map_err))
    }

    async fn get_ask(&self, id: AskId) -> Result<Option<Ask>, StoreError> {
        let row: Option<AskRow> = with_pool!(self, fresh, |p| {
            sqlx::query_as(
            "SELECT id, seller_id, vertical, countries, regions, reserve_price, buy_now_price, auction_duration_secs,
                    daily_cap, status, expires_at, created_at, updated_at FROM asks WHERE id = $1"
        )
        .bind(id.as_uuid())
        .fetch_optional(p)
        .await
        .map_err(map_err)
        })?;
        row.map(Ask::try_from).transpose()
    }

    async fn list_asks(&self, q: &AskQuery, page: &PageRequest) -> Result<Page<Ask>, StoreError> {
        let mut conds = Vec::new();
        let mut args = Vec::new();
        if let Some(s) = q.seller_id {
            conds.push(format!("seller_id = {}", push(&mut args, Arg::Uuid(s.as_uuid()))));
        }
        if let Some(vs) = &q.verticals {
            let l = in_list(&mut args, vs.iter().cloned().map(Arg::Text));
            conds.push(format!("vertical IN ({l})"));
        }
        if let Some(s) = &q.status {
            conds.push(format!("status = {}", push(&mut args, Arg::Text(s.clone()))));
        }
        if let Some(t) = q.live_at {
            conds.push(format!("(expires_at IS NULL OR expires_at > {})", push(&mut args, Arg::I64(micros(t)))));
        }
        let tail = keyset(page, &mut conds, &mut args);
        let sql = format!(
            "SELECT id, seller_id, vertical, countries, regions, reserve_price, buy_now_price, auction_duration_secs,
                    daily_cap, status, expires_at, created_at, updated_at FROM asks{}{tail}",
            where_clause(&conds)
        );
        let rows: Vec<AskRow> =
            with_pool!(self, read, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        let items = rows.into_iter().map(Ask::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(page, items))
    }

    async fn seller_asks_for(
        &self,
        seller: AccountId,
        verticals: &[String],
        at: DateTime<Utc>,
    ) -> Result<Vec<Ask>, StoreError> {
        let mut args = vec![Arg::Uuid(seller.as_uuid()), Arg::I64(micros(at))];
        let l = in_list(&mut args, verticals.iter().cloned().map(Arg::Text));
        let sql = format!(
            "SELECT id, seller_id, vertical, countries, regions, reserve_price, buy_now_price, auction_duration_secs,
                    daily_cap, status, expires_at, created_at, updated_at FROM asks
             WHERE seller_id = $1 AND status = 'active' AND (expires_at IS NULL OR expires_at > $2)
               AND vertical IN ({l})"
        );
        let rows: Vec<AskRow> =
            with_pool!(self, fresh, |p| bind_args!(sqlx::query_as(AssertSqlSafe(sql.clone())), args.clone())
                .fetch_all(p)
                .await
                .map_err(map_err))?;
        rows.into_iter().map(Ask::try_from).collect()
    }

    async fn score_and_open(&self, o: &ScoreAndOpen) -> Result<bool, StoreError> {
        // Opened with whatever other leads are waiting, in one transaction
        // (groups.rs); this per-lead transaction is the group's fallback.
        let (Db::Sqlite { scores, .. } | Db::Postgres { scores, .. }) = &self.db;
        if let Some(opened) = groups::submit(scores, o).await {
            return Ok(opened);
        }
        with_pool!(self, write, |p| {
            let mut tx = p.begin_write().await.map_err(map_err)?;
            let updated = sqlx::query(
                "UPDATE leads SET status = 'in_auction', score = $1, tier = $2, score_breakdown = $3,
                        auction_opened_at = $4, auction_ends_at = $5, seed = $6, seed_hash = $7, updated_at = $4
                 WHERE id = $8 AND status = 'received'",
            )
            .bind(i64::from(o.score.value))
            .bind(o.score.tier.as_str())
            .bind(Json(o.score.breakdown))
            .bind(micros(o.opened_at))
            .bind(micros(o.ends_at))
            .bind(o.seed.to_vec())
            .bind(o.seed_hash.to_vec())
            .bind(o.lead_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?
            .rows_affected();
            if updated != 1 {
                tx.rollback().await.map_err(map_err)?;
                return Ok(false);
            }
            for j in &o.jobs {
                insert_job!(&mut *tx, j)?;
            }
            tx.commit().await.map_err(map_err)?;
            Ok(true)
        })
    }

    async fn reject_lead(&self, id: LeadId, reason: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        with_pool!(self, write, |p| sqlx::query(
            "UPDATE leads SET status = 'rejected', rejection_reason = $1, updated_at = $2
             WHERE id = $3 AND status = 'received'"
        )
        .bind(reason)
        .bind(micros(at))
        .bind(id.as_uuid())
        .execute(p)
        .await
        .map(|r| r.rows_affected() == 1)
        .map_err(map_err))
    }
}

// The market's ledger macros (`apply_movements!`) serve the group writers.
#[macro_use]
mod market;
mod groups;
mod ingest;
mod nft;
mod queue;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Engine, TestDb};

    /// A state guard is an expression of the column, never the bare column
    /// an index could serve.
    #[test]
    fn state_guards_are_expressions_no_index_matches() {
        assert_eq!(state_is("status", "queued"), "status || '' = 'queued'");
        assert_eq!(state_is("leads.status", "in_auction"), "leads.status || '' = 'in_auction'");
    }

    /// SQLite gets a `VALUES` list of anonymous placeholders; PostgreSQL one
    /// typed array per column, whatever the number of rows, with the
    /// columns named as a `VALUES` list's are.
    #[test]
    fn multi_rows_are_values_on_sqlite_and_arrays_per_column_on_postgres() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let args = vec![Arg::Uuid(a), Arg::OptI64(None), Arg::Uuid(b), Arg::OptI64(Some(3))];
        let (sql, binds) = multi_rows(false, 2, args.clone());
        assert_eq!(sql, "VALUES (?, ?), (?, ?)");
        assert_eq!(binds.len(), 4);
        let (sql, binds) = multi_rows(true, 2, args);
        assert_eq!(sql, "SELECT * FROM UNNEST($1::uuid[], $2::int8[]) AS u(column1, column2)");
        match &binds[..] {
            [Arg::Uuids(PgArray(ids)), Arg::I64s(PgArray(ns))] => {
                assert_eq!(ids, &vec![Some(a), Some(b)]);
                assert_eq!(ns, &vec![None, Some(3)]);
            }
            other => panic!("two array columns expected, got {other:?}"),
        }
        let mut args = vec![Arg::I64(7)];
        assert_eq!(member_of(true, &mut args, [Arg::Text("x".into()), Arg::Text("y".into())]), "= ANY($2::text[])");
        assert_eq!(member_of(true, &mut args, []), "IN (NULL)");
        let mut args = vec![Arg::I64(7)];
        assert_eq!(member_of(false, &mut args, [Arg::Text("x".into())]), "IN ($2)");
    }

    /// Checkpoint starvation: readers that never pause must not let the WAL
    /// grow without bound (it grew to 8.8 GB in the end-to-end benchmark
    /// before the checkpointer restarted it).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_wal_stays_bounded_under_readers_that_never_pause() {
        let db = TestDb::create(Engine::Sqlite).await.expect("sqlite");
        let store = db.store().await;
        let Db::Sqlite { write, read, .. } = &store.db else { panic!("sqlite") };
        sqlx::query("CREATE TABLE wal_probe (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
            .execute(write)
            .await
            .expect("create");
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = Vec::new();
        for _ in 0..4 {
            let (read, stop) = (read.clone(), stop.clone());
            readers.push(tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _: Option<(i64,)> =
                        sqlx::query_as("SELECT COUNT(*) FROM wal_probe").fetch_optional(&read).await.ok().flatten();
                }
            }));
        }
        let wal = std::path::PathBuf::from(format!("{}-wal", db.url.trim_start_matches("sqlite://")));
        let body = vec![7u8; 64 * 1024];
        let mut largest = 0u64;
        // 3 200 × 64 KiB ≈ 200 MiB through the log, 8 rows per transaction.
        for i in 0..400i64 {
            let mut tx = write.begin().await.expect("begin");
            for j in 0..8 {
                sqlx::query("INSERT INTO wal_probe (id, body) VALUES ($1, $2)")
                    .bind(i * 8 + j)
                    .bind(&body)
                    .execute(&mut *tx)
                    .await
                    .expect("insert");
            }
            tx.commit().await.expect("commit");
            sqlx::query("DELETE FROM wal_probe WHERE id < $1").bind(i * 8 - 64).execute(write).await.expect("delete");
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.await.expect("reader");
        }
        let bound = 3 * WAL_RESTART_FRAMES as u64 * 4_120;
        assert!(largest <= bound, "the WAL reached {largest} bytes (bound {bound})");
    }
}
