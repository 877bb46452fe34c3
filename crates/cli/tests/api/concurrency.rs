//! Exactness under concurrency, on SQLite and (when configured) PostgreSQL.

use std::sync::Arc;

use futures::future::join_all;
use leadex_core::clock::SystemClock;
use leadex_domain::account::Role;
use leadex_testkit::{TestApp, TestEngine, spawn_app_on};
use serde_json::json;

async fn app(engine: TestEngine) -> Option<TestApp> {
    let app = spawn_app_on(engine, Arc::new(SystemClock)).await;
    if app.is_none() {
        eprintln!("skipped: LEADEX_TEST_PG_URL is not set");
    }
    app
}

async fn fifty_parallel_submissions_against_a_cap_of_twenty_accept_exactly_twenty(engine: TestEngine) {
    let Some(app) = app(engine).await else { return };
    let (id, seller) = app.account(Role::Seller, "racer").await;
    let put = app
        .send(
            app.http
                .put(app.url(&format!("/v1/admin/accounts/{id}/daily-cap")))
                .bearer_auth(&app.admin_key)
                .json(&json!({"daily_cap": 20})),
        )
        .await;
    assert_eq!(put.status, 204);
    let bodies: Vec<_> = (0..50).map(|_| app.lead("home_services.hvac")).collect();
    let replies = join_all(bodies.iter().map(|b| app.post("/v1/leads", Some(&seller), b))).await;
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    let capped = replies.iter().filter(|r| r.code() == "daily_cap_reached").count();
    assert_eq!((accepted, capped), (20, 30), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let mine = app.get("/v1/me/leads?limit=200", Some(&seller)).await;
    assert_eq!(mine.body["items"].as_array().map(Vec::len), Some(20));
}

async fn twenty_parallel_requests_with_one_idempotency_key_create_one_lead(engine: TestEngine) {
    let Some(app) = app(engine).await else { return };
    let seller = app.seller().await;
    let body = app.lead("b2b_saas.crm");
    let replies = join_all((0..20).map(|_| {
        app.send(
            app.http.post(app.url("/v1/leads")).bearer_auth(&seller).header("Idempotency-Key", "same-key").json(&body),
        )
    }))
    .await;
    let created = replies.iter().filter(|r| r.status == 202).count();
    let replayed = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!((created, replayed), (1, 19), "{:?}", replies.iter().map(|r| (r.status, r.code())).collect::<Vec<_>>());
    let id = &replies[0].body["id"];
    assert!(replies.iter().all(|r| &r.body["id"] == id), "every reply names the same lead");
    let mine = app.get("/v1/me/leads", Some(&seller)).await;
    assert_eq!(mine.body["items"].as_array().map(Vec::len), Some(1));
}

on_both_engines!(
    fifty_parallel_submissions_against_a_cap_of_twenty_accept_exactly_twenty,
    twenty_parallel_requests_with_one_idempotency_key_create_one_lead,
);
