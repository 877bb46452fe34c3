//! The worker loop: claim → run → complete/fail, plus lease heartbeats and
//! the reaper that returns jobs of dead workers.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadex_core::clock::Clock;
use leadex_core::model::{ClaimRequest, FailOutcome, JobRecord, priority};
use leadex_core::ports::{JobQueue, StoreError};
use leadex_domain::JobId;
use rand::Rng;
use tokio::sync::{Notify, mpsc, watch};
use tracing::Instrument;

/// Tunables of a worker process (`queue.*` configuration).
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Identifies this worker in `locked_by`.
    pub worker_id: String,
    /// Jobs running at once in this process.
    pub concurrency: usize,
    /// Most jobs claimed per round trip.
    pub batch: u32,
    /// Lease length; renewed every third of it while a job runs.
    pub lease: Duration,
    /// Fallback poll for jobs enqueued by other processes.
    pub poll_interval: Duration,
    /// First retry delay; doubles per attempt, with `backoff_jitter`.
    pub backoff_base: Duration,
    /// Relative jitter of a retry delay (0.25: ±25 %). Below 1/3 every gap
    /// is still longer than the one before.
    pub backoff_jitter: f64,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Running jobs per vertical across all workers, by default.
    pub default_vertical_limit: u32,
    /// Per-vertical overrides.
    pub vertical_limits: HashMap<String, u32>,
    /// Running jobs per kind in this process (absent: no limit).
    pub kind_limits: HashMap<String, usize>,
    /// Slots on top of `concurrency` that only deadline jobs (auction
    /// closes, listing expiries) take, besides any of `concurrency` left
    /// free: a close that falls due never waits for a slot behind a backlog
    /// of other work, and closes in flight (mostly waiting for their group
    /// transaction) never limit the closes per second.
    pub deadline_reserve: usize,
    /// Most background jobs (minting, bounty matching) running at once.
    pub background_limit: usize,
    /// Deadline jobs are claimed this long before they are due and started
    /// at their `run_at`: the claim's wait for the database is spent ahead
    /// of the deadline. While waiting they do not take a slot.
    pub deadline_lookahead: Duration,
    /// How often expired leases are reaped.
    pub reap_interval: Duration,
    /// Completions are written in batches at most this far apart.
    pub complete_flush: Duration,
    /// How long shutdown waits for running jobs before releasing them.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            worker_id: default_worker_id(),
            concurrency: 64,
            batch: 256,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(100),
            backoff_base: Duration::from_secs(1),
            backoff_jitter: 0.25,
            backoff_max: Duration::from_secs(300),
            default_vertical_limit: 32,
            vertical_limits: HashMap::new(),
            kind_limits: HashMap::new(),
            deadline_reserve: 8,
            background_limit: 32,
            deadline_lookahead: Duration::ZERO,
            reap_interval: Duration::from_secs(5),
            complete_flush: Duration::from_millis(2),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// `<host>-<pid>-<random>`.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>())
}

/// Why a handler failed. Every failure is retried until the attempts run
/// out; the message is kept on the job.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobError(pub String);

impl JobError {
    /// A failure with a message.
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}

impl From<leadex_core::AppError> for JobError {
    fn from(e: leadex_core::AppError) -> Self {
        Self(format!("{}: {}", e.code, e.detail))
    }
}

/// What a handler sees besides its job.
#[derive(Clone, Debug)]
pub struct JobContext {
    /// This worker's id.
    pub worker_id: String,
}

/// Runs jobs of one kind. Must be idempotent: a job may run again after a
/// crash or a lost lease, and running it twice must have the effect of once.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt.
    async fn run(&self, ctx: &JobContext, job: &JobRecord) -> Result<(), JobError>;
}

/// A shared handler is a handler (lets a caller keep a reference to it).
#[async_trait]
impl<T: JobHandler> JobHandler for Arc<T> {
    async fn run(&self, ctx: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        (**self).run(ctx, job).await
    }
}

enum Outcome {
    Done(JobId),
    Failed(Box<JobRecord>, String),
}

/// A worker: owns the handlers and runs the loop.
pub struct Worker {
    queue: Arc<dyn JobQueue>,
    clock: Arc<dyn Clock>,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    cfg: WorkerConfig,
    notify: Arc<Notify>,
    in_flight: Mutex<HashSet<JobId>>,
    kind_running: Mutex<HashMap<String, usize>>,
    /// Running jobs per priority level (deadline, normal, background).
    level_running: Mutex<[usize; 3]>,
    /// Claimed deadline jobs waiting for their `run_at`.
    waiting: AtomicUsize,
    freed: Notify,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.cfg.worker_id)
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn to_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Worker {
    /// A worker over `queue`; `notify` is signalled by local enqueues.
    pub fn new(queue: Arc<dyn JobQueue>, clock: Arc<dyn Clock>, notify: Arc<Notify>, cfg: WorkerConfig) -> Self {
        Self {
            queue,
            clock,
            handlers: HashMap::new(),
            cfg,
            notify,
            in_flight: Mutex::new(HashSet::new()),
            kind_running: Mutex::new(HashMap::new()),
            level_running: Mutex::new([0; 3]),
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Registers the handler of `kind`.
    pub fn handle(mut self, kind: &str, handler: impl JobHandler) -> Self {
        self.handlers.insert(kind.to_owned(), Arc::new(handler));
        self
    }

    /// This worker's id.
    pub fn id(&self) -> &str {
        &self.cfg.worker_id
    }

    /// Delay before attempt `attempts + 1`: base × 2^(attempts−1), capped,
    /// with jitter so failing jobs do not retry in lockstep.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(20);
        let raw = self.cfg.backoff_base.saturating_mul(1 << exp).min(self.cfg.backoff_max);
        let j = self.cfg.backoff_jitter.clamp(0.0, 0.99);
        let factor = if j > 0.0 { rand::thread_rng().gen_range(1.0 - j..1.0 + j) } else { 1.0 };
        raw.mul_f64(factor)
    }

    /// Kinds that still have capacity here (`None`: all registered).
    fn claimable_kinds(&self) -> Option<Vec<String>> {
        let running = lock(&self.kind_running);
        let kinds: Vec<String> = self
            .handlers
            .keys()
            .filter(|k| self.cfg.kind_limits.get(*k).is_none_or(|lim| running.get(*k).copied().unwrap_or(0) < *lim))
            .cloned()
            .collect();
        Some(kinds)
    }

    /// How many jobs of each priority level a claim of `limit` may take:
    /// deadline jobs any free slot (of `concurrency` and of the
    /// `deadline_reserve` on top of it); the others share `concurrency`, and
    /// background jobs stay within `background_limit`.
    fn claimable_levels(&self, limit: u32) -> Vec<(i16, u32)> {
        let running = *lock(&self.level_running);
        let others = running[1] + running[2];
        let room = self.cfg.concurrency.saturating_sub(others);
        let background = room.min(self.cfg.background_limit.max(1).saturating_sub(running[2]));
        let cap = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).min(limit);
        vec![(priority::DEADLINE, limit), (priority::NORMAL, cap(room)), (priority::BACKGROUND, cap(background))]
    }

    async fn claim(&self, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let now = self.clock.now();
        let limit = u32::try_from(limit).unwrap_or(u32::MAX).min(self.cfg.batch);
        let req = ClaimRequest {
            worker: self.cfg.worker_id.clone(),
            limit,
            lease_until: now + to_chrono(self.cfg.lease),
            now,
            kinds: self.claimable_kinds(),
            levels: Some(self.claimable_levels(limit)),
            deadline_until: (!self.cfg.deadline_lookahead.is_zero())
                .then(|| now + to_chrono(self.cfg.deadline_lookahead)),
            default_vertical_limit: self.cfg.default_vertical_limit,
            vertical_limits: self.cfg.vertical_limits.clone(),
        };
        let jobs = self.queue.claim(&req).await?;
        let mut fl = lock(&self.in_flight);
        let mut kr = lock(&self.kind_running);
        let mut lr = lock(&self.level_running);
        for j in &jobs {
            lr[level_index(j.priority)] += 1;
            metrics::counter!("leadex_job_attempts_total", "kind" => j.kind.clone()).increment(1);
            fl.insert(j.id);
            *kr.entry(j.kind.clone()).or_default() += 1;
            let delay = (now - j.run_at).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
            metrics::histogram!("leadex_job_start_delay_seconds", "kind" => j.kind.clone()).record(delay);
        }
        Ok(jobs)
    }

    async fn execute(self: &Arc<Self>, job: JobRecord) -> Outcome {
        // A deadline job claimed ahead of time starts at its run_at.
        let early = until(self.clock.now(), job.run_at);
        if !early.is_zero() {
            self.waiting.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(early).await;
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        let ctx = JobContext { worker_id: self.cfg.worker_id.clone() };
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            kind = %job.kind,
            attempt = job.attempts,
            correlation_id = %job.correlation_id,
            request_id = %job.correlation_id,
        );
        let started = Instant::now();
        let result = match self.handlers.get(&job.kind) {
            Some(h) => {
                let h = h.clone();
                let ctx2 = ctx.clone();
                let job2 = job.clone();
                // A panicking handler fails its job instead of the worker.
                match tokio::spawn(async move { h.run(&ctx2, &job2).await }.instrument(span.clone())).await {
                    Ok(r) => r,
                    Err(e) => Err(JobError::new(format!("handler panicked: {e}"))),
                }
            }
            None => Err(JobError::new(format!("no handler for kind `{}`", job.kind))),
        };
        metrics::histogram!("leadex_job_duration_seconds", "kind" => job.kind.clone())
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(()) => Outcome::Done(job.id),
            Err(e) => {
                span.in_scope(|| tracing::warn!(error = %e, "job attempt failed"));
                Outcome::Failed(Box::new(job), e.0)
            }
        }
    }

    fn finished(&self, job: &JobId, kind: &str, priority: i16) {
        lock(&self.in_flight).remove(job);
        let mut lr = lock(&self.level_running);
        let n = &mut lr[level_index(priority)];
        *n = n.saturating_sub(1);
        drop(lr);
        if let Some(n) = lock(&self.kind_running).get_mut(kind) {
            *n = n.saturating_sub(1);
        }
        self.freed.notify_one();
    }

    async fn record_failure(&self, job: &JobRecord, error: &str) {
        let now = self.clock.now();
        let retry_at = now + to_chrono(self.backoff(job.attempts));
        match self.queue.fail(job.id, &self.cfg.worker_id, error, retry_at, now).await {
            Ok(FailOutcome::Retrying) => {
                metrics::counter!("leadex_jobs_total", "kind" => job.kind.clone(), "outcome" => "retry").increment(1);
            }
            Ok(FailOutcome::Dead) => {
                metrics::counter!("leadex_jobs_total", "kind" => job.kind.clone(), "outcome" => "dead").increment(1);
                tracing::error!(job_id = %job.id, kind = %job.kind, correlation_id = %job.correlation_id, error, "job is dead");
            }
            Ok(FailOutcome::Lost) => {
                metrics::counter!("leadex_jobs_total", "kind" => job.kind.clone(), "outcome" => "lost").increment(1);
            }
            Err(e) => {
                tracing::error!(job_id = %job.id, error = %e, "could not record job failure; the lease will expire")
            }
        }
    }

    async fn flush_done(&self, done: &mut Vec<(JobId, String)>) {
        if done.is_empty() {
            return;
        }
        let ids: Vec<JobId> = done.iter().map(|(i, _)| *i).collect();
        match self.queue.complete(&ids, &self.cfg.worker_id, self.clock.now()).await {
            Ok(_) => {
                for (_, kind) in done.iter() {
                    metrics::counter!("leadex_jobs_total", "kind" => kind.clone(), "outcome" => "done").increment(1);
                }
            }
            // The jobs stay running and come back after their lease: a
            // handler must be idempotent for exactly this case.
            Err(e) => tracing::error!(error = %e, jobs = ids.len(), "could not record completions"),
        }
        done.clear();
    }

    /// Claims every ready job (repeatedly, until none is left), runs them
    /// and records the outcomes; returns how many ran. For tests and tools.
    pub async fn run_once(self: &Arc<Self>) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let jobs = self.claim(self.cfg.concurrency.max(1)).await?;
            if jobs.is_empty() {
                return Ok(total);
            }
            total += jobs.len();
            let outcomes = futures::future::join_all(jobs.into_iter().map(|j| {
                let me = self.clone();
                async move {
                    let (kind, id, level) = (j.kind.clone(), j.id, j.priority);
                    let o = me.execute(j).await;
                    me.finished(&id, &kind, level);
                    (o, kind)
                }
            }))
            .await;
            let mut done = Vec::new();
            for (o, kind) in outcomes {
                match o {
                    Outcome::Done(id) => done.push((id, kind)),
                    Outcome::Failed(job, e) => self.record_failure(&job, &e).await,
                }
            }
            self.flush_done(&mut done).await;
        }
    }

    /// Runs until `shutdown` turns true: stops claiming, waits up to the
    /// grace period for running jobs, releases what is left.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.cfg.worker_id, kinds = ?self.handlers.keys().collect::<Vec<_>>(), "worker started");
        let (tx, mut rx) = mpsc::unbounded_channel::<(Outcome, String)>();
        let completer = {
            let me = self.clone();
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let first = rx.recv().await;
                    let Some(first) = first else { break };
                    let deadline = tokio::time::Instant::now() + me.cfg.complete_flush;
                    let mut batch = vec![first];
                    while batch.len() < 512 {
                        match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Some(x)) => batch.push(x),
                            _ => break,
                        }
                    }
                    for (o, kind) in batch {
                        match o {
                            Outcome::Done(id) => done.push((id, kind)),
                            Outcome::Failed(job, e) => me.record_failure(&job, &e).await,
                        }
                    }
                    me.flush_done(&mut done).await;
                }
                me.flush_done(&mut done).await;
            })
        };
        let heartbeat = {
            let me = self.clone();
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                let every = me.cfg.lease / 3;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                    let ids: Vec<JobId> = lock(&me.in_flight).iter().copied().collect();
                    let until = me.clock.now() + to_chrono(me.cfg.lease);
                    if let Err(e) = me.queue.heartbeat(&ids, &me.cfg.worker_id, until).await {
                        tracing::warn!(error = %e, "lease heartbeat failed");
                    }
                }
            })
        };
        let reaper = {
            let me = self.clone();
            let mut stop = shutdown.clone();
            tokio::spawn(async move {
                // (kind, status) pairs reported before: one that empties is
                // set to 0, or a retried dead job would keep its alert firing.
                // Every handled kind starts with 0 dead jobs (depth and
                // outcome counter), so "dead jobs by kind" is on /metrics
                // and its first increase is visible.
                let mut seen = std::collections::BTreeSet::<(String, String)>::new();
                for kind in me.handlers.keys() {
                    metrics::counter!("leadex_jobs_total", "kind" => kind.clone(), "outcome" => "dead").increment(0);
                    seen.insert((kind.clone(), "dead".to_owned()));
                }
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(me.cfg.reap_interval) => {}
                        _ = stop.changed() => return,
                    }
                    match me.queue.reap(me.clock.now()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::warn!(jobs = n, "returned jobs with expired leases"),
                        Err(e) => tracing::warn!(error = %e, "reaper failed"),
                    }
                    if let Ok(stats) = me.queue.queue_stats(me.clock.now()).await {
                        metrics::gauge!("leadex_queue_oldest_ready_age_seconds").set(stats.oldest_ready_age_secs);
                        metrics::gauge!("leadex_queue_ready").set(stats.ready as f64);
                        metrics::gauge!("leadex_queue_scheduled").set(stats.scheduled as f64);
                        let mut now = std::collections::BTreeSet::new();
                        for d in stats.depths {
                            now.insert((d.kind.clone(), d.status.clone()));
                            metrics::gauge!("leadex_queue_depth", "kind" => d.kind, "status" => d.status)
                                .set(d.count as f64);
                        }
                        for (kind, status) in seen.difference(&now) {
                            metrics::gauge!("leadex_queue_depth", "kind" => kind.clone(), "status" => status.clone())
                                .set(0.0);
                        }
                        seen.extend(now);
                    }
                }
            })
        };

        let mut errors = 0u32;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let busy = lock(&self.in_flight).len().saturating_sub(self.waiting.load(Ordering::Relaxed));
            let free = (self.cfg.concurrency + self.cfg.deadline_reserve).saturating_sub(busy);
            let mut claimed = 0;
            if free > 0 {
                match self.claim(free).await {
                    Ok(jobs) => {
                        errors = 0;
                        claimed = jobs.len();
                        for j in jobs {
                            let me = self.clone();
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                let (kind, id, level) = (j.kind.clone(), j.id, j.priority);
                                let o = me.execute(j).await;
                                me.finished(&id, &kind, level);
                                let _ = tx.send((o, kind));
                            });
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        tracing::warn!(error = %e, "claim failed; backing off");
                        let pause = self.cfg.poll_interval.saturating_mul(errors.min(50));
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            _ = shutdown.changed() => {}
                        }
                        continue;
                    }
                }
            }
            if claimed > 0 && claimed >= free.min(self.cfg.batch as usize) {
                // A full batch: more are probably ready.
                continue;
            }
            // Sleep until the earliest known run_at, a local enqueue, a
            // freed slot (when full), the poll fallback, or shutdown.
            let wait = if free == 0 {
                self.cfg.poll_interval
            } else {
                match self.queue.next_run_at().await {
                    // Woken when the next job is half the lookahead away,
                    // a claim takes every deadline job due in the next
                    // half-to-whole lookahead: one claim per ~125 ms of
                    // closes rather than one per close as each enters the
                    // window (300 claims/s at 300 closes/s).
                    Ok(Some(t)) => until(self.clock.now() + to_chrono(self.cfg.deadline_lookahead / 2), t)
                        .min(self.cfg.poll_interval),
                    Ok(None) => self.cfg.poll_interval,
                    Err(_) => self.cfg.poll_interval,
                }
            };
            if wait.is_zero() {
                // Ready jobs exist but none could be claimed (vertical or
                // kind limits): wait for a slot to free up here, or poll.
                tokio::select! {
                    _ = self.freed.notified() => {}
                    _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.notify.notified() => {}
                _ = self.freed.notified(), if free == 0 => {}
                _ = shutdown.changed() => {}
            }
        }

        // Graceful shutdown: no new claims; let running jobs finish.
        let deadline = Instant::now() + self.cfg.shutdown_grace;
        while !lock(&self.in_flight).is_empty() && Instant::now() < deadline {
            tokio::select! {
                _ = self.freed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        let left: Vec<JobId> = lock(&self.in_flight).iter().copied().collect();
        for id in left {
            if let Ok(true) = self.queue.release(id, &self.cfg.worker_id).await {
                tracing::warn!(job_id = %id, "released a running job at shutdown");
            }
        }
        drop(tx);
        let _ = completer.await;
        heartbeat.abort();
        reaper.abort();
        tracing::info!(worker = %self.cfg.worker_id, "worker stopped");
    }
}

/// Index of a priority level in per-level counters (unknown levels count
/// as normal).
fn level_index(priority: i16) -> usize {
    match priority {
        priority::DEADLINE => 0,
        priority::BACKGROUND => 2,
        _ => 1,
    }
}

/// Time from `now` until `t` (zero if past).
fn until(now: DateTime<Utc>, t: DateTime<Utc>) -> Duration {
    (t - now).to_std().unwrap_or(Duration::ZERO)
}
