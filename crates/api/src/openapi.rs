//! The OpenAPI 3.1 document served at `/openapi.json`, generated from the
//! handlers' annotations so it cannot drift from the router.

use std::sync::OnceLock;

use axum::Json;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::dto;
use crate::problem::Problem;
use crate::routes::{accounts, asks, health, jobs, leads, market, nft, verticals};

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lx_…")
                    .description(Some("API key: `Authorization: Bearer lx_…`"))
                    .build(),
            ),
        );
    }
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(title = "leadex", description = "Real-time lead exchange API. Errors are application/problem+json with a stable `code`."),
    paths(
        health::live, health::ready,
        accounts::me, accounts::my_keys, accounts::create_my_key, accounts::revoke_my_key,
        accounts::create_account, accounts::list_accounts, accounts::get_account, accounts::list_keys,
        accounts::create_key, accounts::revoke_key, accounts::set_daily_cap,
        leads::submit, leads::submit_batch, leads::list, leads::list_mine, leads::get, leads::pii, leads::jobs,
        asks::create, asks::list, asks::list_mine, asks::get, asks::update, asks::delete,
        verticals::tree, verticals::get, verticals::announce,
        nft::metadata, nft::of_lead, nft::challenge, nft::link, nft::mine,
        nft::withdraw, nft::withdrawals, nft::reserves, nft::claim, nft::trace,
        jobs::list, jobs::get, jobs::retry, jobs::delete, jobs::stats,
        market::vault, market::entries, market::credit, market::place_bid, market::withdraw_bid, market::my_bids,
        market::auction, market::buy, market::buy_now_list, market::purchases, market::create_rule, market::list_rules,
        market::get_rule, market::update_rule, market::delete_rule, market::decisions, market::create_bounty,
        market::bounty_totals, market::my_bounties, market::top_up, market::withdraw_bounty,
    ),
    components(schemas(Problem, dto::LeadView, dto::AskView, dto::AccountView, dto::KeyView, dto::JobView)),
    modifiers(&SecurityAddon),
)]
pub struct ApiDoc;

/// The document as JSON (built once).
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null))
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<Value> {
    Json(document().clone())
}
