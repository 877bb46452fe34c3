//! Throwaway databases for tests: a SQLite file in a temporary directory,
//! or a fresh PostgreSQL database dropped again when the guard goes.
//!
//! PostgreSQL tests are enabled by `LEADEX_TEST_PG_URL` (a URL of a server
//! where the user may `CREATE DATABASE`, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`). `.ci/run` sets it.

use std::path::PathBuf;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::{SqlStore, StoreOptions};

/// Which engine a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL database.
    Postgres,
}

/// The server URL for PostgreSQL tests, when configured.
pub fn pg_admin_url() -> Option<String> {
    std::env::var("LEADEX_TEST_PG_URL").ok().filter(|s| !s.is_empty())
}

/// A database that lives as long as this guard.
#[derive(Debug)]
pub struct TestDb {
    /// URL to connect to it.
    pub url: String,
    engine: Engine,
    dir: Option<PathBuf>,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, empty database of `engine`; `None` for PostgreSQL when
    /// `LEADEX_TEST_PG_URL` is unset.
    pub async fn create(engine: Engine) -> Option<Self> {
        match engine {
            Engine::Sqlite => {
                let dir = std::env::temp_dir().join(format!("leadex-test-{}", Uuid::now_v7().simple()));
                std::fs::create_dir_all(&dir).ok()?;
                Some(Self {
                    url: format!("sqlite://{}", dir.join("leadex.db").display()),
                    engine,
                    dir: Some(dir),
                    pg: None,
                })
            }
            Engine::Postgres => {
                let admin = pg_admin_url()?;
                let name = format!("leadex_test_{}", Uuid::now_v7().simple());
                let mut conn = PgConnection::connect(&admin).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.ok()?;
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b).to_owned();
                Some(Self { url: format!("{base}/{name}"), engine, dir: None, pg: Some((admin, name)) })
            }
        }
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Connects and migrates a store on this database.
    pub async fn store(&self) -> SqlStore {
        let store = SqlStore::connect(&StoreOptions::new(self.url.clone()))
            .await
            .unwrap_or_else(|e| panic!("test database {} unreachable: {e}", self.url));
        store.migrate().await.unwrap_or_else(|e| panic!("migrations failed: {e}"));
        store
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs outside any runtime guarantee: use a thread with its
            // own small runtime. FORCE ends connections a pool left open.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(mut conn) = PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                                .execute(&mut conn)
                                .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}
