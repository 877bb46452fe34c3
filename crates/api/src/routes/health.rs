//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::dto::Health;
use crate::ratelimit::Backend;
use crate::state::AppState;

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    Json(Health { status: "ok".into(), checks: Map::new() })
}

/// The process can serve: 503 when the primary database does not answer;
/// 200 `degraded` when only a dependency with a fall-back is down (the read
/// replica: lists go to the primary; Redis: reads pass, writes are refused
/// by the rate limiter) — every process shares those, so taking them all
/// out of rotation would turn a degradation into an outage.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn ready(State(st): State<AppState>) -> (StatusCode, Json<Health>) {
    let within = std::time::Duration::from_secs(2);
    let mut checks = Map::new();
    let db = tokio::time::timeout(within, st.svc.store().ping()).await;
    let ok = matches!(db, Ok(Ok(())));
    checks.insert("database".into(), Value::String(if ok { "ok" } else { "unavailable" }.into()));
    let mut degraded = false;
    if let Some(up) = st.svc.store().replica_up() {
        degraded |= !up;
        checks.insert("replica".into(), Value::String(if up { "ok" } else { "down (lists on the primary)" }.into()));
    }
    if let Some(limiter) = &st.http.rate_limiter
        && let Backend::Redis(w) = &limiter.backend
    {
        let up = matches!(tokio::time::timeout(within, w.ping()).await, Ok(Ok(())));
        degraded |= !up;
        checks.insert("redis".into(), Value::String(if up { "ok" } else { "unavailable (writes refused)" }.into()));
    }
    // The chain service's heartbeat (it runs in one worker process): stale
    // means tokens, deposits and payouts wait — a degradation, not an outage.
    if ok && let Ok(Ok(Some(chain))) = tokio::time::timeout(within, st.svc.chain_health()).await {
        degraded |= chain != "ok";
        checks.insert("chain".into(), Value::String(chain));
    }
    let (status, word) = match (ok, degraded) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ok"),
    };
    (status, Json(Health { status: word.into(), checks }))
}
