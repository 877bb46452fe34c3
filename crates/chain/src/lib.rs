//! The chain port of leadex (SPEC §14, ARCHITECTURE "Chain").
//!
//! - [`contracts`]: bindings generated with `sol!` from the committed
//!   artifacts in `contracts/artifacts/`, plus their creation bytecode.
//! - [`Chain`]: the few JSON-RPC calls leadex needs, implemented by
//!   [`RpcChain`] (alloy over HTTP: anvil or a real network) and by
//!   [`EmbeddedChain`] (revm in-process, state kept in a journal file).
//! - [`wallet`]: the hot-wallet pool, each wallet with its own nonce
//!   manager that resynchronises with the chain after any rejected send.
//! - [`fees`]: the gas oracle over `eth_feeHistory`.

pub mod contracts;
mod embedded;
pub mod fees;
mod rpc;
pub mod service;
pub mod wallet;

use async_trait::async_trait;

pub use alloy;
pub use alloy::primitives::{Address, B256, Bytes, U256};
pub use embedded::EmbeddedChain;
pub use rpc::RpcChain;

/// A chain failure, classified by what the caller should do about it.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or timed out: retry later, the
    /// transaction may or may not have arrived.
    #[error("chain unreachable: {0}")]
    Unreachable(String),
    /// The node refused a transaction (nonce, fee, funds): it will never be
    /// mined as sent.
    #[error("transaction rejected: {0}")]
    Rejected(String),
    /// An `eth_call` reverted.
    #[error("call reverted: {0}")]
    Reverted(String),
    /// Anything else (bad answer, decoding).
    #[error("chain error: {0}")]
    Other(String),
}

impl ChainError {
    /// Whether the node told us the nonce was already used.
    pub fn is_nonce_too_low(&self) -> bool {
        matches!(self, ChainError::Rejected(m) if m.to_ascii_lowercase().contains("nonce too low"))
    }
    /// Whether the node says it already has this very transaction.
    pub fn is_already_known(&self) -> bool {
        let m = self.to_string().to_ascii_lowercase();
        m.contains("already known") || m.contains("already imported") || m.contains("known transaction")
    }
}

/// A log as the indexer needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLog {
    /// Emitting contract.
    pub address: Address,
    /// Topics (topic 0 is the event signature).
    pub topics: Vec<B256>,
    /// Non-indexed data.
    pub data: Bytes,
    /// Block of the transaction.
    pub block_number: u64,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Index of the log in its block.
    pub log_index: u64,
}

/// A mined transaction's receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxReceipt {
    /// Transaction hash.
    pub hash: B256,
    /// Block it was mined in.
    pub block_number: u64,
    /// Whether execution succeeded.
    pub success: bool,
    /// Gas used by the transaction.
    pub gas_used: u64,
    /// Price paid per gas (wei).
    pub effective_gas_price: u128,
    /// Address of a created contract.
    pub contract_address: Option<Address>,
    /// Logs emitted.
    pub logs: Vec<ChainLog>,
}

/// Recent fees, as `eth_feeHistory` reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeeSample {
    /// Base fee of the next block (wei).
    pub next_base_fee: u128,
    /// Priority fee at the requested percentile, per recent block (wei).
    pub tips: Vec<u128>,
}

/// The calls leadex makes to a chain. Transactions are signed by the caller
/// ([`wallet`]); the chain only relays raw bytes.
#[async_trait]
pub trait Chain: Send + Sync + std::fmt::Debug + 'static {
    /// `eth_chainId`.
    async fn chain_id(&self) -> Result<u64, ChainError>;
    /// `eth_blockNumber`.
    async fn block_number(&self) -> Result<u64, ChainError>;
    /// `eth_getTransactionCount(addr, "pending")`.
    async fn pending_nonce(&self, address: Address) -> Result<u64, ChainError>;
    /// `eth_getTransactionCount(addr, "latest")`: nonces mined so far.
    async fn mined_nonce(&self, address: Address) -> Result<u64, ChainError>;
    /// `eth_getBalance` (wei).
    async fn balance(&self, address: Address) -> Result<U256, ChainError>;
    /// `eth_sendRawTransaction`; the transaction hash.
    async fn send_raw(&self, raw: &[u8]) -> Result<B256, ChainError>;
    /// `eth_getTransactionReceipt`.
    async fn receipt(&self, hash: B256) -> Result<Option<TxReceipt>, ChainError>;
    /// `eth_call` at the latest block.
    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError>;
    /// `eth_getLogs` of one contract and event, blocks `from..=to`.
    async fn logs(&self, address: Address, topic0: B256, from: u64, to: u64) -> Result<Vec<ChainLog>, ChainError>;
    /// `eth_feeHistory` over the last `blocks` blocks at `percentile`.
    async fn fee_history(&self, blocks: u64, percentile: f64) -> Result<FeeSample, ChainError>;
    /// Whether an address holds code.
    async fn has_code(&self, address: Address) -> Result<bool, ChainError>;
}
