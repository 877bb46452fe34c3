//! The chain (issue 7) against the embedded revm chain and a real anvil
//! (npm `@foundry-rs/anvil-linux-amd64`): sold leads mint in `mintBatch`
//! transactions of ≤ 50 across the 5 hot wallets to each buyer's linked
//! wallet, exactly once; nonces are gap-free; faults (a nonce taken behind
//! the manager's back, a stuck low-fee transaction) heal.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use leadex_chain::alloy::signers::SignerSync;
use leadex_chain::service::ChainService;
use leadex_chain::wallet::{DEV_MNEMONIC, HotWallet, TxRequest, mnemonic_signer};
use leadex_chain::{Address, Chain, RpcChain, U256};
use leadex_core::clock::ManualClock;
use leadex_core::nft::{MintStatus, TxStatus};
use leadex_domain::LeadId;
use leadex_domain::account::Role;
use leadex_testkit::{TestApp, TestEngine, spawn_app_with};
use serde_json::json;

/// A running anvil, killed on drop.
struct Anvil {
    url: String,
    _child: tokio::process::Child,
}

fn anvil_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("LEADEX_ANVIL") {
        return Some(PathBuf::from(p));
    }
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    p.exists().then_some(p)
}

/// Starts anvil on a free port (`None`, with a note, when it is not
/// installed outside CI; CI installs it, so there it must exist).
async fn anvil(extra: &[&str]) -> Option<Anvil> {
    let Some(bin) = anvil_bin() else {
        assert!(std::env::var("CI").is_err(), "anvil is not installed (npm ci in contracts/)");
        eprintln!("skipped: anvil not installed (npm ci in contracts/)");
        return None;
    };
    let port = super::free_port();
    let child = tokio::process::Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
        .args(extra)
        .kill_on_drop(true)
        .spawn()
        .expect("anvil starts");
    let url = format!("http://127.0.0.1:{port}");
    let rpc = RpcChain::new(&url, Duration::from_secs(2)).expect("client");
    let deadline = Instant::now() + Duration::from_secs(20);
    while rpc.chain_id().await.is_err() {
        assert!(Instant::now() < deadline, "anvil did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Anvil { url, _child: child })
}

/// Which chain a scenario runs on.
#[derive(Clone, Copy, Debug)]
enum On {
    Embedded,
    /// The embedded chain with PostgreSQL as the database.
    EmbeddedPg,
    Anvil,
}

async fn app_on(on: On, stuck_secs: u64) -> Option<(TestApp, Arc<ManualClock>, Option<Anvil>)> {
    app_with(on, stuck_secs, 1).await
}

async fn app_with(on: On, stuck_secs: u64, confirmations: u64) -> Option<(TestApp, Arc<ManualClock>, Option<Anvil>)> {
    let node = match on {
        On::Embedded | On::EmbeddedPg => None,
        On::Anvil => Some(anvil(&[]).await?),
    };
    let url = node.as_ref().map(|a| a.url.clone());
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let engine = if matches!(on, On::EmbeddedPg) { TestEngine::Postgres } else { TestEngine::Sqlite };
    let app = spawn_app_with(engine, clock.clone(), |s| {
        if let Some(u) = url {
            s.chain.mode = "rpc".into();
            s.chain.rpc_url = u;
        }
        s.chain.flush_ms = 300;
        s.chain.poll_ms = 50;
        s.chain.stuck_secs = stuck_secs;
        s.chain.confirmations = confirmations;
    })
    .await?;
    Some((app, clock, node))
}

/// Links the wallet of mnemonic index `index` to the buyer through the
/// EIP-4361 endpoints; its address.
async fn link_wallet(app: &TestApp, key: &str, index: u32) -> Address {
    let signer = mnemonic_signer(DEV_MNEMONIC, index).expect("signer");
    let c = app.post("/v1/me/wallet/challenge", Some(key), &json!({"address": signer.address().to_string()})).await;
    assert_eq!(c.status, 200, "{}", c.body);
    let message = c.body["message"].as_str().expect("message").to_owned();
    let sig = signer.sign_message_sync(message.as_bytes()).expect("signed");
    let sig = format!("0x{}", hex::encode(sig.as_bytes()));
    let r = app.post("/v1/me/wallet", Some(key), &json!({"message": message, "signature": sig})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Single use: the same proof again is refused.
    let again = app.post("/v1/me/wallet", Some(key), &json!({"message": message, "signature": sig})).await;
    assert_eq!((again.status, again.code()), (422, "wallet_challenge_unknown"), "{}", again.body);
    signer.address()
}

/// `n` sold leads (5 buyers with catch-all rules and linked wallets); the
/// buyers' wallets by account id.
async fn sell(app: &TestApp, clock: &ManualClock, n: usize) -> HashMap<String, Address> {
    sell_by(app, clock, n, true).await.0
}

/// [`sell`], optionally without linking the buyers' wallets; also the
/// seller's key and the buyers' (id, key).
async fn sell_by(
    app: &TestApp,
    clock: &ManualClock,
    n: usize,
    link: bool,
) -> (HashMap<String, Address>, String, Vec<(String, String)>) {
    let svc = app.app.svc.clone();
    let (_, _, sk) = svc.create_account(Role::Seller, "chain seller").await.expect("seller");
    let seller = svc.authenticate(&sk.secret).await.expect("auth");
    svc.set_daily_cap(seller.account.id, Some(100_000)).await.expect("cap");
    let seller = svc.authenticate(&sk.secret).await.expect("auth");
    let mut wallets = HashMap::new();
    let mut buyers = Vec::new();
    for i in 0..5u32 {
        let (id, key) = app.account(Role::Buyer, &format!("chain buyer {i}")).await;
        let r = app
            .post(&format!("/v1/admin/vaults/{id}/credit"), Some(&app.admin_key), &json!({"amount": "1000000.00"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let amount = format!("{}.00", 100 + i);
        let rule = json!({"vertical": "*", "bid_amount": amount, "max_bid": "400.00", "daily_budget": "900000.00", "priority": 1});
        assert_eq!(app.post("/v1/me/rules", Some(&key), &rule).await.status, 201);
        if link {
            wallets.insert(id.clone(), link_wallet(app, &key, 10 + i).await);
        }
        buyers.push((id, key));
    }
    for _ in 0..n {
        svc.submit_lead(&seller, app.lead("solar.residential"), None, "chain").await.expect("accepted");
    }
    app.app.worker().run_once().await.expect("scored and auto-bid");
    clock.advance(chrono::Duration::seconds(61));
    app.app.worker().run_once().await.expect("closed, mint jobs ran");
    let sold = app.app.store.scalar_i64("SELECT COUNT(*) FROM leads WHERE status = 'sold'").await.expect("n");
    assert_eq!(sold as usize, n, "every lead sold");
    let queued = app.app.store.scalar_i64("SELECT COUNT(*) FROM nft_mints").await.expect("n");
    if queued as usize != n {
        let j = app.get("/v1/admin/jobs?kind=mint_nft&limit=3", Some(&app.admin_key)).await;
        eprintln!("mint jobs: {}", j.body);
    }
    assert_eq!(queued as usize, n, "every sale queued its token");
    (wallets, sk.secret, buyers)
}

/// Runs tracker and batcher rounds until every token is minted (or 180 s);
/// `between` runs after each round (fault injection, mining).
async fn mint_all<F, Fut>(app: &TestApp, chain: &ChainService, mut between: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut first = None;
    for round in 0.. {
        let _ = chain.track().await;
        let _ = chain.batch_round(&mut first).await;
        between(round).await;
        let counts = app.app.svc.nft().mint_counts().await.expect("counts");
        let open: u64 = counts.iter().filter(|(s, _)| *s != MintStatus::Minted).map(|(_, n)| n).sum();
        if open == 0 && app.app.svc.nft().pending_txs().await.expect("pending").is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "minting did not finish: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every lead has exactly one token, owned by its buyer's wallet; batches
/// ≤ 50; confirmed nonces gap-free per wallet; nothing pending.
async fn check_minted(
    app: &TestApp,
    chain: &ChainService,
    wallets: &HashMap<String, Address>,
    n: usize,
    min_wallets: usize,
) {
    let nft = app.app.svc.nft();
    let txs = nft.chain_txs("mint_batch").await.expect("txs");
    let confirmed: Vec<_> = txs.iter().filter(|t| t.status == TxStatus::Confirmed).collect();
    assert!(txs.iter().all(|t| t.status != TxStatus::Pending), "nothing pending");
    let mut per_wallet: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for t in &confirmed {
        per_wallet.entry(t.wallet.as_str()).or_default().push(t.nonce);
    }
    assert!(per_wallet.len() >= min_wallets, "batches spread over {} wallets", per_wallet.len());
    for (w, nonces) in &mut per_wallet {
        nonces.sort_unstable();
        let addr: Address = w.parse().expect("address");
        let mined = chain.chain().mined_nonce(addr).await.expect("nonce");
        assert_eq!(*nonces, (0..mined).collect::<Vec<_>>(), "wallet {w}: confirmed nonces are exactly 0..{mined}");
    }
    let biggest = app
        .app
        .store
        .scalar_i64("SELECT COALESCE(MAX(c), 0) FROM (SELECT COUNT(*) AS c FROM nft_mints GROUP BY chain_tx_id) x")
        .await
        .expect("max");
    assert!(biggest <= 50, "a batch carried {biggest} mints");
    // Exactly one Transfer (mint) per lead on chain.
    let head = chain.chain().block_number().await.expect("head");
    let transfers = chain
        .chain()
        .logs(chain.deployment().nft, leadex_chain::contracts::transfer_topic(), 0, head)
        .await
        .expect("logs");
    assert_eq!(transfers.len(), n, "one mint per lead");
    let tokens: HashSet<_> = transfers.iter().map(|l| l.topics[3]).collect();
    assert_eq!(tokens.len(), n, "no token minted twice");
    assert_eq!(nft.mint_counts().await.expect("counts"), vec![(MintStatus::Minted, n as u64)]);
    // Each owned by its buyer's linked wallet.
    check_minted_loose(app, chain, wallets, n).await;
}

async fn sales_mint_in_batches_across_the_wallet_pool(on: On) {
    let Some((app, clock, _node)) = app_on(on, 30).await else { return };
    let wallets = sell(&app, &clock, 500).await;
    let chain = app.app.chain_service().await.expect("chain service").expect("chain on");
    mint_all(&app, &chain, |_| async {}).await;
    check_minted(&app, &chain, &wallets, 500, 5).await;
    // The metadata endpoint serves every token (decimal id as tokenURI
    // prints it); no PII, no price.
    let any = app.app.store.lead_ids_with_status("sold").await.expect("ids")[0];
    let t = app.get(&format!("/v1/leads/{any}/nft"), None).await;
    assert_eq!((t.status, t.body["status"].as_str()), (200, Some("minted")), "{}", t.body);
    let hex_id = t.body["token_id"].as_str().expect("token").to_owned();
    let dec = U256::from_str_radix(hex_id.trim_start_matches("0x"), 16).expect("id").to_string();
    let meta = app.get(&format!("/v1/nft/{dec}"), None).await;
    assert_eq!(meta.status, 200, "{}", meta.body);
    assert_eq!(meta.body["token_id"], hex_id);
    let text = meta.body.to_string();
    assert!(!text.contains("price") && !text.contains("email") && !text.contains("phone"), "{text}");
    assert_eq!(app.get("/v1/nft/12x", None).await.code(), "invalid_token_id");
    assert_eq!(app.get("/v1/nft/0x01", None).await.status, 404);
}

/// Another sender takes each hot wallet's next nonce behind the nonce
/// manager's back: the rejected batches are dropped, the managers resync,
/// and every mint still lands exactly once.
async fn a_nonce_taken_elsewhere_resyncs_and_mints_once(on: On) {
    let Some((app, clock, _node)) = app_on(on, 30).await else { return };
    // 400: the first round sends 5 batches (one per wallet, caching each
    // nonce), the second 3 more on nonces taken in between.
    let wallets = sell(&app, &clock, 400).await;
    let chain = app.app.chain_service().await.expect("chain service").expect("chain on");
    let c = chain.chain().clone();
    let chain_id = chain.chain_id();
    let hot: Vec<_> = chain.wallets().wallets().to_vec();
    let mut done = false;
    mint_all(&app, &chain, |_round| {
        let (c, hot) = (c.clone(), hot.clone());
        let fire = !done;
        done = true;
        async move {
            if !fire {
                return;
            }
            // After the first round every wallet's nonce is cached.
            for w in &hot {
                let nonce = c.pending_nonce(w.address()).await.expect("nonce");
                let req = TxRequest {
                    to: Some(w.address()),
                    input: Default::default(),
                    gas_limit: 21_000,
                    value: U256::ZERO,
                };
                let fees = leadex_chain::fees::Fees {
                    max_fee_per_gas: 10_000_000_000,
                    max_priority_fee_per_gas: 1_000_000_000,
                };
                let tx = w.sign(chain_id, nonce, &req, fees).expect("signed");
                c.send_raw(&tx.raw).await.expect("out-of-band send");
            }
        }
    })
    .await;
    let txs = app.app.svc.nft().chain_txs("mint_batch").await.expect("txs");
    let dropped: Vec<_> = txs.iter().filter(|t| t.status == TxStatus::Dropped).collect();
    assert!(!dropped.is_empty(), "some batch met a taken nonce");
    assert!(dropped.iter().all(|t| t.error.as_deref().unwrap_or("").contains("nonce")), "{dropped:?}");
    // The out-of-band transactions hold a nonce each: check ownership and
    // uniqueness (nonce contiguity is checked on batches only here).
    check_minted_loose(&app, &chain, &wallets, 400).await;
}

async fn check_minted_loose(app: &TestApp, chain: &ChainService, wallets: &HashMap<String, Address>, n: usize) {
    let head = chain.chain().block_number().await.expect("head");
    let transfers = chain
        .chain()
        .logs(chain.deployment().nft, leadex_chain::contracts::transfer_topic(), 0, head)
        .await
        .expect("logs");
    assert_eq!(transfers.len(), n, "one mint per lead");
    for id in app.app.store.lead_ids_with_status("sold").await.expect("ids") {
        let m = app.app.svc.nft().mint_by_lead(LeadId::from_uuid(id)).await.expect("read").expect("row");
        assert_eq!(m.status, MintStatus::Minted);
        let token = U256::from_str_radix(m.token_id.trim_start_matches("0x"), 16).expect("token id");
        assert_eq!(chain.owner_of(token).await.expect("ownerOf"), Some(wallets[&m.buyer_id.to_string()]));
    }
}

/// A deposit through `Escrow.deposit` is credited after 3 confirmations,
/// once — also when the indexer re-reads the blocks (a crash before its
/// cursor moved) and after a restart of the chain service.
async fn a_deposit_is_credited_once_after_its_confirmations(on: On) {
    let Some((app, _clock, _node)) = app_with(on, 30, 3).await else { return };
    let (id, key) = app.account(Role::Buyer, "depositor").await;
    let chain = app.app.chain_service().await.expect("chain service").expect("chain on");
    let payer = HotWallet::new(mnemonic_signer(DEV_MNEMONIC, 0).expect("signer"));
    let account: leadex_domain::AccountId = id.parse().expect("account id");
    chain.mint_and_deposit(&payer, account, 250_000_000).await.expect("deposited on chain");
    let balance =
        || async { app.get("/v1/me/vault", Some(&key)).await.body["available"].as_str().unwrap_or("").to_owned() };
    // Mined: 1 confirmation, not credited yet.
    assert_eq!(chain.index_deposits().await.expect("indexed"), 0);
    assert_eq!(balance().await, "0.00");
    chain.nudge(&payer).await.expect("block");
    assert_eq!(chain.index_deposits().await.expect("indexed"), 0, "2 confirmations: still waiting");
    chain.nudge(&payer).await.expect("block");
    assert_eq!(chain.index_deposits().await.expect("indexed"), 1, "3 confirmations: credited");
    assert_eq!(balance().await, "250.00");
    // The cursor goes back (a crash before it was saved): no second credit.
    let nft = app.app.svc.nft();
    nft.set_chain_meta(&format!("deposits_cursor:{}", chain.chain_id()), "0").await.expect("cursor reset");
    assert_eq!(chain.index_deposits().await.expect("re-indexed"), 0);
    // A restarted service finds the deployment and its cursor.
    drop(chain);
    let again = app.app.chain_service().await.expect("restart").expect("chain on");
    again.nudge(&payer).await.expect("block");
    assert_eq!(again.index_deposits().await.expect("indexed"), 0);
    assert_eq!(balance().await, "250.00");
    let credited = app.app.store.scalar_i64("SELECT COUNT(*) FROM chain_deposits WHERE status = 'credited'").await;
    assert_eq!(credited.expect("count"), 1);
}

/// Automine off and the base fee jumps above a sent batch's fee cap: the
/// tracker replaces it (same nonce, bumped fees) and the replacement is
/// mined; every mint lands once.
async fn a_stuck_low_fee_batch_is_replaced_and_mined() {
    let Some((app, clock, Some(node))) = app_on(On::Anvil, 2).await else { return };
    let wallets = sell(&app, &clock, 50).await;
    let chain = app.app.chain_service().await.expect("chain service").expect("chain on");
    let rpc = RpcChain::new(&node.url, Duration::from_secs(2)).expect("rpc");
    rpc.raw("evm_setAutomine", json!([false])).await.expect("automine off");
    let nft = app.app.svc.nft().clone();
    mint_all(&app, &chain, move |round| {
        let (rpc, nft) = (rpc.clone(), nft.clone());
        async move {
            if round == 0 {
                // The batch is in the pool; the next block's base fee is
                // 100 gwei, far above its cap: the block leaves it out.
                rpc.raw("anvil_setNextBlockBaseFeePerGas", json!(["0x174876e800"])).await.expect("base fee");
                rpc.raw("evm_mine", json!([])).await.expect("mined");
                return;
            }
            // No more blocks until the tracker replaced it (stuck after 2 s).
            let replaced = nft.pending_txs().await.expect("pending").iter().any(|t| t.attempts >= 2);
            if replaced {
                rpc.raw("evm_mine", json!([])).await.expect("mined");
            }
        }
    })
    .await;
    let txs = app.app.svc.nft().chain_txs("mint_batch").await.expect("txs");
    assert_eq!(txs.len(), 1, "one batch");
    let t = &txs[0];
    assert_eq!(t.status, TxStatus::Confirmed);
    assert!(t.attempts >= 2 && t.hashes.len() >= 2, "replaced: {:?}", t.hashes);
    assert_eq!(&t.hash, t.hashes.last().expect("hash"), "the replacement was mined");
    assert!(t.max_fee_per_gas > 100_000_000_000, "fee bumped above the base fee: {}", t.max_fee_per_gas);
    check_minted(&app, &chain, &wallets, 50, 1).await;
}

/// Above the gas ceiling nothing is sent (the work waits, the gauges the
/// alert compares cross); once the base fee falls back, the batch goes.
async fn sending_pauses_above_the_gas_ceiling() {
    let Some(node) = anvil(&[]).await else { return };
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let url = node.url.clone();
    let Some(app) = spawn_app_with(TestEngine::Sqlite, clock.clone(), |s| {
        s.chain.mode = "rpc".into();
        s.chain.rpc_url = url;
        s.chain.flush_ms = 0;
        s.chain.gas_ceiling_gwei = 50;
    })
    .await
    else {
        return;
    };
    let wallets = sell(&app, &clock, 20).await;
    let chain = app.app.chain_service().await.expect("chain service").expect("chain on");
    let rpc = RpcChain::new(&node.url, Duration::from_secs(2)).expect("rpc");
    rpc.raw("anvil_setNextBlockBaseFeePerGas", json!(["0x174876e800"])).await.expect("100 gwei");
    rpc.raw("evm_mine", json!([])).await.expect("mined");
    let mut first = None;
    chain.batch_round(&mut first).await.expect("round");
    assert!(app.app.svc.nft().chain_txs("mint_batch").await.expect("txs").is_empty(), "paused above the ceiling");
    let text = app.http.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("body");
    let gauge = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    let (price, ceiling) = (gauge("leadex_chain_gas_price_wei"), gauge("leadex_chain_gas_price_ceiling_wei"));
    assert!(price > ceiling && ceiling == Some(50e9), "the alert's condition holds: {price:?} > {ceiling:?}");
    rpc.raw("anvil_setNextBlockBaseFeePerGas", json!(["0x3b9aca00"])).await.expect("1 gwei");
    rpc.raw("evm_mine", json!([])).await.expect("mined");
    mint_all(&app, &chain, |_| async {}).await;
    check_minted(&app, &chain, &wallets, 20, 1).await;
}

/// A loopback proxy to anvil that can be cut (every connection dropped,
/// new ones closed at once) and restored.
struct Cut {
    url: String,
    down: tokio::sync::watch::Sender<bool>,
}

async fn cuttable(target: &str) -> Cut {
    let target = target.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (down, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut rx = rx.clone();
            if *rx.borrow() {
                continue; // dropped: the client sees the connection close
            }
            let target = target.clone();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = rx.wait_for(|d| *d) => {}
                }
            });
        }
    });
    Cut { url, down }
}

/// anvil is unreachable for 30 s in the middle of minting: sends and
/// receipts fail, the service keeps its work, and after anvil returns every
/// mint lands exactly once.
async fn minting_survives_30_seconds_without_the_node() {
    let Some(node) = anvil(&[]).await else { return };
    let cut = cuttable(&node.url).await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let url = cut.url.clone();
    let Some(app) = spawn_app_with(TestEngine::Sqlite, clock.clone(), |s| {
        s.chain.mode = "rpc".into();
        s.chain.rpc_url = url;
        s.chain.flush_ms = 300;
        s.chain.poll_ms = 50;
        s.chain.rpc_timeout_ms = 1_000;
    })
    .await
    else {
        return;
    };
    let wallets = sell(&app, &clock, 400).await;
    let chain = app.app.chain_service().await.expect("chain service").expect("chain on");
    let down = cut.down.clone();
    let mut cut_at: Option<Instant> = None;
    mint_all(&app, &chain, move |round| {
        if round == 0 {
            let _ = down.send(true);
            cut_at = Some(Instant::now());
        }
        if cut_at.is_some_and(|t| t.elapsed() >= Duration::from_secs(30)) && *down.borrow() {
            let _ = down.send(false);
        }
        async {}
    })
    .await;
    let txs = app.app.svc.nft().chain_txs("mint_batch").await.expect("txs");
    assert!(txs.iter().all(|t| t.status != TxStatus::Pending));
    check_minted_loose(&app, &chain, &wallets, 400).await;
    drop(node);
}

async fn usdc_of(chain: &ChainService, who: Address) -> U256 {
    use leadex_chain::alloy::sol_types::SolCall;
    let call = leadex_chain::contracts::TestUSDC::balanceOfCall { owner: who }.abi_encode();
    let out = chain.chain().call(chain.deployment().usdc, call.into()).await.expect("balanceOf");
    leadex_chain::contracts::TestUSDC::balanceOfCall::abi_decode_returns(&out).expect("decoded")
}

/// Rounds of tracker and payout settlement until nothing is in flight.
async fn settle(app: &TestApp, chain: &ChainService) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        chain.track().await.expect("tracked");
        chain.payout_round().await.expect("payout round");
        let busy = app
            .app
            .store
            .scalar_i64("SELECT COUNT(*) FROM chain_payouts WHERE status IN ('queued', 'sending')")
            .await
            .expect("count");
        if busy == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "payouts did not settle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A buyer withdraws to its linked wallet (`withdrawTo`), a seller is paid
/// out (`payoutBatch`); the ledger and the chain agree, and proof of
/// reserves reports full backing until operator credits (no chain money)
/// make it short.
async fn withdrawals_payouts_and_reserves(on: On) {
    let Some((app, clock, _node)) = app_on(on, 30).await else { return };
    let (id, key) = app.account(Role::Buyer, "withdrawer").await;
    let chain = app.app.chain_service().await.expect("chain service").expect("chain on");
    let owner = HotWallet::new(mnemonic_signer(DEV_MNEMONIC, 0).expect("signer"));
    chain.mint_and_deposit(&owner, id.parse().expect("id"), 1_000_000_000).await.expect("deposit");
    chain.index_deposits().await.expect("indexed");
    let wallet = link_wallet(&app, &key, 20).await;
    let short = app.post("/v1/me/vault/withdrawals", Some(&key), &json!({"amount": "1000.01"})).await;
    assert_eq!((short.status, short.code()), (422, "insufficient_funds"), "{}", short.body);
    let w = app.post("/v1/me/vault/withdrawals", Some(&key), &json!({"amount": "100.00"})).await;
    assert_eq!(w.status, 202, "{}", w.body);
    assert_eq!(w.body["to"], wallet.to_string());
    let v = app.get("/v1/me/vault", Some(&key)).await;
    assert_eq!(v.body["available"], "900.00");
    settle(&app, &chain).await;
    assert_eq!(usdc_of(&chain, wallet).await, U256::from(100_000_000u64), "withdrawn on chain");
    let list = app.get("/v1/me/vault/withdrawals", Some(&key)).await;
    assert_eq!(list.body["items"][0]["status"], "paid", "{}", list.body);
    chain.check_reserves().await.expect("reserves");
    let r = app.get("/v1/reserves", None).await;
    assert_eq!(
        (r.body["onchain"].as_str(), r.body["obligations"].as_str()),
        (Some("900.00"), Some("900.00")),
        "{}",
        r.body
    );
    assert_eq!(r.body["fully_backed"], true);

    // A seller with sales and a linked wallet is paid its payable balance.
    let (_, seller_key, _) = sell_by(&app, &clock, 3, true).await;
    let seller_wallet = link_wallet(&app, &seller_key, 21).await;
    let seller_id: leadex_domain::AccountId =
        app.get("/v1/me", Some(&seller_key)).await.body["id"].as_str().expect("id").parse().expect("uuid");
    let payable = app.app.svc.market().vault(seller_id).await.expect("vault").payable;
    assert!(payable.micros() > 0, "the seller earned");
    assert_eq!(app.app.svc.nft().queue_seller_payouts(1, Utc::now()).await.expect("queued"), 1);
    settle(&app, &chain).await;
    assert_eq!(usdc_of(&chain, seller_wallet).await, U256::from(payable.micros() as u64), "paid out on chain");
    assert_eq!(app.app.svc.market().vault(seller_id).await.expect("vault").payable.micros(), 0);
    let txs = app.app.svc.nft().chain_txs("payout_batch").await.expect("txs");
    assert_eq!((txs.len(), txs[0].status), (1, TxStatus::Confirmed));
    // Operator credits to the sale's buyers put money in the ledger that
    // never crossed the chain: the check reports the shortfall.
    let r = chain.check_reserves().await.expect("reserves");
    assert_eq!(r["fully_backed"], false, "{r}");
}

/// Tokens of a buyer without a wallet go to the custody address; once it
/// links one, a claim moves exactly its tokens there.
async fn custody_tokens_are_claimed_to_a_linked_wallet(on: On) {
    let Some((app, clock, _node)) = app_on(on, 30).await else { return };
    let (_, _, buyers) = sell_by(&app, &clock, 30, false).await;
    let chain = app.app.chain_service().await.expect("chain service").expect("chain on");
    mint_all(&app, &chain, |_| async {}).await;
    let custody = mnemonic_signer(DEV_MNEMONIC, 0).expect("signer").address();
    let nft = app.app.svc.nft().clone();
    // The highest catch-all bid (buyer 4) wins every auction.
    let (buyer_id, key) = buyers[4].clone();
    let before = app.post("/v1/me/nft/claim", Some(&key), &json!({})).await;
    assert_eq!((before.status, before.code()), (422, "wallet_required"), "{}", before.body);
    let wallet = link_wallet(&app, &key, 30).await;
    let r = app.post("/v1/me/nft/claim", Some(&key), &json!({})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let queued = r.body["queued"].as_u64().expect("queued");
    assert!(queued > 0, "the buyer won some of the 30");
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.app.store.scalar_i64("SELECT COUNT(*) FROM nft_mints WHERE claim_to IS NOT NULL").await.expect("n") > 0 {
        assert!(Instant::now() < deadline, "claims did not finish");
        chain.track().await.expect("tracked");
        chain.claims_round().await.expect("claims");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut moved = 0;
    for id in app.app.store.lead_ids_with_status("sold").await.expect("ids") {
        let m = nft.mint_by_lead(LeadId::from_uuid(id)).await.expect("read").expect("row");
        let token = U256::from_str_radix(m.token_id.trim_start_matches("0x"), 16).expect("token id");
        let owner = chain.owner_of(token).await.expect("ownerOf").expect("exists");
        let want = if m.buyer_id.to_string() == buyer_id { wallet } else { custody };
        assert_eq!(owner, want, "lead {id}");
        assert_eq!(m.recipient.as_deref(), Some(want.to_string().as_str()));
        moved += usize::from(want == wallet);
    }
    assert_eq!(moved as u64, queued);
    let again = app.post("/v1/me/nft/claim", Some(&key), &json!({})).await;
    assert_eq!(again.body["queued"], 0, "nothing left in custody");
}

/// Asserts a trace timeline has every stage of an auctioned, minted lead.
pub(super) fn assert_full_trace(stages: &[&str]) {
    for want in [
        "lead.ingested",
        "job.score_lead",
        "auction.opened",
        "bid",
        "job.close_auction",
        "lead.sold",
        "ledger",
        "job.mint_nft",
        "nft.queued",
        "chain.tx_sent",
        "chain.tx_confirmed",
        "nft.minted",
    ] {
        assert!(stages.contains(&want), "{want} missing from {stages:?}");
    }
}

/// One `x-request-id` from the HTTP submission to the mint: the lead, its
/// jobs, the mint's `chain_txs` row all carry it, and the trace endpoint
/// returns the whole timeline from stored data.
async fn one_correlation_id_from_http_to_the_mint_transaction(on: On) {
    let Some((app, clock, _node)) = app_on(on, 30).await else { return };
    let seller = app.seller().await;
    let (_, key) = app.account(Role::Buyer, "tracer").await;
    let id = app.get("/v1/me", Some(&key)).await.body["id"].as_str().expect("id").to_owned();
    let r =
        app.post(&format!("/v1/admin/vaults/{id}/credit"), Some(&app.admin_key), &json!({"amount": "1000.00"})).await;
    assert_eq!(r.status, 200);
    let rule =
        json!({"vertical": "*", "bid_amount": "120.00", "max_bid": "400.00", "daily_budget": "9000.00", "priority": 1});
    assert_eq!(app.post("/v1/me/rules", Some(&key), &rule).await.status, 201);
    let wallet = link_wallet(&app, &key, 40).await;
    let rid = format!("trace-{}", uuid::Uuid::now_v7().simple());
    let r = app
        .send(
            app.http
                .post(app.url("/v1/leads"))
                .bearer_auth(&seller)
                .header("x-request-id", &rid)
                .json(&app.lead("solar.residential")),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.header("x-request-id"), Some(rid.as_str()));
    let lead = r.body["id"].as_str().expect("lead id").to_owned();
    app.app.worker().run_once().await.expect("scored, auto-bid");
    clock.advance(chrono::Duration::seconds(61));
    app.app.worker().run_once().await.expect("closed, mint queued");
    let chain = app.app.chain_service().await.expect("chain").expect("on");
    mint_all(&app, &chain, |_| async {}).await;

    let jobs = app.get(&format!("/v1/leads/{lead}/jobs"), Some(&app.admin_key)).await;
    let items = jobs.body.as_array().cloned().unwrap_or_default();
    assert!(items.len() >= 3, "{}", jobs.body);
    assert!(items.iter().all(|j| j["correlation_id"] == rid.as_str()), "every job carries the id: {}", jobs.body);
    let txs = app.app.svc.nft().chain_txs("mint_batch").await.expect("txs");
    assert!(txs[0].correlation_ids.contains(&rid), "the mint transaction records it: {:?}", txs[0].correlation_ids);

    let t = app.get(&format!("/v1/admin/trace/{rid}"), Some(&app.admin_key)).await;
    assert_eq!(t.status, 200, "{}", t.body);
    let stages: Vec<&str> =
        t.body["timeline"].as_array().expect("timeline").iter().filter_map(|s| s["stage"].as_str()).collect();
    assert_full_trace(&stages);
    let minted = t.body["timeline"].as_array().expect("timeline").iter().find(|s| s["stage"] == "nft.minted").cloned();
    assert_eq!(minted.expect("minted")["detail"]["owner"], wallet.to_string());
    assert_eq!(app.get("/v1/admin/trace/nope", Some(&app.admin_key)).await.code(), "trace_not_found");
    assert_eq!(app.get(&format!("/v1/admin/trace/{rid}"), Some(&key)).await.status, 403);
}

mod embedded {
    use super::On;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_correlation_id_from_http_to_the_mint_transaction() {
        super::one_correlation_id_from_http_to_the_mint_transaction(On::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn custody_tokens_are_claimed_to_a_linked_wallet() {
        super::custody_tokens_are_claimed_to_a_linked_wallet(On::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn withdrawals_payouts_and_reserves() {
        super::withdrawals_payouts_and_reserves(On::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_deposit_is_credited_once_after_its_confirmations() {
        super::a_deposit_is_credited_once_after_its_confirmations(On::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sales_mint_in_batches_across_the_wallet_pool() {
        super::sales_mint_in_batches_across_the_wallet_pool(On::Embedded).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_nonce_taken_elsewhere_resyncs_and_mints_once() {
        super::a_nonce_taken_elsewhere_resyncs_and_mints_once(On::Embedded).await
    }
}

mod postgres {
    use super::On;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sales_mint_in_batches_across_the_wallet_pool() {
        super::sales_mint_in_batches_across_the_wallet_pool(On::EmbeddedPg).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_deposit_is_credited_once_after_its_confirmations() {
        super::a_deposit_is_credited_once_after_its_confirmations(On::EmbeddedPg).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn withdrawals_payouts_and_reserves() {
        super::withdrawals_payouts_and_reserves(On::EmbeddedPg).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn custody_tokens_are_claimed_to_a_linked_wallet() {
        super::custody_tokens_are_claimed_to_a_linked_wallet(On::EmbeddedPg).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_nonce_taken_elsewhere_resyncs_and_mints_once() {
        super::a_nonce_taken_elsewhere_resyncs_and_mints_once(On::EmbeddedPg).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_correlation_id_from_http_to_the_mint_transaction() {
        super::one_correlation_id_from_http_to_the_mint_transaction(On::EmbeddedPg).await
    }
}

mod anvil {
    use super::On;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn custody_tokens_are_claimed_to_a_linked_wallet() {
        super::custody_tokens_are_claimed_to_a_linked_wallet(On::Anvil).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn withdrawals_payouts_and_reserves() {
        super::withdrawals_payouts_and_reserves(On::Anvil).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sending_pauses_above_the_gas_ceiling() {
        super::sending_pauses_above_the_gas_ceiling().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_stuck_low_fee_batch_is_replaced_and_mined() {
        super::a_stuck_low_fee_batch_is_replaced_and_mined().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn minting_survives_30_seconds_without_the_node() {
        super::minting_survives_30_seconds_without_the_node().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_deposit_is_credited_once_after_its_confirmations() {
        super::a_deposit_is_credited_once_after_its_confirmations(On::Anvil).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sales_mint_in_batches_across_the_wallet_pool() {
        super::sales_mint_in_batches_across_the_wallet_pool(On::Anvil).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_nonce_taken_elsewhere_resyncs_and_mints_once() {
        super::a_nonce_taken_elsewhere_resyncs_and_mints_once(On::Anvil).await
    }
}

/// `leadex demo` with no external chain: buyers funded through the escrow
/// on the embedded EVM, and sold leads' tokens minted and served by the
/// metadata endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_mints_tokens_on_the_embedded_chain() {
    use tokio::io::AsyncBufReadExt;
    let dir = std::env::temp_dir().join(format!("leadex-demo-{}", uuid::Uuid::now_v7().simple()));
    let port = super::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadex"))
        .args(["demo", "--every-ms", "200"])
        .env("LEADEX__DATA_DIR", &dir)
        .env("LEADEX__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("LEADEX__LIMITS__DEFAULT_AUCTION_SECS", "10")
        .env("LEADEX__CHAIN__FLUSH_MS", "500")
        .env("LEADEX__LOG__LEVEL", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("demo starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut buyer = String::new();
    while let Ok(Some(l)) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("banner in time")
    {
        if let Some(keys) = l.strip_prefix("buyer keys   : ") {
            buyer = keys.split(", ").next().expect("a key").to_owned();
            break;
        }
    }
    assert!(!buyer.is_empty(), "the banner names the buyer keys");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let get = |path: String, key: Option<String>| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move {
            let mut r = http.get(url);
            if let Some(k) = key {
                r = r.bearer_auth(k);
            }
            let r = r.send().await.expect("request");
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    // The banner comes before the listener: wait until it answers.
    let live = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{base}/health/live")).send().await.is_err() {
        assert!(Instant::now() < live, "the demo never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let vault = get("/v1/me/vault".into(), Some(buyer.clone())).await;
    assert_eq!(vault.0, 200);
    assert_eq!(
        vault.1["available"].as_str().map(|a| a != "0.00"),
        Some(true),
        "funded through the escrow: {}",
        vault.1
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let token = loop {
        assert!(Instant::now() < deadline, "no token minted within 90 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, purchases) = get("/v1/me/purchases".into(), Some(buyer.clone())).await;
        let Some(lead) = purchases["items"][0]["id"].as_str().map(str::to_owned) else { continue };
        let (status, t) = get(format!("/v1/leads/{lead}/nft"), None).await;
        if status == 200 && t["status"] == "minted" {
            break t["token_id"].as_str().expect("token id").to_owned();
        }
    };
    let (status, meta) = get(format!("/v1/nft/{token}"), None).await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["status"], "minted");
    let (status, ready) = get("/health/ready".into(), None).await;
    assert_eq!((status, &ready["checks"]["chain"]), (200, &json!("ok")), "{ready}");
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
