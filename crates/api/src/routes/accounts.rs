//! Accounts and API keys: self-service (`/v1/me…`) and operator
//! (`/v1/admin/accounts…`) routes (SPEC §1).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leadex_core::AppError;
use leadex_core::model::Account;
use leadex_domain::account::{Role, Scope};
use leadex_domain::{AccountId, KeyId};

use crate::dto::{
    AccountView, CreateAccountRequest, CreateKeyRequest, CreatedAccount, CreatedKey, DailyCapRequest, KeyView,
    ListResponse, MeResponse,
};
use crate::extract::{Auth, JsonBody, QueryPairs, path_id};
use crate::problem::{ApiError, ApiResult, Problem};
use crate::state::AppState;

/// The calling account.
#[utoipa::path(get, path = "/v1/me", tag = "accounts",
    responses((status = 200, body = MeResponse), (status = 401, body = Problem)), security(("api_key" = [])))]
pub async fn me(auth: Auth) -> Json<MeResponse> {
    Json(MeResponse::new(&auth.0.account, &auth.0.key))
}

/// The calling account's keys.
#[utoipa::path(get, path = "/v1/me/keys", tag = "accounts",
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = Problem)), security(("api_key" = [])))]
pub async fn my_keys(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<KeyView>>> {
    let keys = st.svc.list_keys(auth.0.account.id).await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

fn parse_scopes(raw: Option<Vec<String>>, role: Role) -> ApiResult<Vec<Scope>> {
    match raw {
        None => Ok(role.default_scopes()),
        Some(list) => list
            .iter()
            .map(|s| {
                s.parse::<Scope>().map_err(|_| {
                    ApiError(AppError::invalid("invalid_scopes", format!("unknown scope `{s}`")).with_field("scopes"))
                })
            })
            .collect(),
    }
}

async fn issue(st: &AppState, account: &Account, req: CreateKeyRequest) -> ApiResult<CreatedKey> {
    let scopes = parse_scopes(req.scopes, account.role)?;
    let name = req.name.unwrap_or_else(|| "key".into());
    let (info, key) = st.svc.issue_key(account, &name, scopes, req.expires_at).await?;
    Ok(CreatedKey { api_key: key.secret, key: info.into() })
}

/// Create another key for the calling account (scopes within its role).
#[utoipa::path(post, path = "/v1/me/keys", tag = "accounts", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKey), (status = 422, body = Problem)), security(("api_key" = [])))]
pub async fn create_my_key(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    // A key may not mint a key with scopes it does not hold itself.
    let scopes = parse_scopes(req.scopes.clone(), auth.0.account.role)?;
    if let Some(s) = scopes.iter().find(|s| !auth.0.account.role.allows(**s)) {
        return Err(ApiError(
            AppError::invalid(
                "scope_not_allowed",
                format!("a {} account cannot hold `{}`", auth.0.account.role, s.as_str()),
            )
            .with_field("scopes"),
        ));
    }
    if let Some(s) = scopes.iter().find(|s| !auth.0.can(**s)) {
        return Err(ApiError(
            AppError::forbidden("insufficient_scope", format!("this key cannot grant `{}`", s.as_str()))
                .with_field("scopes"),
        ));
    }
    let created = issue(&st, &auth.0.account, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke one of the calling account's keys.
#[utoipa::path(delete, path = "/v1/me/keys/{key_id}", tag = "accounts", params(("key_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn revoke_my_key(
    State(st): State<AppState>,
    auth: Auth,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    let key: KeyId = path_id(&key_id, "key_not_found")?;
    st.svc.revoke_key(auth.0.account.id, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create an account and its first key (operator).
#[utoipa::path(post, path = "/v1/admin/accounts", tag = "admin", request_body = CreateAccountRequest,
    responses((status = 201, body = CreatedAccount), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn create_account(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<CreateAccountRequest>,
) -> ApiResult<(StatusCode, Json<CreatedAccount>)> {
    auth.require_admin()?;
    let role = req.role.parse::<Role>().map_err(|_| {
        ApiError(AppError::invalid("invalid_role", "role must be admin, seller or buyer").with_field("role"))
    })?;
    let (account, info, key) = st.svc.create_account(role, &req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAccount {
            account_id: account.id.as_uuid(),
            api_key: key.secret,
            account: account.into(),
            key: info.into(),
        }),
    ))
}

/// Accounts (operator).
#[utoipa::path(get, path = "/v1/admin/accounts", tag = "admin",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<AccountView>), (status = 403, body = Problem)), security(("api_key" = [])))]
pub async fn list_accounts(
    State(st): State<AppState>,
    auth: Auth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<AccountView>>> {
    auth.require_admin()?;
    q.check(&["limit", "cursor"], false)?;
    let page = st.svc.list_accounts(&q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, AccountView::from)))
}

/// One account (operator).
#[utoipa::path(get, path = "/v1/admin/accounts/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = AccountView), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn get_account(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountView>> {
    auth.require_admin()?;
    let id: AccountId = path_id(&id, "account_not_found")?;
    Ok(Json(st.svc.account(id).await?.into()))
}

/// An account's keys (operator).
#[utoipa::path(get, path = "/v1/admin/accounts/{id}/keys", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, body = Vec<KeyView>), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn list_keys(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<KeyView>>> {
    auth.require_admin()?;
    let id: AccountId = path_id(&id, "account_not_found")?;
    st.svc.account(id).await?;
    Ok(Json(st.svc.list_keys(id).await?.into_iter().map(KeyView::from).collect()))
}

/// Issue a key for an account (operator).
#[utoipa::path(post, path = "/v1/admin/accounts/{id}/keys", tag = "admin", params(("id" = String, Path)),
    request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKey), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn create_key(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<CreateKeyRequest>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    auth.require_admin()?;
    let id: AccountId = path_id(&id, "account_not_found")?;
    let account = st.svc.account(id).await?;
    Ok((StatusCode::CREATED, Json(issue(&st, &account, req).await?)))
}

/// Revoke an account's key (operator).
#[utoipa::path(delete, path = "/v1/admin/accounts/{id}/keys/{key_id}", tag = "admin",
    params(("id" = String, Path), ("key_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn revoke_key(
    State(st): State<AppState>,
    auth: Auth,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id: AccountId = path_id(&id, "account_not_found")?;
    let key: KeyId = path_id(&key_id, "key_not_found")?;
    st.svc.revoke_key(id, key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set or clear a seller's daily-cap override (operator).
#[utoipa::path(put, path = "/v1/admin/accounts/{id}/daily-cap", tag = "admin", params(("id" = String, Path)),
    request_body = DailyCapRequest,
    responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)), security(("api_key" = [])))]
pub async fn set_daily_cap(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<DailyCapRequest>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id: AccountId = path_id(&id, "account_not_found")?;
    if req.daily_cap == Some(0) {
        return Err(ApiError(
            AppError::invalid("invalid_daily_cap", "daily_cap must be at least 1").with_field("daily_cap"),
        ));
    }
    st.svc.set_daily_cap(id, req.daily_cap).await?;
    Ok(StatusCode::NO_CONTENT)
}
