//! The chain bookkeeping port (SPEC §14): sold leads waiting for their
//! token, the transactions the hot wallets sent, and small chain state
//! (contract addresses, indexer cursors). Each method is one transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use leadex_domain::{AccountId, LeadId};
use serde::Serialize;
use uuid::Uuid;

use crate::ports::StoreError;

/// A sold lead to mint (from the `mint_nft` job).
#[derive(Clone, Debug, PartialEq)]
pub struct NewMint {
    /// The lead.
    pub lead_id: LeadId,
    /// `0x`-hex token id (`keccak256` of the lead id's 16 bytes).
    pub token_id: String,
    /// The buyer.
    pub buyer_id: AccountId,
    /// Vertical slug (a uint16 number is assigned on first use).
    pub vertical: String,
    /// Quality score 0..10 000.
    pub score: u16,
    /// Sale price, micro-USDC.
    pub price_micros: i64,
    /// When it sold.
    pub sold_at: DateTime<Utc>,
    /// Correlation id of the sale.
    pub correlation_id: String,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// Where a token stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MintStatus {
    /// Waiting for a batch.
    Queued,
    /// In a sent transaction, not yet confirmed.
    Sending,
    /// Confirmed on chain.
    Minted,
}

impl MintStatus {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            MintStatus::Queued => "queued",
            MintStatus::Sending => "sending",
            MintStatus::Minted => "minted",
        }
    }
    /// From the column value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => MintStatus::Queued,
            "sending" => MintStatus::Sending,
            "minted" => MintStatus::Minted,
            _ => return None,
        })
    }
}

/// A lead's token record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mint {
    /// The lead.
    pub lead_id: LeadId,
    /// `0x`-hex token id.
    pub token_id: String,
    /// The buyer.
    pub buyer_id: AccountId,
    /// Vertical slug.
    pub vertical: String,
    /// Its on-chain number.
    pub vertical_number: u16,
    /// Score 0..10 000.
    pub score: u16,
    /// Sale price, micro-USDC (never shown by the metadata endpoint).
    pub price_micros: i64,
    /// When it sold.
    pub sold_at: DateTime<Utc>,
    /// Where it stands.
    pub status: MintStatus,
    /// Recipient the token was (or is being) minted to.
    pub recipient: Option<String>,
    /// Batches it was part of that did not land.
    pub attempts: u32,
    /// The transaction that minted it.
    pub chain_tx_id: Option<Uuid>,
    /// Correlation id of the sale.
    pub correlation_id: String,
    /// When it was confirmed.
    pub minted_at: Option<DateTime<Utc>>,
    /// Wallet a custody claim moves it to (pending claim).
    pub claim_to: Option<String>,
}

/// A transaction about to be sent (signed; the nonce is taken).
#[derive(Clone, Debug, PartialEq)]
pub struct NewChainTx {
    /// Row id.
    pub id: Uuid,
    /// `mint_batch`, `payout_batch`, `withdraw`, `deploy`, `admin`.
    pub kind: String,
    /// Sending wallet (`0x` address).
    pub wallet: String,
    /// Its nonce.
    pub nonce: u64,
    /// `0x` hash.
    pub hash: String,
    /// Signed bytes (kept to rebroadcast).
    pub raw: Vec<u8>,
    /// Fee cap, wei.
    pub max_fee_per_gas: u128,
    /// Tip, wei.
    pub max_priority_fee_per_gas: u128,
    /// Gas limit.
    pub gas_limit: u64,
    /// Correlation ids of the requests and jobs it serves.
    pub correlation_ids: Vec<String>,
    /// Now.
    pub created_at: DateTime<Utc>,
}

/// Status of a transaction row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxStatus {
    /// Sent (or to be rebroadcast), no confirmed receipt yet.
    Pending,
    /// Mined, enough confirmations, succeeded.
    Confirmed,
    /// Mined and reverted.
    Reverted,
    /// Never mined: refused by the node, or its nonce went to another
    /// transaction.
    Dropped,
}

impl TxStatus {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            TxStatus::Pending => "pending",
            TxStatus::Confirmed => "confirmed",
            TxStatus::Reverted => "reverted",
            TxStatus::Dropped => "dropped",
        }
    }
    /// From the column value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => TxStatus::Pending,
            "confirmed" => TxStatus::Confirmed,
            "reverted" => TxStatus::Reverted,
            "dropped" => TxStatus::Dropped,
            _ => return None,
        })
    }
}

/// A row of `chain_txs`.
#[derive(Clone, PartialEq, Serialize)]
pub struct ChainTx {
    /// Row id.
    pub id: Uuid,
    /// Kind.
    pub kind: String,
    /// Sending wallet.
    pub wallet: String,
    /// Nonce.
    pub nonce: u64,
    /// Hash of the latest attempt.
    pub hash: String,
    /// Hashes of every attempt (replacements), oldest first.
    pub hashes: Vec<String>,
    /// Signed bytes of the latest attempt.
    #[serde(skip)]
    pub raw: Vec<u8>,
    /// Fee cap of the latest attempt, wei.
    pub max_fee_per_gas: u128,
    /// Tip of the latest attempt, wei.
    pub max_priority_fee_per_gas: u128,
    /// Gas limit.
    pub gas_limit: u64,
    /// Status.
    pub status: TxStatus,
    /// Sends so far (1 + replacements).
    pub attempts: u32,
    /// Block it was mined in.
    pub block_number: Option<u64>,
    /// Gas used.
    pub gas_used: Option<u64>,
    /// Price paid per gas, wei.
    pub effective_gas_price: Option<u128>,
    /// Why it was dropped or reverted.
    pub error: Option<String>,
    /// Correlation ids it serves.
    pub correlation_ids: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last (re)broadcast.
    pub sent_at: DateTime<Utc>,
    /// Confirmed (or dropped).
    pub finished_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for ChainTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the signed bytes (kilobytes of calldata).
        f.debug_struct("ChainTx")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("wallet", &self.wallet)
            .field("nonce", &self.nonce)
            .field("hashes", &self.hashes)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("max_fee_per_gas", &self.max_fee_per_gas)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// A mined transaction's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct TxOutcome {
    /// Row id.
    pub id: Uuid,
    /// The attempt that was mined.
    pub hash: String,
    /// Block.
    pub block_number: u64,
    /// Gas used.
    pub gas_used: u64,
    /// Price per gas, wei.
    pub effective_gas_price: u128,
    /// Succeeded (else reverted).
    pub success: bool,
    /// Now.
    pub at: DateTime<Utc>,
}

/// A replacement of a stuck transaction (same nonce, higher fees).
#[derive(Clone, Debug, PartialEq)]
pub struct TxReplacement {
    /// Row id.
    pub id: Uuid,
    /// New hash.
    pub hash: String,
    /// New signed bytes.
    pub raw: Vec<u8>,
    /// New fee cap.
    pub max_fee_per_gas: u128,
    /// New tip.
    pub max_priority_fee_per_gas: u128,
    /// Now.
    pub at: DateTime<Utc>,
}

/// The chain bookkeeping port; implemented by `leadex-store` on both engines.
#[async_trait]
pub trait NftStore: Send + Sync + std::fmt::Debug + 'static {
    /// Records a sold lead to mint, assigning its vertical's number on first
    /// use; false when it was already recorded (the job ran before).
    async fn queue_mint(&self, m: &NewMint) -> Result<bool, StoreError>;
    /// Up to `limit` queued mints, oldest first, with the recipient each
    /// should get (the buyer's linked wallet, else `custody`).
    async fn next_mints(&self, limit: usize, custody: &str) -> Result<Vec<Mint>, StoreError>;
    /// Records a signed transaction and moves `leads` from queued to
    /// sending under it, in one transaction; false (nothing written) if any
    /// lead was no longer queued.
    async fn record_tx(&self, tx: &NewChainTx, leads: &[(LeadId, String)]) -> Result<bool, StoreError>;
    /// Transactions not yet confirmed or dropped, oldest first.
    async fn pending_txs(&self) -> Result<Vec<ChainTx>, StoreError>;
    /// Records a fee-bumped replacement; conditional on the row pending.
    async fn replace_tx(&self, r: &TxReplacement) -> Result<bool, StoreError>;
    /// Marks a transaction mined: confirmed (its mints minted) or reverted
    /// (its mints queued again); the leads minted. Conditional on pending.
    async fn finish_tx(&self, o: &TxOutcome) -> Result<Vec<Mint>, StoreError>;
    /// Marks a transaction dropped, queueing its mints again. Conditional
    /// on pending.
    async fn drop_tx(&self, id: Uuid, error: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Marks queued leads minted by a transaction found on chain (a token
    /// that exists although its batch was thought lost).
    async fn adopt_minted(&self, leads: &[(LeadId, String)], at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// A token by id (`0x` hex).
    async fn mint_by_token(&self, token_id: &str) -> Result<Option<Mint>, StoreError>;
    /// A lead's token.
    async fn mint_by_lead(&self, lead: LeadId) -> Result<Option<Mint>, StoreError>;
    /// Counts of mints per status.
    async fn mint_counts(&self) -> Result<Vec<(MintStatus, u64)>, StoreError>;
    /// Tokens not minted yet (queued or in flight) and the sale time of the
    /// oldest of them.
    async fn mint_backlog(&self) -> Result<(u64, Option<DateTime<Utc>>), StoreError>;
    /// Every transaction of a kind, by wallet then nonce.
    async fn chain_txs(&self, kind: &str) -> Result<Vec<ChainTx>, StoreError>;
    /// Stores a wallet-linking challenge.
    async fn create_challenge(&self, c: &WalletChallenge) -> Result<(), StoreError>;
    /// Uses a challenge of `account` issued with exactly `message`
    /// (unused, unexpired at `at`) and links
    /// its address to the account, in one transaction: `Ok(None)` when
    /// there is no such usable challenge; a conflict when another account
    /// holds the address.
    async fn use_challenge_and_link(
        &self,
        nonce: &str,
        account: AccountId,
        message: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<WalletChallenge>, StoreError>;
    /// The wallet linked to an account.
    async fn linked_wallet(&self, account: AccountId) -> Result<Option<String>, StoreError>;
    /// Records an escrow deposit seen on chain and, when it names a buyer,
    /// credits the buyer's `available` balance from `escrow`, in one
    /// transaction; false when this log was recorded before.
    async fn record_deposit(&self, d: &ChainDeposit) -> Result<bool, StoreError>;
    /// Whether an account exists and is a buyer.
    async fn is_buyer(&self, account: AccountId) -> Result<bool, StoreError>;
    /// Moves `amount` from the buyer's available balance to `outbound` and
    /// queues its on-chain withdrawal, in one transaction; false (nothing
    /// written) when the balance is short.
    async fn request_withdrawal(&self, p: &Payout) -> Result<bool, StoreError>;
    /// Queues a payout of every seller whose payable balance reaches
    /// `min_micros` and who linked a wallet (payable → outbound); how many.
    async fn queue_seller_payouts(&self, min_micros: i64, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// Up to `limit` queued payouts of a kind, oldest first.
    async fn next_payouts(&self, kind: PayoutKind, limit: usize) -> Result<Vec<Payout>, StoreError>;
    /// Records a signed transaction carrying `payouts` (queued → sending),
    /// in one transaction; false (nothing written) if any was not queued.
    async fn record_payout_tx(&self, tx: &NewChainTx, payouts: &[Uuid]) -> Result<bool, StoreError>;
    /// Settles payouts whose transaction finished: confirmed → paid (the
    /// money leaves the ledger: outbound → escrow); reverted → failed (the
    /// money returns to the account); dropped → queued again. Each payout
    /// in its own conditional transaction; how many moved.
    async fn settle_payouts(&self, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// An account's withdrawals and payouts, newest first.
    async fn payouts_of(&self, account: AccountId, limit: usize) -> Result<Vec<Payout>, StoreError>;
    /// Sum of every non-escrow ledger balance: what the escrow contract
    /// must hold.
    async fn obligations(&self) -> Result<i64, StoreError>;
    /// Queues a claim of every token of `account` held by `custody`, to
    /// `to`; how many.
    async fn request_claims(&self, account: AccountId, custody: &str, to: &str) -> Result<u64, StoreError>;
    /// Up to `limit` claimed tokens without a transfer in flight.
    async fn next_claims(&self, limit: usize) -> Result<Vec<Mint>, StoreError>;
    /// Records the transfer transaction of a claim, in one transaction;
    /// false (nothing written) if the claim is gone or already in flight.
    async fn record_claim_tx(&self, tx: &NewChainTx, lead: LeadId) -> Result<bool, StoreError>;
    /// Claims whose transfer confirmed move the token's owner to the claim
    /// wallet; dropped or reverted transfers are tried again. How many
    /// completed.
    async fn settle_claims(&self) -> Result<u64, StoreError>;
    /// Marks a claim done (the token is already at `owner`) or abandoned
    /// (`owner` is neither custody nor the claim wallet: nothing to move).
    async fn finish_claim(&self, lead: LeadId, owner: &str) -> Result<(), StoreError>;
    /// The stored history of a correlation id: its leads (at most 100),
    /// their jobs, bids, ledger entries, tokens and the chain transactions
    /// that carried them, as time-ordered steps.
    async fn trace(&self, correlation_id: &str) -> Result<Vec<TraceStep>, StoreError>;
    /// A chain setting (contract addresses, cursors).
    async fn chain_meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a chain setting.
    async fn set_chain_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

/// An EIP-4361 challenge issued to an account.
#[derive(Clone, Debug, PartialEq)]
pub struct WalletChallenge {
    /// Single-use nonce.
    pub nonce: String,
    /// The account linking.
    pub account_id: AccountId,
    /// The address to link (checksummed `0x`).
    pub address: String,
    /// The exact message to sign.
    pub message: String,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// A `Deposited` log of the escrow contract.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainDeposit {
    /// Transaction hash (`0x`).
    pub tx_hash: String,
    /// Log index in its block.
    pub log_index: u64,
    /// The buyer the accountRef names (`None`: unattributed, not credited).
    pub account_id: Option<AccountId>,
    /// Depositor.
    pub from_address: String,
    /// Amount, micro-USDC.
    pub amount_micros: i64,
    /// Block.
    pub block_number: u64,
    /// Now.
    pub at: DateTime<Utc>,
}

/// What a payout row pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutKind {
    /// A buyer's withdrawal (`withdrawTo`).
    Withdrawal,
    /// A seller payout (`payoutBatch`).
    Payout,
}

impl PayoutKind {
    /// Column value.
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutKind::Withdrawal => "withdrawal",
            PayoutKind::Payout => "payout",
        }
    }
}

/// Money leaving the escrow for an account's wallet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Payout {
    /// Row id (also the on-chain `ref` of a withdrawal).
    pub id: Uuid,
    /// Withdrawal or payout.
    pub kind: PayoutKind,
    /// The account paid.
    pub account_id: AccountId,
    /// Destination wallet.
    pub to_address: String,
    /// Micro-USDC.
    pub amount_micros: i64,
    /// `queued`, `sending`, `paid`, `failed`.
    pub status: String,
    /// Its transaction.
    pub chain_tx_id: Option<Uuid>,
    /// Requested.
    pub created_at: DateTime<Utc>,
    /// Paid or failed.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One step of a trace timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceStep {
    /// When.
    pub at: DateTime<Utc>,
    /// What (`lead.ingested`, `job.score_lead`, `bid`, `ledger`, `auction.opened`, `lead.sold`,
    /// `nft.queued`, `chain.tx`, `nft.minted`, …).
    pub stage: String,
    /// The lead it belongs to (none for a transaction carrying several).
    pub lead_id: Option<LeadId>,
    /// Stage-specific fields.
    pub detail: serde_json::Value,
}
