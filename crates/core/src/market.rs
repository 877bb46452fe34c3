//! Market records and the market port: the double-entry ledger, bids,
//! auto-bid rules, settlement, buy-now and bounty pools (SPEC §6–8).

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use leadex_domain::market::{BountyCriteria, RuleTargets};
use leadex_domain::{AccountId, LeadId, Money};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::cursor::{Keyed, Page, PageRequest};
use crate::model::{LeadRecord, NewJob};
use crate::ports::StoreError;

/// A ledger account: `available:<buyer>`, `locked:<buyer>`,
/// `payable:<seller>`, `pool:<pool>`, `fees` or `escrow` (the contra
/// account of money held on chain; the only one that may be negative).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LedgerAccount {
    /// Stable id.
    pub id: String,
    /// `available | locked | payable | pool | fees | escrow`.
    pub kind: &'static str,
    /// The account or pool it belongs to.
    pub owner: Option<Uuid>,
}

impl LedgerAccount {
    fn owned(kind: &'static str, owner: Uuid) -> Self {
        Self { id: format!("{kind}:{owner}"), kind, owner: Some(owner) }
    }
    /// A buyer's spendable balance.
    pub fn available(a: AccountId) -> Self {
        Self::owned("available", a.as_uuid())
    }
    /// A buyer's funds locked by live bids.
    pub fn locked(a: AccountId) -> Self {
        Self::owned("locked", a.as_uuid())
    }
    /// What the exchange owes a seller.
    pub fn payable(a: AccountId) -> Self {
        Self::owned("payable", a.as_uuid())
    }
    /// A bounty pool's remaining funds.
    pub fn pool(p: Uuid) -> Self {
        Self::owned("pool", p)
    }
    /// Platform fees.
    pub fn fees() -> Self {
        Self { id: "fees".into(), kind: "fees", owner: None }
    }
    /// Money on its way out of the escrow contract (withdrawals and seller
    /// payouts sent, not yet confirmed on chain).
    pub fn outbound() -> Self {
        Self { id: "outbound".into(), kind: "outbound", owner: None }
    }
    /// The chain boundary.
    pub fn escrow() -> Self {
        Self { id: "escrow".into(), kind: "escrow", owner: None }
    }
}

/// One leg of a movement.
#[derive(Clone, Debug, PartialEq)]
pub struct Leg {
    /// Account.
    pub account: LedgerAccount,
    /// Signed amount (µUSDC).
    pub amount: i64,
}

/// A balanced movement: legs sum to zero.
#[derive(Clone, Debug, PartialEq)]
pub struct Movement {
    /// Legs.
    pub legs: Vec<Leg>,
    /// Why (`operator_credit`, `bid_lock`, `settlement`, …).
    pub reason: &'static str,
    /// What it refers to (`lead:<id>`, `bid:<id>`, …).
    pub reference: String,
}

impl Movement {
    /// `amount` from `from` to `to`.
    pub fn transfer(
        from: LedgerAccount,
        to: LedgerAccount,
        amount: Money,
        reason: &'static str,
        reference: String,
    ) -> Self {
        Self {
            legs: vec![Leg { account: from, amount: -amount.micros() }, Leg { account: to, amount: amount.micros() }],
            reason,
            reference,
        }
    }

    /// Whether the legs sum to zero.
    pub fn is_balanced(&self) -> bool {
        self.legs.iter().try_fold(0i64, |s, l| s.checked_add(l.amount)) == Some(0)
    }
}

/// A ledger entry as stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LedgerEntry {
    /// Id.
    pub id: Uuid,
    /// Movement it belongs to.
    pub tx_id: Uuid,
    /// Account.
    pub account_id: String,
    /// Signed amount.
    pub amount: Money,
    /// Reason.
    pub reason: String,
    /// Reference.
    pub reference: String,
    /// Time.
    pub created_at: DateTime<Utc>,
}

impl Keyed for LedgerEntry {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id)
    }
}

/// A buyer's balances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vault {
    /// Spendable.
    pub available: Money,
    /// Locked by live bids.
    pub locked: Money,
    /// Seller payable (for sellers).
    pub payable: Money,
}

/// `manual` (REST or socket) or `auto` (a rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BidSource {
    /// Placed by the buyer.
    Manual,
    /// Placed by an auto-bid rule; pays the convenience fee when it wins.
    Auto,
}

impl BidSource {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Auto => "auto",
        }
    }
}

/// A bid.
#[derive(Clone, Debug, PartialEq)]
pub struct Bid {
    /// Id.
    pub id: Uuid,
    /// Lead.
    pub lead_id: LeadId,
    /// Buyer.
    pub buyer_id: AccountId,
    /// Amount.
    pub amount: Money,
    /// Fee locked with it (auto-bids: $1).
    pub fee: Money,
    /// Source.
    pub source: BidSource,
    /// Rule that placed it.
    pub rule_id: Option<Uuid>,
    /// `live | withdrawn | won | lost`.
    pub status: String,
    /// Placement time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Bid {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id)
    }
}

/// The daily budget an auto-bid is charged against.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Rule.
    pub rule_id: Uuid,
    /// UTC day.
    pub day: NaiveDate,
    /// Budget.
    pub limit: Money,
}

/// A bid to place.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaceBid {
    /// New bid id (kept when replacing: the old id stays).
    pub id: Uuid,
    /// Lead.
    pub lead_id: LeadId,
    /// Buyer.
    pub buyer_id: AccountId,
    /// Amount.
    pub amount: Money,
    /// Fee to lock with it.
    pub fee: Money,
    /// Source.
    pub source: BidSource,
    /// Rule, for auto-bids.
    pub rule_id: Option<Uuid>,
    /// Daily budget to charge (auto-bids).
    pub budget: Option<Budget>,
    /// Time.
    pub at: DateTime<Utc>,
}

/// Why a bid was not placed.
#[derive(Debug, thiserror::Error)]
pub enum BidError {
    /// The auction is not running (closed, not yet open or past its end).
    #[error("auction not open")]
    NotOpen,
    /// Not enough available balance for the lock.
    #[error("insufficient funds")]
    Insufficient,
    /// The rule's daily budget would be exceeded.
    #[error("daily budget exhausted")]
    Budget,
    /// No live bid to withdraw.
    #[error("no live bid")]
    NoBid,
    /// Backend failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of one auto-bid attempt (one rule, in the order tried).
#[derive(Clone, Debug, PartialEq)]
pub enum AutoBidResult {
    /// The rule's bid was placed.
    Placed(Bid),
    /// The buyer already bid through a better rule of this evaluation.
    LowerPriority,
    /// The buyer already had a live bid on the lead (an earlier evaluation
    /// or a manual bid): auto-bidding never replaces it.
    AlreadyBid,
    /// The rule's daily budget would be exceeded.
    Budget,
    /// The buyer's available balance is below amount + fee.
    Insufficient,
    /// The auction was no longer open.
    Closed,
}

impl AutoBidResult {
    /// The decision log's `(outcome, reason)` for this result.
    pub fn decision(&self) -> (&'static str, &'static str) {
        match self {
            Self::Placed(_) => ("bid", "placed"),
            Self::LowerPriority => ("skipped", "lower_priority"),
            Self::AlreadyBid => ("skipped", "already_bid"),
            Self::Budget => ("skipped", "daily_budget_exceeded"),
            Self::Insufficient => ("skipped", "insufficient_funds"),
            Self::Closed => ("skipped", "auction_closed"),
        }
    }
}

/// All auto-bids of one lead, decided and written in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct AutoBids {
    /// The lead.
    pub lead_id: LeadId,
    /// Candidate bids in the order to try them (best rule of each buyer
    /// first); each carries its rule and budget.
    pub attempts: Vec<PlaceBid>,
    /// Decisions already taken before the store (reserve, KYC), recorded in
    /// the same transaction.
    pub skipped: Vec<Decision>,
    /// Evaluation time.
    pub at: DateTime<Utc>,
}

/// The result of [`Market::place_auto_bids`].
#[derive(Clone, Debug, PartialEq)]
pub struct AutoBidsOutcome {
    /// One result per attempt, in order.
    pub results: Vec<AutoBidResult>,
    /// The lead's bid count after the transaction.
    pub bid_count: i64,
}

/// How an auction closed.
#[derive(Clone, Debug, PartialEq)]
pub enum CloseOutcome {
    /// Sold to the winning bid.
    Sold {
        /// The winning bid.
        winner: Bid,
        /// Bids released.
        losers: Vec<Bid>,
    },
    /// No valid bid: listed for buy-now.
    Unsold,
    /// It was not in auction (already closed): nothing done.
    NotInAuction,
}

/// What closing needs besides the lead.
#[derive(Clone, Debug, PartialEq)]
pub struct CloseAuction {
    /// Lead.
    pub lead_id: LeadId,
    /// Commit time.
    pub at: DateTime<Utc>,
    /// Jobs when sold (`mint_nft`, `match_bounties`).
    pub sold_jobs: Vec<NewJob>,
    /// Jobs when unsold (`expire_listing`).
    pub unsold_jobs: Vec<NewJob>,
    /// End of the buy-now window when unsold.
    pub listed_until: DateTime<Utc>,
}

/// Why a buy-now failed.
#[derive(Debug, thiserror::Error)]
pub enum BuyError {
    /// Not `unsold` (sold to someone else, expired, still in auction).
    #[error("not for sale")]
    NotForSale,
    /// Not enough available balance.
    #[error("insufficient funds")]
    Insufficient,
    /// Backend failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An auto-bid rule as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Id.
    pub id: Uuid,
    /// Owner.
    pub buyer_id: AccountId,
    /// Targeting.
    pub targets: RuleTargets,
    /// Bid amount.
    pub bid_amount: Money,
    /// Highest bid.
    pub max_bid: Money,
    /// Daily budget.
    pub daily_budget: Money,
    /// Lower runs first among one buyer's matching rules.
    pub priority: i32,
    /// Whether it bids.
    pub active: bool,
    /// Creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Keyed for Rule {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id)
    }
}

/// A rule's decision on a lead.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// Id.
    pub id: Uuid,
    /// Rule.
    pub rule_id: Uuid,
    /// Lead.
    pub lead_id: Uuid,
    /// `bid | skipped`.
    pub outcome: String,
    /// Why (`placed`, `daily_budget_exceeded`, `insufficient_funds`,
    /// `lower_priority`, `reserve_above_max_bid`, …).
    pub reason: String,
    /// The bid amount, when bidding.
    pub amount: Option<Money>,
    /// Time.
    pub created_at: DateTime<Utc>,
}

impl Keyed for Decision {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id)
    }
}

/// A bounty pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// Id.
    pub id: Uuid,
    /// Funding buyer.
    pub buyer_id: AccountId,
    /// Vertical (a parent covers its descendants).
    pub vertical: String,
    /// Reward per matching lead.
    pub reward_per_lead: Money,
    /// Criteria.
    pub criteria: BountyCriteria,
    /// `active | closed`.
    pub status: String,
    /// Total funded so far.
    pub funded_total: Money,
    /// Remaining (the pool's ledger balance).
    pub remaining: Money,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation.
    pub created_at: DateTime<Utc>,
}

impl Keyed for Pool {
    fn sort_key(&self) -> (i64, Uuid) {
        (self.created_at.timestamp_micros(), self.id)
    }
}

/// Bounty totals of one vertical.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BountyTotal {
    /// Vertical.
    pub vertical: String,
    /// Active pools.
    pub pools: u64,
    /// Remaining funds across them.
    pub remaining: Money,
}

/// The market port: each method is one transaction.
#[async_trait]
pub trait Market: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a balanced movement (refused if unbalanced or if an ordinary
    /// account would go negative).
    async fn post(&self, m: &Movement, at: DateTime<Utc>) -> Result<Uuid, BidError>;
    /// Balances of an account.
    async fn vault(&self, owner: AccountId) -> Result<Vault, StoreError>;
    /// Entries of an owner's accounts, newest first.
    async fn entries(&self, owner: AccountId, page: &PageRequest) -> Result<Page<LedgerEntry>, StoreError>;
    /// Sum of every balance (zero by construction) and of the non-escrow
    /// balances (money held), for invariant checks and reserves.
    async fn ledger_totals(&self) -> Result<(i64, i64), StoreError>;

    /// Places or replaces the buyer's live bid, adjusting its lock by the
    /// difference; conditional on the auction being open at `at`.
    async fn place_bid(&self, b: &PlaceBid) -> Result<Bid, BidError>;
    /// Places a lead's auto-bids in one transaction: per attempt, in
    /// order, the checks of [`Market::place_bid`] plus one bid per buyer and
    /// the rule's daily budget; records every decision. Never replaces a
    /// live bid, so running it twice has the effect of once.
    async fn place_auto_bids(&self, a: &AutoBids) -> Result<AutoBidsOutcome, StoreError>;
    /// The KYC-verified accounts among `ids`.
    async fn kyc_verified(&self, ids: &[AccountId]) -> Result<std::collections::HashSet<AccountId>, StoreError>;
    /// Balances of several accounts in one read (missing owners: zero).
    async fn vaults(&self, owners: &[AccountId]) -> Result<Vec<(AccountId, Vault)>, StoreError>;
    /// Withdraws the buyer's live bid and releases its lock.
    async fn withdraw_bid(&self, lead: LeadId, buyer: AccountId, at: DateTime<Utc>) -> Result<Bid, BidError>;
    /// The buyer's bids, newest first.
    async fn buyer_bids(&self, buyer: AccountId, page: &PageRequest) -> Result<Page<Bid>, StoreError>;
    /// The buyer's bid on a lead (latest), if any.
    async fn buyer_bid(&self, lead: LeadId, buyer: AccountId) -> Result<Option<Bid>, StoreError>;
    /// Sum of live bids' amount + fee of a buyer (must equal its locked balance).
    async fn live_locked(&self, buyer: AccountId) -> Result<Money, StoreError>;

    /// Closes an auction: ranks live bids, settles the winner, releases the
    /// losers, marks the lead sold (or unsold) and enqueues the follow-up
    /// jobs, all in one transaction; a no-op unless `in_auction`.
    async fn close_auction(&self, c: &CloseAuction) -> Result<CloseOutcome, StoreError>;
    /// Sells an unsold lead at its buy-now price; one buyer wins a race.
    async fn buy_now(
        &self,
        lead: LeadId,
        buyer: AccountId,
        at: DateTime<Utc>,
        jobs: &[NewJob],
    ) -> Result<LeadRecord, BuyError>;
    /// Ends an unsold lead's listing once its window passed.
    async fn expire_listing(&self, lead: LeadId, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Inserts a rule.
    async fn create_rule(&self, r: &Rule) -> Result<(), StoreError>;
    /// Replaces a rule the buyer owns.
    async fn update_rule(&self, r: &Rule) -> Result<bool, StoreError>;
    /// Deletes a rule the buyer owns.
    async fn delete_rule(&self, buyer: AccountId, id: Uuid) -> Result<bool, StoreError>;
    /// A rule.
    async fn get_rule(&self, id: Uuid) -> Result<Option<Rule>, StoreError>;
    /// A buyer's rules, newest first.
    async fn buyer_rules(&self, buyer: AccountId, page: &PageRequest) -> Result<Page<Rule>, StoreError>;
    /// How many rules a buyer has.
    async fn count_rules(&self, buyer: AccountId) -> Result<u64, StoreError>;
    /// A counter bumped by every rule change (create, update, delete) in the
    /// change's transaction: a cache of [`Market::rules_for`] read after
    /// version `v` is current while the counter still reads `v`.
    async fn rule_set_version(&self) -> Result<i64, StoreError>;
    /// Active rules whose vertical is one of `verticals` (a lead's lineage
    /// and `*`): an indexed lookup, never a scan of every rule. Reads the
    /// primary, so it is never older than [`Market::rule_set_version`].
    async fn rules_for(&self, verticals: &[String]) -> Result<Vec<Rule>, StoreError>;
    /// A rule's decisions, newest first.
    async fn decisions(&self, rule: Uuid, page: &PageRequest) -> Result<Page<Decision>, StoreError>;

    /// Creates a pool funded from the buyer's available balance.
    async fn create_pool(&self, p: &Pool, at: DateTime<Utc>) -> Result<(), BidError>;
    /// Adds funds to a pool the buyer owns.
    async fn top_up_pool(&self, buyer: AccountId, id: Uuid, amount: Money, at: DateTime<Utc>)
    -> Result<bool, BidError>;
    /// Closes a pool, returning what is left to the buyer.
    async fn withdraw_pool(&self, buyer: AccountId, id: Uuid, at: DateTime<Utc>) -> Result<Option<Money>, StoreError>;
    /// A pool.
    async fn get_pool(&self, id: Uuid) -> Result<Option<Pool>, StoreError>;
    /// A buyer's pools.
    async fn buyer_pools(&self, buyer: AccountId, page: &PageRequest) -> Result<Page<Pool>, StoreError>;
    /// Active, unexpired pools of `verticals`.
    async fn pools_for(&self, verticals: &[String], at: DateTime<Utc>) -> Result<Vec<Pool>, StoreError>;
    /// Pays bounties on a sold lead to its seller (95/5), once per pool and
    /// lead; a pool without enough left is skipped. Returns what was paid.
    async fn pay_bounties(
        &self,
        lead: LeadId,
        seller: AccountId,
        payouts: &[(Uuid, Money)],
        at: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, Money)>, StoreError>;
    /// Remaining bounty funds per vertical.
    async fn bounty_totals(&self) -> Result<Vec<BountyTotal>, StoreError>;
}
