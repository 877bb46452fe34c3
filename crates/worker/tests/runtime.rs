//! The job runtime against a real database, on SQLite and (when
//! `LEADEX_TEST_PG_URL` is set) PostgreSQL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use leadex_core::clock::SystemClock;
use leadex_core::model::{ClaimRequest, JobRecord, NewJob};
use leadex_core::ports::JobQueue;
use leadex_domain::JobId;
use leadex_store::SqlStore;
use leadex_store::testing::{Engine, TestDb};
use leadex_worker::{JobContext, JobError, JobHandler, Worker, WorkerConfig};
use serde_json::json;
use tokio::sync::{Notify, watch};

fn job(kind: &str, vertical: Option<&str>) -> NewJob {
    let now = Utc::now();
    NewJob {
        id: JobId::new(),
        kind: kind.into(),
        vertical: vertical.map(Into::into),
        payload: json!({}),
        run_at: now,
        priority: leadex_core::service::priority_of(kind),
        max_attempts: 3,
        correlation_id: "test".into(),
        dedupe_key: None,
        created_at: now,
    }
}

fn config(id: &str) -> WorkerConfig {
    WorkerConfig {
        worker_id: id.into(),
        concurrency: 16,
        backoff_base: Duration::from_millis(60),
        poll_interval: Duration::from_millis(20),
        reap_interval: Duration::from_millis(50),
        lease: Duration::from_secs(5),
        ..WorkerConfig::default()
    }
}

async fn setup(engine: Engine) -> Option<(TestDb, Arc<SqlStore>)> {
    let Some(db) = TestDb::create(engine).await else {
        eprintln!("skipped: LEADEX_TEST_PG_URL is not set");
        return None;
    };
    let store = Arc::new(db.store().await);
    Some((db, store))
}

fn worker(store: &Arc<SqlStore>, cfg: WorkerConfig) -> Worker {
    Worker::new(store.clone(), Arc::new(SystemClock), Arc::new(Notify::new()), cfg)
}

/// Runs `w` in the background until the returned sender is dropped or set.
fn start(w: Worker) -> (watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let h = tokio::spawn(Arc::new(w).run(rx));
    (tx, h)
}

async fn wait_for(store: &Arc<SqlStore>, id: JobId, status: &str) -> JobRecord {
    for _ in 0..500 {
        let j = store.get_job(id).await.expect("readable").expect("exists");
        if j.status == status {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} never reached {status}");
}

/// Fails its first `fail_first` attempts, recording when each ran.
struct Flaky {
    fail_first: usize,
    runs: Mutex<Vec<Instant>>,
}

#[async_trait]
impl JobHandler for Flaky {
    async fn run(&self, _: &JobContext, _: &JobRecord) -> Result<(), JobError> {
        let n = {
            let mut r = self.runs.lock().expect("lock");
            r.push(Instant::now());
            r.len()
        };
        if n <= self.fail_first { Err(JobError::new(format!("boom {n}"))) } else { Ok(()) }
    }
}

async fn a_job_failing_twice_then_succeeding_runs_three_times_with_growing_gaps(engine: Engine) {
    let Some((_db, store)) = setup(engine).await else { return };
    let flaky = Arc::new(Flaky { fail_first: 2, runs: Mutex::new(Vec::new()) });
    let j = job("flaky", None);
    store.enqueue(std::slice::from_ref(&j)).await.expect("enqueued");
    let (stop, h) = start(worker(&store, config("w1")).handle("flaky", flaky.clone()));
    let done = wait_for(&store, j.id, "done").await;
    let _ = stop.send(true);
    let _ = h.await;
    let runs = flaky.runs.lock().expect("lock").clone();
    assert_eq!(runs.len(), 3);
    assert_eq!(done.attempts, 3);
    let (g1, g2) = (runs[1] - runs[0], runs[2] - runs[1]);
    // Base 60 ms ±25 %, doubling: 45–75 ms, then 90–150 ms.
    assert!(g1 >= Duration::from_millis(40), "first gap {g1:?}");
    assert!(g2 > g1, "gaps grow: {g1:?} then {g2:?}");
    assert_eq!(done.last_error.as_deref(), Some("boom 2"), "the last error is kept");
}

async fn a_job_that_always_fails_is_dead_after_three_attempts_and_an_operator_retry_revives_it(engine: Engine) {
    let Some((_db, store)) = setup(engine).await else { return };
    let flaky = Arc::new(Flaky { fail_first: 3, runs: Mutex::new(Vec::new()) });
    let j = job("flaky", None);
    store.enqueue(std::slice::from_ref(&j)).await.expect("enqueued");
    let (stop, h) = start(worker(&store, config("w1")).handle("flaky", flaky.clone()));
    let dead = wait_for(&store, j.id, "dead").await;
    assert_eq!(dead.attempts, 3);
    assert_eq!(dead.last_error.as_deref(), Some("boom 3"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(flaky.runs.lock().expect("lock").len(), 3, "a dead job is not run again");
    // Operator retry: queued with a fresh budget; the fourth run succeeds.
    assert!(store.retry_job(j.id, Utc::now()).await.expect("retry"));
    let done = wait_for(&store, j.id, "done").await;
    assert_eq!(done.attempts, 1);
    assert_eq!(flaky.runs.lock().expect("lock").len(), 4);
    let _ = stop.send(true);
    let _ = h.await;
}

struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl JobHandler for Counting {
    async fn run(&self, _: &JobContext, _: &JobRecord) -> Result<(), JobError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn a_job_of_a_worker_that_died_is_run_exactly_once_more_by_another(engine: Engine) {
    let Some((_db, store)) = setup(engine).await else { return };
    let j = job("count", None);
    store.enqueue(std::slice::from_ref(&j)).await.expect("enqueued");
    // Worker A claims the job with a short lease, then dies (never renews).
    let now = Utc::now();
    let claimed = store
        .claim(&ClaimRequest {
            worker: "dead-worker".into(),
            limit: 10,
            lease_until: now + chrono::Duration::milliseconds(150),
            now,
            kinds: None,
            levels: None,
            deadline_until: None,
            default_vertical_limit: 10,
            vertical_limits: HashMap::new(),
        })
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let runs = Arc::new(AtomicUsize::new(0));
    let (stop, h) = start(worker(&store, config("worker-b")).handle("count", Counting(runs.clone())));
    let done = wait_for(&store, j.id, "done").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = stop.send(true);
    let _ = h.await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "run once more, not twice");
    assert_eq!(done.attempts, 2);
    assert_eq!(done.locked_by.as_deref(), Some("worker-b"));
    // The dead worker's late completion is refused: it lost the lease.
    assert_eq!(store.complete(&[j.id], "dead-worker", Utc::now()).await.expect("complete"), 0);
}

/// Records how many jobs of each vertical run at once.
struct Overlap {
    running: Mutex<HashMap<String, usize>>,
    max: Mutex<HashMap<String, usize>>,
    finished: Mutex<Vec<(String, Instant)>>,
}

#[async_trait]
impl JobHandler for Overlap {
    async fn run(&self, _: &JobContext, job: &JobRecord) -> Result<(), JobError> {
        let v = job.vertical.clone().unwrap_or_default();
        {
            let mut r = self.running.lock().expect("lock");
            let n = r.entry(v.clone()).or_default();
            *n += 1;
            let mut m = self.max.lock().expect("lock");
            let mx = m.entry(v.clone()).or_default();
            *mx = (*mx).max(*n);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        *self.running.lock().expect("lock").entry(v.clone()).or_default() -= 1;
        self.finished.lock().expect("lock").push((v, Instant::now()));
        Ok(())
    }
}

async fn a_vertical_limited_to_two_never_runs_more_than_two_while_others_proceed(engine: Engine) {
    let Some((_db, store)) = setup(engine).await else { return };
    let mut jobs = Vec::new();
    for i in 0..40 {
        jobs.push(job("overlap", Some(if i % 2 == 0 { "slow.v" } else { "fast.v" })));
    }
    store.enqueue(&jobs).await.expect("enqueued");
    let overlap = Arc::new(Overlap {
        running: Mutex::new(HashMap::new()),
        max: Mutex::new(HashMap::new()),
        finished: Mutex::new(Vec::new()),
    });
    // Two workers share the limit through the database.
    let mut handles = Vec::new();
    for id in ["w1", "w2"] {
        let mut cfg = config(id);
        cfg.vertical_limits.insert("slow.v".into(), 2);
        handles.push(start(worker(&store, cfg).handle("overlap", overlap.clone())));
    }
    for j in &jobs {
        wait_for(&store, j.id, "done").await;
    }
    for (stop, h) in handles {
        let _ = stop.send(true);
        let _ = h.await;
    }
    let max = overlap.max.lock().expect("lock").clone();
    assert_eq!(max.get("slow.v"), Some(&2), "the limited vertical used, and never exceeded, its 2 slots");
    assert!(max.get("fast.v").copied().unwrap_or(0) > 2, "other verticals are not held back: {max:?}");
    let fin = overlap.finished.lock().expect("lock").clone();
    let last = |v: &str| fin.iter().filter(|(x, _)| x == v).map(|(_, t)| *t).max();
    assert!(last("fast.v") < last("slow.v"), "the fast vertical finished first");
    let slots: i64 =
        store.scalar_i64("SELECT CAST(COALESCE(SUM(running), 0) AS BIGINT) FROM vertical_slots").await.expect("sum");
    assert_eq!(slots, 0, "every slot was given back");
}

async fn run_once_drains_the_queue_deterministically(engine: Engine) {
    let Some((_db, store)) = setup(engine).await else { return };
    let jobs: Vec<_> = (0..300).map(|i| job("count", Some(["a", "b", "c"][i % 3]))).collect();
    store.enqueue(&jobs).await.expect("enqueued");
    let runs = Arc::new(AtomicUsize::new(0));
    let w = Arc::new(worker(&store, config("w1")).handle("count", Counting(runs.clone())));
    assert_eq!(w.run_once().await.expect("ran"), 300);
    assert_eq!(runs.load(Ordering::SeqCst), 300);
    let done: i64 =
        store.scalar_i64("SELECT COUNT(*) FROM jobs WHERE status = 'done' AND attempts = 1").await.expect("n");
    assert_eq!(done, 300);
    assert_eq!(w.run_once().await.expect("ran"), 0);
}

/// Records when it ran.
struct Stamp(Mutex<Vec<chrono::DateTime<Utc>>>);

#[async_trait]
impl JobHandler for Stamp {
    async fn run(&self, _: &JobContext, _: &JobRecord) -> Result<(), JobError> {
        self.0.lock().expect("lock").push(Utc::now());
        Ok(())
    }
}

/// A close due soon is claimed ahead of its time (its claim is recorded
/// before `run_at`) but runs no earlier than `run_at`; a normal job due at
/// the same time is not claimed early.
async fn deadline_jobs_are_claimed_ahead_and_run_on_time(engine: Engine) {
    let Some((_db, store)) = setup(engine).await else { return };
    let due = Utc::now() + chrono::Duration::milliseconds(600);
    let mut close = job("close_auction", None);
    close.run_at = due;
    let mut normal = job("score_lead", None);
    normal.run_at = due;
    store.enqueue(&[close.clone(), normal.clone()]).await.expect("enqueued");
    let stamp = Arc::new(Stamp(Mutex::new(Vec::new())));
    let cfg = WorkerConfig { deadline_lookahead: Duration::from_millis(400), ..config("early") };
    let w = worker(&store, cfg)
        .handle("close_auction", stamp.clone())
        .handle("score_lead", Arc::new(Flaky { fail_first: 0, runs: Mutex::new(Vec::new()) }));
    let (stop, h) = start(w);
    // Well before it is due, the close is already claimed; the normal job is not.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let claimed = store.get_job(close.id).await.expect("readable").expect("exists");
    assert_eq!(claimed.status, "running", "claimed ahead of its run_at");
    assert!(stamp.0.lock().expect("lock").is_empty(), "but not run yet");
    assert_eq!(store.get_job(normal.id).await.expect("readable").expect("exists").status, "queued");
    wait_for(&store, close.id, "done").await;
    wait_for(&store, normal.id, "done").await;
    let _ = stop.send(true);
    let _ = h.await;
    let ran = stamp.0.lock().expect("lock").clone();
    assert_eq!(ran.len(), 1);
    assert!(ran[0] >= due, "ran {} before its run_at {due}", ran[0]);
    assert!(ran[0] - due < chrono::Duration::milliseconds(200), "ran late: {}", ran[0] - due);
}

/// Holds every job until released.
struct Gate {
    started: AtomicUsize,
    open: tokio::sync::Semaphore,
}

#[async_trait]
impl JobHandler for Gate {
    async fn run(&self, _: &JobContext, _: &JobRecord) -> Result<(), JobError> {
        self.started.fetch_add(1, Ordering::SeqCst);
        let _pass = self.open.acquire().await.map_err(|e| JobError(e.to_string()))?;
        Ok(())
    }
}

/// Normal jobs holding every slot of `concurrency` do not hold up a close:
/// deadline jobs have `deadline_reserve` slots on top of it.
async fn a_close_runs_while_normal_jobs_hold_every_slot(engine: Engine) {
    let Some((_db, store)) = setup(engine).await else { return };
    let gate = Arc::new(Gate { started: AtomicUsize::new(0), open: tokio::sync::Semaphore::new(0) });
    let normal: Vec<NewJob> = (0..2).map(|_| job("score_lead", None)).collect();
    store.enqueue(&normal).await.expect("enqueued");
    let stamp = Arc::new(Stamp(Mutex::new(Vec::new())));
    let cfg = WorkerConfig { concurrency: 2, deadline_reserve: 1, ..config("full") };
    let w = worker(&store, cfg).handle("score_lead", gate.clone()).handle("close_auction", stamp.clone());
    let (stop, h) = start(w);
    for _ in 0..500 {
        if gate.started.load(Ordering::SeqCst) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(gate.started.load(Ordering::SeqCst), 2, "both normal jobs hold a slot");
    let close = job("close_auction", None);
    store.enqueue(std::slice::from_ref(&close)).await.expect("enqueued");
    wait_for(&store, close.id, "done").await;
    assert_eq!(stamp.0.lock().expect("lock").len(), 1);
    gate.open.add_permits(2);
    for j in &normal {
        wait_for(&store, j.id, "done").await;
    }
    let _ = stop.send(true);
    let _ = h.await;
}

macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Engine::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() { super::$name(super::Engine::Postgres).await })*
        }
    };
}

on_both_engines!(
    a_job_failing_twice_then_succeeding_runs_three_times_with_growing_gaps,
    a_job_that_always_fails_is_dead_after_three_attempts_and_an_operator_retry_revives_it,
    a_job_of_a_worker_that_died_is_run_exactly_once_more_by_another,
    a_vertical_limited_to_two_never_runs_more_than_two_while_others_proceed,
    run_once_drains_the_queue_deterministically,
    deadline_jobs_are_claimed_ahead_and_run_on_time,
    a_close_runs_while_normal_jobs_hold_every_slot,
);
