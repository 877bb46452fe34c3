//! Vertical catalogue routes (SPEC §2).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leadex_core::AppError;
use leadex_domain::vertical::Catalog;

use crate::dto::{AnnouncementRequest, AnnouncementView, VerticalDetail, VerticalNode, VerticalTree};
use crate::extract::{Auth, JsonBody};
use crate::problem::{ApiError, ApiResult, Problem, current_correlation_id};
use crate::state::AppState;

fn node(cat: &Catalog, slug: &str) -> Option<VerticalNode> {
    let v = cat.get(slug)?;
    Some(VerticalNode {
        slug: v.def.slug.clone(),
        name: v.def.name.clone(),
        status: v.def.status.as_str().into(),
        children: cat.children(slug).iter().filter_map(|c| node(cat, c)).collect(),
    })
}

/// The vertical tree.
#[utoipa::path(get, path = "/v1/verticals", tag = "verticals", responses((status = 200, body = VerticalTree)))]
pub async fn tree(State(st): State<AppState>) -> Json<VerticalTree> {
    let cat = st.svc.catalog();
    let items = cat.iter().filter(|v| v.def.parent.is_none()).filter_map(|v| node(cat, v.slug())).collect();
    Json(VerticalTree { items })
}

/// One vertical: effective schema, compliance flags and floor prices.
#[utoipa::path(get, path = "/v1/verticals/{slug}", tag = "verticals", params(("slug" = String, Path)),
    responses((status = 200, body = VerticalDetail), (status = 404, body = Problem)))]
pub async fn get(State(st): State<AppState>, Path(slug): Path<String>) -> ApiResult<Json<VerticalDetail>> {
    let cat = st.svc.catalog();
    let v = cat
        .get(&slug)
        .ok_or_else(|| ApiError(AppError::not_found("vertical_not_found", format!("no vertical `{slug}`"))))?;
    Ok(Json(VerticalDetail::new(v, cat.children(v.slug()))))
}

/// Operator notice to the Socket.IO rooms of some verticals
/// (`system:announcement`, see `docs/realtime.md`).
#[utoipa::path(post, path = "/v1/admin/announcements", tag = "verticals", request_body = AnnouncementRequest,
    responses((status = 202, body = AnnouncementView), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn announce(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<AnnouncementRequest>,
) -> ApiResult<(StatusCode, Json<AnnouncementView>)> {
    auth.require_admin()?;
    let correlation_id = current_correlation_id().unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let rooms = st.svc.announce(&req.verticals, &req.message, &correlation_id)?;
    Ok((StatusCode::ACCEPTED, Json(AnnouncementView { rooms, correlation_id })))
}
