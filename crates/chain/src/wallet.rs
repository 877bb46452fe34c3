//! The hot-wallet pool. Each wallet has its own nonce manager: the next
//! nonce is kept in memory while sends succeed and is forgotten after any
//! failed send, so the next use asks the chain again (alloy's cached nonce
//! manager keeps counting after a rejected send: alloy issue #2385). A
//! wallet is used by one sender at a time (its lease), so sign → record →
//! send happen in nonce order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::Encodable2718;
use alloy::network::TxSignerSync;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
pub use alloy::signers::local::PrivateKeySigner;
use alloy::signers::local::{MnemonicBuilder, coins_bip39::English};

use crate::fees::Fees;
use crate::{Chain, ChainError};

/// The mnemonic anvil and hardhat fund by default; the embedded chain's
/// default too, so a development install needs no key material.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// One hot wallet.
pub struct HotWallet {
    signer: PrivateKeySigner,
    next_nonce: tokio::sync::Mutex<Option<u64>>,
}

impl std::fmt::Debug for HotWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("HotWallet").field("address", &self.address()).finish()
    }
}

/// A signed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// Hash.
    pub hash: B256,
    /// EIP-2718 bytes.
    pub raw: Bytes,
    /// Nonce.
    pub nonce: u64,
    /// Fees signed with.
    pub fees: Fees,
    /// Gas limit.
    pub gas_limit: u64,
}

/// What to sign.
#[derive(Clone, Debug)]
pub struct TxRequest {
    /// Target (`None` deploys).
    pub to: Option<Address>,
    /// Calldata or creation code.
    pub input: Bytes,
    /// Gas limit.
    pub gas_limit: u64,
    /// Value, wei.
    pub value: U256,
}

/// A wallet's nonce, held for one send.
#[derive(Debug)]
pub struct NonceLease<'a> {
    wallet: &'a HotWallet,
    slot: tokio::sync::MutexGuard<'a, Option<u64>>,
    nonce: u64,
}

impl NonceLease<'_> {
    /// The nonce to sign with.
    pub fn nonce(&self) -> u64 {
        self.nonce
    }
    /// Signs `req` with this lease's nonce.
    pub fn sign(&self, chain_id: u64, req: &TxRequest, fees: Fees) -> Result<SignedTx, ChainError> {
        self.wallet.sign(chain_id, self.nonce, req, fees)
    }
    /// The transaction went out (or may have): the next send uses the next nonce.
    pub fn advance(mut self) {
        *self.slot = Some(self.nonce + 1);
        metrics::gauge!("leadex_chain_wallet_next_nonce", "wallet" => self.wallet.address().to_string())
            .set((self.nonce + 1) as f64);
    }
    /// The send failed: forget the nonce, the next lease asks the chain.
    pub fn resync(mut self) {
        *self.slot = None;
        metrics::counter!("leadex_chain_nonce_resyncs_total", "wallet" => self.wallet.address().to_string())
            .increment(1);
    }
    // Dropping a lease without either keeps the nonce for the next send
    // (nothing was sent).
}

impl HotWallet {
    /// A wallet from a signer.
    pub fn new(signer: PrivateKeySigner) -> Self {
        HotWallet { signer, next_nonce: tokio::sync::Mutex::new(None) }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Takes the wallet for one send: waits for other senders, learns the
    /// nonce from the chain (pending) when it is not known.
    pub async fn lease(&self, chain: &dyn Chain) -> Result<NonceLease<'_>, ChainError> {
        let mut slot = self.next_nonce.lock().await;
        let nonce = match *slot {
            Some(n) => n,
            None => {
                let n = chain.pending_nonce(self.address()).await?;
                *slot = Some(n);
                n
            }
        };
        Ok(NonceLease { wallet: self, slot, nonce })
    }

    /// Signs an EIP-1559 transaction.
    pub fn sign(&self, chain_id: u64, nonce: u64, req: &TxRequest, fees: Fees) -> Result<SignedTx, ChainError> {
        let mut tx = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: req.gas_limit,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.max_priority_fee_per_gas,
            to: req.to.map_or(TxKind::Create, TxKind::Call),
            value: req.value,
            access_list: Default::default(),
            input: req.input.clone(),
        };
        let sig = self.signer.sign_transaction_sync(&mut tx).map_err(|e| ChainError::Other(format!("signing: {e}")))?;
        let env: TxEnvelope = tx.into_signed(sig).into();
        let hash = *env.tx_hash();
        Ok(SignedTx { hash, raw: env.encoded_2718().into(), nonce, fees, gas_limit: req.gas_limit })
    }
}

/// The pool: round-robin over wallets.
#[derive(Debug)]
pub struct WalletPool {
    wallets: Vec<Arc<HotWallet>>,
    next: AtomicUsize,
}

impl WalletPool {
    /// A pool of signers (at least one).
    pub fn new(signers: Vec<PrivateKeySigner>) -> Result<Self, ChainError> {
        if signers.is_empty() {
            return Err(ChainError::Other("the hot-wallet pool needs at least one key".into()));
        }
        Ok(WalletPool {
            wallets: signers.into_iter().map(|s| Arc::new(HotWallet::new(s))).collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// The wallets.
    pub fn wallets(&self) -> &[Arc<HotWallet>] {
        &self.wallets
    }

    /// The next wallet in turn.
    pub fn pick(&self) -> Arc<HotWallet> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.wallets.len();
        self.wallets[i].clone()
    }

    /// The wallet with this address.
    pub fn get(&self, address: Address) -> Option<Arc<HotWallet>> {
        self.wallets.iter().find(|w| w.address() == address).cloned()
    }
}

/// Signer `index` of a BIP-39 mnemonic (path m/44'/60'/0'/0/index).
pub fn mnemonic_signer(phrase: &str, index: u32) -> Result<PrivateKeySigner, ChainError> {
    MnemonicBuilder::<English>::default()
        .phrase(phrase)
        .index(index)
        .and_then(|b| b.build())
        .map_err(|e| ChainError::Other(format!("mnemonic: {e}")))
}

/// A signer from a `0x` hex private key.
pub fn key_signer(hex: &str) -> Result<PrivateKeySigner, ChainError> {
    hex.trim().parse::<PrivateKeySigner>().map_err(|_| ChainError::Other("invalid private key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_mnemonic_gives_anvils_first_account() {
        let s = mnemonic_signer(DEV_MNEMONIC, 0).expect("signer");
        assert_eq!(s.address().to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let w = HotWallet::new(mnemonic_signer(DEV_MNEMONIC, 1).expect("signer"));
        let d = format!("{w:?}");
        assert!(d.contains("0x70997970"), "{d}");
        assert!(!d.to_lowercase().contains("59c6995e"), "{d}");
    }
}
