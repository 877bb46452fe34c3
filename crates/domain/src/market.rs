//! Market rules (SPEC §6, §8): fees and the settlement split, the
//! verifiable tie-break, auto-bid rule matching and bounty criteria.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::lead::keccak256;
use crate::money::Money;

/// The seller's share of a sale or bounty, in basis points (95 %).
pub const SELLER_SHARE_BPS: i64 = 9_500;
/// The convenience fee of a winning auto-bid ($1.00).
pub const AUTO_BID_FEE: Money = Money::from_micros(1_000_000);
/// How long an unsold lead stays for sale at its buy-now price.
pub const BUY_NOW_DAYS: i64 = 7;
/// Auto-bid rules per buyer.
pub const MAX_RULES_PER_BUYER: usize = 50;

/// Splits `amount` into the seller's 95 % (rounded down) and the platform's
/// remainder, so the parts always add up to the whole.
pub fn split(amount: Money) -> (Money, Money) {
    let seller = amount.bps(SELLER_SHARE_BPS).unwrap_or(Money::ZERO);
    let platform = amount.checked_sub(seller).unwrap_or(Money::ZERO);
    (seller, platform)
}

/// The winner among bids tied at the top amount: bids are ordered by id and
/// the winner is `keccak256(seed ‖ lead_id) mod n`. Anyone can recheck it
/// once the seed is revealed.
pub fn tie_break(seed: &[u8; 32], lead_id: &uuid::Uuid, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let mut data = Vec::with_capacity(48);
    data.extend_from_slice(seed);
    data.extend_from_slice(lead_id.as_bytes());
    let h = keccak256(&data);
    // The 256-bit hash, big-endian, reduced mod n byte by byte.
    let n = n as u128;
    h.iter().fold(0u128, |r, b| (r * 256 + u128::from(*b)) % n) as usize
}

/// A bid as ranked at close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RankedBid {
    /// Bid id (UUIDv7).
    pub id: uuid::Uuid,
    /// Amount.
    pub amount: Money,
}

/// The winning bid: the highest amount, ties broken by [`tie_break`] over
/// the tied bids ordered by id. `None` without bids.
pub fn winner(bids: &[RankedBid], seed: &[u8; 32], lead_id: &uuid::Uuid) -> Option<RankedBid> {
    let top = bids.iter().map(|b| b.amount).max()?;
    let mut tied: Vec<RankedBid> = bids.iter().copied().filter(|b| b.amount == top).collect();
    tied.sort_by_key(|b| b.id);
    Some(tied[tie_break(seed, lead_id, tied.len())])
}

/// A comparison of an auto-bid field filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// One of a list.
    In,
    /// None of a list.
    NotIn,
    /// Greater than.
    Gt,
    /// Greater or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less or equal.
    Lte,
    /// Inclusive range `[lo, hi]`.
    Between,
    /// Text contains.
    Contains,
    /// Text starts with.
    StartsWith,
}

/// One field filter of a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldFilter {
    /// A biddable field key.
    pub field: String,
    /// Comparison.
    pub op: FilterOp,
    /// Operand: a scalar, a list (`in`, `not_in`) or `[lo, hi]` (`between`).
    pub value: Value,
}

/// Why a filter definition is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

impl FieldFilter {
    /// Checks the operand's shape for the operator.
    pub fn check(&self) -> Result<(), FilterError> {
        let ok = match self.op {
            FilterOp::In | FilterOp::NotIn => self.value.as_array().is_some_and(|a| !a.is_empty() && a.len() <= 100),
            FilterOp::Between => self.value.as_array().is_some_and(|a| a.len() == 2 && a.iter().all(Value::is_number)),
            FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte => self.value.is_number(),
            FilterOp::Contains | FilterOp::StartsWith => self.value.is_string(),
            FilterOp::Eq | FilterOp::Ne => !self.value.is_array() && !self.value.is_object(),
        };
        if ok {
            Ok(())
        } else {
            Err(FilterError(format!("value does not fit operator {:?} on `{}`", self.op, self.field)))
        }
    }

    /// Whether the lead's `fields` satisfy the filter. A missing field
    /// satisfies only `ne` and `not_in`.
    pub fn matches(&self, fields: &Map<String, Value>) -> bool {
        let Some(v) = fields.get(&self.field) else {
            return matches!(self.op, FilterOp::Ne | FilterOp::NotIn);
        };
        let num = |x: &Value| x.as_f64();
        let eq = |a: &Value, b: &Value| match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        };
        match self.op {
            FilterOp::Eq => eq(v, &self.value),
            FilterOp::Ne => !eq(v, &self.value),
            FilterOp::In => self.value.as_array().is_some_and(|a| a.iter().any(|x| eq(v, x))),
            FilterOp::NotIn => self.value.as_array().is_some_and(|a| !a.iter().any(|x| eq(v, x))),
            FilterOp::Gt => cmp(v, &self.value, |a, b| a > b),
            FilterOp::Gte => cmp(v, &self.value, |a, b| a >= b),
            FilterOp::Lt => cmp(v, &self.value, |a, b| a < b),
            FilterOp::Lte => cmp(v, &self.value, |a, b| a <= b),
            FilterOp::Between => match (num(v), self.value.as_array()) {
                (Some(x), Some(r)) if r.len() == 2 => match (num(&r[0]), num(&r[1])) {
                    (Some(lo), Some(hi)) => lo <= x && x <= hi,
                    _ => false,
                },
                _ => false,
            },
            FilterOp::Contains => match (v.as_str(), self.value.as_str()) {
                (Some(s), Some(p)) => s.to_lowercase().contains(&p.to_lowercase()),
                _ => false,
            },
            FilterOp::StartsWith => match (v.as_str(), self.value.as_str()) {
                (Some(s), Some(p)) => s.to_lowercase().starts_with(&p.to_lowercase()),
                _ => false,
            },
        }
    }
}

fn cmp(a: &Value, b: &Value, f: impl Fn(f64, f64) -> bool) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => f(x, y),
        _ => false,
    }
}

/// What a rule or a bounty is matched against.
#[derive(Clone, Debug)]
pub struct LeadFacts<'a> {
    /// The lead's vertical followed by its ancestors.
    pub lineage: &'a [String],
    /// Country.
    pub country: &'a str,
    /// Region.
    pub region: Option<&'a str>,
    /// Score (0 when not scored).
    pub score: u32,
    /// Non-PII fields.
    pub fields: &'a Map<String, Value>,
}

/// An auto-bid rule's targeting and money (SPEC §6, §15).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleTargets {
    /// Vertical slug or `*`; a parent matches its descendants.
    pub vertical: String,
    /// Countries (empty: any).
    #[serde(default)]
    pub countries: Vec<String>,
    /// Regions the lead must be in (empty: any).
    #[serde(default)]
    pub regions_include: Vec<String>,
    /// Regions the lead must not be in.
    #[serde(default)]
    pub regions_exclude: Vec<String>,
    /// Minimum score.
    #[serde(default)]
    pub min_score: Option<u32>,
    /// Field filters (biddable fields only).
    #[serde(default)]
    pub field_filters: Vec<FieldFilter>,
}

/// Why a rule did not match a lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Other vertical.
    Vertical,
    /// Country not targeted.
    Country,
    /// Region not targeted or excluded.
    Region,
    /// Score too low.
    Score,
    /// A field filter failed.
    Field,
}

impl RuleTargets {
    /// Whether the lead matches every criterion.
    pub fn matches(&self, lead: &LeadFacts<'_>) -> Result<(), Mismatch> {
        if self.vertical != "*" && !lead.lineage.contains(&self.vertical) {
            return Err(Mismatch::Vertical);
        }
        if !self.countries.is_empty() && !self.countries.iter().any(|c| c == lead.country) {
            return Err(Mismatch::Country);
        }
        let region = lead.region.unwrap_or("");
        if !self.regions_include.is_empty() && !self.regions_include.iter().any(|r| r == region) {
            return Err(Mismatch::Region);
        }
        if self.regions_exclude.iter().any(|r| r == region) {
            return Err(Mismatch::Region);
        }
        if self.min_score.is_some_and(|m| lead.score < m) {
            return Err(Mismatch::Score);
        }
        if !self.field_filters.iter().all(|f| f.matches(lead.fields)) {
            return Err(Mismatch::Field);
        }
        Ok(())
    }
}

/// The amount an auto-bid rule bids on a lead with `reserve`: its bid
/// amount, raised to the reserve if needed, never above `max_bid`.
pub fn auto_bid_amount(bid_amount: Money, max_bid: Money, reserve: Money) -> Option<Money> {
    let amount = bid_amount.max(reserve);
    (amount <= max_bid).then_some(amount)
}

/// Bounty criteria (SPEC §8): every present criterion must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BountyCriteria {
    /// Minimum score.
    #[serde(default)]
    pub min_score: Option<u32>,
    /// Countries (empty: any).
    #[serde(default)]
    pub countries: Vec<String>,
    /// Regions (empty: any).
    #[serde(default)]
    pub regions: Vec<String>,
    /// Numeric field minimums, e.g. `credit_score ≥ 700`.
    #[serde(default)]
    pub field_min: BTreeMap<String, f64>,
    /// Longest time from submission to sale, hours.
    #[serde(default)]
    pub max_age_hours: Option<u32>,
}

impl BountyCriteria {
    /// Strict match: a numeric minimum on a field the lead lacks, or that is
    /// not a number, fails.
    pub fn matches(&self, lead: &LeadFacts<'_>, created_at: DateTime<Utc>, sold_at: DateTime<Utc>) -> bool {
        self.min_score.is_none_or(|m| lead.score >= m)
            && (self.countries.is_empty() || self.countries.iter().any(|c| c == lead.country))
            && (self.regions.is_empty() || lead.region.is_some_and(|r| self.regions.iter().any(|x| x == r)))
            && self
                .field_min
                .iter()
                .all(|(k, min)| lead.fields.get(k).and_then(Value::as_f64).is_some_and(|v| v >= *min))
            && self.max_age_hours.is_none_or(|h| sold_at - created_at <= chrono::Duration::hours(i64::from(h)))
    }
}

/// Picks the bounty rewards paid on a sale: biggest reward first, each paid
/// in full or not at all, the total at most `2 × sale_price`. Input is
/// `(pool index, reward)`; output the indices paid, in payment order.
pub fn allocate_bounties(rewards: &[(usize, Money)], sale_price: Money) -> Vec<(usize, Money)> {
    let cap = sale_price.mul_div(2, 1).unwrap_or(Money::ZERO);
    let mut sorted = rewards.to_vec();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut total = Money::ZERO;
    let mut out = Vec::new();
    for (i, r) in sorted {
        let Some(next) = total.checked_add(r) else { continue };
        if next <= cap {
            total = next;
            out.push((i, r));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn m(units: i64) -> Money {
        Money::from_units(units).expect("small")
    }

    #[test]
    fn split_pays_the_seller_95_percent_and_loses_nothing() {
        assert_eq!(split(m(100)), (m(95), m(5)));
        assert_eq!(split(Money::from_micros(1)), (Money::ZERO, Money::from_micros(1)));
    }

    #[test]
    fn the_highest_bid_wins_and_ties_are_broken_verifiably() {
        let lead = uuid::Uuid::now_v7();
        let seed = [7u8; 32];
        let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::now_v7()).collect();
        let bids = [
            RankedBid { id: ids[0], amount: m(10) },
            RankedBid { id: ids[1], amount: m(12) },
            RankedBid { id: ids[2], amount: m(11) },
        ];
        assert_eq!(winner(&bids, &seed, &lead).map(|b| b.id), Some(ids[1]));
        let tied = [RankedBid { id: ids[2], amount: m(5) }, RankedBid { id: ids[0], amount: m(5) }];
        let w = winner(&tied, &seed, &lead).expect("a winner");
        // Recheck by hand: tied bids sorted by id, index = keccak(seed‖lead) mod 2.
        let mut data = seed.to_vec();
        data.extend_from_slice(lead.as_bytes());
        let idx = (keccak256(&data)[31] % 2) as usize;
        let mut sorted = [ids[0], ids[2]];
        sorted.sort();
        assert_eq!(w.id, sorted[idx]);
        assert_eq!(winner(&[], &seed, &lead), None);
    }

    #[test]
    fn rules_match_lineage_geo_score_and_fields() {
        let lineage = vec!["solar.residential".to_owned(), "solar".to_owned()];
        let fields = json!({"credit_band": "good", "roof_age": 12, "utility": "PG&E North"});
        let fields = fields.as_object().expect("object");
        let lead = LeadFacts { lineage: &lineage, country: "US", region: Some("CA"), score: 7_000, fields };
        let mut r = RuleTargets {
            vertical: "solar".into(),
            countries: vec!["US".into()],
            regions_include: vec!["CA".into()],
            regions_exclude: vec![],
            min_score: Some(6_500),
            field_filters: vec![
                FieldFilter { field: "credit_band".into(), op: FilterOp::In, value: json!(["good", "excellent"]) },
                FieldFilter { field: "roof_age".into(), op: FilterOp::Between, value: json!([5, 20]) },
                FieldFilter { field: "utility".into(), op: FilterOp::StartsWith, value: json!("pg&e") },
            ],
        };
        assert_eq!(r.matches(&lead), Ok(()));
        r.regions_exclude = vec!["CA".into()];
        assert_eq!(r.matches(&lead), Err(Mismatch::Region));
        r.regions_exclude.clear();
        r.min_score = Some(8_000);
        assert_eq!(r.matches(&lead), Err(Mismatch::Score));
        r.min_score = None;
        r.vertical = "mortgage".into();
        assert_eq!(r.matches(&lead), Err(Mismatch::Vertical));
        r.vertical = "*".into();
        r.field_filters.push(FieldFilter { field: "roof_age".into(), op: FilterOp::Gt, value: json!(12) });
        assert_eq!(r.matches(&lead), Err(Mismatch::Field));
    }

    #[test]
    fn filters_on_absent_fields_and_operand_shapes() {
        let empty = Map::new();
        let f = |op, value| FieldFilter { field: "x".into(), op, value };
        assert!(!f(FilterOp::Eq, json!(1)).matches(&empty));
        assert!(f(FilterOp::Ne, json!(1)).matches(&empty));
        assert!(f(FilterOp::NotIn, json!([1])).matches(&empty));
        assert!(f(FilterOp::Between, json!([1])).check().is_err());
        assert!(f(FilterOp::In, json!([])).check().is_err());
        assert!(f(FilterOp::Gt, json!("a")).check().is_err());
        assert!(f(FilterOp::Contains, json!("a")).check().is_ok());
    }

    #[test]
    fn auto_bid_amount_respects_reserve_and_max() {
        assert_eq!(auto_bid_amount(m(25), m(40), m(20)), Some(m(25)));
        assert_eq!(auto_bid_amount(m(25), m(40), m(30)), Some(m(30)));
        assert_eq!(auto_bid_amount(m(25), m(40), m(45)), None);
    }

    #[test]
    fn bounty_criteria_are_strict() {
        let lineage = vec!["mortgage.purchase".to_owned()];
        let fields = json!({"credit_score": 720});
        let fields = fields.as_object().expect("object");
        let lead = LeadFacts { lineage: &lineage, country: "US", region: Some("TX"), score: 7_500, fields };
        let now = Utc::now();
        let mut c = BountyCriteria {
            min_score: Some(7_000),
            countries: vec!["US".into()],
            regions: vec!["TX".into()],
            field_min: [("credit_score".to_owned(), 700.0)].into_iter().collect(),
            max_age_hours: Some(24),
        };
        assert!(c.matches(&lead, now - chrono::Duration::hours(2), now));
        assert!(!c.matches(&lead, now - chrono::Duration::hours(25), now));
        c.field_min.insert("income".into(), 1.0);
        assert!(!c.matches(&lead, now, now), "a minimum on a missing field fails");
    }

    #[test]
    fn bounties_pay_biggest_first_within_twice_the_price() {
        let paid = allocate_bounties(&[(0, m(5)), (1, m(30)), (2, m(10)), (3, m(8))], m(20));
        assert_eq!(paid, vec![(1, m(30)), (2, m(10))]);
        let paid = allocate_bounties(&[(0, m(50))], m(20));
        assert!(paid.is_empty());
    }

    proptest! {
        #[test]
        fn bounty_total_never_exceeds_twice_the_price(
            rewards in proptest::collection::vec(1i64..100_000_000, 0..20),
            price in 1i64..100_000_000,
        ) {
            let r: Vec<(usize, Money)> = rewards.iter().enumerate().map(|(i, x)| (i, Money::from_micros(*x))).collect();
            let paid = allocate_bounties(&r, Money::from_micros(price));
            let total: i64 = paid.iter().map(|(_, m)| m.micros()).sum();
            prop_assert!(total <= 2 * price);
        }

        #[test]
        fn tie_break_is_in_range(seed in any::<[u8; 32]>(), n in 1usize..50) {
            prop_assert!(tie_break(&seed, &uuid::Uuid::now_v7(), n) < n);
        }
    }
}
