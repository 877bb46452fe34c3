//! Market routes (SPEC §6–8): vaults, bids, auctions, buy-now, auto-bid
//! rules and bounties. Bid amounts are only ever shown to their bidder.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leadex_core::model::LeadStatus;
use leadex_core::service::LeadListParams;
use leadex_core::service::market::{BountyInput, RuleInput};
use leadex_domain::account::Scope;
use leadex_domain::{AccountId, LeadId};
use uuid::Uuid;

use crate::dto::{
    AmountRequest, AuctionStateView, BidRequest, BidView, BountyTotalView, DecisionView, EntryView, LeadView,
    ListResponse, PoolView, RuleView, VaultView,
};
use crate::extract::{Auth, JsonBody, MaybeAuth, QueryPairs, path_id};
use crate::problem::{ApiResult, Problem};
use crate::state::AppState;

/// The caller's balances and newest statement entries.
#[utoipa::path(get, path = "/v1/me/vault", tag = "market",
    responses((status = 200, body = VaultView), (status = 401, body = Problem)), security(("api_key" = [])))]
pub async fn vault(State(st): State<AppState>, auth: Auth) -> ApiResult<Json<VaultView>> {
    let id = auth.0.account.id;
    let v = st.svc.vault(id).await?;
    let statement = st.svc.statement(id, &leadex_core::cursor::PageRequest::first(20)).await?;
    Ok(Json(VaultView {
        available: v.available.to_string(),
        locked: v.locked.to_string(),
        total: v.available.checked_add(v.locked).unwrap_or(v.available).to_string(),
        payable: v.payable.to_string(),
        statement: ListResponse::from_page(statement, EntryView::from),
    }))
}

/// The caller's ledger statement (cursor).
#[utoipa::path(get, path = "/v1/me/vault/entries", tag = "market",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<EntryView>), (status = 400, body = Problem)), security(("api_key" = [])))]
pub async fn entries(
    State(st): State<AppState>,
    auth: Auth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<EntryView>>> {
    q.check(&["limit", "cursor"], false)?;
    let page = st.svc.statement(auth.0.account.id, &q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, EntryView::from)))
}

/// Credit a buyer's vault (operator; development funding).
#[utoipa::path(post, path = "/v1/admin/vaults/{account_id}/credit", tag = "admin",
    params(("account_id" = String, Path)), request_body = AmountRequest,
    responses((status = 200, body = Object), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn credit(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AmountRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let admin = auth.require_admin()?;
    let id: AccountId = path_id(&id, "account_not_found")?;
    let v = st.svc.credit_vault(id, req.amount, &format!("operator:{}", admin.account.id)).await?;
    Ok(Json(serde_json::json!({"available": v.available, "locked": v.locked})))
}

/// Place or replace the caller's sealed bid.
#[utoipa::path(post, path = "/v1/leads/{id}/bids", tag = "market", params(("id" = String, Path)),
    request_body = BidRequest,
    responses((status = 201, body = BidView), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "auction_closed", body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn place_bid(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<BidRequest>,
) -> ApiResult<(StatusCode, Json<BidView>)> {
    let p = auth.require(Scope::BidsWrite)?;
    let id: LeadId = path_id(&id, "lead_not_found")?;
    let cid = crate::problem::current_correlation_id().unwrap_or_default();
    let bid = st.svc.place_bid(p, id, req.amount, &cid).await?;
    Ok((StatusCode::CREATED, Json(bid.into())))
}

/// Withdraw the caller's live bid.
#[utoipa::path(delete, path = "/v1/leads/{id}/bids/mine", tag = "market", params(("id" = String, Path)),
    responses((status = 200, body = BidView), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("api_key" = [])))]
pub async fn withdraw_bid(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<BidView>> {
    let p = auth.require(Scope::BidsWrite)?;
    let id: LeadId = path_id(&id, "lead_not_found")?;
    Ok(Json(st.svc.withdraw_bid(p, id).await?.into()))
}

/// The caller's bids.
#[utoipa::path(get, path = "/v1/me/bids", tag = "market",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<BidView>), (status = 403, body = Problem)), security(("api_key" = [])))]
pub async fn my_bids(State(st): State<AppState>, auth: Auth, q: QueryPairs) -> ApiResult<Json<ListResponse<BidView>>> {
    q.check(&["limit", "cursor"], false)?;
    let page = st.svc.my_bids(&auth.0, &q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, BidView::from)))
}

/// Auction state: seed hash before close, seed and outcome after, and the
/// caller's own bid.
#[utoipa::path(get, path = "/v1/leads/{id}/auction", tag = "market", params(("id" = String, Path)),
    responses((status = 200, body = AuctionStateView), (status = 404, body = Problem)))]
pub async fn auction(
    State(st): State<AppState>,
    auth: MaybeAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AuctionStateView>> {
    let id: LeadId = path_id(&id, "lead_not_found")?;
    let lead = st.svc.read_lead(auth.0.as_ref(), id).await?.record;
    let closed = matches!(lead.status, LeadStatus::Sold | LeadStatus::Unsold | LeadStatus::Expired)
        && lead.auction_opened_at.is_some();
    let my_bid = match &auth.0 {
        Some(p) => st.svc.my_bid(p, id).await?.map(BidView::from),
        None => None,
    };
    Ok(Json(AuctionStateView {
        lead_id: id.as_uuid(),
        status: lead.status.as_str().into(),
        opened_at: lead.auction_opened_at,
        ends_at: lead.auction_ends_at,
        bid_count: lead.bid_count,
        seed_hash: lead.seed_hash.map(hex::encode),
        seed: lead.seed.filter(|_| closed).map(hex::encode),
        outcome: closed.then(|| if lead.status == LeadStatus::Sold { "sold" } else { "unsold" }.to_owned()),
        clearing_price: if closed { lead.sold_price.map(|p| p.to_string()) } else { None },
        my_bid,
    }))
}

/// Buy an unsold lead at its buy-now price (one buyer wins a race).
#[utoipa::path(post, path = "/v1/leads/{id}/buy", tag = "market", params(("id" = String, Path)),
    responses((status = 200, body = LeadView), (status = 409, description = "not_for_sale", body = Problem),
        (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn buy(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<LeadView>> {
    let p = auth.require(Scope::BidsWrite)?;
    let id: LeadId = path_id(&id, "lead_not_found")?;
    let lead = st.svc.buy_now(p, id).await?;
    Ok(Json(LeadView::new(lead, true)))
}

/// Unsold leads still for sale at their buy-now price.
#[utoipa::path(get, path = "/v1/buy-now", tag = "market",
    params(("vertical" = Option<String>, Query), ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<LeadView>), (status = 400, body = Problem)))]
pub async fn buy_now_list(State(st): State<AppState>, q: QueryPairs) -> ApiResult<Json<ListResponse<LeadView>>> {
    q.check(&["vertical", "country", "region", "min_score", "max_score", "limit", "cursor"], true)?;
    let params = LeadListParams {
        vertical: q.string("vertical"),
        status: Some("unsold".into()),
        country: q.string("country"),
        region: q.string("region"),
        min_score: q.u32("min_score")?,
        max_score: q.u32("max_score")?,
        fields: q.0.iter().filter_map(|(k, v)| k.strip_prefix("field.").map(|f| (f.to_owned(), v.clone()))).collect(),
        ..LeadListParams::default()
    };
    let page = st.svc.list_leads(None, &params, &q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, |r| LeadView::new(r, false))))
}

/// Leads the caller bought (full view; PII at `/v1/leads/{id}/pii`).
#[utoipa::path(get, path = "/v1/me/purchases", tag = "market",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<LeadView>), (status = 403, body = Problem)), security(("api_key" = [])))]
pub async fn purchases(
    State(st): State<AppState>,
    auth: Auth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<LeadView>>> {
    q.check(&["limit", "cursor"], false)?;
    let page = st.svc.purchases(&auth.0, &q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, |r| LeadView::new(r, true))))
}

/// Create an auto-bid rule.
#[utoipa::path(post, path = "/v1/me/rules", tag = "rules", request_body(content = Object, description = "Rule (SPEC §15)"),
    responses((status = 201, body = RuleView), (status = 422, body = Problem)), security(("api_key" = [])))]
pub async fn create_rule(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<RuleInput>,
) -> ApiResult<(StatusCode, Json<RuleView>)> {
    let p = auth.require(Scope::RulesWrite)?;
    Ok((StatusCode::CREATED, Json(st.svc.create_rule(p, input).await?.into())))
}

/// The caller's rules.
#[utoipa::path(get, path = "/v1/me/rules", tag = "rules",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<RuleView>)), security(("api_key" = [])))]
pub async fn list_rules(
    State(st): State<AppState>,
    auth: Auth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<RuleView>>> {
    q.check(&["limit", "cursor"], false)?;
    let page = st.svc.rules(&auth.0, &q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, RuleView::from)))
}

/// One rule of the caller.
#[utoipa::path(get, path = "/v1/me/rules/{id}", tag = "rules", params(("id" = String, Path)),
    responses((status = 200, body = RuleView), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn get_rule(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<RuleView>> {
    let id: Uuid = path_id(&id, "rule_not_found")?;
    Ok(Json(st.svc.rule(&auth.0, id).await?.into()))
}

/// Replace a rule of the caller.
#[utoipa::path(put, path = "/v1/me/rules/{id}", tag = "rules", params(("id" = String, Path)),
    request_body(content = Object, description = "Rule (SPEC §15)"),
    responses((status = 200, body = RuleView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn update_rule(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<RuleInput>,
) -> ApiResult<Json<RuleView>> {
    let p = auth.require(Scope::RulesWrite)?;
    let id: Uuid = path_id(&id, "rule_not_found")?;
    Ok(Json(st.svc.update_rule(p, id, input).await?.into()))
}

/// Delete a rule of the caller.
#[utoipa::path(delete, path = "/v1/me/rules/{id}", tag = "rules", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn delete_rule(State(st): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let p = auth.require(Scope::RulesWrite)?;
    let id: Uuid = path_id(&id, "rule_not_found")?;
    st.svc.delete_rule(p, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A rule's bid and skip decisions, newest first.
#[utoipa::path(get, path = "/v1/me/rules/{id}/decisions", tag = "rules", params(("id" = String, Path),
        ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<DecisionView>), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn decisions(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<DecisionView>>> {
    q.check(&["limit", "cursor"], false)?;
    let id: Uuid = path_id(&id, "rule_not_found")?;
    let page = st.svc.rule_decisions(&auth.0, id, &q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, DecisionView::from)))
}

/// Fund a bounty pool from the caller's available balance.
#[utoipa::path(post, path = "/v1/bounties", tag = "bounties", request_body(content = Object, description = "Bounty (SPEC §15)"),
    responses((status = 201, body = PoolView), (status = 422, body = Problem)), security(("api_key" = [])))]
pub async fn create_bounty(
    State(st): State<AppState>,
    auth: Auth,
    JsonBody(input): JsonBody<BountyInput>,
) -> ApiResult<(StatusCode, Json<PoolView>)> {
    let p = auth.require(Scope::VaultWrite)?;
    Ok((StatusCode::CREATED, Json(st.svc.create_bounty(p, input).await?.into())))
}

/// Remaining bounty funds per vertical (public).
#[utoipa::path(get, path = "/v1/bounties", tag = "bounties", responses((status = 200, body = Vec<BountyTotalView>)))]
pub async fn bounty_totals(State(st): State<AppState>) -> ApiResult<Json<Vec<BountyTotalView>>> {
    let totals = st.svc.bounty_totals().await?;
    Ok(Json(
        totals
            .into_iter()
            .map(|t| BountyTotalView { vertical: t.vertical, pools: t.pools, remaining: t.remaining.to_string() })
            .collect(),
    ))
}

/// The caller's pools.
#[utoipa::path(get, path = "/v1/me/bounties", tag = "bounties",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ListResponse<PoolView>)), security(("api_key" = [])))]
pub async fn my_bounties(
    State(st): State<AppState>,
    auth: Auth,
    q: QueryPairs,
) -> ApiResult<Json<ListResponse<PoolView>>> {
    q.check(&["limit", "cursor"], false)?;
    let page = st.svc.my_bounties(&auth.0, &q.page()?).await?;
    Ok(Json(ListResponse::from_page(page, PoolView::from)))
}

/// Add funds to a pool.
#[utoipa::path(post, path = "/v1/bounties/{id}/top-up", tag = "bounties", params(("id" = String, Path)),
    request_body = AmountRequest,
    responses((status = 200, body = PoolView), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("api_key" = [])))]
pub async fn top_up(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AmountRequest>,
) -> ApiResult<Json<PoolView>> {
    let p = auth.require(Scope::VaultWrite)?;
    let id: Uuid = path_id(&id, "bounty_not_found")?;
    Ok(Json(st.svc.top_up_bounty(p, id, req.amount).await?.into()))
}

/// Close a pool; what is left returns to the caller's available balance.
#[utoipa::path(post, path = "/v1/bounties/{id}/withdraw", tag = "bounties", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("api_key" = [])))]
pub async fn withdraw_bounty(
    State(st): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    let p = auth.require(Scope::VaultWrite)?;
    let id: Uuid = path_id(&id, "bounty_not_found")?;
    let returned = st.svc.withdraw_bounty(p, id).await?;
    Ok(Json(serde_json::json!({"id": id, "status": "closed", "returned": returned})))
}
