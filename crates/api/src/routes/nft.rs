//! Lead NFT metadata (SPEC §14): what `LeadNFT.tokenURI` points at. Public:
//! wallets and marketplaces fetch it without a key. No PII, no price.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use leadex_domain::account::Scope;

use crate::extract::{Auth, JsonBody};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// ERC-721 metadata JSON of a token (decimal id as `tokenURI` prints it,
/// or `0x` hex).
#[utoipa::path(get, path = "/v1/nft/{token_id}", tag = "nft", params(("token_id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn metadata(State(st): State<AppState>, Path(token_id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(st.svc.nft_metadata(&token_id).await?))
}

/// A lead's token: id, status (`queued`, `sending`, `minted`), owner and
/// metadata URL; 404 until the lead is sold and its `mint_nft` job ran.
#[utoipa::path(get, path = "/v1/leads/{id}/nft", tag = "nft", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn of_lead(State(st): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(st.svc.lead_token(&id).await?))
}

/// Linking a wallet needs a writing key: `vault:write` (buyers: tokens go
/// there) or `asks:write` (sellers: payouts go there).
fn wallet_scope(auth: &Auth) -> Result<&leadex_core::model::Principal, crate::problem::ApiError> {
    if auth.0.can(Scope::AsksWrite) { Ok(&auth.0) } else { auth.require(Scope::VaultWrite) }
}

/// Body of `POST /v1/me/wallet/challenge`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The wallet to link (`0x` + 40 hex).
    pub address: String,
}

/// Body of `POST /v1/me/wallet`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// The EIP-4361 message exactly as issued.
    pub message: String,
    /// Its `personal_sign` signature (`0x` + 130 hex).
    pub signature: String,
}

/// An EIP-4361 message to sign with the wallet to link (single use,
/// expires in 10 minutes).
#[utoipa::path(post, path = "/v1/me/wallet/challenge", tag = "nft", request_body = ChallengeRequest,
    responses((status = 200, body = Object), (status = 422, body = Problem)), security(("api_key" = [])))]
pub async fn challenge(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<ChallengeRequest>,
) -> ApiResult<Json<Value>> {
    let p = wallet_scope(&auth)?;
    Ok(Json(st.svc.wallet_challenge(p, &req.address).await?))
}

/// Links the wallet that signed a challenge; tokens of later purchases
/// are minted to it.
#[utoipa::path(post, path = "/v1/me/wallet", tag = "nft", request_body = LinkRequest,
    responses((status = 200, body = Object), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn link(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<LinkRequest>,
) -> ApiResult<Json<Value>> {
    let p = wallet_scope(&auth)?;
    Ok(Json(st.svc.link_wallet(p, &req.message, &req.signature).await?))
}

/// The caller's linked wallet (`address` null when none).
#[utoipa::path(get, path = "/v1/me/wallet", tag = "nft", responses((status = 200, body = Object)),
    security(("api_key" = [])))]
pub async fn mine(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    Ok(Json(st.svc.my_wallet(&auth.0).await?))
}

/// Body of `POST /v1/me/vault/withdrawals`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawalRequest {
    /// USDC amount (`"12.50"`).
    pub amount: String,
    /// Destination (`0x`); default: the linked wallet.
    pub to: Option<String>,
}

/// Withdraws from the available balance to a wallet (queued; sent by the
/// chain service with `Escrow.withdrawTo`).
#[utoipa::path(post, path = "/v1/me/vault/withdrawals", tag = "vault", request_body = WithdrawalRequest,
    responses((status = 202, body = Object), (status = 422, body = Problem)), security(("api_key" = [])))]
pub async fn withdraw(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<WithdrawalRequest>,
) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let p = auth.require(Scope::VaultWrite)?;
    let w = st.svc.request_withdrawal(p, &req.amount, req.to.as_deref()).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(w)))
}

/// The caller's withdrawals (buyers) or payouts (sellers), newest first.
#[utoipa::path(get, path = "/v1/me/vault/withdrawals", tag = "vault", responses((status = 200, body = Object)),
    security(("api_key" = [])))]
pub async fn withdrawals(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<Value>> {
    Ok(Json(st.svc.my_payouts(&auth.0).await?))
}

/// Proof of reserves: the escrow contract's balance against the ledger's
/// obligations at the last check. Public.
#[utoipa::path(get, path = "/v1/reserves", tag = "vault", responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn reserves(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(st.svc.reserves().await?))
}

/// Moves the caller's tokens held by the custody address (bought before it
/// linked a wallet) to its linked wallet.
#[utoipa::path(post, path = "/v1/me/nft/claim", tag = "nft",
    responses((status = 202, body = Object), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn claim(State(st): State<AppState>, auth: Auth) -> ApiResult<(axum::http::StatusCode, Json<Value>)> {
    let p = auth.require(Scope::VaultWrite)?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(st.svc.claim_tokens(p).await?)))
}

/// The stored timeline of a correlation id (operator): ingest, jobs,
/// auction, bids, ledger entries, token and chain transactions.
#[utoipa::path(get, path = "/v1/admin/trace/{correlation_id}", tag = "admin", params(("correlation_id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn trace(State(st): State<AppState>, auth: Auth, Path(cid): Path<String>) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    Ok(Json(st.svc.trace(&cid).await?))
}
