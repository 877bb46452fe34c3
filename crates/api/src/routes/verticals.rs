//! Vertical catalogue routes (SPEC §2).

use axum::Json;
use axum::extract::{Path, State};
use leadex_core::AppError;
use leadex_domain::vertical::Catalog;

use crate::dto::{VerticalDetail, VerticalNode, VerticalTree};
use crate::problem::{ApiError, ApiResult, Problem};
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
