//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::dto::Health;
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    Json(Health { status: "ok".into(), checks: Map::new() })
}

/// The process can serve: the database answers.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn ready(State(st): State<AppState>) -> (StatusCode, Json<Health>) {
    let mut checks = Map::new();
    let db = tokio::time::timeout(std::time::Duration::from_secs(2), st.svc.store().ping()).await;
    let ok = matches!(db, Ok(Ok(())));
    checks.insert("database".into(), Value::String(if ok { "ok" } else { "unavailable" }.into()));
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Health { status: if ok { "ok" } else { "unavailable" }.into(), checks }))
}
