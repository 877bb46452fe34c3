//! HTTP integration tests of leadex: one binary, each test around a fresh
//! `spawn_app()` (real database, real HTTP on a port-0 listener).

/// Runs each scenario `async fn name(engine)` once on SQLite and once on
/// PostgreSQL (skipped there when `LEADEX_TEST_PG_URL` is unset).
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(leadex_testkit::TestEngine::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(leadex_testkit::TestEngine::Postgres).await })*
        }
    };
}

/// A loopback port nothing listens on right now (for child processes).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

mod accounts;
mod asks;
mod chain;
mod concurrency;
mod crash;
mod errors;
mod leads;
mod ledger_props;
mod market;
mod observability;
mod pipeline;
mod realtime;
mod scale_out;
