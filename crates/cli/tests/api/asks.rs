use leadex_domain::account::Role;
use leadex_testkit::spawn_app;
use serde_json::json;

#[tokio::test]
async fn asks_crud_is_owner_only_and_sets_lead_terms() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let other = app.seller().await;
    let r = app
        .post(
            "/v1/asks",
            Some(&seller),
            &json!({"vertical": "solar.residential", "geo": {"countries": ["US"], "regions": ["CA", "NV"]},
                    "reserve_price": "40.00", "auction_duration_secs": 30, "daily_cap": 7}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["buy_now_price"], "48.00", "default buy-now is 1.2 × reserve");
    let id = r.body["id"].as_str().expect("id").to_owned();

    // Public list hides private members; the owner sees them.
    let public = app.get("/v1/asks", None).await;
    let item = &public.body["items"][0];
    assert_eq!(item["id"], id.as_str());
    assert!(item.get("daily_cap").is_none() && item.get("seller_id").is_none());
    let mine = app.get("/v1/me/asks", Some(&seller)).await;
    assert_eq!(mine.body["items"][0]["daily_cap"], 7);

    // Only the owner may change or delete it.
    let patch = app
        .send(app.http.patch(app.url(&format!("/v1/asks/{id}"))).bearer_auth(&other).json(&json!({"status": "paused"})))
        .await;
    assert_eq!((patch.status, patch.code()), (404, "ask_not_found"));
    let bad = app
        .send(
            app.http
                .patch(app.url(&format!("/v1/asks/{id}")))
                .bearer_auth(&seller)
                .json(&json!({"auction_duration_secs": 5})),
        )
        .await;
    assert_eq!((bad.status, bad.code()), (422, "invalid_duration"));

    // A lead in a matching geo uses the ask's terms.
    let mut lead = app.lead("solar.residential");
    lead["geo"] = json!({"country": "US", "region": "CA", "postal_code": "94105"});
    let sub = app.post("/v1/leads", Some(&seller), &lead).await;
    assert_eq!(sub.status, 202, "{}", sub.body);
    let read = app.get(&format!("/v1/leads/{}", sub.body["id"].as_str().expect("id")), Some(&seller)).await;
    assert_eq!(read.body["reserve_price"], "40.00");
    assert_eq!(read.body["buy_now_price"], "48.00");
    assert_eq!(read.body["auction"]["duration_secs"], 30);
    assert_eq!(read.body["ask_id"], id.as_str());
    // Outside the ask's regions: platform defaults (the vertical's floor).
    let mut tx = app.lead("solar.residential");
    tx["geo"] = json!({"country": "US", "region": "TX", "postal_code": "77002"});
    let sub = app.post("/v1/leads", Some(&seller), &tx).await;
    let read = app.get(&format!("/v1/leads/{}", sub.body["id"].as_str().expect("id")), Some(&seller)).await;
    assert!(read.body.get("ask_id").is_none());
    assert_eq!(read.body["auction"]["duration_secs"], 60);

    let del = app.send(app.http.delete(app.url(&format!("/v1/asks/{id}"))).bearer_auth(&other)).await;
    assert_eq!(del.status, 404);
    let del = app.send(app.http.delete(app.url(&format!("/v1/asks/{id}"))).bearer_auth(&seller)).await;
    assert_eq!(del.status, 204);
    let (_, buyer) = app.account(Role::Buyer, "b").await;
    let r = app.post("/v1/asks", Some(&buyer), &json!({"vertical": "solar", "reserve_price": "1.00"})).await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn the_ask_daily_cap_limits_ingestion_with_retry_after_until_midnight() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let r = app
        .post("/v1/asks", Some(&seller), &json!({"vertical": "auto", "reserve_price": "5.00", "daily_cap": 2}))
        .await;
    assert_eq!(r.status, 201);
    for _ in 0..2 {
        assert_eq!(app.post("/v1/leads", Some(&seller), &app.lead("auto.repair")).await.status, 202);
    }
    let r = app.post("/v1/leads", Some(&seller), &app.lead("auto.repair")).await;
    assert_eq!((r.status, r.code()), (429, "daily_cap_reached"));
    let retry: i64 = r.header("retry-after").expect("Retry-After").parse().expect("seconds");
    assert!((1..=86_400).contains(&retry));
    // Another vertical has its own counter.
    assert_eq!(app.post("/v1/leads", Some(&seller), &app.lead("legal.family")).await.status, 202);
}
