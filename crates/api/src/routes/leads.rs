//! Lead routes (SPEC §4).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use leadex_core::AppError;
use leadex_core::service::{BatchItemResult, LeadListParams};
use leadex_domain::LeadId;
use leadex_domain::account::{Role, Scope};

use crate::dto::{BatchItem, BatchRequest, BatchResponse, JobView, LeadAccepted, LeadView, ListResponse};
use crate::extract::{Auth, JsonBody, MaybeAuth, QueryPairs, RawJson, path_id};
use crate::problem::{ApiError, ApiResult, Problem, current_correlation_id};
use crate::state::AppState;

const LIST_PARAMS: &[&str] = &[
    "limit",
    "cursor",
    "vertical",
    "status",
    "country",
    "region",
    "min_score",
    "max_score",
    "min_price",
    "max_price",
    "created_after",
    "created_before",
];

fn correlation() -> String {
    current_correlation_id().unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Submit a lead.
#[utoipa::path(post, path = "/v1/leads", tag = "leads",
    request_body(content = Object, description = "Lead submission (SPEC §15)"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Retry-safe key: same key and body replay the original answer")),
    responses(
        (status = 202, description = "Accepted for scoring", body = LeadAccepted),
        (status = 200, description = "Replay of an earlier identical request", body = LeadAccepted),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, description = "duplicate_lead", body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem), (status = 429, description = "daily_cap_reached", body = Problem)),
    security(("api_key" = [])))]
pub async fn submit(
    State(st): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    RawJson(body): RawJson,
) -> ApiResult<Response> {
    let p = auth.require(Scope::LeadsWrite)?;
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| {
            ApiError(
                AppError::bad_request("invalid_idempotency_key", "Idempotency-Key must be visible ASCII")
                    .with_field("Idempotency-Key"),
            )
        })?),
        None => None,
    };
    let r = st.svc.submit_lead(p, body, key, &correlation()).await?;
    let status = if r.replayed { StatusCode::OK } else { StatusCode::ACCEPTED };
    let mut resp = (status, Json(r.body)).into_response();
    if r.replayed {
        resp.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Submit up to 500 leads; each item is answered on its own.
#[utoipa::path(post, path = "/v1/leads:batch", tag = "leads",
    request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn submit_batch(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<BatchRequest>,
) -> ApiResult<Json<BatchResponse>> {
    let p = auth.require(Scope::LeadsWrite)?;
    let results = st.svc.submit_batch(p, req.leads, &correlation()).await?;
    let mut accepted = 0;
    let items: Vec<BatchItem> = results
        .into_iter()
        .enumerate()
        .map(|(index, r)| match r {
            BatchItemResult::Accepted(ok) => {
                accepted += 1;
                BatchItem { index, status: 202, lead: Some(ok.body), error: None }
            }
            BatchItemResult::Rejected(e) => {
                let problem = ApiError(e).problem();
                BatchItem { index, status: problem.status, lead: None, error: Some(problem) }
            }
        })
        .collect();
    Ok(Json(BatchResponse { accepted, rejected: items.len() - accepted, items }))
}

fn list_params(q: &QueryPairs) -> ApiResult<LeadListParams> {
    Ok(LeadListParams {
        vertical: q.string("vertical"),
        status: q.string("status"),
        country: q.string("country"),
        region: q.string("region"),
        min_score: q.u32("min_score")?,
        max_score: q.u32("max_score")?,
        min_price: q.string("min_price"),
        max_price: q.string("max_price"),
        created_after: q.string("created_after"),
        created_before: q.string("created_before"),
        fields: q.0.iter().filter_map(|(k, v)| k.strip_prefix("field.").map(|f| (f.to_owned(), v.clone()))).collect(),
    })
}

/// The public marketplace feed (redacted).
#[utoipa::path(get, path = "/v1/leads", tag = "leads",
    params(
        ("vertical" = Option<String>, Query, description = "Slug; a parent matches its descendants"),
        ("status" = Option<String>, Query), ("country" = Option<String>, Query), ("region" = Option<String>, Query),
        ("min_score" = Option<u32>, Query), ("max_score" = Option<u32>, Query),
        ("min_price" = Option<String>, Query), ("max_price" = Option<String>, Query),
        ("created_after" = Option<String>, Query), ("created_before" = Option<String>, Query),
        ("limit" = Option<u32>, Query, description = "1–200, default 50"), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<LeadView>), (status = 400, body = Problem)))]
pub async fn list(
    State(st): State<AppState>,
    _auth: MaybeAuth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<LeadView>>> {
    q.check(LIST_PARAMS, true)?;
    let page = q.page()?;
    let leads = st.svc.list_leads(None, &list_params(&q)?, &page).await?;
    Ok(Json(ListResponse::from_page(leads, |r| LeadView::new(r, false))))
}

/// The calling seller's leads (full view, no PII).
#[utoipa::path(get, path = "/v1/me/leads", tag = "leads",
    params(("vertical" = Option<String>, Query), ("status" = Option<String>, Query),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<LeadView>), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
pub async fn list_mine(
    State(st): State<AppState>,
    auth: Auth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<LeadView>>> {
    let p = auth.require(Scope::LeadsRead)?;
    if p.account.role != Role::Seller {
        return Err(ApiError(AppError::forbidden("forbidden", "only sellers have submitted leads")));
    }
    q.check(LIST_PARAMS, true)?;
    let page = q.page()?;
    let leads = st.svc.list_leads(Some(p.account.id), &list_params(&q)?, &page).await?;
    Ok(Json(ListResponse::from_page(leads, |r| LeadView::new(r, true))))
}

/// One lead: redacted, or in full (with PII, audited) for its seller.
#[utoipa::path(get, path = "/v1/leads/{id}", tag = "leads",
    params(("id" = String, Path)),
    responses((status = 200, body = LeadView), (status = 404, body = Problem)))]
pub async fn get(State(st): State<AppState>, auth: MaybeAuth, Path(id): Path<String>) -> ApiResult<Json<LeadView>> {
    let id: LeadId = path_id(&id, "lead_not_found")?;
    let read = st.svc.read_lead(auth.0.as_ref(), id).await?;
    let full = read.full;
    let mut view = LeadView::new(read.record, full);
    if let (true, Some(p)) = (full, auth.0.as_ref()) {
        view.pii = Some(st.svc.read_pii(p, id, &correlation()).await?);
    }
    Ok(Json(view))
}

/// A lead's PII, for its seller or its buyer (audited).
#[utoipa::path(get, path = "/v1/leads/{id}/pii", tag = "leads",
    params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 401, body = Problem), (status = 404, body = Problem)),
    security(("api_key" = [])))]
pub async fn pii(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Map<String, serde_json::Value>>> {
    let p = auth.require(Scope::LeadsRead)?;
    let id: LeadId = path_id(&id, "lead_not_found")?;
    Ok(Json(st.svc.read_pii(p, id, &correlation()).await?))
}

/// The jobs of a lead (its seller or an operator).
#[utoipa::path(get, path = "/v1/leads/{id}/jobs", tag = "leads",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<JobView>), (status = 404, body = Problem)),
    security(("api_key" = [])))]
pub async fn jobs(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<Vec<JobView>>> {
    let id: LeadId = path_id(&id, "lead_not_found")?;
    let read = st.svc.read_lead(Some(&auth.0), id).await?;
    if !read.full {
        return Err(ApiError(AppError::not_found("lead_not_found", "no such lead")));
    }
    let jobs = st.svc.store().jobs_for_lead(id).await?;
    Ok(Json(jobs.into_iter().map(JobView::from).collect()))
}
