//! `leadex demo`: seeds accounts and asks, prints their keys with example
//! commands, and streams synthetic leads so a newcomer sees the market move.

use std::time::Duration;

use leadex_core::model::Principal;
use leadex_core::service::asks::{AskGeo, AskInput};
use leadex_domain::Money;
use leadex_domain::account::Role;
use rand::SeedableRng;

use crate::App;

/// Keys created for the demo.
#[derive(Debug, Clone)]
pub struct DemoKeys {
    /// Operator key.
    pub admin: String,
    /// Seller key.
    pub seller: String,
    /// Buyer keys.
    pub buyers: Vec<String>,
}

/// Creates the demo accounts and an ask, returning the secrets. With a
/// chain, buyers are funded through the real escrow path: TestUSDC minted
/// and deposited with `Escrow.deposit` for each buyer, then credited by the
/// deposit indexer; without one (`chain.mode = "off"`), by operator credit.
pub async fn seed(
    app: &App,
    chain: Option<&leadex_chain::service::ChainService>,
) -> anyhow::Result<(DemoKeys, Principal)> {
    let svc = &app.svc;
    let err = |e: leadex_core::AppError| anyhow::anyhow!("{e}");
    let (_, _, admin) = svc.create_account(Role::Admin, "Demo Operator").await.map_err(err)?;
    let (_, _, seller) = svc.create_account(Role::Seller, "Sunrise Leads LLC").await.map_err(err)?;
    let mut buyers = Vec::new();
    let plans: [(&str, &[&str], &str); 3] = [
        ("Acme Solar Installers", &["solar", "roofing", "home_services"], "95.00"),
        ("Bluebird Mortgage", &["mortgage", "financial_services", "real_estate"], "110.00"),
        ("Cobalt Insurance Group", &["insurance", "auto", "legal", "b2b_saas"], "90.00"),
    ];
    for (name, verticals, amount) in plans {
        let (account, _, k) = svc.create_account(Role::Buyer, name).await.map_err(err)?;
        // Balances and auto-bid rules, so auctions clear and the market moves.
        const FUNDS: u64 = 250_000_000_000; // 250 000.00 USDC
        match chain {
            Some(c) => {
                let faucet = c.wallets().wallets()[0].clone();
                let tx = c.mint_and_deposit(&faucet, account.id, FUNDS).await?;
                tracing::info!(buyer = name, %tx, "demo buyer funded on chain through Escrow.deposit");
            }
            None => {
                svc.credit_vault(account.id, Money::from_micros(FUNDS as i64), "demo").await.map_err(err)?;
            }
        }
        let buyer = svc.authenticate(&k.secret).await.map_err(err)?;
        let rule = |vertical: &str, bid: &str, priority: i32| {
            serde_json::json!({"vertical": vertical, "bid_amount": bid, "max_bid": "400.00",
                               "daily_budget": "100000.00", "priority": priority})
        };
        let mut specs: Vec<serde_json::Value> = verticals.iter().map(|v| rule(v, amount, 1)).collect();
        specs.push(rule("*", "70.00", 9));
        for spec in specs {
            let input = leadex_core::service::from_json_value(spec).map_err(err)?;
            svc.create_rule(&buyer, input).await.map_err(err)?;
        }
        buyers.push(k.secret);
    }
    if let Some(c) = chain {
        let credited = c.index_deposits().await?;
        tracing::info!(credited, "demo deposits credited by the indexer");
    }
    let principal = svc.authenticate(&seller.secret).await.map_err(err)?;
    svc.create_ask(
        principal.account.id,
        AskInput {
            vertical: "solar.residential".into(),
            geo: AskGeo { countries: vec!["US".into()], regions: vec![] },
            reserve_price: Money::from_micros(45_000_000),
            buy_now_price: None,
            auction_duration_secs: Some(app.settings.limits.default_auction_secs),
            daily_cap: Some(5_000),
            status: None,
            expires_at: None,
        },
    )
    .await
    .map_err(err)?;
    Ok((DemoKeys { admin: admin.secret, seller: seller.secret, buyers }, principal))
}

/// Prints the keys and example commands.
pub fn print_banner(keys: &DemoKeys, base: &str) {
    println!(
        "\nleadex demo is running at {base}\n\n\
         operator key : {admin}\n\
         seller key   : {seller}\n\
         buyer keys   : {buyers}\n\n\
         Try:\n  \
         curl -s {base}/v1/leads | jq\n  \
         curl -s {base}/v1/verticals/solar.residential | jq\n  \
         curl -s -H 'Authorization: Bearer {seller}' {base}/v1/me/leads | jq\n  \
         curl -s -X POST {base}/v1/leads -H 'Authorization: Bearer {seller}' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"vertical\":\"solar.residential\",\"geo\":{{\"country\":\"US\",\"region\":\"CA\",\"postal_code\":\"90210\"}},\
\"fields\":{{\"full_name\":\"Jane Doe\",\"email\":\"jane.doe@example.com\",\"phone\":\"+14155550123\",\"own_or_rent\":\"own\",\
\"roof_type\":\"asphalt_shingle\",\"electric_bill\":\"200_300\",\"timeline\":\"within_1_month\"}},\"source\":\"form\",\
\"consent\":{{\"tcpa_at\":\"{now}\",\"text\":\"I agree\"}}}}'\n  \
         curl -s {base}/openapi.json | jq '.paths | keys'\n\n\
         Every sold lead is minted as an NFT to its buyer on the embedded EVM (batches of up to 50, every 2 s):\n  \
         curl -s -H 'Authorization: Bearer {buyer0}' {base}/v1/me/purchases | jq '.items[0].id'\n  \
         curl -s {base}/v1/leads/<lead id>/nft | jq     # token id, owner, status\n  \
         curl -s {base}/v1/nft/<token id> | jq          # ERC-721 metadata (tokenURI)\n",
        admin = keys.admin,
        seller = keys.seller,
        buyers = keys.buyers.join(", "),
        buyer0 = keys.buyers.first().map(String::as_str).unwrap_or(""),
        now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
}

/// Submits a synthetic lead every `every` until `stop` fires.
pub async fn stream_leads(app: App, seller: Principal, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut rng = rand::rngs::StdRng::from_entropy();
    let tag: String = format!("demo{:x}", rand::random::<u32>());
    let verticals: Vec<_> = app.svc.catalog().iter().filter(|v| v.depth > 1).map(|v| v.slug().to_owned()).collect();
    let mut seq: u64 = 0;
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        seq += 1;
        let slug = &verticals[(seq as usize) % verticals.len().max(1)];
        let Some(v) = app.svc.catalog().get(slug) else { continue };
        let body = leadex_core::synth::lead_body(v, seq, &tag, chrono::Utc::now(), &mut rng);
        let cid = uuid_like(seq);
        match app.svc.submit_lead(&seller, body, None, &cid).await {
            Ok(r) => tracing::info!(lead = %r.body["id"], vertical = %slug, "demo lead submitted"),
            Err(e) => tracing::warn!(code = e.code, detail = %e.detail, "demo lead refused"),
        }
    }
}

fn uuid_like(seq: u64) -> String {
    format!("demo-{seq:08}")
}
