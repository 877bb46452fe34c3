use chrono::{Duration, Utc};
use leadex_testkit::spawn_app;
use serde_json::json;

#[tokio::test]
async fn me_reports_the_account_and_keys_can_be_issued_listed_and_revoked() {
    let app = spawn_app().await;
    let (id, seller) = app.account(leadex_domain::account::Role::Seller, "Sunrise").await;
    let me = app.get("/v1/me", Some(&seller)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["id"], id.as_str());
    assert_eq!(me.body["role"], "seller");
    assert_eq!(me.body["name"], "Sunrise");

    let created = app.post("/v1/me/keys", Some(&seller), &json!({"name": "ci", "scopes": ["leads:write"]})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let second = created.body["api_key"].as_str().expect("secret").to_owned();
    let key_id = created.body["key"]["id"].as_str().expect("id").to_owned();
    let listed = app.get("/v1/me/keys", Some(&seller)).await;
    let keys = listed.body.as_array().expect("keys");
    assert_eq!(keys.len(), 2);
    assert!(!listed.body.to_string().contains(&second), "secrets are never listed");

    // The narrower key cannot read leads.
    let r = app.get("/v1/me/leads", Some(&second)).await;
    assert_eq!((r.status, r.code()), (403, "insufficient_scope"));

    let del = app.send(app.http.delete(app.url(&format!("/v1/me/keys/{key_id}"))).bearer_auth(&seller)).await;
    assert_eq!(del.status, 204);
    let r = app.get("/v1/me", Some(&second)).await;
    assert_eq!((r.status, r.code()), (401, "key_revoked"));
    let again = app.send(app.http.delete(app.url(&format!("/v1/me/keys/{key_id}"))).bearer_auth(&seller)).await;
    assert_eq!((again.status, again.code()), (404, "key_not_found"));
}

#[tokio::test]
async fn expired_keys_are_refused_and_expiry_must_be_in_the_future() {
    let app = spawn_app().await;
    let (id, _) = app.account(leadex_domain::account::Role::Buyer, "b").await;
    let past = app
        .post(
            &format!("/v1/admin/accounts/{id}/keys"),
            Some(&app.admin_key),
            &json!({"expires_at": (Utc::now() - Duration::hours(1)).to_rfc3339()}),
        )
        .await;
    assert_eq!((past.status, past.code()), (422, "invalid_expiry"));
    let soon = app
        .post(
            &format!("/v1/admin/accounts/{id}/keys"),
            Some(&app.admin_key),
            &json!({"expires_at": (Utc::now() + Duration::milliseconds(300)).to_rfc3339()}),
        )
        .await;
    assert_eq!(soon.status, 201, "{}", soon.body);
    let key = soon.body["api_key"].as_str().expect("key").to_owned();
    assert_eq!(app.get("/v1/me", Some(&key)).await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let r = app.get("/v1/me", Some(&key)).await;
    assert_eq!((r.status, r.code()), (401, "key_expired"));
}

#[tokio::test]
async fn operators_manage_accounts_and_seller_caps() {
    let app = spawn_app().await;
    let r = app.post("/v1/admin/accounts", Some(&app.admin_key), &json!({"role": "pirate", "name": "x"})).await;
    assert_eq!((r.status, r.code()), (422, "invalid_role"));
    let (id, seller) = app.account(leadex_domain::account::Role::Seller, "capped").await;
    let put = app
        .send(
            app.http
                .put(app.url(&format!("/v1/admin/accounts/{id}/daily-cap")))
                .bearer_auth(&app.admin_key)
                .json(&json!({"daily_cap": 1})),
        )
        .await;
    assert_eq!(put.status, 204);
    // The override applies to a new authentication (it is read per request).
    assert_eq!(app.post("/v1/leads", Some(&seller), &app.lead("insurance.auto")).await.status, 202);
    let r = app.post("/v1/leads", Some(&seller), &app.lead("insurance.auto")).await;
    assert_eq!((r.status, r.code()), (429, "daily_cap_reached"));
    app.account(leadex_domain::account::Role::Buyer, "third").await;
    let list = app.get("/v1/admin/accounts?limit=2", Some(&app.admin_key)).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(2));
    assert!(list.body["next_cursor"].is_string());
}
