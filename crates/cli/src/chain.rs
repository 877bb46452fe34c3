//! Wiring of `[chain]`: the chain (embedded revm or JSON-RPC), the wallets
//! and the chain service a worker process runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use leadex_chain::fees::GasPolicy;
use leadex_chain::service::{ChainConfig, ChainService};
use leadex_chain::wallet::{DEV_MNEMONIC, HotWallet, PrivateKeySigner, WalletPool, key_signer, mnemonic_signer};
use leadex_chain::{Address, Chain, EmbeddedChain, RpcChain, U256};

use crate::App;
use crate::config::ChainSettings;

/// anvil's chain id, where the public development mnemonic is acceptable.
const ANVIL_CHAIN_ID: u64 = 31_337;

/// The owner signer and the hot-wallet signers of `chain.*`.
fn signers(c: &ChainSettings) -> anyhow::Result<(PrivateKeySigner, Vec<PrivateKeySigner>, bool)> {
    let keys = c.wallets.expose().trim();
    if !keys.is_empty() {
        let mut all = keys.split(',').map(key_signer).collect::<Result<Vec<_>, _>>().context("chain.wallets")?;
        let owner = all.remove(0);
        let hot = if all.is_empty() { vec![owner.clone()] } else { all };
        return Ok((owner, hot, false));
    }
    let phrase = c.mnemonic.expose().trim();
    let (phrase, dev) = if phrase.is_empty() { (DEV_MNEMONIC, true) } else { (phrase, false) };
    let owner = mnemonic_signer(phrase, 0).context("chain.mnemonic")?;
    let hot = (1..=c.wallet_count).map(|i| mnemonic_signer(phrase, i)).collect::<Result<Vec<_>, _>>()?;
    Ok((owner, hot, dev))
}

impl App {
    /// The chain service of `chain.*` (contracts found or deployed), or
    /// `None` when `chain.mode = "off"`.
    pub async fn chain_service(&self) -> anyhow::Result<Option<ChainService>> {
        let c = &self.settings.chain;
        if c.mode == "off" {
            return Ok(None);
        }
        let (owner, hot, dev_keys) = signers(c)?;
        let chain: Arc<dyn Chain> = if c.mode == "embedded" {
            // Genesis: 10 000 ETH for the owner and every hot wallet.
            let eth = U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64));
            let alloc: Vec<(Address, U256)> =
                std::iter::once(owner.address()).chain(hot.iter().map(|s| s.address())).map(|a| (a, eth)).collect();
            let path = self.settings.data_dir.join("chain").join("journal");
            let chain_id = c.chain_id;
            let embedded = tokio::task::spawn_blocking(move || EmbeddedChain::open(&path, chain_id, &alloc))
                .await
                .context("opening the embedded chain")??;
            Arc::new(embedded)
        } else {
            Arc::new(RpcChain::new(&c.rpc_url, Duration::from_millis(c.rpc_timeout_ms.max(100)))?)
        };
        let chain_id = chain.chain_id().await.context("asking the chain for its id")?;
        if c.mode == "rpc" && chain_id != c.chain_id {
            bail!("chain.chain_id is {} but the node at chain.rpc_url is chain {chain_id}", c.chain_id);
        }
        if dev_keys && c.mode == "rpc" && chain_id != ANVIL_CHAIN_ID {
            bail!(
                "chain.mnemonic or chain.wallets must be set for chain {chain_id}: the development mnemonic is public"
            );
        }
        let custody: Address = if c.custody_address.is_empty() {
            owner.address()
        } else {
            c.custody_address.parse().context("chain.custody_address")?
        };
        let base_uri = if c.base_uri.is_empty() {
            format!("http://{}/v1/nft/", self.settings.server.bind)
        } else {
            c.base_uri.clone()
        };
        let config = ChainConfig {
            confirmations: c.confirmations,
            flush_after: Duration::from_millis(c.flush_ms),
            poll: Duration::from_millis(c.poll_ms),
            stuck_after: Duration::from_secs(c.stuck_secs.max(1)),
            fee_bump_pct: c.fee_bump_pct,
            custody,
            gas: GasPolicy { ceiling: u128::from(c.gas_ceiling_gwei) * 1_000_000_000, ..GasPolicy::default() },
            base_uri,
            payout_interval: Duration::from_secs(c.payout_interval_secs.max(1)),
            payout_min_micros: leadex_domain::Money::parse(&c.payout_min).map(|m| m.micros()).unwrap_or(10_000_000),
            reserves_interval: Duration::from_secs(c.reserves_interval_secs.max(1)),
            ..ChainConfig::default()
        };
        let pool = Arc::new(WalletPool::new(hot)?);
        let owner = Arc::new(HotWallet::new(owner));
        let svc = ChainService::start(chain, owner, pool, self.svc.nft().clone(), self.svc.events().clone(), config)
            .await
            .context("starting the chain service")?;
        Ok(Some(svc))
    }
}
