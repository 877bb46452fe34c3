//! Ask routes (SPEC §5).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leadex_core::AppError;
use leadex_core::service::asks::{AskInput, AskPatch};
use leadex_domain::AskId;
use leadex_domain::account::{Role, Scope};

use crate::dto::{AskView, ListResponse};
use crate::extract::{Auth, JsonBody, MaybeAuth, QueryPairs, path_id};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

fn seller(auth: &Auth) -> ApiResult<&leadex_core::model::Principal> {
    let p = auth.require(Scope::AsksWrite)?;
    if p.account.role != Role::Seller {
        return Err(ApiError(AppError::forbidden("forbidden", "only sellers have asks")));
    }
    Ok(p)
}

/// Create an ask.
#[utoipa::path(post, path = "/v1/asks", tag = "asks", request_body(content = Object, description = "Ask (SPEC §15)"),
    responses((status = 201, body = AskView), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn create(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<AskInput>,
) -> ApiResult<(StatusCode, Json<AskView>)> {
    let p = seller(&auth)?;
    let ask = st.svc.create_ask(p.account.id, input).await?;
    Ok((StatusCode::CREATED, Json(AskView::new(ask, true))))
}

/// Public active asks (private members hidden).
#[utoipa::path(get, path = "/v1/asks", tag = "asks",
    params(("vertical" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<AskView>), (status = 400, body = Problem)))]
pub async fn list(
    State(st): State<AppState>,
    auth: MaybeAuth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<AskView>>> {
    q.check(&["limit", "cursor", "vertical"], false)?;
    let page = q.page()?;
    let me = auth.0.map(|p| p.account.id);
    let asks = st.svc.list_asks(None, q.get("vertical"), &page).await?;
    Ok(Json(ListResponse::from_page(asks, |a| {
        let owner = Some(a.seller_id) == me;
        AskView::new(a, owner)
    })))
}

/// The calling seller's asks, any status.
#[utoipa::path(get, path = "/v1/me/asks", tag = "asks",
    params(("vertical" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<AskView>), (status = 400, body = Problem), (status = 401, body = Problem)),
    security(("api_key" = [])))]
pub async fn list_mine(
    State(st): State<AppState>,
    auth: Auth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<AskView>>> {
    let p = seller(&auth)?;
    q.check(&["limit", "cursor", "vertical"], false)?;
    let page = q.page()?;
    let asks = st.svc.list_asks(Some(p.account.id), q.get("vertical"), &page).await?;
    Ok(Json(ListResponse::from_page(asks, |a| AskView::new(a, true))))
}

/// One ask (private members for its owner only).
#[utoipa::path(get, path = "/v1/asks/{id}", tag = "asks", params(("id" = String, Path)),
    responses((status = 200, body = AskView), (status = 404, body = Problem)))]
pub async fn get(State(st): State<AppState>, auth: MaybeAuth, Path(id): Path<String>) -> ApiResult<Json<AskView>> {
    let id: AskId = path_id(&id, "ask_not_found")?;
    let ask = st.svc.get_ask(id).await?;
    let owner = auth.0.as_ref().is_some_and(|p| p.account.id == ask.seller_id || p.is_admin());
    if !owner && ask.status != "active" {
        return Err(ApiError(AppError::not_found("ask_not_found", "no such ask")));
    }
    Ok(Json(AskView::new(ask, owner)))
}

/// Change an ask's terms.
#[utoipa::path(patch, path = "/v1/asks/{id}", tag = "asks", params(("id" = String, Path)),
    request_body(content = Object, description = "Any ask members except `vertical`"),
    responses((status = 200, body = AskView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn update(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<AskPatch>,
) -> ApiResult<Json<AskView>> {
    let p = seller(&auth)?;
    let id: AskId = path_id(&id, "ask_not_found")?;
    let ask = st.svc.update_ask(p.account.id, id, patch).await?;
    Ok(Json(AskView::new(ask, true)))
}

/// Delete an ask.
#[utoipa::path(delete, path = "/v1/asks/{id}", tag = "asks", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)),
    security(("api_key" = [])))]
pub async fn delete(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let p = seller(&auth)?;
    let id: AskId = path_id(&id, "ask_not_found")?;
    st.svc.delete_ask(p.account.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
