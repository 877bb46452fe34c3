//! The embedded dev chain: revm executing the same compiled contracts
//! in-process, one transaction per block (automine), its state rebuilt at
//! start by replaying a journal of the raw transactions it accepted
//! (ADR 0011). A journal is small (one line per transaction, not per
//! account) and replaying it re-executes the real bytecode, so a restart
//! can never disagree with what ran.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use alloy::consensus::transaction::SignerRecoverable;
use alloy::consensus::{Transaction as _, TxEnvelope};
use alloy::eips::Decodable2718;
use alloy::primitives::{Address, B256, Bytes, TxKind, U256};
use async_trait::async_trait;
use revm::context::result::{EVMError, ExecutionResult, InvalidTransaction};
use revm::context::{BlockEnv, Context, TxEnv};
use revm::database::{CacheDB, EmptyDB};
use revm::primitives::KECCAK_EMPTY;
use revm::state::AccountInfo;
use revm::{DatabaseRef, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext};

use crate::{Chain, ChainError, ChainLog, FeeSample, TxReceipt};

/// Base fee of every embedded block (1 gwei): constant, so fees are real
/// (wallet balances fall) but never spike.
pub const EMBEDDED_BASE_FEE: u64 = 1_000_000_000;
const BLOCK_GAS_LIMIT: u64 = 30_000_000;
const CALL_GAS_LIMIT: u64 = 16_000_000;

/// First line of a journal: what the chain started from.
#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    v: u32,
    chain_id: u64,
    genesis_timestamp: u64,
    alloc: Vec<(Address, U256)>,
}

struct State {
    db: CacheDB<EmptyDB>,
    /// Timestamp per block; index = block number (0 = genesis).
    blocks: Vec<u64>,
    /// Tip paid in each block (one transaction per block).
    tips: Vec<u128>,
    receipts: HashMap<B256, TxReceipt>,
    logs: Vec<ChainLog>,
    journal: Option<std::fs::File>,
}

/// revm in-process, deploying and running the artifacts of `contracts/`.
pub struct EmbeddedChain {
    chain_id: u64,
    path: Option<PathBuf>,
    state: Mutex<State>,
}

impl std::fmt::Debug for EmbeddedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedChain").field("chain_id", &self.chain_id).field("path", &self.path).finish()
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn io_err(e: std::io::Error) -> ChainError {
    ChainError::Other(format!("embedded chain journal: {e}"))
}

impl EmbeddedChain {
    /// A chain kept only in memory (tests).
    pub fn in_memory(chain_id: u64, alloc: &[(Address, U256)]) -> Self {
        let header = Header { v: 1, chain_id, genesis_timestamp: now_secs(), alloc: alloc.to_vec() };
        EmbeddedChain { chain_id, path: None, state: Mutex::new(State::genesis(&header, None)) }
    }

    /// Opens the chain journaled at `path`, replaying it; creates it with
    /// `alloc` (address, wei) at genesis when the file does not exist (an
    /// existing journal keeps its own genesis and chain id).
    pub fn open(path: &Path, chain_id: u64, alloc: &[(Address, U256)]) -> Result<Self, ChainError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_err)?;
        }
        if !path.exists() {
            let header = Header { v: 1, chain_id, genesis_timestamp: now_secs(), alloc: alloc.to_vec() };
            let line = serde_json::to_string(&header).map_err(|e| ChainError::Other(e.to_string()))?;
            let tmp = path.with_extension("new");
            std::fs::write(&tmp, format!("{line}\n")).map_err(io_err)?;
            std::fs::rename(&tmp, path).map_err(io_err)?;
        }
        let file = std::fs::File::open(path).map_err(io_err)?;
        let mut lines = std::io::BufReader::new(file).lines();
        let first = lines.next().ok_or_else(|| ChainError::Other("empty chain journal".into()))?.map_err(io_err)?;
        let header: Header =
            serde_json::from_str(&first).map_err(|e| ChainError::Other(format!("chain journal header: {e}")))?;
        let mut state = State::genesis(&header, None);
        let mut replayed = 0_u64;
        let started = std::time::Instant::now();
        for line in lines {
            let line = line.map_err(io_err)?;
            let Some((ts, hex)) = line.split_once(' ') else {
                // A torn last line (crash mid-append): that send never
                // returned a hash, so dropping it loses nothing promised.
                tracing::warn!("ignoring a torn line at the end of the chain journal");
                break;
            };
            let (Ok(ts), Ok(raw)) = (ts.parse::<u64>(), alloy::hex::decode(hex)) else {
                tracing::warn!("ignoring an unreadable line at the end of the chain journal");
                break;
            };
            state.execute(header.chain_id, &raw, ts)?;
            replayed += 1;
        }
        let replay_ms = started.elapsed().as_millis() as u64;
        tracing::info!(path = %path.display(), replayed, replay_ms, "embedded chain opened");
        let journal = std::fs::OpenOptions::new().append(true).open(path).map_err(io_err)?;
        state.journal = Some(journal);
        Ok(EmbeddedChain { chain_id: header.chain_id, path: Some(path.to_path_buf()), state: Mutex::new(state) })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, ChainError> {
        self.state.lock().map_err(|_| ChainError::Other("embedded chain state poisoned".into()))
    }

    /// Sets an account's balance (wei) outside any transaction, like
    /// `anvil_setBalance`; not journaled, so only for in-memory chains.
    pub fn set_balance(&self, address: Address, wei: U256) -> Result<(), ChainError> {
        let mut st = self.lock()?;
        let mut info = st.db.basic_ref(address).ok().flatten().unwrap_or_default();
        info.balance = wei;
        st.db.insert_account_info(address, info);
        Ok(())
    }
}

impl State {
    fn genesis(h: &Header, journal: Option<std::fs::File>) -> State {
        let mut db = CacheDB::new(EmptyDB::default());
        for (addr, wei) in &h.alloc {
            db.insert_account_info(*addr, AccountInfo { balance: *wei, ..Default::default() });
        }
        State {
            db,
            blocks: vec![h.genesis_timestamp],
            tips: vec![0],
            receipts: HashMap::new(),
            logs: Vec::new(),
            journal,
        }
    }

    fn block_env(&self, number: u64, timestamp: u64) -> BlockEnv {
        BlockEnv {
            number: U256::from(number),
            timestamp: U256::from(timestamp),
            gas_limit: BLOCK_GAS_LIMIT,
            basefee: EMBEDDED_BASE_FEE,
            prevrandao: Some(B256::ZERO),
            ..Default::default()
        }
    }

    /// Executes one signed transaction in a new block; the receipt.
    fn execute(&mut self, chain_id: u64, raw: &[u8], timestamp: u64) -> Result<TxReceipt, ChainError> {
        let env = TxEnvelope::decode_2718(&mut &raw[..])
            .map_err(|e| ChainError::Rejected(format!("invalid transaction encoding: {e}")))?;
        let hash = *env.tx_hash();
        if self.receipts.contains_key(&hash) {
            return Err(ChainError::Rejected("already known".into()));
        }
        let caller = env.recover_signer().map_err(|e| ChainError::Rejected(format!("invalid signature: {e}")))?;
        let tx = TxEnv::builder()
            .tx_type(Some(env.tx_type() as u8))
            .caller(caller)
            .gas_limit(env.gas_limit())
            .gas_price(env.max_fee_per_gas())
            .gas_priority_fee(env.max_priority_fee_per_gas())
            .kind(env.kind())
            .value(env.value())
            .data(env.input().clone())
            .nonce(env.nonce())
            .chain_id(env.chain_id())
            .build()
            .map_err(|e| ChainError::Rejected(format!("invalid transaction: {e:?}")))?;
        let number = self.blocks.len() as u64;
        let timestamp = timestamp.max(self.blocks.last().copied().unwrap_or(0));
        let block = self.block_env(number, timestamp);
        let mut evm = Context::mainnet()
            .modify_cfg_chained(|c| c.chain_id = chain_id)
            .with_block(block)
            .with_db(&mut self.db)
            .build_mainnet();
        let result = evm.transact_commit(tx).map_err(|e| match e {
            EVMError::Transaction(InvalidTransaction::NonceTooLow { tx, state }) => {
                ChainError::Rejected(format!("nonce too low: transaction {tx}, account {state}"))
            }
            EVMError::Transaction(t) => ChainError::Rejected(t.to_string()),
            other => ChainError::Other(other.to_string()),
        })?;
        drop(evm);
        let gas_used = result.tx_gas_used();
        let tip = env
            .max_priority_fee_per_gas()
            .unwrap_or(env.max_fee_per_gas().saturating_sub(u128::from(EMBEDDED_BASE_FEE)))
            .min(env.max_fee_per_gas().saturating_sub(u128::from(EMBEDDED_BASE_FEE)));
        let contract_address = match env.kind() {
            TxKind::Create if result.is_success() => Some(caller.create(env.nonce())),
            _ => None,
        };
        let success = result.is_success();
        let first_log = self.logs.len();
        let logs: Vec<ChainLog> = match result {
            ExecutionResult::Success { logs, .. } => logs,
            _ => Vec::new(),
        }
        .into_iter()
        .enumerate()
        .map(|(i, l)| ChainLog {
            address: l.address,
            topics: l.data.topics().to_vec(),
            data: l.data.data.clone(),
            block_number: number,
            tx_hash: hash,
            log_index: i as u64,
        })
        .collect();
        self.logs.extend(logs.iter().cloned());
        debug_assert!(self.logs.len() >= first_log);
        let receipt = TxReceipt {
            hash,
            block_number: number,
            success,
            gas_used,
            effective_gas_price: u128::from(EMBEDDED_BASE_FEE) + tip,
            contract_address,
            logs,
        };
        self.blocks.push(timestamp);
        self.tips.push(tip);
        self.receipts.insert(hash, receipt.clone());
        if let Some(f) = self.journal.as_mut() {
            let line = format!("{timestamp} {}\n", alloy::hex::encode(raw));
            f.write_all(line.as_bytes()).and_then(|()| f.sync_data()).map_err(io_err)?;
        }
        Ok(receipt)
    }
}

#[async_trait]
impl Chain for EmbeddedChain {
    async fn chain_id(&self) -> Result<u64, ChainError> {
        Ok(self.chain_id)
    }

    async fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.lock()?.blocks.len() as u64 - 1)
    }

    async fn pending_nonce(&self, address: Address) -> Result<u64, ChainError> {
        self.mined_nonce(address).await
    }

    async fn mined_nonce(&self, address: Address) -> Result<u64, ChainError> {
        let st = self.lock()?;
        Ok(st.db.basic_ref(address).ok().flatten().map(|a| a.nonce).unwrap_or(0))
    }

    async fn balance(&self, address: Address) -> Result<U256, ChainError> {
        let st = self.lock()?;
        Ok(st.db.basic_ref(address).ok().flatten().map(|a| a.balance).unwrap_or_default())
    }

    async fn send_raw(&self, raw: &[u8]) -> Result<B256, ChainError> {
        let mut st = self.lock()?;
        st.execute(self.chain_id, raw, now_secs()).map(|r| r.hash)
    }

    async fn receipt(&self, hash: B256) -> Result<Option<TxReceipt>, ChainError> {
        Ok(self.lock()?.receipts.get(&hash).cloned())
    }

    async fn call(&self, to: Address, data: Bytes) -> Result<Bytes, ChainError> {
        let mut st = self.lock()?;
        let number = st.blocks.len() as u64;
        // A call pays nothing: base fee 0 so a zero gas price is valid.
        let block = BlockEnv { basefee: 0, ..st.block_env(number, now_secs()) };
        let tx = TxEnv::builder()
            .caller(Address::ZERO)
            .kind(TxKind::Call(to))
            .data(data)
            .gas_limit(CALL_GAS_LIMIT)
            .gas_price(0)
            .chain_id(Some(self.chain_id))
            .build()
            .map_err(|e| ChainError::Other(format!("call: {e:?}")))?;
        let mut evm = Context::mainnet()
            .modify_cfg_chained(|c| {
                c.chain_id = self.chain_id;
                c.disable_nonce_check = true;
            })
            .with_block(block)
            .with_db(&mut st.db)
            .build_mainnet();
        // `transact` without commit: the call's state changes are dropped.
        let out = evm.transact(tx).map_err(|e| ChainError::Other(e.to_string()))?;
        match out.result {
            ExecutionResult::Success { output, .. } => Ok(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(ChainError::Reverted(alloy::hex::encode_prefixed(output))),
            ExecutionResult::Halt { reason, .. } => Err(ChainError::Reverted(format!("{reason:?}"))),
        }
    }

    async fn logs(&self, address: Address, topic0: B256, from: u64, to: u64) -> Result<Vec<ChainLog>, ChainError> {
        let st = self.lock()?;
        // Logs are appended in block order: binary-search the range.
        let start = st.logs.partition_point(|l| l.block_number < from);
        Ok(st.logs[start..]
            .iter()
            .take_while(|l| l.block_number <= to)
            .filter(|l| l.address == address && l.topics.first() == Some(&topic0))
            .cloned()
            .collect())
    }

    async fn fee_history(&self, blocks: u64, _percentile: f64) -> Result<FeeSample, ChainError> {
        let st = self.lock()?;
        let n = (blocks as usize).min(st.tips.len());
        Ok(FeeSample { next_base_fee: u128::from(EMBEDDED_BASE_FEE), tips: st.tips[st.tips.len() - n..].to_vec() })
    }

    async fn has_code(&self, address: Address) -> Result<bool, ChainError> {
        let st = self.lock()?;
        Ok(st.db.basic_ref(address).ok().flatten().is_some_and(|a| a.code_hash != KECCAK_EMPTY))
    }
}
