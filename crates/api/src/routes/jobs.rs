//! Operator routes over the job queue: list, inspect, retry and discard
//! jobs; queue depth and lag (SPEC §10).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leadex_core::model::JobFilter;
use leadex_domain::JobId;

use crate::dto::{JobView, ListResponse, QueueStatsView};
use crate::extract::{Auth, QueryPairs, path_id};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// Jobs, newest first (operator).
#[utoipa::path(get, path = "/v1/admin/jobs", tag = "admin",
    params(("status" = Option<String>, Query, description = "queued | running | done | dead"),
        ("kind" = Option<String>, Query), ("vertical" = Option<String>, Query),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<JobView>), (status = 400, body = Problem), (status = 403, body = Problem)),
    security(("api_key" = [])))]
pub async fn list(State(st): State<AppState>, auth: Auth, q: QueryPairs) -> ApiResult<Json<ListResponse<JobView>>> {
    auth.require_admin()?;
    q.check(&["status", "kind", "vertical", "limit", "cursor"], false)?;
    let filter = JobFilter { status: q.string("status"), kind: q.string("kind"), vertical: q.string("vertical") };
    let page = st.svc.list_jobs(filter, &q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, JobView::from)))
}

/// One job with its last error (operator).
#[utoipa::path(get, path = "/v1/admin/jobs/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn get(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<JobView>> {
    auth.require_admin()?;
    let id: JobId = path_id(&id, "job_not_found")?;
    Ok(Json(st.svc.job(id).await?.into()))
}

/// Revive a dead job with a fresh attempt budget (operator).
#[utoipa::path(post, path = "/v1/admin/jobs/{id}/retry", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("api_key" = [])))]
pub async fn retry(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<JobView>> {
    auth.require_admin()?;
    let id: JobId = path_id(&id, "job_not_found")?;
    Ok(Json(st.svc.retry_job(id).await?.into()))
}

/// Discard a job that is not running (operator).
#[utoipa::path(delete, path = "/v1/admin/jobs/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("api_key" = [])))]
pub async fn delete(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id: JobId = path_id(&id, "job_not_found")?;
    st.svc.delete_job(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue depth per kind and status, and the age of the oldest ready job.
#[utoipa::path(get, path = "/v1/admin/queues", tag = "admin",
    responses((status = 200, body = QueueStatsView), (status = 403, body = Problem)), security(("api_key" = [])))]
pub async fn stats(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<QueueStatsView>> {
    auth.require_admin()?;
    Ok(Json(st.svc.queue_stats().await?.into()))
}
