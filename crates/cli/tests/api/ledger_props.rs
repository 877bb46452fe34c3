//! Property test of the money invariants (SPEC §7) over random sequences of
//! deposits, bids, replacements, withdrawals, closes, buy-nows and bounty
//! funding/payouts, against the real store: every movement balances, no
//! ordinary balance goes negative, money is conserved, and each buyer's
//! locked balance equals the sum of its live bids.

use std::sync::Arc;

use leadex_core::clock::ManualClock;
use leadex_core::model::Principal;
use leadex_core::service::asks::AskInput;
use leadex_core::service::market::BountyInput;
use leadex_domain::account::Role;
use leadex_domain::{LeadId, Money};
use leadex_testkit::{TestApp, TestEngine, spawn_app_on};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Deposit { buyer: usize, cents: i64 },
    Bid { buyer: usize, lead: usize, cents: i64 },
    Withdraw { buyer: usize, lead: usize },
    Close { lead: usize },
    BuyNow { buyer: usize, lead: usize },
    Fund { buyer: usize, cents: i64 },
    MatchBounties { lead: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 1i64..20_000).prop_map(|(buyer, cents)| Op::Deposit { buyer, cents }),
        5 => (0..3usize, 0..4usize, 900i64..6_000).prop_map(|(buyer, lead, cents)| Op::Bid { buyer, lead, cents }),
        1 => (0..3usize, 0..4usize).prop_map(|(buyer, lead)| Op::Withdraw { buyer, lead }),
        1 => (0..4usize).prop_map(|lead| Op::Close { lead }),
        2 => (0..3usize, 0..4usize).prop_map(|(buyer, lead)| Op::BuyNow { buyer, lead }),
        1 => (0..3usize, 100i64..5_000).prop_map(|(buyer, cents)| Op::Fund { buyer, cents }),
        2 => (0..4usize).prop_map(|lead| Op::MatchBounties { lead }),
    ]
}

struct World {
    app: TestApp,
    buyers: Vec<Principal>,
    leads: Vec<LeadId>,
    deposited: i64,
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = spawn_app_on(TestEngine::Sqlite, clock).await.expect("sqlite");
    let svc = &app.app.svc;
    let (_, _, sk) = svc.create_account(Role::Seller, "s").await.expect("seller");
    let seller = svc.authenticate(&sk.secret).await.expect("auth");
    svc.create_ask(
        seller.account.id,
        AskInput {
            vertical: "auto".into(),
            geo: Default::default(),
            reserve_price: Money::from_micros(10_000_000),
            buy_now_price: None,
            auction_duration_secs: Some(60),
            daily_cap: None,
            status: None,
            expires_at: None,
        },
    )
    .await
    .expect("ask");
    let mut buyers = Vec::new();
    for i in 0..3 {
        let (_, _, k) = svc.create_account(Role::Buyer, &format!("b{i}")).await.expect("buyer");
        buyers.push(svc.authenticate(&k.secret).await.expect("auth"));
    }
    let mut leads = Vec::new();
    for v in ["auto.sales", "auto.warranty", "auto.repair", "auto.insurance"] {
        let r = svc.submit_lead(&seller, app.lead(v), None, "prop").await.expect("lead");
        leads.push(r.body["id"].as_str().expect("id").parse().expect("uuid"));
    }
    app.app.worker().run_once().await.expect("scored");
    World { app, buyers, leads, deposited: 0 }
}

async fn check(w: &World) -> Result<(), TestCaseError> {
    let svc = &w.app.app.svc;
    let (sum, held) = svc.ledger_totals().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(sum, 0, "the ledger sums to zero");
    prop_assert_eq!(held, w.deposited, "money is only created by deposits");
    let store = &w.app.app.store;
    let unbalanced = store
        .scalar_i64("SELECT COUNT(*) FROM (SELECT tx_id FROM ledger_entries GROUP BY tx_id HAVING SUM(amount) <> 0) t")
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(unbalanced, 0, "every movement balances");
    let negative = store
        .scalar_i64("SELECT COUNT(*) FROM ledger_accounts WHERE kind <> 'escrow' AND balance < 0")
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(negative, 0, "no ordinary balance is negative");
    for b in &w.buyers {
        let v = svc.vault(b.account.id).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let live = svc.live_locked(b.account.id).await.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(v.locked, live, "locked equals the sum of live bids");
    }
    Ok(())
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = world().await;
    for op in ops {
        let svc = w.app.app.svc.clone();
        // Refusals (insufficient funds, closed auctions, …) are part of the
        // game; only the invariants matter.
        match op {
            Op::Deposit { buyer, cents } => {
                let id = w.buyers[buyer].account.id;
                if svc.credit_vault(id, Money::from_micros(cents * 10_000), "prop").await.is_ok() {
                    w.deposited += cents * 10_000;
                }
            }
            Op::Bid { buyer, lead, cents } => {
                let _ =
                    svc.place_bid(&w.buyers[buyer], w.leads[lead], Money::from_micros(cents * 10_000), "prop").await;
            }
            Op::Withdraw { buyer, lead } => {
                let _ = svc.withdraw_bid(&w.buyers[buyer], w.leads[lead]).await;
            }
            Op::Close { lead } => {
                let _ = svc.close_auction(w.leads[lead]).await;
            }
            Op::BuyNow { buyer, lead } => {
                let _ = svc.buy_now(&w.buyers[buyer], w.leads[lead]).await;
            }
            Op::Fund { buyer, cents } => {
                let input = BountyInput {
                    vertical: "auto".into(),
                    total: Money::from_micros(cents * 10_000),
                    reward_per_lead: Money::from_micros(cents * 5_000),
                    criteria: Default::default(),
                    expires_at: None,
                };
                let _ = svc.create_bounty(&w.buyers[buyer], input).await;
            }
            Op::MatchBounties { lead } => {
                let _ = svc.match_bounties(w.leads[lead]).await;
            }
        }
        check(&w).await?;
    }
    if std::env::var("LEADEX_PROP_STATS").is_ok() {
        let n = w.app.app.store.scalar_i64("SELECT COUNT(*) FROM ledger_entries").await.unwrap_or(0);
        let sold = w.app.app.store.scalar_i64("SELECT COUNT(*) FROM leads WHERE status = 'sold'").await.unwrap_or(0);
        eprintln!("entries={n} sold={sold}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 50, ..ProptestConfig::default() })]
    #[test]
    fn money_invariants_hold_over_random_market_activity(ops in proptest::collection::vec(op(), 10..80)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(run(ops))?;
    }
}
