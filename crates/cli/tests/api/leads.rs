use leadex_domain::account::Role;
use leadex_testkit::spawn_app;
use serde_json::json;

#[tokio::test]
async fn a_submitted_lead_is_listed_publicly_and_readable_in_full_by_its_seller() {
    // Arrange
    let app = spawn_app().await;
    let seller = app.seller().await;
    let body = app.lead("solar.residential");

    // Act
    let accepted = app.post("/v1/leads", Some(&seller), &body).await;

    // Assert
    assert_eq!(accepted.status, 202, "{:?}", accepted.body);
    assert_eq!(accepted.body["status"], "received");
    let id = accepted.body["id"].as_str().expect("id").to_owned();
    assert!(accepted.header("x-request-id").is_some());

    let feed = app.get("/v1/leads", None).await;
    assert_eq!(feed.status, 200);
    let item = feed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|l| l["id"] == id.as_str())
        .expect("lead in the public feed")
        .clone();
    // The public view is redacted: no PII, no postal code, no seller.
    let text = item.to_string();
    assert!(!text.contains("example.com"), "e-mail leaked: {text}");
    assert!(item["fields"].get("email").is_none() && item["fields"].get("full_name").is_none());
    assert!(item["geo"].get("postal_code").is_none());
    assert!(item.get("seller_id").is_none());
    assert_eq!(item["geo"]["country"], "US");

    let full = app.get(&format!("/v1/leads/{id}"), Some(&seller)).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.body["pii"]["email"], body["fields"]["email"]);
    assert_eq!(full.body["pii"]["full_name"], body["fields"]["full_name"]);
    assert_eq!(full.body["geo"]["postal_code"], body["geo"]["postal_code"]);
    assert_eq!(full.body["correlation_id"], accepted.body["correlation_id"]);
    assert_eq!(full.body["reserve_price"].as_str().map(|s| s.contains('.')), Some(true));

    let pii = app.get(&format!("/v1/leads/{id}/pii"), Some(&seller)).await;
    assert_eq!(pii.status, 200);
    assert_eq!(pii.body["phone"].as_str().map(|p| p.starts_with('+')), Some(true));
    let lead_id = id.parse().expect("uuid");
    // The full read and the /pii read were both audited.
    assert_eq!(app.app.svc.store().pii_access_count(lead_id).await.expect("count"), 2);
}

#[tokio::test]
async fn other_sellers_and_buyers_get_the_redacted_view_and_no_pii() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let other = app.seller().await;
    let (_, buyer) = app.account(Role::Buyer, "buyer").await;
    let r = app.post("/v1/leads", Some(&seller), &app.lead("mortgage.purchase")).await;
    let id = r.body["id"].as_str().expect("id");
    for key in [&other, &buyer] {
        let v = app.get(&format!("/v1/leads/{id}"), Some(key)).await;
        assert_eq!(v.status, 200);
        assert!(v.body.get("pii").is_none() && v.body.get("seller_id").is_none());
        let p = app.get(&format!("/v1/leads/{id}/pii"), Some(key)).await;
        assert_eq!((p.status, p.code()), (404, "lead_not_found"));
    }
    assert_eq!(app.app.svc.store().pii_access_count(id.parse().expect("uuid")).await.expect("n"), 0);
}

#[tokio::test]
async fn submission_stores_the_score_job_with_the_request_correlation_id() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let req = app
        .http
        .post(app.url("/v1/leads"))
        .bearer_auth(&seller)
        .header("x-request-id", "trace-me-123")
        .json(&app.lead("roofing.repair"));
    let r = app.send(req).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("x-request-id"), Some("trace-me-123"));
    assert_eq!(r.body["correlation_id"], "trace-me-123");
    let id = r.body["id"].as_str().expect("id");
    let jobs = app.get(&format!("/v1/leads/{id}/jobs"), Some(&seller)).await;
    assert_eq!(jobs.status, 200);
    let jobs = jobs.body.as_array().expect("list").clone();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["kind"], "score_lead");
    assert_eq!(jobs[0]["status"], "queued");
    assert_eq!(jobs[0]["correlation_id"], "trace-me-123");
    assert_eq!(jobs[0]["payload"]["lead_id"], id);
}

#[tokio::test]
async fn a_replayed_idempotency_key_returns_the_original_answer() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let body = app.lead("auto.sales");
    let send = |b: serde_json::Value| {
        app.http.post(app.url("/v1/leads")).bearer_auth(&seller).header("Idempotency-Key", "order-42").json(&b)
    };
    let first = app.send(send(body.clone())).await;
    let again = app.send(send(body.clone())).await;
    assert_eq!(first.status, 202);
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(first.body, again.body);
    let mut changed = body.clone();
    changed["source"] = json!("api");
    let conflict = app.send(send(changed)).await;
    assert_eq!((conflict.status, conflict.code()), (422, "idempotency_key_reused"));
    let mine = app.get("/v1/me/leads", Some(&seller)).await;
    assert_eq!(mine.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_duplicate_phone_or_email_in_the_same_root_vertical_is_refused_with_the_first_id() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let first = app.lead("solar.residential");
    let r1 = app.post("/v1/leads", Some(&seller), &first).await;
    assert_eq!(r1.status, 202);
    // Same e-mail (case and +tag differ), new phone, sibling vertical.
    let mut dup = app.lead("solar.commercial");
    let email = first["fields"]["email"].as_str().expect("email").to_uppercase().replace("@", "+x@");
    dup["fields"]["email"] = json!(email);
    let r2 = app.post("/v1/leads", Some(&seller), &dup).await;
    assert_eq!((r2.status, r2.code()), (409, "duplicate_lead"), "{:?}", r2.body);
    assert_eq!(r2.body["duplicate_of"], r1.body["id"]);
    // The same contact in another root vertical is a different market.
    let mut other = app.lead("mortgage.purchase");
    other["fields"]["phone"] = first["fields"]["phone"].clone();
    assert_eq!(app.post("/v1/leads", Some(&seller), &other).await.status, 202);
}

#[tokio::test]
async fn batch_submission_answers_each_item() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let good = app.lead("legal.family");
    let mut bad = app.lead("legal.family");
    bad["fields"]["case_type"] = json!("not-an-option");
    let dup = good.clone();
    let r = app.post("/v1/leads:batch", Some(&seller), &json!({"leads": [good, bad, dup]})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["accepted"], 1);
    assert_eq!(r.body["rejected"], 2);
    let items = r.body["items"].as_array().expect("items");
    assert_eq!(items[0]["status"], 202);
    assert_eq!(items[1]["status"], 422);
    assert_eq!(items[1]["error"]["code"], "invalid_option");
    assert_eq!(items[1]["error"]["field"], "fields.case_type");
    assert_eq!(items[2]["error"]["code"], "duplicate_lead");
    let empty = app.post("/v1/leads:batch", Some(&seller), &json!({"leads": []})).await;
    assert_eq!((empty.status, empty.code()), (422, "invalid_batch_size"));
    let many: Vec<_> = (0..501).map(|_| json!({})).collect();
    let over = app.post("/v1/leads:batch", Some(&seller), &json!({"leads": many})).await;
    assert_eq!((over.status, over.code()), (422, "invalid_batch_size"));
}

#[tokio::test]
async fn lists_filter_by_vertical_subtree_geo_and_fields_and_page_by_cursor() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let mut ids = Vec::new();
    for v in ["solar.residential", "solar.commercial", "mortgage.purchase", "solar.residential"] {
        let r = app.post("/v1/leads", Some(&seller), &app.lead(v)).await;
        assert_eq!(r.status, 202);
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }
    let solar = app.get("/v1/leads?vertical=solar", None).await;
    assert_eq!(solar.body["items"].as_array().map(Vec::len), Some(3), "parent matches descendants");
    let leaf = app.get("/v1/leads?vertical=solar.residential", None).await;
    assert_eq!(leaf.body["items"].as_array().map(Vec::len), Some(2));
    let none = app.get("/v1/leads?country=CA", None).await;
    assert_eq!(none.body["items"].as_array().map(Vec::len), Some(0));

    // Field filter on a filterable select.
    let lead = app.get(&format!("/v1/leads/{}", ids[0]), None).await;
    let roof = lead.body["fields"]["roof_type"].as_str().expect("roof type").to_owned();
    let filtered = app.get(&format!("/v1/leads?vertical=solar.residential&field.roof_type={roof}"), None).await;
    let items = filtered.body["items"].as_array().expect("items");
    assert!(!items.is_empty() && items.iter().all(|l| l["fields"]["roof_type"] == roof.as_str()));

    // Cursor pagination, newest first, both directions.
    let p1 = app.get("/v1/leads?limit=3", None).await;
    let got: Vec<_> = p1.body["items"].as_array().expect("items").iter().map(|l| l["id"].clone()).collect();
    assert_eq!(got, [ids[3].clone(), ids[2].clone(), ids[1].clone()]);
    assert!(p1.body["prev_cursor"].is_null());
    let next = p1.body["next_cursor"].as_str().expect("more pages");
    let p2 = app.get(&format!("/v1/leads?limit=3&cursor={next}"), None).await;
    assert_eq!(p2.body["items"][0]["id"], ids[0].as_str());
    assert!(p2.body["next_cursor"].is_null());
    let prev = p2.body["prev_cursor"].as_str().expect("back link");
    let back = app.get(&format!("/v1/leads?limit=3&cursor={prev}"), None).await;
    assert_eq!(back.body["items"], p1.body["items"]);
}

#[tokio::test]
async fn verticals_expose_the_inherited_schema_and_effective_compliance() {
    let app = spawn_app().await;
    let tree = app.get("/v1/verticals", None).await;
    let roots = tree.body["items"].as_array().expect("roots");
    assert_eq!(roots.len(), 10);
    assert!(roots.iter().all(|r| r["children"].as_array().map(Vec::len) == Some(4)));
    let v = app.get("/v1/verticals/solar.residential", None).await;
    assert_eq!(v.status, 200);
    let keys: Vec<_> =
        v.body["fields"].as_array().expect("fields").iter().map(|f| f["key"].as_str().unwrap_or("")).collect();
    for k in ["full_name", "email", "phone", "own_or_rent", "roof_type", "sqft"] {
        assert!(keys.contains(&k), "{k} missing from {keys:?}");
    }
    assert_eq!(v.body["parent"], "solar");
    assert!(v.body["compliance"]["requires_tcpa"].is_boolean());
    assert!(v.body["floor_prices"]["US"].is_string());
    let missing = app.get("/v1/verticals/nope", None).await;
    assert_eq!((missing.status, missing.code()), (404, "vertical_not_found"));
}

#[tokio::test]
async fn openapi_document_covers_every_route() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")));
    let paths = doc.body["paths"].as_object().expect("paths");
    for p in [
        "/v1/leads",
        "/v1/leads:batch",
        "/v1/leads/{id}",
        "/v1/leads/{id}/pii",
        "/v1/me",
        "/v1/me/leads",
        "/v1/asks",
        "/v1/asks/{id}",
        "/v1/verticals",
        "/v1/verticals/{slug}",
        "/v1/admin/accounts",
        "/health/ready",
    ] {
        assert!(paths.contains_key(p), "{p} not documented");
    }
}
