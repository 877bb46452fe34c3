//! The chain service: deploys (or finds) the contracts, batches `mint_nft`
//! work into `mintBatch` transactions across the wallet pool, and tracks
//! every sent transaction to its confirmation — rebroadcasting, replacing
//! stuck ones with bumped fees, and dropping those whose nonce went to
//! another transaction (their mints queue again).
//!
//! Exactly-once minting rests on three facts: a mint leaves `queued` only
//! in the transaction that records the `chain_txs` row carrying it; it
//! returns to `queued` only when that row is dropped or reverted; and a
//! queued mint that was tried before is checked on chain (`exists`) before
//! it goes into a new batch, so a token is never minted twice (the contract
//! would revert the whole batch).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes, FixedBytes, U256};
use alloy::sol_types::SolCall;
use chrono::Utc;
use leadex_core::events::{Event, EventHub, account_room, lead_room};
use leadex_core::nft::{ChainDeposit, ChainTx, Mint, NewChainTx, NftStore, PayoutKind, TxOutcome, TxReplacement};
use leadex_domain::AccountId;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::contracts::{self, Deployment, LeadNFT};
use crate::fees::{Fees, GasOracle, GasPolicy, Quote};
use crate::wallet::{HotWallet, SignedTx, TxRequest, WalletPool};
use crate::{Chain, ChainError};

/// Settings of the chain service.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// Blocks on top of a receipt's block before it counts (1 = mined).
    pub confirmations: u64,
    /// Largest `mintBatch`.
    pub batch_max: usize,
    /// A smaller batch goes out once its oldest mint waited this long.
    pub flush_after: Duration,
    /// Tracker and batcher tick.
    pub poll: Duration,
    /// A pending transaction unmined for this long is replaced with
    /// bumped fees.
    pub stuck_after: Duration,
    /// Fee bump of a replacement, percent.
    pub fee_bump_pct: u32,
    /// Owner of tokens whose buyer linked no wallet.
    pub custody: Address,
    /// Gas oracle policy.
    pub gas: GasPolicy,
    /// `tokenURI` prefix (`…/v1/nft/`).
    pub base_uri: String,
    /// Sellers are paid out this often.
    pub payout_interval: Duration,
    /// Smallest payable balance paid out, micro-USDC.
    pub payout_min_micros: i64,
    /// Proof-of-reserves check interval.
    pub reserves_interval: Duration,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            confirmations: 1,
            batch_max: contracts::MAX_MINT_BATCH,
            flush_after: Duration::from_secs(2),
            poll: Duration::from_millis(200),
            stuck_after: Duration::from_secs(30),
            fee_bump_pct: 25,
            custody: Address::ZERO,
            gas: GasPolicy::default(),
            base_uri: "http://127.0.0.1:8080/v1/nft/".into(),
            payout_interval: Duration::from_secs(3600),
            payout_min_micros: 10_000_000,
            reserves_interval: Duration::from_secs(30),
        }
    }
}

/// The running chain side of leadex.
#[derive(Clone, Debug)]
pub struct ChainService {
    chain: Arc<dyn Chain>,
    chain_id: u64,
    wallets: Arc<WalletPool>,
    oracle: GasOracle,
    store: Arc<dyn NftStore>,
    events: Arc<EventHub>,
    deployment: Deployment,
    config: ChainConfig,
    /// The contract owner's wallet (deploys; transfers custody claims when
    /// it is also the custody address).
    owner: Arc<HotWallet>,
    /// When the indexer first saw each not-yet-credited deposit log
    /// (tx hash, log index): the start of `leadex_escrow_funding_seconds`.
    deposits_seen: Arc<std::sync::Mutex<HashMap<(B256, u64), Instant>>>,
}

/// A mutex guard that survives a panicked holder (the data are plain maps).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn store_err(e: leadex_core::StoreError) -> ChainError {
    ChainError::Other(format!("store: {e}"))
}

/// Waits for a transaction's receipt (deployment and setup only).
async fn wait_receipt(chain: &dyn Chain, hash: B256) -> Result<crate::TxReceipt, ChainError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(r) = chain.receipt(hash).await? {
            return Ok(r);
        }
        if Instant::now() > deadline {
            return Err(ChainError::Other(format!("no receipt for {hash} after 60 s")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends one setup transaction from `wallet` and waits for it to succeed.
async fn send_and_wait(
    chain: &dyn Chain,
    oracle: &GasOracle,
    chain_id: u64,
    wallet: &HotWallet,
    req: TxRequest,
) -> Result<crate::TxReceipt, ChainError> {
    let fees = match oracle.quote().await? {
        Quote::Send(f) => f,
        Quote::Paused { base_fee } => {
            return Err(ChainError::Other(format!("base fee {base_fee} wei is above the ceiling")));
        }
    };
    let lease = wallet.lease(chain).await?;
    let signed = lease.sign(chain_id, &req, fees)?;
    match chain.send_raw(&signed.raw).await {
        Ok(_) => lease.advance(),
        Err(e) => {
            lease.resync();
            return Err(e);
        }
    }
    let r = wait_receipt(chain, signed.hash).await?;
    if !r.success {
        return Err(ChainError::Other(format!("setup transaction {} reverted", signed.hash)));
    }
    Ok(r)
}

/// Deploys `TestUSDC`, `LeadNFT` and `Escrow` from `owner` and authorises
/// every hot wallet as minter and escrow operator.
pub async fn deploy(
    chain: &dyn Chain,
    oracle: &GasOracle,
    owner: &HotWallet,
    wallets: &WalletPool,
    base_uri: &str,
    royalty_receiver: Address,
) -> Result<Deployment, ChainError> {
    let chain_id = chain.chain_id().await?;
    let create = |input: Bytes| TxRequest { to: None, input, gas_limit: 6_000_000, value: U256::ZERO };
    let addr = |r: crate::TxReceipt| r.contract_address.ok_or_else(|| ChainError::Other("no contract address".into()));
    let usdc = addr(send_and_wait(chain, oracle, chain_id, owner, create(contracts::test_usdc_init()?)).await?)?;
    let nft = addr(
        send_and_wait(
            chain,
            oracle,
            chain_id,
            owner,
            create(contracts::lead_nft_init(owner.address(), base_uri, royalty_receiver, 250)?),
        )
        .await?,
    )?;
    let escrow = addr(
        send_and_wait(chain, oracle, chain_id, owner, create(contracts::escrow_init(owner.address(), usdc)?)).await?,
    )?;
    for w in wallets.wallets() {
        let call = |to: Address, input: Vec<u8>| TxRequest {
            to: Some(to),
            input: input.into(),
            gas_limit: 100_000,
            value: U256::ZERO,
        };
        let minter = LeadNFT::setMinterCall { account: w.address(), allowed: true }.abi_encode();
        send_and_wait(chain, oracle, chain_id, owner, call(nft, minter)).await?;
        let operator = contracts::Escrow::setOperatorCall { account: w.address(), allowed: true }.abi_encode();
        send_and_wait(chain, oracle, chain_id, owner, call(escrow, operator)).await?;
    }
    tracing::info!(%nft, %escrow, %usdc, wallets = wallets.wallets().len(), "contracts deployed");
    Ok(Deployment { nft, escrow, usdc })
}

fn meta_key(chain_id: u64) -> String {
    format!("deployment:{chain_id}")
}

impl ChainService {
    /// Starts the service: finds the deployment recorded for this chain
    /// (or deploys one from `owner`), and checks its code is there.
    pub async fn start(
        chain: Arc<dyn Chain>,
        owner: Arc<HotWallet>,
        wallets: Arc<WalletPool>,
        store: Arc<dyn NftStore>,
        events: Arc<EventHub>,
        config: ChainConfig,
    ) -> Result<Self, ChainError> {
        let chain_id = chain.chain_id().await?;
        let oracle = GasOracle::new(chain.clone(), config.gas.clone());
        let key = meta_key(chain_id);
        let known = store.chain_meta(&key).await.map_err(store_err)?;
        let known: Option<Deployment> = known.and_then(|s| serde_json::from_str(&s).ok());
        let deployment = match known {
            Some(d) if chain.has_code(d.nft).await? && chain.has_code(d.escrow).await? => d,
            _ => {
                let d = deploy(chain.as_ref(), &oracle, &owner, &wallets, &config.base_uri, config.custody).await?;
                let v = serde_json::to_string(&d).map_err(|e| ChainError::Other(e.to_string()))?;
                store.set_chain_meta(&key, &v).await.map_err(store_err)?;
                d
            }
        };
        // The API offers custody claims only when this service can sign
        // them (the custody address is the owner's).
        let custody_key = format!("custody:{chain_id}");
        let managed = if config.custody == owner.address() { config.custody.to_string() } else { String::new() };
        store.set_chain_meta(&custody_key, &managed).await.map_err(store_err)?;
        Ok(ChainService {
            chain,
            chain_id,
            wallets,
            oracle,
            store,
            events,
            deployment,
            config,
            owner,
            deposits_seen: Arc::default(),
        })
    }

    /// The contracts.
    pub fn deployment(&self) -> Deployment {
        self.deployment
    }

    /// The chain.
    pub fn chain(&self) -> &Arc<dyn Chain> {
        &self.chain
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The wallet pool.
    pub fn wallets(&self) -> &Arc<WalletPool> {
        &self.wallets
    }

    /// One of our signing wallets: a hot wallet or the owner.
    fn wallet_for(&self, address: Address) -> Option<Arc<HotWallet>> {
        if address == self.owner.address() { Some(self.owner.clone()) } else { self.wallets.get(address) }
    }

    /// Whether `token` exists on chain, and its owner.
    pub async fn owner_of(&self, token: U256) -> Result<Option<Address>, ChainError> {
        let exists =
            self.chain.call(self.deployment.nft, LeadNFT::existsCall { tokenId: token }.abi_encode().into()).await?;
        let exists =
            LeadNFT::existsCall::abi_decode_returns(&exists).map_err(|e| ChainError::Other(format!("exists: {e}")))?;
        if !exists {
            return Ok(None);
        }
        let owner =
            self.chain.call(self.deployment.nft, LeadNFT::ownerOfCall { id: token }.abi_encode().into()).await?;
        let owner =
            LeadNFT::ownerOfCall::abi_decode_returns(&owner).map_err(|e| ChainError::Other(format!("ownerOf: {e}")))?;
        Ok(Some(owner))
    }

    /// Runs the batcher and the tracker until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(chain_id = self.chain_id, nft = %self.deployment.nft, "chain service started");
        let mut first_waiting: Option<Instant> = None;
        let long_ago = Instant::now() - Duration::from_secs(24 * 3600);
        let (mut last_balances, mut last_reserves) = (long_ago, long_ago);
        // The first payout run waits one interval (a restart loop must not
        // pay out every few seconds).
        let mut last_payouts = Instant::now();
        // Consecutive failed rounds: the pause doubles up to 5 s while the
        // node is unreachable, and resets after a clean round.
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let mut ok = true;
            if let Err(e) = self.track().await {
                ok = false;
                tracing::warn!(error = %e, "chain tracker round failed");
            }
            if let Err(e) = self.index_deposits().await {
                ok = false;
                tracing::warn!(error = %e, "deposit indexer round failed");
            }
            if let Err(e) = self.batch_round(&mut first_waiting).await {
                ok = false;
                tracing::warn!(error = %e, "mint batch round failed");
            }
            if let Err(e) = self.payout_round().await {
                ok = false;
                tracing::warn!(error = %e, "payout round failed");
            }
            if let Err(e) = self.claims_round().await {
                ok = false;
                tracing::warn!(error = %e, "claims round failed");
            }
            if last_payouts.elapsed() >= self.config.payout_interval {
                match self.store.queue_seller_payouts(self.config.payout_min_micros, Utc::now()).await {
                    Ok(n) => {
                        last_payouts = Instant::now();
                        if n > 0 {
                            tracing::info!(sellers = n, "seller payouts queued");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "queueing seller payouts failed"),
                }
            }
            if last_reserves.elapsed() >= self.config.reserves_interval {
                last_reserves = Instant::now();
                if let Err(e) = self.check_reserves().await {
                    tracing::warn!(error = %e, "reserves check failed");
                }
            }
            if last_balances.elapsed() > Duration::from_secs(15) {
                last_balances = Instant::now();
                self.report_balances().await;
            }
            failures = if ok { 0 } else { (failures + 1).min(16) };
            let pause =
                (self.config.poll * 2u32.saturating_pow(failures)).min(Duration::from_secs(5)).max(self.config.poll);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("chain service stopped");
    }

    /// One indexer round: credits the escrow's `Deposited` logs of blocks
    /// with at least `confirmations` confirmations, from the persisted
    /// cursor (at most 2 000 blocks a round); the number of new deposits.
    /// A crash between crediting and moving the cursor re-reads those
    /// blocks; the deposit key (tx hash, log index) keeps credits single.
    pub async fn index_deposits(&self) -> Result<u64, ChainError> {
        let key = format!("deposits_cursor:{}", self.chain_id);
        let next: u64 = self.store.chain_meta(&key).await.map_err(store_err)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        let head = self.chain.block_number().await?;
        let safe = (head + 1).checked_sub(self.config.confirmations);
        // Deposits still waiting for their confirmations: note when they
        // were first seen, so the funding time includes the wait.
        let unconfirmed_from = safe.map_or(0, |s| s + 1).max(next);
        if unconfirmed_from <= head && head - unconfirmed_from < 2_000 {
            let waiting =
                self.chain.logs(self.deployment.escrow, contracts::deposited_topic(), unconfirmed_from, head).await?;
            let now = Instant::now();
            let mut seen = lock(&self.deposits_seen);
            // A log that vanished in a reorg is never credited: forget it.
            seen.retain(|_, t| t.elapsed() < Duration::from_secs(86_400));
            for l in waiting {
                seen.entry((l.tx_hash, l.log_index)).or_insert(now);
            }
        }
        let Some(safe) = safe else { return Ok(0) };
        if next > safe {
            return Ok(0);
        }
        let to = safe.min(next + 1_999);
        let logs = self.chain.logs(self.deployment.escrow, contracts::deposited_topic(), next, to).await?;
        let mut credited = 0;
        for l in logs {
            let seen = lock(&self.deposits_seen).remove(&(l.tx_hash, l.log_index));
            let (Some(from), Some(reference)) = (l.topics.get(1), l.topics.get(2)) else { continue };
            let amount = U256::from_be_slice(l.data.get(..32).unwrap_or_default());
            let amount_micros = i64::try_from(amount).ok();
            let account = account_of_ref(reference);
            let d = ChainDeposit {
                tx_hash: l.tx_hash.to_string(),
                log_index: l.log_index,
                // Only a buyer account is credited; anything else is kept
                // as unattributed for the operator.
                account_id: match amount_micros {
                    Some(_) => self.buyer(account).await?,
                    None => None,
                },
                from_address: Address::from_word(*from).to_string(),
                amount_micros: amount_micros.unwrap_or(i64::MAX),
                block_number: l.block_number,
                at: Utc::now(),
            };
            if self.store.record_deposit(&d).await.map_err(store_err)? {
                credited += 1;
                // Seen in this round when it needed no wait (or after a
                // restart): the credit itself is the funding time.
                metrics::histogram!("leadex_escrow_funding_seconds")
                    .record(seen.map_or(0.0, |t| t.elapsed().as_secs_f64()));
                metrics::counter!("leadex_escrow_deposits_total", "status" => if d.account_id.is_some() { "credited" } else { "unattributed" }).increment(1);
                tracing::info!(tx = %d.tx_hash, amount_micros = d.amount_micros, account = ?d.account_id, "escrow deposit recorded");
            }
        }
        self.store.set_chain_meta(&key, &(to + 1).to_string()).await.map_err(store_err)?;
        Ok(credited)
    }

    async fn buyer(&self, account: Option<AccountId>) -> Result<Option<AccountId>, ChainError> {
        let Some(a) = account else { return Ok(None) };
        Ok(self.store.is_buyer(a).await.map_err(store_err)?.then_some(a))
    }

    /// Development and demo funding: mints `amount_micros` TestUSDC to
    /// `from`, approves the escrow and deposits for `account` through the
    /// real `Escrow.deposit` path; the deposit's transaction hash.
    pub async fn mint_and_deposit(
        &self,
        from: &HotWallet,
        account: AccountId,
        amount_micros: u64,
    ) -> Result<B256, ChainError> {
        let d = self.deployment;
        let amount = U256::from(amount_micros);
        let call = |to: Address, input: Vec<u8>| TxRequest {
            to: Some(to),
            input: input.into(),
            gas_limit: 200_000,
            value: U256::ZERO,
        };
        let mint = contracts::TestUSDC::mintCall { to: from.address(), amount }.abi_encode();
        send_and_wait(self.chain.as_ref(), &self.oracle, self.chain_id, from, call(d.usdc, mint)).await?;
        let approve = contracts::TestUSDC::approveCall { spender: d.escrow, amount }.abi_encode();
        send_and_wait(self.chain.as_ref(), &self.oracle, self.chain_id, from, call(d.usdc, approve)).await?;
        let deposit = contracts::Escrow::depositCall { amount, accountRef: account_ref(account) }.abi_encode();
        let r = send_and_wait(self.chain.as_ref(), &self.oracle, self.chain_id, from, call(d.escrow, deposit)).await?;
        Ok(r.hash)
    }

    /// Sends an empty self-transfer from `from` (a new block on an
    /// automining chain): tests and tools that need confirmations.
    pub async fn nudge(&self, from: &HotWallet) -> Result<(), ChainError> {
        let req = TxRequest { to: Some(from.address()), input: Bytes::new(), gas_limit: 21_000, value: U256::ZERO };
        send_and_wait(self.chain.as_ref(), &self.oracle, self.chain_id, from, req).await.map(|_| ())
    }

    /// Records a heartbeat (`/health/ready` reads it) and reports wallet
    /// balances and nonces.
    async fn report_balances(&self) {
        if let Ok(head) = self.chain.block_number().await {
            let beat = format!("{} {head}", Utc::now().to_rfc3339());
            if let Err(e) = self.store.set_chain_meta(&format!("heartbeat:{}", self.chain_id), &beat).await {
                tracing::warn!(error = %e, "chain heartbeat not recorded");
            }
        }
        for w in self.wallets.wallets() {
            if let Ok(b) = self.chain.balance(w.address()).await {
                let wei: u128 = b.try_into().unwrap_or(u128::MAX);
                metrics::gauge!("leadex_chain_wallet_balance_wei", "wallet" => w.address().to_string()).set(wei as f64);
            }
            if let Ok(n) = self.chain.mined_nonce(w.address()).await {
                metrics::gauge!("leadex_chain_wallet_confirmed_nonce", "wallet" => w.address().to_string())
                    .set(n as f64);
            }
        }
    }

    /// One batcher round: full batches go at once, a partial one after
    /// `flush_after`; batches run concurrently, one per wallet.
    pub async fn batch_round(&self, first_waiting: &mut Option<Instant>) -> Result<(), ChainError> {
        let n_wallets = self.wallets.wallets().len();
        let custody = self.config.custody.to_string();
        let queued = self.store.next_mints(self.config.batch_max * n_wallets, &custody).await.map_err(store_err)?;
        // One indexed read per tick (not a count over every token ever
        // minted): how many wait, and since when.
        let (waiting, oldest) = self.store.mint_backlog().await.map_err(store_err)?;
        metrics::gauge!("leadex_nft_mint_backlog").set(waiting as f64);
        let oldest = oldest.map_or(0.0, |t| (Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!("leadex_nft_mint_backlog_oldest_age_seconds").set(oldest);
        if queued.is_empty() {
            *first_waiting = None;
            return Ok(());
        }
        let since = *first_waiting.get_or_insert_with(Instant::now);
        let mut chunks: Vec<Vec<Mint>> = queued.chunks(self.config.batch_max).map(<[Mint]>::to_vec).collect();
        if chunks.last().is_some_and(|c| c.len() < self.config.batch_max) && since.elapsed() < self.config.flush_after {
            chunks.pop();
        }
        if chunks.is_empty() {
            return Ok(());
        }
        *first_waiting = None;
        let sends = chunks.into_iter().map(|c| {
            let wallet = self.wallets.pick();
            async move { self.send_batch(&wallet, c).await }
        });
        let mut failed = None;
        for r in futures::future::join_all(sends).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "mint batch not sent");
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Mints that were tried before and already exist on chain are adopted
    /// (marked minted); the rest are returned.
    async fn weed_out_existing(&self, mints: Vec<Mint>) -> Result<Vec<Mint>, ChainError> {
        let mut fresh = Vec::with_capacity(mints.len());
        let mut adopted = Vec::new();
        for m in mints {
            if m.attempts > 0 {
                let token = token_of(&m)?;
                if let Some(owner) = self.owner_of(token).await? {
                    adopted.push((m.lead_id, owner.to_string()));
                    continue;
                }
            }
            fresh.push(m);
        }
        if !adopted.is_empty() {
            tracing::info!(count = adopted.len(), "adopting tokens already on chain");
            self.store.adopt_minted(&adopted, Utc::now()).await.map_err(store_err)?;
        }
        Ok(fresh)
    }

    async fn quote(&self) -> Result<Option<Fees>, ChainError> {
        match self.oracle.quote().await? {
            Quote::Send(f) => Ok(Some(f)),
            Quote::Paused { base_fee } => {
                tracing::warn!(base_fee, ceiling = self.config.gas.ceiling, "gas above the ceiling: sending paused");
                Ok(None)
            }
        }
    }

    /// Signs, records and sends one `mintBatch`.
    async fn send_batch(&self, wallet: &HotWallet, mints: Vec<Mint>) -> Result<(), ChainError> {
        let mints = self.weed_out_existing(mints).await?;
        if mints.is_empty() {
            return Ok(());
        }
        let Some(fees) = self.quote().await? else { return Ok(()) };
        let mut requests = Vec::with_capacity(mints.len());
        let mut leads = Vec::with_capacity(mints.len());
        let mut correlation_ids = Vec::with_capacity(mints.len());
        for m in &mints {
            let recipient = m.recipient.clone().unwrap_or_else(|| self.config.custody.to_string());
            let to: Address = recipient.parse().map_err(|_| ChainError::Other(format!("bad recipient {recipient}")))?;
            requests.push(LeadNFT::MintRequest {
                leadId: FixedBytes::<16>::from(*m.lead_id.as_uuid().as_bytes()),
                to,
                verticalId: m.vertical_number,
                score: m.score.min(10_000),
                priceMicros: m.price_micros.max(0) as u64,
                soldAt: u32::try_from(m.sold_at.timestamp().max(0)).unwrap_or(u32::MAX),
            });
            leads.push((m.lead_id, to.to_string()));
            correlation_ids.push(m.correlation_id.clone());
        }
        let req = TxRequest {
            to: Some(self.deployment.nft),
            input: LeadNFT::mintBatchCall { requests }.abi_encode().into(),
            gas_limit: contracts::mint_batch_gas_limit(mints.len()),
            value: U256::ZERO,
        };
        let store = self.store.clone();
        // The log line names every correlation id the batch serves.
        let ids = correlation_ids.join(",");
        let sent = self
            .sign_record_send(wallet, "mint_batch", req, fees, Uuid::now_v7(), correlation_ids, move |row| async move {
                store.record_tx(&row, &leads).await
            })
            .await;
        if sent.is_ok() {
            tracing::info!(mints = mints.len(), wallet = %wallet.address(), correlation_ids = %ids, "mint batch sent");
        }
        sent
    }

    /// Takes the wallet's next nonce, signs `req`, records the row (with
    /// the work it carries, through `record`) and sends it. Nothing is sent
    /// unless the row is recorded; a rejected send drops the row (its work
    /// queues again) and resynchronises the nonce; an unreachable node
    /// leaves it pending for the tracker to rebroadcast or drop.
    #[allow(clippy::too_many_arguments)]
    async fn sign_record_send<F, Fut>(
        &self,
        wallet: &HotWallet,
        kind: &'static str,
        req: TxRequest,
        fees: Fees,
        id: Uuid,
        correlation_ids: Vec<String>,
        record: F,
    ) -> Result<(), ChainError>
    where
        F: FnOnce(NewChainTx) -> Fut,
        Fut: std::future::Future<Output = Result<bool, leadex_core::StoreError>>,
    {
        let lease = wallet.lease(self.chain.as_ref()).await?;
        let signed = lease.sign(self.chain_id, &req, fees)?;
        let row = new_tx_row(id, kind, wallet.address(), &signed, correlation_ids);
        if !record(row).await.map_err(store_err)? {
            // Another sender took some of this work; nothing was sent, the
            // lease keeps its nonce.
            return Ok(());
        }
        match self.chain.send_raw(&signed.raw).await {
            Ok(_) => {
                lease.advance();
                metrics::counter!("leadex_chain_txs_total", "kind" => kind, "status" => "sent").increment(1);
                Ok(())
            }
            Err(e) if e.is_already_known() => {
                lease.advance();
                Ok(())
            }
            Err(ChainError::Unreachable(m)) => {
                lease.resync();
                Err(ChainError::Unreachable(m))
            }
            Err(e) => {
                lease.resync();
                self.store.drop_tx(id, &e.to_string(), Utc::now()).await.map_err(store_err)?;
                metrics::counter!("leadex_chain_txs_total", "kind" => kind, "status" => "rejected").increment(1);
                Err(e)
            }
        }
    }

    /// One payout round: settles payouts whose transactions finished, then
    /// sends queued withdrawals (one `withdrawTo` each) and seller payouts
    /// (one `payoutBatch` of up to 100).
    pub async fn payout_round(&self) -> Result<(), ChainError> {
        let moved = self.store.settle_payouts(Utc::now()).await.map_err(store_err)?;
        if moved > 0 {
            tracing::info!(moved, "payouts settled");
        }
        let withdrawals = self.store.next_payouts(PayoutKind::Withdrawal, 20).await.map_err(store_err)?;
        let payouts = self.store.next_payouts(PayoutKind::Payout, 100).await.map_err(store_err)?;
        if withdrawals.is_empty() && payouts.is_empty() {
            return Ok(());
        }
        let Some(fees) = self.quote().await? else { return Ok(()) };
        for w in withdrawals {
            let to: Address =
                w.to_address.parse().map_err(|_| ChainError::Other(format!("bad address {}", w.to_address)))?;
            let id = Uuid::now_v7();
            let input = contracts::Escrow::withdrawToCall {
                to,
                amount: U256::from(w.amount_micros.max(0) as u64),
                r#ref: tx_ref(id),
            };
            let req = TxRequest {
                to: Some(self.deployment.escrow),
                input: input.abi_encode().into(),
                gas_limit: 150_000,
                value: U256::ZERO,
            };
            let store = self.store.clone();
            let wallet = self.wallets.pick();
            self.sign_record_send(&wallet, "withdraw", req, fees, id, Vec::new(), move |row| async move {
                store.record_payout_tx(&row, &[w.id]).await
            })
            .await?;
        }
        if !payouts.is_empty() {
            let mut to = Vec::with_capacity(payouts.len());
            let mut amounts = Vec::with_capacity(payouts.len());
            for p in &payouts {
                to.push(
                    p.to_address
                        .parse::<Address>()
                        .map_err(|_| ChainError::Other(format!("bad address {}", p.to_address)))?,
                );
                amounts.push(U256::from(p.amount_micros.max(0) as u64));
            }
            let id = Uuid::now_v7();
            let n = payouts.len() as u64;
            let input = contracts::Escrow::payoutBatchCall { to, amounts, r#ref: tx_ref(id) };
            let req = TxRequest {
                to: Some(self.deployment.escrow),
                input: input.abi_encode().into(),
                gas_limit: 80_000 + 40_000 * n,
                value: U256::ZERO,
            };
            let ids: Vec<Uuid> = payouts.iter().map(|p| p.id).collect();
            let store = self.store.clone();
            let wallet = self.wallets.pick();
            self.sign_record_send(&wallet, "payout_batch", req, fees, id, Vec::new(), move |row| async move {
                store.record_payout_tx(&row, &ids).await
            })
            .await?;
        }
        Ok(())
    }

    /// One claims round: settles finished transfers, then moves claimed
    /// custody tokens to their buyers' wallets (`transferFrom` by the
    /// custody owner, one transaction each).
    pub async fn claims_round(&self) -> Result<(), ChainError> {
        self.store.settle_claims().await.map_err(store_err)?;
        if self.config.custody != self.owner.address() {
            return Ok(());
        }
        let claims = self.store.next_claims(20).await.map_err(store_err)?;
        if claims.is_empty() {
            return Ok(());
        }
        let Some(fees) = self.quote().await? else { return Ok(()) };
        let custody = self.config.custody;
        for m in claims {
            let Some(to) = m.claim_to.as_deref().and_then(|t| t.parse::<Address>().ok()) else { continue };
            let token = token_of(&m)?;
            match self.owner_of(token).await? {
                Some(owner) if owner == custody => {}
                Some(owner) => {
                    // Already moved (a transfer that landed) or not ours.
                    self.store.finish_claim(m.lead_id, &owner.to_string()).await.map_err(store_err)?;
                    continue;
                }
                None => continue,
            }
            let input = LeadNFT::transferFromCall { from: custody, to, id: token }.abi_encode();
            let req =
                TxRequest { to: Some(self.deployment.nft), input: input.into(), gas_limit: 120_000, value: U256::ZERO };
            let store = self.store.clone();
            let lead = m.lead_id;
            self.sign_record_send(
                &self.owner,
                "claim",
                req,
                fees,
                Uuid::now_v7(),
                vec![m.correlation_id.clone()],
                move |row| async move { store.record_claim_tx(&row, lead).await },
            )
            .await?;
        }
        Ok(())
    }

    /// Proof of reserves: the escrow contract's token balance against the
    /// ledger's obligations (every non-escrow balance), kept for
    /// `GET /v1/reserves` and exported as `leadex_escrow_reserves_ratio`.
    pub async fn check_reserves(&self) -> Result<serde_json::Value, ChainError> {
        let out =
            self.chain.call(self.deployment.escrow, contracts::Escrow::reservesCall {}.abi_encode().into()).await?;
        let onchain = contracts::Escrow::reservesCall::abi_decode_returns(&out)
            .map_err(|e| ChainError::Other(format!("reserves: {e}")))?;
        let onchain = i64::try_from(onchain).unwrap_or(i64::MAX);
        let obligations = self.store.obligations().await.map_err(store_err)?;
        let block = self.chain.block_number().await?;
        // Basis points, integer: 10 000 = fully backed.
        let ratio_bps =
            if obligations <= 0 { 10_000 } else { (i128::from(onchain) * 10_000 / i128::from(obligations)) as i64 };
        metrics::gauge!("leadex_escrow_reserves_ratio").set(ratio_bps as f64 / 10_000.0);
        let money = |m: i64| leadex_domain::Money::from_micros(m).to_string();
        let v = json!({
            "chain_id": self.chain_id,
            "escrow": self.deployment.escrow.to_string(),
            "onchain": money(onchain),
            "obligations": money(obligations),
            "surplus": money(onchain.saturating_sub(obligations)),
            "ratio_bps": ratio_bps,
            "fully_backed": onchain >= obligations,
            "block_number": block,
            "checked_at": Utc::now(),
        });
        self.store.set_chain_meta(&format!("reserves:{}", self.chain_id), &v.to_string()).await.map_err(store_err)?;
        if onchain < obligations {
            tracing::warn!(onchain, obligations, "escrow reserves are short of the ledger's obligations");
        }
        Ok(v)
    }

    /// One tracker round over every pending transaction.
    pub async fn track(&self) -> Result<(), ChainError> {
        let pending = self.store.pending_txs().await.map_err(store_err)?;
        if pending.is_empty() {
            return Ok(());
        }
        let head = self.chain.block_number().await?;
        let mut mined_nonces: HashMap<String, u64> = HashMap::new();
        for tx in pending {
            // Only our own wallets' transactions (another deployment's
            // rows are not ours to drop or replace).
            if tx.wallet.parse::<Address>().ok().and_then(|a| self.wallet_for(a)).is_none() {
                continue;
            }
            if let Err(e) = self.track_one(&tx, head, &mut mined_nonces).await {
                tracing::debug!(error = %e, id = %tx.id, "tracking a transaction failed this round");
            }
        }
        Ok(())
    }

    async fn track_one(
        &self,
        tx: &ChainTx,
        head: u64,
        mined_nonces: &mut HashMap<String, u64>,
    ) -> Result<(), ChainError> {
        for h in tx.hashes.iter().rev() {
            let hash: B256 = h.parse().map_err(|_| ChainError::Other(format!("bad hash {h}")))?;
            let Some(r) = self.chain.receipt(hash).await? else { continue };
            if head + 1 < r.block_number + self.config.confirmations {
                return Ok(()); // mined, not deep enough yet
            }
            let outcome = TxOutcome {
                id: tx.id,
                hash: h.clone(),
                block_number: r.block_number,
                gas_used: r.gas_used,
                effective_gas_price: r.effective_gas_price,
                success: r.success,
                at: Utc::now(),
            };
            let minted = self.store.finish_tx(&outcome).await.map_err(store_err)?;
            let status = if r.success { "confirmed" } else { "reverted" };
            metrics::counter!("leadex_chain_txs_total", "kind" => tx.kind.clone(), "status" => status).increment(1);
            if !r.success {
                tracing::warn!(hash = %h, "transaction reverted; its mints queue again");
            } else if !minted.is_empty() {
                tracing::info!(tokens = minted.len(), block = r.block_number, gas_used = r.gas_used, tx = %h,
                    correlation_ids = %tx.correlation_ids.join(","), "lead tokens minted");
            }
            self.emit_minted(&minted, &r);
            return Ok(());
        }
        // No receipt for any attempt. Was the nonce used by something else?
        let mined = match mined_nonces.get(&tx.wallet) {
            Some(n) => *n,
            None => {
                let addr: Address = tx.wallet.parse().map_err(|_| ChainError::Other("bad wallet".into()))?;
                let n = self.chain.mined_nonce(addr).await?;
                mined_nonces.insert(tx.wallet.clone(), n);
                n
            }
        };
        if mined > tx.nonce {
            // Check the receipts once more: the attempt may have been mined
            // between our reads.
            for h in &tx.hashes {
                if let Ok(hash) = h.parse::<B256>()
                    && self.chain.receipt(hash).await?.is_some()
                {
                    return Ok(());
                }
            }
            self.store.drop_tx(tx.id, "nonce used by another transaction", Utc::now()).await.map_err(store_err)?;
            metrics::counter!("leadex_chain_txs_total", "kind" => tx.kind.clone(), "status" => "dropped").increment(1);
            tracing::warn!(id = %tx.id, nonce = tx.nonce, wallet = %tx.wallet, "transaction dropped; its mints queue again");
            return Ok(());
        }
        let age = (Utc::now() - tx.sent_at).to_std().unwrap_or_default();
        if age >= self.config.stuck_after {
            return self.replace(tx).await;
        }
        if age >= Duration::from_secs(2) {
            // The node may never have received it (unreachable at send).
            if let Err(e) = self.chain.send_raw(&tx.raw).await
                && !e.is_already_known()
            {
                tracing::debug!(error = %e, id = %tx.id, "rebroadcast refused");
            }
        }
        Ok(())
    }

    /// Replaces a stuck transaction: same nonce and call, fees bumped.
    async fn replace(&self, tx: &ChainTx) -> Result<(), ChainError> {
        let addr: Address = tx.wallet.parse().map_err(|_| ChainError::Other("bad wallet".into()))?;
        let Some(wallet) = self.wallet_for(addr) else {
            return Err(ChainError::Other(format!("wallet {addr} is not in the pool")));
        };
        let Some(current) = self.quote().await? else { return Ok(()) };
        let old = Fees { max_fee_per_gas: tx.max_fee_per_gas, max_priority_fee_per_gas: tx.max_priority_fee_per_gas };
        let fees = old.bumped(self.config.fee_bump_pct, current);
        let env = decode(&tx.raw)?;
        let req = TxRequest { to: env.0, input: env.1, gas_limit: tx.gas_limit, value: U256::ZERO };
        let signed = wallet.sign(self.chain_id, tx.nonce, &req, fees)?;
        match self.chain.send_raw(&signed.raw).await {
            Ok(_) => {}
            Err(e) if e.is_already_known() => {}
            Err(e) => return Err(e),
        }
        let r = TxReplacement {
            id: tx.id,
            hash: signed.hash.to_string(),
            raw: signed.raw.to_vec(),
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            at: Utc::now(),
        };
        self.store.replace_tx(&r).await.map_err(store_err)?;
        metrics::counter!("leadex_chain_txs_total", "kind" => tx.kind.clone(), "status" => "replaced").increment(1);
        tracing::info!(id = %tx.id, nonce = tx.nonce, max_fee = fees.max_fee_per_gas, "stuck transaction replaced");
        Ok(())
    }

    fn emit_minted(&self, minted: &[Mint], r: &crate::TxReceipt) {
        let now = Utc::now();
        for m in minted {
            let secs = (now - m.sold_at).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::histogram!("leadex_nft_mint_confirmation_seconds").record(secs);
            let mut payload = Map::new();
            payload.insert("lead_id".into(), Value::String(m.lead_id.to_string()));
            payload.insert("token_id".into(), Value::String(m.token_id.clone()));
            payload.insert("owner".into(), json!(m.recipient));
            payload.insert("tx_hash".into(), Value::String(r.hash.to_string()));
            payload.insert("block_number".into(), Value::from(r.block_number));
            self.events.publish(Event {
                name: "lead:minted",
                rooms: vec![account_room(m.buyer_id), lead_room(m.lead_id)],
                payload,
                correlation_id: m.correlation_id.clone(),
            });
        }
    }
}

/// The escrow `accountRef` of an account: its 16 id bytes, then zeros.
pub fn account_ref(account: AccountId) -> B256 {
    uuid_word(account.as_uuid())
}

/// The account an `accountRef` names (`None` unless the last 16 bytes are zero).
pub fn account_of_ref(r: &B256) -> Option<AccountId> {
    if r[16..].iter().any(|b| *b != 0) {
        return None;
    }
    let bytes: [u8; 16] = r[..16].try_into().ok()?;
    Some(AccountId::from_uuid(Uuid::from_bytes(bytes)))
}

/// The token id of a mint row.
fn token_of(m: &Mint) -> Result<U256, ChainError> {
    U256::from_str_radix(m.token_id.trim_start_matches("0x"), 16).map_err(|_| ChainError::Other("bad token id".into()))
}

/// `to` and input of a signed EIP-1559 transaction.
fn decode(raw: &[u8]) -> Result<(Option<Address>, Bytes), ChainError> {
    use alloy::consensus::{Transaction as _, TxEnvelope};
    use alloy::eips::Decodable2718;
    let env = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| ChainError::Other(format!("stored tx: {e}")))?;
    Ok((env.to(), env.input().clone()))
}

/// The escrow `ref` of a transaction: its row id, zero-padded (unique, so
/// a re-sent payout never collides with the contract's used refs).
fn tx_ref(id: Uuid) -> B256 {
    uuid_word(id)
}

/// A UUID's 16 bytes followed by 16 zero bytes (the escrow's bytes32 refs).
fn uuid_word(id: Uuid) -> B256 {
    let mut r = [0u8; 32];
    r[..16].copy_from_slice(id.as_bytes());
    B256::from(r)
}

fn new_tx_row(id: Uuid, kind: &str, wallet: Address, s: &SignedTx, correlation_ids: Vec<String>) -> NewChainTx {
    let mut ids = correlation_ids;
    ids.sort();
    ids.dedup();
    NewChainTx {
        id,
        kind: kind.to_owned(),
        wallet: wallet.to_string(),
        nonce: s.nonce,
        hash: s.hash.to_string(),
        raw: s.raw.to_vec(),
        max_fee_per_gas: s.fees.max_fee_per_gas,
        max_priority_fee_per_gas: s.fees.max_priority_fee_per_gas,
        gas_limit: s.gas_limit,
        correlation_ids: ids,
        created_at: Utc::now(),
    }
}
