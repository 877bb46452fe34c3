//! The job runtime of leadex and its handlers.
//!
//! A [`Worker`] claims ready jobs from the durable queue in short
//! transactions with a lease, runs each in its own task, completes them in
//! batches, retries failures with exponential backoff and jitter (persisted
//! in `run_at`) and dead-letters them after their last attempt. It never
//! holds a database transaction across a handler. Scheduled jobs start on
//! time because the worker sleeps exactly until the earliest `run_at` it
//! knows of, wakes at once when this process enqueues, and polls only as a
//! fallback for jobs other processes enqueue.

pub mod handlers;
mod runtime;

pub use runtime::{JobContext, JobError, JobHandler, Worker, WorkerConfig};
