//! Market use cases (SPEC §6–8): vaults, bids, auto-bid rules, closing
//! auctions, buy-now and bounties.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use leadex_domain::account::Role;
use leadex_domain::market::{
    AUTO_BID_FEE, BUY_NOW_DAYS, BountyCriteria, FieldFilter, LeadFacts, MAX_RULES_PER_BUYER, RuleTargets,
    allocate_bounties, auto_bid_amount,
};
use leadex_domain::{AccountId, JobId, LeadId, Money};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::Leadex;
use crate::cursor::{Page, PageRequest};
use crate::error::AppError;
use crate::market::{
    AutoBidResult, AutoBids, Bid, BidError, BidSource, BountyTotal, Budget, BuyError, CloseAuction, CloseOutcome,
    Decision, LedgerAccount, LedgerEntry, Movement, PlaceBid, Pool, Rule, Vault,
};
use crate::model::{LeadQuery, LeadRecord, LeadStatus, NewJob, Principal};

/// Job kinds caused by market transitions.
pub mod kinds {
    /// Settles an auction at its end.
    pub const CLOSE_AUCTION: &str = "close_auction";
    /// Evaluates auto-bid rules for a newly opened auction.
    pub const AUTO_BID: &str = "auto_bid";
    /// Mints the sold lead's NFT (chain issue).
    pub const MINT_NFT: &str = "mint_nft";
    /// Pays matching bounties on a sale.
    pub const MATCH_BOUNTIES: &str = "match_bounties";
    /// Ends an unsold lead's buy-now window.
    pub const EXPIRE_LISTING: &str = "expire_listing";
    /// Announces an auction's last ten seconds.
    pub const AUCTION_CLOSING: &str = "auction_closing";
}

/// `POST /v1/me/rules` body (SPEC §15).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Vertical slug or `*`.
    pub vertical: String,
    /// Countries.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Regions to include.
    #[serde(default)]
    pub regions_include: Vec<String>,
    /// Regions to exclude.
    #[serde(default)]
    pub regions_exclude: Vec<String>,
    /// Minimum score.
    #[serde(default)]
    pub min_score: Option<u32>,
    /// Field filters.
    #[serde(default)]
    pub field_filters: Vec<FieldFilter>,
    /// Bid amount.
    pub bid_amount: Money,
    /// Highest bid (default: the bid amount).
    #[serde(default)]
    pub max_bid: Option<Money>,
    /// Daily budget.
    pub daily_budget: Money,
    /// Lower runs first (default 100).
    #[serde(default)]
    pub priority: Option<i32>,
    /// Active (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

/// `POST /v1/bounties` body (SPEC §15).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BountyInput {
    /// Vertical slug.
    pub vertical: String,
    /// Funding taken from the available balance.
    pub total: Money,
    /// Reward per matching lead.
    pub reward_per_lead: Money,
    /// Criteria.
    #[serde(default)]
    pub criteria: BountyCriteria,
    /// Expiry.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

fn bid_error(e: BidError) -> AppError {
    match e {
        BidError::NotOpen => AppError::conflict("auction_closed", "the auction is not open for bids"),
        BidError::Insufficient => {
            AppError::invalid("insufficient_funds", "available balance does not cover the amount and fee")
                .with_field("amount")
        }
        BidError::Budget => AppError::invalid("daily_budget_exceeded", "the rule's daily budget is used up"),
        BidError::NoBid => AppError::not_found("bid_not_found", "no live bid on this lead"),
        BidError::Store(s) => s.into(),
    }
}

pub(crate) fn positive(m: Money, field: &str) -> Result<Money, AppError> {
    if m.micros() <= 0 {
        return Err(AppError::invalid("invalid_amount", format!("{field} must be positive")).with_field(field));
    }
    if m > Money::from_micros(10_000_000_000_000) {
        return Err(AppError::invalid("invalid_amount", format!("{field} is too large")).with_field(field));
    }
    Ok(m)
}

fn buyer(p: &Principal) -> Result<AccountId, AppError> {
    if p.account.role != Role::Buyer {
        return Err(AppError::forbidden("forbidden", "only buyer accounts trade"));
    }
    Ok(p.account.id)
}

impl Leadex {
    fn lead_job(&self, kind: &str, lead: &LeadRecord, run_at: DateTime<Utc>) -> NewJob {
        NewJob {
            id: JobId::new(),
            kind: kind.to_owned(),
            vertical: Some(lead.vertical.clone()),
            payload: json!({ "lead_id": lead.id }),
            run_at,
            priority: super::priority_of(kind),
            max_attempts: 3,
            correlation_id: lead.correlation_id.clone(),
            dedupe_key: Some(format!("{kind}:{}", lead.id)),
            created_at: self.clock.now(),
        }
    }

    async fn lead(&self, id: LeadId) -> Result<LeadRecord, AppError> {
        self.store.get_lead(id).await?.ok_or_else(|| AppError::not_found("lead_not_found", "no such lead"))
    }

    /// Credits a buyer's vault (operator, development): escrow → available.
    pub async fn credit_vault(&self, account: AccountId, amount: Money, reference: &str) -> Result<Vault, AppError> {
        let a = self.account(account).await?;
        if a.role != Role::Buyer {
            return Err(AppError::invalid("not_a_buyer", "only buyer vaults can be credited").with_field("account_id"));
        }
        positive(amount, "amount")?;
        let m = Movement::transfer(
            LedgerAccount::escrow(),
            LedgerAccount::available(account),
            amount,
            "operator_credit",
            reference.to_owned(),
        );
        self.market.post(&m, self.clock.now()).await.map_err(bid_error)?;
        Ok(self.market.vault(account).await?)
    }

    /// Balances of the caller.
    pub async fn vault(&self, owner: AccountId) -> Result<Vault, AppError> {
        Ok(self.market.vault(owner).await?)
    }

    /// The caller's ledger statement.
    pub async fn statement(&self, owner: AccountId, page: &PageRequest) -> Result<Page<LedgerEntry>, AppError> {
        Ok(self.market.entries(owner, page).await?)
    }

    /// Places (or replaces) a manual bid (SPEC §6 checks).
    pub async fn place_bid(
        &self,
        p: &Principal,
        lead_id: LeadId,
        amount: Money,
        correlation_id: &str,
    ) -> Result<Bid, AppError> {
        let buyer = buyer(p)?;
        positive(amount, "amount")?;
        let lead = self.lead(lead_id).await?;
        self.check_bidder(p, &lead, amount)?;
        let now = self.clock.now();
        let bid = self
            .market
            .place_bid(&PlaceBid {
                id: Uuid::now_v7(),
                lead_id,
                buyer_id: buyer,
                amount,
                fee: Money::ZERO,
                source: BidSource::Manual,
                rule_id: None,
                budget: None,
                at: now,
            })
            .await
            .map_err(bid_error)?;
        self.emit_bid(&bid, correlation_id).await;
        Ok(bid)
    }

    fn check_bidder(&self, p: &Principal, lead: &LeadRecord, amount: Money) -> Result<(), AppError> {
        if lead.status != LeadStatus::InAuction || lead.auction_ends_at.is_some_and(|e| e <= self.clock.now()) {
            return Err(AppError::conflict("auction_closed", "the auction is not open for bids"));
        }
        if lead.seller_id == p.account.id {
            return Err(AppError::forbidden("own_lead", "a seller cannot bid on its own lead"));
        }
        let kyc = self.catalog.get(&lead.vertical).is_some_and(|v| v.compliance.requires_kyc);
        if kyc && !p.account.kyc_verified {
            return Err(AppError::forbidden("kyc_required", "this vertical requires a KYC-verified buyer"));
        }
        if amount < lead.reserve_price {
            return Err(AppError::invalid("below_reserve", format!("the reserve price is {}", lead.reserve_price))
                .with_field("amount"));
        }
        Ok(())
    }

    /// Withdraws the caller's live bid.
    pub async fn withdraw_bid(&self, p: &Principal, lead_id: LeadId) -> Result<Bid, AppError> {
        let buyer = buyer(p)?;
        self.market.withdraw_bid(lead_id, buyer, self.clock.now()).await.map_err(bid_error)
    }

    /// The caller's bids.
    pub async fn my_bids(&self, p: &Principal, page: &PageRequest) -> Result<Page<Bid>, AppError> {
        Ok(self.market.buyer_bids(buyer(p)?, page).await?)
    }

    /// The caller's latest bid on a lead.
    pub async fn my_bid(&self, p: &Principal, lead: LeadId) -> Result<Option<Bid>, AppError> {
        Ok(self.market.buyer_bid(lead, p.account.id).await?)
    }

    /// Leads the caller bought.
    pub async fn purchases(&self, p: &Principal, page: &PageRequest) -> Result<Page<LeadRecord>, AppError> {
        let q = LeadQuery { buyer_id: Some(buyer(p)?), ..LeadQuery::default() };
        Ok(self.store.list_leads(&q, page).await?)
    }

    /// Buys an unsold lead at its buy-now price.
    pub async fn buy_now(&self, p: &Principal, lead_id: LeadId) -> Result<LeadRecord, AppError> {
        let buyer = buyer(p)?;
        let lead = self.lead(lead_id).await?;
        if lead.seller_id == buyer {
            return Err(AppError::forbidden("own_lead", "a seller cannot buy its own lead"));
        }
        let kyc = self.catalog.get(&lead.vertical).is_some_and(|v| v.compliance.requires_kyc);
        if kyc && !p.account.kyc_verified {
            return Err(AppError::forbidden("kyc_required", "this vertical requires a KYC-verified buyer"));
        }
        let now = self.clock.now();
        let jobs = [self.lead_job(kinds::MINT_NFT, &lead, now), self.lead_job(kinds::MATCH_BOUNTIES, &lead, now)];
        match self.market.buy_now(lead_id, buyer, now, &jobs).await {
            Ok(l) => {
                self.jobs_notify.notify_waiters();
                metrics::counter!("leadex_buy_now_total", "vertical" => l.vertical.clone()).increment(1);
                self.emit_bought(&l, buyer).await;
                Ok(l)
            }
            Err(BuyError::NotForSale) => {
                Err(AppError::conflict("not_for_sale", "the lead is not for sale (sold, expired or in auction)"))
            }
            Err(BuyError::Insufficient) => {
                Err(AppError::invalid("insufficient_funds", "available balance does not cover the buy-now price"))
            }
            Err(BuyError::Store(s)) => Err(s.into()),
        }
    }

    /// Closes an auction (the `close_auction` job): one transaction.
    pub async fn close_auction(&self, lead_id: LeadId) -> Result<CloseOutcome, AppError> {
        let lead = self.lead(lead_id).await?;
        if lead.status != LeadStatus::InAuction {
            return Ok(CloseOutcome::NotInAuction);
        }
        let now = self.clock.now();
        let listed_until = now + chrono::Duration::days(BUY_NOW_DAYS);
        let c = CloseAuction {
            lead_id,
            at: now,
            sold_jobs: vec![
                self.lead_job(kinds::MINT_NFT, &lead, now),
                self.lead_job(kinds::MATCH_BOUNTIES, &lead, now),
            ],
            unsold_jobs: vec![self.lead_job(kinds::EXPIRE_LISTING, &lead, listed_until)],
            listed_until,
        };
        let outcome = self.market.close_auction(&c).await?;
        let label = match &outcome {
            CloseOutcome::Sold { .. } => "sold",
            CloseOutcome::Unsold => "unsold",
            CloseOutcome::NotInAuction => return Ok(outcome),
        };
        if let Some(end) = lead.auction_ends_at {
            let late = (Utc::now() - end).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6;
            metrics::histogram!("leadex_auction_close_latency_seconds", "vertical" => lead.root_vertical.clone())
                .record(late);
        }
        metrics::counter!("leadex_auctions_closed_total", "vertical" => lead.root_vertical.clone(), "outcome" => label)
            .increment(1);
        self.jobs_notify.notify_waiters();
        self.emit_closed(&lead, &outcome).await;
        Ok(outcome)
    }

    /// Announces the last ten seconds of an auction (the `auction_closing`
    /// job); nothing when it is already over.
    pub async fn announce_closing(&self, lead_id: LeadId) -> Result<(), AppError> {
        let lead = self.lead(lead_id).await?;
        if lead.status == LeadStatus::InAuction {
            self.emit_closing(&lead);
        }
        Ok(())
    }

    /// Ends an unsold lead's listing (the `expire_listing` job).
    pub async fn expire_listing(&self, lead: LeadId) -> Result<bool, AppError> {
        Ok(self.market.expire_listing(lead, self.clock.now()).await?)
    }

    fn rule_from(
        &self,
        buyer: AccountId,
        input: RuleInput,
        id: Uuid,
        created_at: DateTime<Utc>,
    ) -> Result<Rule, AppError> {
        let bad = |code, detail: String, field: &str| AppError::invalid(code, detail).with_field(field);
        let vertical = if input.vertical == "*" {
            "*".to_owned()
        } else {
            self.catalog
                .get(&input.vertical)
                .map(|v| v.def.slug.clone())
                .ok_or_else(|| bad("unknown_vertical", format!("unknown vertical `{}`", input.vertical), "vertical"))?
        };
        if input.min_score.is_some_and(|s| s > leadex_domain::score::MAX_SCORE) {
            return Err(bad("invalid_score", "min_score is 0–10000".into(), "min_score"));
        }
        if input.field_filters.len() > 20 {
            return Err(bad("invalid_filter", "at most 20 field filters".into(), "field_filters"));
        }
        for (i, f) in input.field_filters.iter().enumerate() {
            let biddable = if vertical == "*" {
                self.catalog.iter().any(|v| v.field(&f.field).is_some_and(|d| d.biddable && !d.pii))
            } else {
                self.catalog.get(&vertical).is_some_and(|v| {
                    self.catalog.subtree(v.slug()).iter().any(|s| {
                        self.catalog.get(s).and_then(|x| x.field(&f.field)).is_some_and(|d| d.biddable && !d.pii)
                    })
                })
            };
            if !biddable {
                return Err(bad(
                    "invalid_filter",
                    format!("`{}` is not a biddable field", f.field),
                    &format!("field_filters[{i}].field"),
                ));
            }
            f.check().map_err(|e| bad("invalid_filter", e.0, &format!("field_filters[{i}].value")))?;
        }
        let bid_amount = positive(input.bid_amount, "bid_amount")?;
        let max_bid = positive(input.max_bid.unwrap_or(bid_amount), "max_bid")?;
        if max_bid < bid_amount {
            return Err(bad("invalid_amount", "max_bid must not be below bid_amount".into(), "max_bid"));
        }
        let daily_budget = positive(input.daily_budget, "daily_budget")?;
        let up = |v: Vec<String>| v.into_iter().map(|s| s.trim().to_ascii_uppercase()).collect::<Vec<_>>();
        let now = self.clock.now();
        Ok(Rule {
            id,
            buyer_id: buyer,
            targets: RuleTargets {
                vertical,
                countries: up(input.countries),
                regions_include: up(input.regions_include),
                regions_exclude: up(input.regions_exclude),
                min_score: input.min_score,
                field_filters: input.field_filters,
            },
            bid_amount,
            max_bid,
            daily_budget,
            priority: input.priority.unwrap_or(100),
            active: input.active.unwrap_or(true),
            created_at,
            updated_at: now,
        })
    }

    /// Creates an auto-bid rule (at most 50 per buyer).
    pub async fn create_rule(&self, p: &Principal, input: RuleInput) -> Result<Rule, AppError> {
        let buyer = buyer(p)?;
        if self.market.count_rules(buyer).await? >= MAX_RULES_PER_BUYER as u64 {
            return Err(AppError::invalid(
                "too_many_rules",
                format!("a buyer has at most {MAX_RULES_PER_BUYER} rules"),
            ));
        }
        let rule = self.rule_from(buyer, input, Uuid::now_v7(), self.clock.now())?;
        self.market.create_rule(&rule).await?;
        Ok(rule)
    }

    /// A rule of the caller.
    pub async fn rule(&self, p: &Principal, id: Uuid) -> Result<Rule, AppError> {
        self.market
            .get_rule(id)
            .await?
            .filter(|r| r.buyer_id == p.account.id)
            .ok_or_else(|| AppError::not_found("rule_not_found", "no such rule"))
    }

    /// Replaces a rule of the caller.
    pub async fn update_rule(&self, p: &Principal, id: Uuid, input: RuleInput) -> Result<Rule, AppError> {
        let old = self.rule(p, id).await?;
        let rule = self.rule_from(old.buyer_id, input, id, old.created_at)?;
        if !self.market.update_rule(&rule).await? {
            return Err(AppError::not_found("rule_not_found", "no such rule"));
        }
        Ok(rule)
    }

    /// Deletes a rule of the caller.
    pub async fn delete_rule(&self, p: &Principal, id: Uuid) -> Result<(), AppError> {
        if self.market.delete_rule(p.account.id, id).await? {
            Ok(())
        } else {
            Err(AppError::not_found("rule_not_found", "no such rule"))
        }
    }

    /// The caller's rules.
    pub async fn rules(&self, p: &Principal, page: &PageRequest) -> Result<Page<Rule>, AppError> {
        Ok(self.market.buyer_rules(buyer(p)?, page).await?)
    }

    /// A rule's decisions.
    pub async fn rule_decisions(
        &self,
        p: &Principal,
        id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<Decision>, AppError> {
        self.rule(p, id).await?;
        Ok(self.market.decisions(id, page).await?)
    }

    /// The active rules a lead of `vertical` can match (`lookup`: its
    /// lineage and `*`), from the per-process cache while the rule-set
    /// version is unchanged: one single-row read instead of loading and
    /// decoding hundreds of rules per lead.
    async fn cached_rules(&self, vertical: &str, lookup: &[String]) -> Result<Arc<Vec<Rule>>, AppError> {
        let version = self.market.rule_set_version().await?;
        {
            let cache = self.rule_cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.0 == version
                && let Some(rules) = cache.1.get(vertical)
            {
                return Ok(rules.clone());
            }
        }
        let rules = Arc::new(self.market.rules_for(lookup).await?);
        let mut cache = self.rule_cache.lock().unwrap_or_else(|p| p.into_inner());
        if version > cache.0 {
            cache.1.clear();
            cache.0 = version;
        }
        if version == cache.0 {
            cache.1.insert(vertical.to_owned(), rules.clone());
        }
        Ok(rules)
    }

    /// Evaluates every active rule of the lead's vertical lineage (the
    /// `auto_bid` job): per buyer only its best-priority matching rule bids;
    /// a rule that cannot bid (budget, balance, reserve) records why.
    pub async fn run_auto_bids(&self, lead_id: LeadId) -> Result<usize, AppError> {
        let lead = self.lead(lead_id).await?;
        if lead.status != LeadStatus::InAuction {
            return Ok(0);
        }
        let plan = self.plan_auto_bids(&lead).await?;
        let out = self.market.place_auto_bids(&plan).await?;
        let bids: Vec<&Bid> =
            out.results.iter().filter_map(|r| if let AutoBidResult::Placed(b) = r { Some(b) } else { None }).collect();
        let placed = bids.len();
        self.emit_auto_bids(&lead, &bids, out.bid_count).await;
        metrics::counter!("leadex_auto_bids_total").increment(placed as u64);
        Ok(placed)
    }

    /// The evaluation proper of a lead's auto-bids, without writing: the
    /// cached rules of its lineage matched against it, per buyer in priority
    /// order, reserve and KYC skips decided. Budgets, balances and one bid
    /// per buyer are decided by [`crate::market::Market::place_auto_bids`]
    /// under its locks.
    pub async fn plan_auto_bids(&self, lead: &LeadRecord) -> Result<AutoBids, AppError> {
        let mut lineage = self.catalog.lineage(&lead.vertical);
        let facts = LeadFacts {
            lineage: &lineage,
            country: &lead.geo.country,
            region: lead.geo.region.as_deref(),
            score: lead.score.map_or(0, |s| s.value),
            fields: &lead.fields,
        };
        let mut lookup = lineage.clone();
        lookup.push("*".into());
        let all = self.cached_rules(&lead.vertical, &lookup).await?;
        let mut candidates: Vec<&Rule> =
            all.iter().filter(|r| r.buyer_id != lead.seller_id && r.targets.matches(&facts).is_ok()).collect();
        lineage.clear();
        // Best priority per buyer first; ties: the newest rule.
        candidates.sort_by(|a, b| {
            a.buyer_id.cmp(&b.buyer_id).then(a.priority.cmp(&b.priority)).then(b.created_at.cmp(&a.created_at))
        });
        let now = self.clock.now();
        let kyc = self.catalog.get(&lead.vertical).is_some_and(|v| v.compliance.requires_kyc);
        let verified = if kyc {
            let mut buyers: Vec<AccountId> = candidates.iter().map(|r| r.buyer_id).collect();
            buyers.dedup();
            self.market.kyc_verified(&buyers).await?
        } else {
            HashSet::new()
        };
        // Skips known before the store (reserve, KYC) are recorded with the
        // store's decisions; everything else is decided in one transaction.
        let mut skipped = Vec::new();
        let mut attempts = Vec::new();
        for &rule in &candidates {
            let skip = |reason: &str| Decision {
                id: Uuid::now_v7(),
                rule_id: rule.id,
                lead_id: lead.id.as_uuid(),
                outcome: "skipped".into(),
                reason: reason.into(),
                amount: None,
                created_at: now,
            };
            let Some(amount) = auto_bid_amount(rule.bid_amount, rule.max_bid, lead.reserve_price) else {
                skipped.push(skip("reserve_above_max_bid"));
                continue;
            };
            if kyc && !verified.contains(&rule.buyer_id) {
                skipped.push(skip("kyc_required"));
                continue;
            }
            attempts.push(PlaceBid {
                id: Uuid::now_v7(),
                lead_id: lead.id,
                buyer_id: rule.buyer_id,
                amount,
                fee: AUTO_BID_FEE,
                source: BidSource::Auto,
                rule_id: Some(rule.id),
                budget: Some(Budget { rule_id: rule.id, day: now.date_naive(), limit: rule.daily_budget }),
                at: now,
            });
        }
        Ok(AutoBids { lead_id: lead.id, attempts, skipped, at: now })
    }

    /// Funds a bounty pool from the caller's available balance.
    pub async fn create_bounty(&self, p: &Principal, input: BountyInput) -> Result<Pool, AppError> {
        let buyer = buyer(p)?;
        let vertical = self
            .catalog
            .get(&input.vertical)
            .map(|v| v.def.slug.clone())
            .ok_or_else(|| AppError::invalid("unknown_vertical", "no such vertical").with_field("vertical"))?;
        let total = positive(input.total, "total")?;
        let reward = positive(input.reward_per_lead, "reward_per_lead")?;
        if reward > total {
            return Err(
                AppError::invalid("invalid_amount", "reward_per_lead exceeds total").with_field("reward_per_lead")
            );
        }
        let now = self.clock.now();
        if input.expires_at.is_some_and(|e| e <= now) {
            return Err(
                AppError::invalid("invalid_expiry", "expires_at must be in the future").with_field("expires_at")
            );
        }
        let pool = Pool {
            id: Uuid::now_v7(),
            buyer_id: buyer,
            vertical,
            reward_per_lead: reward,
            criteria: input.criteria,
            status: "active".into(),
            funded_total: total,
            remaining: total,
            expires_at: input.expires_at,
            created_at: now,
        };
        self.market.create_pool(&pool, now).await.map_err(bid_error)?;
        Ok(pool)
    }

    /// A pool of the caller.
    pub async fn bounty(&self, p: &Principal, id: Uuid) -> Result<Pool, AppError> {
        self.market
            .get_pool(id)
            .await?
            .filter(|x| x.buyer_id == p.account.id)
            .ok_or_else(|| AppError::not_found("bounty_not_found", "no such bounty pool"))
    }

    /// Adds funds to a pool of the caller.
    pub async fn top_up_bounty(&self, p: &Principal, id: Uuid, amount: Money) -> Result<Pool, AppError> {
        let buyer = buyer(p)?;
        positive(amount, "amount")?;
        if !self.market.top_up_pool(buyer, id, amount, self.clock.now()).await.map_err(bid_error)? {
            return Err(AppError::not_found("bounty_not_found", "no such active bounty pool"));
        }
        self.bounty(p, id).await
    }

    /// Closes a pool of the caller; the remainder returns to its vault.
    pub async fn withdraw_bounty(&self, p: &Principal, id: Uuid) -> Result<Money, AppError> {
        let buyer = buyer(p)?;
        self.market
            .withdraw_pool(buyer, id, self.clock.now())
            .await?
            .ok_or_else(|| AppError::not_found("bounty_not_found", "no such active bounty pool"))
    }

    /// The caller's pools.
    pub async fn my_bounties(&self, p: &Principal, page: &PageRequest) -> Result<Page<Pool>, AppError> {
        Ok(self.market.buyer_pools(buyer(p)?, page).await?)
    }

    /// Remaining bounty funds per vertical (public).
    pub async fn bounty_totals(&self) -> Result<Vec<BountyTotal>, AppError> {
        Ok(self.market.bounty_totals().await?)
    }

    /// Pays the bounties a sold lead qualifies for (the `match_bounties`
    /// job): strict criteria, biggest reward first, at most 2 × the price.
    pub async fn match_bounties(&self, lead_id: LeadId) -> Result<Vec<(Uuid, Money)>, AppError> {
        let lead = self.lead(lead_id).await?;
        let (Some(price), Some(sold_at), LeadStatus::Sold) = (lead.sold_price, lead.sold_at, lead.status) else {
            return Ok(Vec::new());
        };
        let lineage = self.catalog.lineage(&lead.vertical);
        let facts = LeadFacts {
            lineage: &lineage,
            country: &lead.geo.country,
            region: lead.geo.region.as_deref(),
            score: lead.score.map_or(0, |s| s.value),
            fields: &lead.fields,
        };
        let pools = self.market.pools_for(&lineage, sold_at).await?;
        let eligible: Vec<&Pool> = pools
            .iter()
            .filter(|p| p.buyer_id != lead.seller_id && p.criteria.matches(&facts, lead.created_at, sold_at))
            .collect();
        let rewards: Vec<(usize, Money)> = eligible.iter().enumerate().map(|(i, p)| (i, p.reward_per_lead)).collect();
        let chosen: Vec<(Uuid, Money)> =
            allocate_bounties(&rewards, price).into_iter().map(|(i, m)| (eligible[i].id, m)).collect();
        if chosen.is_empty() {
            // Nothing qualifies: no transaction at all (most sales).
            return Ok(Vec::new());
        }
        let paid = self.market.pay_bounties(lead_id, lead.seller_id, &chosen, self.clock.now()).await?;
        metrics::counter!("leadex_bounties_paid_total").increment(paid.len() as u64);
        self.emit_bounties(&lead, &paid).await;
        Ok(paid)
    }

    /// Sum of every ledger balance (must be zero) and the money held.
    pub async fn ledger_totals(&self) -> Result<(i64, i64), AppError> {
        Ok(self.market.ledger_totals().await?)
    }

    /// Sum of a buyer's live bids (amount + fee).
    pub async fn live_locked(&self, buyer: AccountId) -> Result<Money, AppError> {
        Ok(self.market.live_locked(buyer).await?)
    }
}
