//! Every input error of SPEC §12 that applies to these routes answers a
//! precise problem+json with a stable code.

use chrono::{Duration, Utc};
use leadex_domain::account::Role;
use leadex_testkit::{Reply, TestApp, spawn_app};
use serde_json::{Value, json};

async fn post_raw(app: &TestApp, path: &str, key: &str, ctype: &str, body: Vec<u8>) -> Reply {
    let req = app.http.post(app.url(path)).bearer_auth(key).header("content-type", ctype).body(body);
    app.send(req).await
}

fn assert_problem(r: &Reply, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "body: {}", r.body);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    assert!(r.body["correlation_id"].is_string(), "problem carries the correlation id");
    assert!(r.body["detail"].is_string());
}

#[tokio::test]
async fn malformed_bodies_are_refused_precisely() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let r = post_raw(&app, "/v1/leads", &seller, "application/json", b"{\"vertical\": ".to_vec()).await;
    assert_problem(&r, 400, "malformed_json");
    let r = post_raw(&app, "/v1/leads", &seller, "application/json", vec![b'{', 0xff, 0xfe, b'}']).await;
    assert_problem(&r, 400, "invalid_utf8");
    let r = post_raw(&app, "/v1/leads", &seller, "text/plain", b"{}".to_vec()).await;
    assert_problem(&r, 400, "unsupported_media_type");
    let mut big = b"{\"vertical\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1024 * 1024 + 10));
    big.extend(b"\"}");
    let r = post_raw(&app, "/v1/leads", &seller, "application/json", big).await;
    assert_problem(&r, 413, "payload_too_large");
    // A number too large for any numeric type.
    let r = post_raw(&app, "/v1/leads", &seller, "application/json", b"{\"vertical\": 1e999}".to_vec()).await;
    assert_problem(&r, 400, "malformed_json");
}

#[tokio::test]
async fn wrong_types_unknown_and_missing_members_name_the_field() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let base = app.lead("solar.residential");

    let mut b = base.clone();
    b["unexpected"] = json!(1);
    let r = app.post("/v1/leads", Some(&seller), &b).await;
    assert_problem(&r, 422, "unknown_field");
    assert_eq!(r.body["field"], "unexpected");

    let mut b = base.clone();
    b["fields"]["favourite_colour"] = json!("blue");
    let r = app.post("/v1/leads", Some(&seller), &b).await;
    assert_problem(&r, 422, "unknown_field");
    assert_eq!(r.body["field"], "fields.favourite_colour");

    let mut b = base.clone();
    b["geo"] = json!("US");
    let r = app.post("/v1/leads", Some(&seller), &b).await;
    assert_problem(&r, 422, "invalid_value");
    assert_eq!(r.body["field"], "geo");

    let mut b = base.clone();
    b.as_object_mut().expect("object").remove("source");
    let r = app.post("/v1/leads", Some(&seller), &b).await;
    assert_problem(&r, 422, "missing_field");
    assert_eq!(r.body["field"], "source");

    let mut b = base.clone();
    b["fields"]["sqft"] = json!("big");
    let r = app.post("/v1/leads", Some(&seller), &b).await;
    assert_problem(&r, 422, "invalid_field_type");
    assert_eq!(r.body["field"], "fields.sqft");

    let mut b = base.clone();
    b["fields"]["sqft"] = json!(1e300);
    let r = app.post("/v1/leads", Some(&seller), &b).await;
    assert_problem(&r, 422, "value_out_of_range");

    let mut b = base.clone();
    b["fields"].as_object_mut().expect("fields").remove("email");
    let r = app.post("/v1/leads", Some(&seller), &b).await;
    assert_problem(&r, 422, "missing_field");
    assert_eq!(r.body["field"], "fields.email");
}

#[tokio::test]
async fn schema_geo_and_consent_violations_have_their_own_codes() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    let base = app.lead("solar.residential");
    type Case = (&'static str, Box<dyn Fn(&mut Value)>, u16, &'static str, &'static str);
    let cases: Vec<Case> = vec![
        ("unknown vertical", Box::new(|b| b["vertical"] = json!("space_tourism")), 422, "unknown_vertical", "vertical"),
        (
            "bad option",
            Box::new(|b| b["fields"]["roof_type"] = json!("thatch?")),
            422,
            "invalid_option",
            "fields.roof_type",
        ),
        ("bad email", Box::new(|b| b["fields"]["email"] = json!("not-an-email")), 422, "invalid_email", "fields.email"),
        ("bad phone", Box::new(|b| b["fields"]["phone"] = json!("12")), 422, "invalid_phone", "fields.phone"),
        ("bad source", Box::new(|b| b["source"] = json!("carrier pigeon")), 422, "invalid_source", "source"),
        ("bad country", Box::new(|b| b["geo"]["country"] = json!("XX")), 422, "unknown_country", "geo.country"),
        ("bad region", Box::new(|b| b["geo"]["region"] = json!("ZZ")), 422, "unknown_region", "geo.region"),
        (
            "zip not in state",
            Box::new(|b| {
                b["geo"]["region"] = json!("NY");
                b["geo"]["postal_code"] = json!("90210");
            }),
            422,
            "postal_region_mismatch",
            "geo.postal_code",
        ),
        (
            "bad zip",
            Box::new(|b| b["geo"]["postal_code"] = json!("9021")),
            422,
            "invalid_postal_code",
            "geo.postal_code",
        ),
        (
            "no consent",
            Box::new(|b| {
                b.as_object_mut().map(|o| o.remove("consent"));
            }),
            422,
            "consent_required",
            "consent.tcpa_at",
        ),
        (
            "old consent",
            Box::new(|b| b["consent"]["tcpa_at"] = json!((Utc::now() - Duration::days(31)).to_rfc3339())),
            422,
            "consent_expired",
            "consent.tcpa_at",
        ),
        (
            "future consent",
            Box::new(|b| b["consent"]["tcpa_at"] = json!((Utc::now() + Duration::days(1)).to_rfc3339())),
            422,
            "consent_in_future",
            "consent.tcpa_at",
        ),
        (
            "consent not a time",
            Box::new(|b| b["consent"]["tcpa_at"] = json!("yesterday")),
            422,
            "invalid_value",
            "consent.tcpa_at",
        ),
        ("unknown ask", Box::new(|b| b["ask_id"] = json!(uuid::Uuid::now_v7())), 422, "ask_not_found", "ask_id"),
    ];
    for (name, mutate, status, code, field) in cases {
        let mut b = base.clone();
        mutate(&mut b);
        let r = app.post("/v1/leads", Some(&seller), &b).await;
        assert_eq!((r.status, r.code()), (status, code), "{name}: {}", r.body);
        assert_eq!(r.body["field"], field, "{name}");
    }
    // Nothing was half-written by any refusal.
    let mine = app.get("/v1/me/leads", Some(&seller)).await;
    assert_eq!(mine.body["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn authentication_and_authorisation_failures() {
    let app = spawn_app().await;
    let lead = app.lead("auto.sales");
    let r = app.post("/v1/leads", None, &lead).await;
    assert_problem(&r, 401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"leadex\""));
    let r = app.post("/v1/leads", Some("lx_not-a-real-key"), &lead).await;
    assert_problem(&r, 401, "unauthorized");
    let r = app.send(app.http.get(app.url("/v1/me")).header("authorization", "Basic abc")).await;
    assert_problem(&r, 401, "unauthorized");
    let (_, buyer) = app.account(Role::Buyer, "b").await;
    let r = app.post("/v1/leads", Some(&buyer), &lead).await;
    assert_problem(&r, 403, "insufficient_scope");
    let seller = app.seller().await;
    let r = app.post("/v1/admin/accounts", Some(&seller), &json!({"role": "admin", "name": "me"})).await;
    assert_problem(&r, 403, "forbidden");
    // A seller cannot mint itself an admin-scoped key.
    let r = app.post("/v1/me/keys", Some(&seller), &json!({"scopes": ["admin"]})).await;
    assert_problem(&r, 422, "scope_not_allowed");
}

#[tokio::test]
async fn unknown_ids_routes_and_bad_query_parameters() {
    let app = spawn_app().await;
    let r = app.get(&format!("/v1/leads/{}", uuid::Uuid::now_v7()), None).await;
    assert_problem(&r, 404, "lead_not_found");
    let r = app.get("/v1/leads/not-a-uuid", None).await;
    assert_problem(&r, 404, "lead_not_found");
    let r = app.get("/v1/nothing-here", None).await;
    assert_problem(&r, 404, "route_not_found");
    let r = app.get("/v1/leads?limit=0", None).await;
    assert_problem(&r, 400, "invalid_limit");
    let r = app.get("/v1/leads?limit=201", None).await;
    assert_problem(&r, 400, "invalid_limit");
    let r = app.get("/v1/leads?limit=99999999999999999999", None).await;
    assert_problem(&r, 400, "invalid_parameter");
    let r = app.get("/v1/leads?cursor=garbage", None).await;
    assert_problem(&r, 400, "invalid_cursor");
    let r = app.get("/v1/leads?colour=red", None).await;
    assert_problem(&r, 400, "unknown_parameter");
    let r = app.get("/v1/leads?status=lost", None).await;
    assert_problem(&r, 400, "invalid_status");
    let r = app.get("/v1/leads?field.email=a@b.co", None).await;
    assert_problem(&r, 400, "invalid_filter");
    let r = app.get("/v1/leads?min_price=-1", None).await;
    assert_problem(&r, 400, "invalid_amount");
    let r = app.get("/v1/leads?created_after=yesterday", None).await;
    assert_problem(&r, 400, "invalid_timestamp");
    let r = app.get("/v1/leads?vertical=solar&vertical=auto", None).await;
    assert_problem(&r, 400, "duplicate_parameter");
}

#[tokio::test]
async fn ask_amounts_must_be_positive_decimal_strings_with_at_most_six_places() {
    let app = spawn_app().await;
    let seller = app.seller().await;
    for (amount, code) in [
        (json!("-1.00"), "invalid_amount"),
        (json!("1.0000001"), "invalid_amount"),
        (json!("1e3"), "invalid_amount"),
        (json!(12.5), "invalid_value"),
        (json!("0"), "invalid_amount"),
    ] {
        let r = app.post("/v1/asks", Some(&seller), &json!({"vertical": "solar", "reserve_price": amount})).await;
        assert_eq!((r.status, r.code()), (422, code), "{amount}: {}", r.body);
        assert_eq!(r.body["field"], "reserve_price");
    }
}
