//! HTTP integration tests of leadex: one binary, each test around a fresh
//! `spawn_app()` (real database, real HTTP on a port-0 listener).

mod accounts;
mod asks;
mod concurrency;
mod crash;
mod errors;
mod leads;
mod ledger_props;
mod market;
mod pipeline;
