//! Listing at depth: seeds the `leads` table directly (multi-row INSERTs,
//! thousands of rows per transaction) up to N rows, then times
//! `GET /v1/leads` for page 1 and for page P through a keyset cursor built
//! for the row just above page P, and, for contrast, the same pages through
//! `LIMIT … OFFSET …` straight in SQL on the same database.
//!
//! The database must already be migrated by the server (`leadex migrate`
//! or one start), and `--seller-id` must name an existing account.

use std::fmt::Write as _;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use hdrhistogram::Histogram;
use leadex_core::cursor::{Cursor, Direction};
use leadex_domain::vertical::{Catalog, VerticalStatus};
use rand::Rng;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, PgPool, SqlitePool};
use uuid::Uuid;

use crate::stats::{self, Summary};

/// Options of `leadex-loadgen list-depth`.
#[derive(Args, Debug, Clone)]
pub struct DepthArgs {
    /// Server base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base_url: String,
    /// The server's database: `postgres://…`, or `sqlite://<data_dir>/leadex.db`
    /// (a bare path is taken as a SQLite file).
    #[arg(long, env = "LOADGEN_DB_URL")]
    pub db_url: String,
    /// Existing account the seeded leads belong to (needed only to seed).
    #[arg(long)]
    pub seller_id: Option<String>,
    /// Make sure at least this many leads exist, seeding the difference.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Rows per seeding transaction.
    #[arg(long, default_value_t = 5_000)]
    pub tx_rows: usize,
    /// Page size.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// The deep page number (1-based); needs `rows ≥ page × limit`.
    #[arg(long, default_value_t = 10_000)]
    pub page: u64,
    /// HTTP samples per page.
    #[arg(long, default_value_t = 300)]
    pub samples: usize,
    /// Direct SQL samples per query (offset and keyset, first and deep).
    #[arg(long, default_value_t = 50)]
    pub sql_samples: usize,
    /// API key sent with the list requests (the public feed needs none).
    #[arg(long)]
    pub key: Option<String>,
    /// Only seed, measure nothing.
    #[arg(long)]
    pub seed_only: bool,
    /// Free-form label copied into the report.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print the report as JSON only.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    async fn connect(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).context("PostgreSQL URL")?;
            let pool = PgPoolOptions::new().max_connections(1).connect_with(opts).await.context("connecting")?;
            Ok(Self::Postgres(pool))
        } else {
            let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
            let opts = SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(false)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.context("opening")?;
            Ok(Self::Sqlite(pool))
        }
    }

    fn is_pg(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    async fn count(&self) -> anyhow::Result<i64> {
        let sql = "SELECT COUNT(*) FROM leads";
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
            Self::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await?,
        })
    }

    /// Runs literal-only statements in one transaction.
    async fn exec_tx(&self, statements: &[String]) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(p) => {
                let mut tx = p.begin().await?;
                for s in statements {
                    sqlx::raw_sql(AssertSqlSafe(s.as_str())).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Self::Postgres(p) => {
                let mut tx = p.begin().await?;
                for s in statements {
                    sqlx::raw_sql(AssertSqlSafe(s.as_str())).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn exec(&self, sql: &'static str) -> anyhow::Result<()> {
        match self {
            Self::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ())?,
            Self::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ())?,
        }
        Ok(())
    }

    /// `(created_at, id)` of the row at `offset` in feed order.
    async fn key_at(&self, offset: u64) -> anyhow::Result<(i64, Uuid)> {
        let sql = "SELECT created_at, id FROM leads WHERE status <> 'rejected'
                   ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $1";
        let off = i64::try_from(offset)?;
        Ok(match self {
            Self::Sqlite(p) => sqlx::query_as(sql).bind(off).fetch_one(p).await?,
            Self::Postgres(p) => sqlx::query_as(sql).bind(off).fetch_one(p).await?,
        })
    }

    /// Times one page read straight from SQL: by offset, or after a key.
    async fn timed_page(
        &self,
        limit: u32,
        offset: Option<u64>,
        after: Option<(i64, Uuid)>,
    ) -> anyhow::Result<Duration> {
        // The server's feed query shape: every column, `status <> 'rejected'`,
        // `(created_at, id)` order, limit + 1 rows to know whether more exist.
        let fetch = i64::from(limit) + 1;
        let started = Instant::now();
        let n = match (self, after) {
            (Self::Sqlite(p), None) => sqlx::query(
                "SELECT * FROM leads WHERE status <> 'rejected' ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2",
            )
            .bind(fetch)
            .bind(i64::try_from(offset.unwrap_or(0))?)
            .fetch_all(p)
            .await?
            .len(),
            (Self::Postgres(p), None) => sqlx::query(
                "SELECT * FROM leads WHERE status <> 'rejected' ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2",
            )
            .bind(fetch)
            .bind(i64::try_from(offset.unwrap_or(0))?)
            .fetch_all(p)
            .await?
            .len(),
            (Self::Sqlite(p), Some((t, id))) => sqlx::query(
                "SELECT * FROM leads WHERE status <> 'rejected' AND (created_at, id) < ($1, $2)
                 ORDER BY created_at DESC, id DESC LIMIT $3",
            )
            .bind(t)
            .bind(id)
            .bind(fetch)
            .fetch_all(p)
            .await?
            .len(),
            (Self::Postgres(p), Some((t, id))) => sqlx::query(
                "SELECT * FROM leads WHERE status <> 'rejected' AND (created_at, id) < ($1, $2)
                 ORDER BY created_at DESC, id DESC LIMIT $3",
            )
            .bind(t)
            .bind(id)
            .bind(fetch)
            .fetch_all(p)
            .await?
            .len(),
        };
        let took = started.elapsed();
        if n == 0 {
            bail!("SQL page came back empty");
        }
        Ok(took)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One seeded vertical: slug, root slug, reserve price in micros.
struct SeedVertical {
    slug: String,
    root: String,
    reserve: i64,
}

fn seed_verticals() -> anyhow::Result<Vec<SeedVertical>> {
    let c = Catalog::new(leadex_domain::catalog::seed()).context("seeded catalogue")?;
    let v: Vec<SeedVertical> = c
        .iter()
        .filter(|v| v.depth > 1 && v.def.status == VerticalStatus::Active)
        .map(|v| SeedVertical {
            slug: v.slug().to_owned(),
            root: v.root.clone(),
            reserve: c.floor_price(v.slug(), "US").map_or(10_000_000, |m| m.micros()),
        })
        .collect();
    if v.is_empty() {
        bail!("catalogue has no active child vertical");
    }
    Ok(v)
}

const COLUMNS: &str = "id, seller_id, vertical, root_vertical, status, country, region, postal_code, city, fields, \
     source, consent_at, reserve_price, buy_now_price, auction_duration_secs, pii_hash, correlation_id, created_at, \
     updated_at";

const PLACES: &[(&str, &str, &str)] = &[
    ("CA", "90210", "Beverly Hills"),
    ("TX", "78701", "Austin"),
    ("FL", "33101", "Miami"),
    ("WA", "98101", "Seattle"),
];

/// Inserts `n` leads stamped in the recent past, 2 per millisecond (pairs
/// share a `created_at`, so the id tie-break is exercised), oldest first.
async fn seed(db: &Db, seller: Uuid, n: u64, tx_rows: usize) -> anyhow::Result<Duration> {
    let verticals = seed_verticals()?;
    let pg = db.is_pg();
    let lit_uuid = |u: Uuid| if pg { format!("'{u}'::uuid") } else { format!("X'{}'", hex(u.as_bytes())) };
    let zero_hash = if pg { format!("'\\x{}'::bytea", "00".repeat(32)) } else { format!("X'{}'", "00".repeat(32)) };
    let json_cast = if pg { "::jsonb" } else { "" };
    let seller_lit = lit_uuid(seller);
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis())?;
    let first_ms = now_ms.saturating_sub(n / 2 + 1_000);
    let per_stmt = 1_000usize;
    let mut rng = rand::thread_rng();
    let started = Instant::now();
    let mut done = 0u64;
    while done < n {
        let in_tx = usize::try_from((n - done).min(tx_rows as u64))?;
        let mut statements = Vec::new();
        let mut left = in_tx;
        while left > 0 {
            let k = left.min(per_stmt);
            let mut sql = String::with_capacity(k * 420 + 200);
            let _ = write!(sql, "INSERT INTO leads ({COLUMNS}) VALUES ");
            for j in 0..k {
                let i = done + (in_tx - left + j) as u64;
                let ms = first_ms + i / 2;
                let micros = i64::try_from(ms * 1_000)?;
                let mut rand10 = [0u8; 10];
                rng.fill(&mut rand10);
                let id = uuid::Builder::from_unix_timestamp_millis(ms, &rand10).into_uuid();
                let v = &verticals[usize::try_from(i % verticals.len() as u64)?];
                let (region, zip, city) = PLACES[usize::try_from(i % PLACES.len() as u64)?];
                let sep = if j == 0 { "" } else { "," };
                let _ = write!(
                    sql,
                    "{sep}({id}, {seller_lit}, '{slug}', '{root}', 'received', 'US', '{region}', '{zip}', '{city}', \
                     '{{\"seeded\":true,\"n\":{i}}}'{json_cast}, 'form', {micros}, {reserve}, {buy_now}, 60, \
                     {zero_hash}, 'seed-{i}', {micros}, {micros})",
                    id = lit_uuid(id),
                    slug = v.slug.replace('\'', "''"),
                    root = v.root.replace('\'', "''"),
                    reserve = v.reserve,
                    buy_now = v.reserve / 5 * 6,
                );
            }
            statements.push(sql);
            left -= k;
        }
        db.exec_tx(&statements).await.context("seeding transaction")?;
        done += in_tx as u64;
        if done % 100_000 < tx_rows as u64 {
            eprintln!("  seeded {done}/{n} in {:.1}s", started.elapsed().as_secs_f64());
        }
    }
    if pg {
        db.exec("ANALYZE leads").await?;
    }
    Ok(started.elapsed())
}

struct Http {
    client: reqwest::Client,
    url: String,
    key: Option<String>,
}

impl Http {
    /// One list call; returns the latency and the parsed page.
    async fn page(&self, cursor: Option<&str>) -> anyhow::Result<(Duration, Value)> {
        let mut req = self.client.get(&self.url);
        if let Some(c) = cursor {
            req = req.query(&[("cursor", c)]);
        }
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        let started = Instant::now();
        let r = req.send().await.context("GET /v1/leads")?;
        let status = r.status();
        let bytes = r.bytes().await?;
        let took = started.elapsed();
        if !status.is_success() {
            bail!("GET /v1/leads answered {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok((took, serde_json::from_slice(&bytes)?))
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { stats::round3(a as f64 / b as f64) }
}

/// Seeds if needed, measures and prints the report.
pub async fn run(a: DepthArgs) -> anyhow::Result<()> {
    if a.page < 2 || a.limit == 0 {
        bail!("--page must be ≥ 2 and --limit ≥ 1");
    }
    let db = Db::connect(&a.db_url).await?;
    let need = a.page * u64::from(a.limit);
    let target = a.rows.max(need);
    let have = u64::try_from(db.count().await.context("counting leads (is the database migrated?)")?)?;
    let mut seeded = json!(null);
    if have < target {
        let seller = a.seller_id.as_deref().context("--seller-id is needed to seed")?;
        let seller = Uuid::parse_str(seller).context("--seller-id")?;
        eprintln!("seeding {} leads ({have} present)", target - have);
        let took = seed(&db, seller, target - have, a.tx_rows.max(1)).await?;
        let rate = (target - have) as f64 / took.as_secs_f64().max(1e-9);
        eprintln!("seeded {} rows in {:.1}s ({rate:.0} rows/s)", target - have, took.as_secs_f64());
        seeded =
            json!({"rows": target - have, "secs": stats::round3(took.as_secs_f64()), "rows_per_sec": rate.round()});
    }
    let total = db.count().await?;
    if a.seed_only {
        println!("{}", json!({"label": a.label, "leads": total, "seeded": seeded}));
        return Ok(());
    }

    // The cursor for page P is the key of the last row of page P − 1.
    let deep_offset = (a.page - 1) * u64::from(a.limit);
    let boundary = db.key_at(deep_offset - 1).await.context("boundary row")?;
    let expected_first = db.key_at(deep_offset).await.context("first row of the deep page")?;
    let newest = db.key_at(0).await?;
    let cursor = Cursor { created_at: boundary.0, id: boundary.1, direction: Direction::After }.encode();

    let http = Http {
        client: reqwest::Client::builder().tcp_nodelay(true).build()?,
        url: format!("{}/v1/leads?limit={}", a.base_url, a.limit),
        key: a.key.clone(),
    };
    // Check that both pages are what they claim to be.
    let (_, first) = http.page(None).await?;
    let (_, deep) = http.page(Some(&cursor)).await?;
    let id_of = |v: &Value| v["items"][0]["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
    let n_items = |v: &Value| v["items"].as_array().map_or(0, Vec::len);
    if id_of(&first) != Some(newest.1) || n_items(&first) != a.limit as usize {
        bail!("page 1 does not start at the newest lead");
    }
    if id_of(&deep) != Some(expected_first.1) || n_items(&deep) != a.limit as usize {
        bail!("page {} via the cursor does not start at row {deep_offset}", a.page);
    }

    // HTTP, alternating first/deep so drift hits both equally.
    let warm = 10.min(a.samples);
    let (mut h_first, mut h_deep) = (stats::histogram(), stats::histogram());
    for i in 0..warm + a.samples {
        let (t1, _) = http.page(None).await?;
        let (t2, _) = http.page(Some(&cursor)).await?;
        if i >= warm {
            stats::record(&mut h_first, t1);
            stats::record(&mut h_deep, t2);
        }
    }
    // Direct SQL: offset vs keyset, same alternation.
    // The first page is the same query either way (no offset, no cursor).
    let mut sql: [Histogram<u64>; 3] = [stats::histogram(), stats::histogram(), stats::histogram()];
    for i in 0..2 + a.sql_samples {
        let ts = [
            db.timed_page(a.limit, Some(0), None).await?,
            db.timed_page(a.limit, Some(deep_offset), None).await?,
            db.timed_page(a.limit, None, Some(boundary)).await?,
        ];
        if i >= 2 {
            for (h, t) in sql.iter_mut().zip(ts) {
                stats::record(h, t);
            }
        }
    }
    let [sql_first, off_deep, key_deep] = sql.map(|h| Summary::of(&h));
    let (f, d) = (Summary::of(&h_first), Summary::of(&h_deep));
    let report = json!({
        "label": a.label,
        "engine": if db.is_pg() { "postgres" } else { "sqlite" },
        "leads": total,
        "seeded": seeded,
        "limit": a.limit,
        "deep_page": a.page,
        "deep_offset": deep_offset,
        "http_cursor": {
            "first": f.json(), "deep": d.json(),
            "ratio_p50": ratio(d.p50, f.p50), "ratio_p99": ratio(d.p99, f.p99),
        },
        "sql_offset": {
            "first": sql_first.json(), "deep": off_deep.json(),
            "ratio_p50": ratio(off_deep.p50, sql_first.p50), "ratio_p99": ratio(off_deep.p99, sql_first.p99),
        },
        "sql_keyset": {
            "first": sql_first.json(), "deep": key_deep.json(),
            "ratio_p50": ratio(key_deep.p50, sql_first.p50), "ratio_p99": ratio(key_deep.p99, sql_first.p99),
        },
    });
    if a.json {
        println!("{report}");
    } else {
        println!(
            "list-depth {} with {total} leads, limit {}, page {} (offset {deep_offset})",
            report["engine"], a.limit, a.page
        );
        println!("  HTTP cursor page 1      {}", f.line());
        println!("  HTTP cursor page {:<6} {}", a.page, d.line());
        println!("  → ratio deep/first p50 {} p99 {}", ratio(d.p50, f.p50), ratio(d.p99, f.p99));
        println!("  SQL first page          {}", sql_first.line());
        println!("  SQL OFFSET {deep_offset:<12} {}", off_deep.line());
        println!("  → ratio deep/first p50 {}", ratio(off_deep.p50, sql_first.p50));
        println!("  SQL keyset deep         {}", key_deep.line());
        println!("  → ratio deep/first p50 {}", ratio(key_deep.p50, sql_first.p50));
    }
    Ok(())
}
