//! The lead pipeline off the request path, the operator job API, and
//! several worker processes sharing one PostgreSQL queue.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use leadex_core::model::NewJob;
use leadex_core::ports::JobQueue;
use leadex_domain::JobId;
use leadex_store::testing::{Engine, TestDb};
use leadex_testkit::spawn_app;
use serde_json::json;

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().expect("a timestamp")).expect("RFC 3339").with_timezone(&Utc)
}

#[tokio::test]
async fn a_submitted_lead_is_scored_and_in_auction_with_the_right_end_time() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let r = app
        .post(
            "/v1/asks",
            Some(&seller),
            &json!({"vertical": "insurance", "reserve_price": "20.00", "auction_duration_secs": 45}),
        )
        .await;
    assert_eq!(r.status, 201);
    // The request answers before any scoring: the lead is still received.
    let sub = app.post("/v1/leads", Some(&seller), &app.lead("insurance.life")).await;
    assert_eq!(sub.status, 202);
    let id = sub.body["id"].as_str().expect("id").to_owned();
    let before = app.get(&format!("/v1/leads/{id}"), None).await;
    assert_eq!(before.body["status"], "received");
    assert!(before.body["score"].is_null());

    // Workers run the score_lead job.
    let ran = app.app.worker().run_once().await.expect("jobs ran");
    assert!(ran >= 2, "score_lead and the auto_bid it enqueued ran ({ran})");

    let lead = app.get(&format!("/v1/leads/{id}"), None).await;
    assert_eq!(lead.body["status"], "in_auction");
    let score = lead.body["score"].as_u64().expect("scored");
    assert!(score > 0 && score <= 10_000);
    assert!(lead.body["tier"].is_string());
    let opened = time(&lead.body["auction"]["opened_at"]);
    let ends = time(&lead.body["auction"]["ends_at"]);
    assert_eq!((ends - opened).num_seconds(), 45, "the ask's duration");
    assert_eq!(lead.body["auction"]["seed_hash"].as_str().map(str::len), Some(64));
    assert!(lead.body["auction"].get("seed").is_none(), "the seed stays sealed until close");

    let jobs = app.get(&format!("/v1/leads/{id}/jobs"), Some(&seller)).await;
    let jobs = jobs.body.as_array().expect("jobs").clone();
    let kind = |k: &str| jobs.iter().find(|j| j["kind"] == k).cloned().expect(k);
    assert_eq!(kind("score_lead")["status"], "done");
    assert_eq!(kind("auto_bid")["status"], "done");
    let close = kind("close_auction");
    assert_eq!(close["status"], "queued");
    assert_eq!(time(&close["run_at"]), ends, "close_auction fires at the end time");
    assert_eq!(close["correlation_id"], sub.body["correlation_id"], "jobs carry the request's correlation id");

    // Running the job again changes nothing (idempotent).
    let again = app.app.worker().run_once().await.expect("ran");
    assert_eq!(again, 0);
}

#[tokio::test]
async fn operators_list_inspect_retry_and_discard_jobs() {
    let app = spawn_app().await;
    let admin = app.admin_key.clone();
    // A job whose payload its handler cannot use: it fails and, with one
    // attempt allowed, ends dead.
    let now = Utc::now();
    let job = NewJob {
        id: JobId::new(),
        kind: "score_lead".into(),
        vertical: Some("solar".into()),
        payload: json!({}),
        run_at: now,
        priority: leadex_core::model::priority::NORMAL,
        max_attempts: 1,
        correlation_id: "ops".into(),
        dedupe_key: None,
        created_at: now,
    };
    app.app.store.enqueue(std::slice::from_ref(&job)).await.expect("enqueued");
    app.app.worker().run_once().await.expect("ran");
    let dead = app.get("/v1/admin/jobs?status=dead", Some(&admin)).await;
    assert_eq!(dead.status, 200);
    assert_eq!(dead.body["items"][0]["id"], job.id.to_string());
    assert!(dead.body["items"][0]["last_error"].as_str().is_some_and(|e| e.contains("lead_id")));
    let one = app.get(&format!("/v1/admin/jobs/{}", job.id), Some(&admin)).await;
    assert_eq!(one.body["status"], "dead");
    let stats = app.get("/v1/admin/queues", Some(&admin)).await;
    assert!(stats.body["depths"].as_array().expect("depths").iter().any(|d| d["status"] == "dead" && d["count"] == 1));

    let retried = app.post(&format!("/v1/admin/jobs/{}/retry", job.id), Some(&admin), &json!({})).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["status"], "queued");
    assert_eq!(retried.body["attempts"], 0);
    let again = app.post(&format!("/v1/admin/jobs/{}/retry", job.id), Some(&admin), &json!({})).await;
    assert_eq!((again.status, again.code()), (409, "job_not_dead"));

    let del = app.send(app.http.delete(app.url(&format!("/v1/admin/jobs/{}", job.id))).bearer_auth(&admin)).await;
    assert_eq!(del.status, 204);
    let gone = app.get(&format!("/v1/admin/jobs/{}", job.id), Some(&admin)).await;
    assert_eq!((gone.status, gone.code()), (404, "job_not_found"));
    let bad = app.get("/v1/admin/jobs?status=sleeping", Some(&admin)).await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_status"));
    let seller = app.seller().await;
    assert_eq!(app.get("/v1/admin/jobs", Some(&seller)).await.status, 403);
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_drain_ten_thousand_jobs_without_running_any_twice() {
    let Some(db) = TestDb::create(Engine::Postgres).await else {
        eprintln!("skipped: LEADEX_TEST_PG_URL is not set");
        return;
    };
    let store = db.store().await;
    let now = Utc::now();
    let jobs: Vec<NewJob> = (0..10_000)
        .map(|i| NewJob {
            id: JobId::new(),
            kind: "noop".into(),
            vertical: Some(format!("v{}", i % 10)),
            payload: json!({}),
            run_at: now,
            priority: leadex_core::model::priority::NORMAL,
            max_attempts: 3,
            correlation_id: "drain".into(),
            dedupe_key: None,
            created_at: now,
        })
        .collect();
    for chunk in jobs.chunks(1_000) {
        store.enqueue(chunk).await.expect("enqueued");
    }
    let key = leadex_core::crypto::PiiCipher::generate_spec();
    let procs: Vec<Proc> = (0..2)
        .map(|i| {
            let dir = std::env::temp_dir().join(format!("leadex-work-{i}-{}", uuid::Uuid::now_v7().simple()));
            Proc(
                Command::new(env!("CARGO_BIN_EXE_leadex"))
                    .args(["work", "--data-dir"])
                    .arg(&dir)
                    .env("LEADEX__DATABASE__URL", &db.url)
                    .env("LEADEX__PRIVACY__KEY", &key)
                    .env("LEADEX__LOG__LEVEL", "warn")
                    .env("LEADEX__RATE_LIMITS__ENABLED", "false")
                    .env("LEADEX__QUEUE__BATCH", "100")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("worker starts"),
            )
        })
        .collect();
    let mut done = 0;
    for _ in 0..600 {
        done = store.scalar_i64("SELECT COUNT(*) FROM jobs WHERE status = 'done'").await.expect("count");
        if done == 10_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(procs);
    assert_eq!(done, 10_000, "every job ran");
    let twice = store.scalar_i64("SELECT COUNT(*) FROM jobs WHERE attempts <> 1").await.expect("count");
    assert_eq!(twice, 0, "no job was claimed twice");
    let workers = store.scalar_i64("SELECT COUNT(DISTINCT locked_by) FROM jobs").await.expect("count");
    assert_eq!(workers, 2, "both processes took a share");
    let other = store.scalar_i64("SELECT COUNT(*) FROM jobs WHERE status <> 'done'").await.expect("count");
    assert_eq!(other, 0, "none lost");
}
