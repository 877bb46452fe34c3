//! [`Chain`] over JSON-RPC with alloy: anvil in tests, any node in
//! production.

use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::transports::http::reqwest;
use alloy::transports::{RpcError, TransportErrorKind};
use async_trait::async_trait;

use crate::{Chain, ChainError, ChainLog, FeeSample, TxReceipt};

/// A JSON-RPC endpoint.
#[derive(Clone)]
pub struct RpcChain {
    url: String,
    provider: DynProvider,
}

impl std::fmt::Debug for RpcChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry an API key: show the host only.
        let host = self.url.split('/').nth(2).unwrap_or("?");
        f.debug_struct("RpcChain").field("host", &host).finish()
    }
}

fn classify(e: RpcError<TransportErrorKind>) -> ChainError {
    match e {
        RpcError::ErrorResp(p) => ChainError::Rejected(p.message.to_string()),
        RpcError::Transport(k) => ChainError::Unreachable(k.to_string()),
        other => ChainError::Other(other.to_string()),
    }
}

impl RpcChain {
    /// A client of `url` whose every request times out after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, ChainError> {
        let parsed: reqwest::Url = url.parse().map_err(|e| ChainError::Other(format!("chain.rpc_url: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ChainError::Other(e.to_string()))?;
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_reqwest(client, parsed).erased();
        Ok(RpcChain { url: url.to_string(), provider })
    }

    /// Calls a method the port does not cover (`anvil_*`, `evm_*` in tests).
    pub async fn raw(&self, method: &'static str, params: serde_json::Value) -> Result<serde_json::Value, ChainError> {
        self.provider.raw_request(method.into(), params).await.map_err(classify)
    }
}

#[async_trait]
impl Chain for RpcChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        self.provider.get_chain_id().await.map_err(classify)
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        self.provider.get_block_number().await.map_err(classify)
    }

    async fn pending_nonce(&self, address: Address) -> Result<u64, ChainError> {
        self.provider.get_transaction_count(address).pending().await.map_err(classify)
    }

    async fn mined_nonce(&self, address: Address) -> Result<u64, ChainError> {
        self.provider.get_transaction_count(address).latest().await.map_err(classify)
    }

    async fn balance(&self, address: Address) -> Result<U256, ChainError> {
        self.provider.get_balance(address).await.map_err(classify)
    }

    async fn send_raw(&self, raw: &[u8]) -> Result<B256, ChainError> {
        let pending = self.provider.send_raw_transaction(raw).await.map_err(classify)?;
        Ok(*pending.tx_hash())
    }

    async fn receipt(&self, hash: B256) -> Result<Option<TxReceipt>, ChainError> {
        let Some(r) = self.provider.get_transaction_receipt(hash).await.map_err(classify)? else {
            return Ok(None);
        };
        let Some(block_number) = r.block_number else {
            return Ok(None);
        };
        let logs = r
            .inner
            .logs()
            .iter()
            .map(|l| ChainLog {
                address: l.address(),
                topics: l.topics().to_vec(),
                data: l.data().data.clone(),
                block_number,
                tx_hash: hash,
                log_index: l.log_index.unwrap_or_default(),
            })
            .collect();
        Ok(Some(TxReceipt {
            hash,
            block_number,
            success: r.status(),
            gas_used: r.gas_used,
            effective_gas_price: r.effective_gas_price,
            contract_address: r.contract_address,
            logs,
        }))
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let req = TransactionRequest::default().to(to).input(data.into());
        self.provider.call(req).await.map_err(|e| match classify(e) {
            ChainError::Rejected(m) => ChainError::Reverted(m),
            other => other,
        })
    }

    async fn logs(&self, address: Address, topic0: B256, from: u64, to: u64) -> Result<Vec<ChainLog>, ChainError> {
        let filter = Filter::new().address(address).event_signature(topic0).from_block(from).to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(classify)?;
        Ok(logs
            .into_iter()
            .filter_map(|l| {
                Some(ChainLog {
                    address: l.address(),
                    topics: l.topics().to_vec(),
                    data: l.data().data.clone(),
                    block_number: l.block_number?,
                    tx_hash: l.transaction_hash?,
                    log_index: l.log_index?,
                })
            })
            .collect())
    }

    async fn fee_history(&self, blocks: u64, percentile: f64) -> Result<FeeSample, ChainError> {
        let h = self
            .provider
            .get_fee_history(blocks.max(1), BlockNumberOrTag::Latest, &[percentile])
            .await
            .map_err(classify)?;
        let next_base_fee = h.base_fee_per_gas.last().copied().unwrap_or_default();
        let tips = h.reward.unwrap_or_default().into_iter().filter_map(|r| r.first().copied()).collect();
        Ok(FeeSample { next_base_fee, tips })
    }

    async fn has_code(&self, address: Address) -> Result<bool, ChainError> {
        let code = self.provider.get_code_at(address).await.map_err(classify)?;
        Ok(!code.is_empty())
    }
}
