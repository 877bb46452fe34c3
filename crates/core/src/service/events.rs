//! Realtime events the services publish after their transactions commit.

use leadex_domain::AccountId;
use serde_json::{Map, Value, json};

use super::Leadex;
use crate::AppError;
use crate::events::{Event, account_room, lead_room, vertical_room};
use crate::market::{Bid, CloseOutcome};
use crate::model::LeadRecord;

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Leadex {
    /// The lead's auction room and the rooms of its vertical lineage (a
    /// subscriber to a parent vertical hears about its descendants).
    pub fn lead_rooms(&self, lead: &LeadRecord) -> Vec<String> {
        let mut rooms = vec![lead_room(lead.id)];
        rooms.extend(self.catalog.lineage(&lead.vertical).iter().map(|v| vertical_room(v)));
        rooms
    }

    fn vertical_rooms(&self, lead: &LeadRecord) -> Vec<String> {
        self.catalog.lineage(&lead.vertical).iter().map(|v| vertical_room(v)).collect()
    }

    pub(crate) fn emit(&self, name: &'static str, rooms: Vec<String>, payload: Value, correlation_id: &str) {
        self.events.publish(Event { name, rooms, payload: object(payload), correlation_id: correlation_id.to_owned() });
    }

    /// `lead:new`: an auction opened (redacted: no PII, no postal code).
    pub fn emit_lead_new(&self, lead: &LeadRecord) {
        let payload = json!({
            "lead_id": lead.id,
            "vertical": lead.vertical,
            "geo": {"country": lead.geo.country, "region": lead.geo.region},
            "score": lead.score.map(|s| s.value),
            "tier": lead.score.map(|s| s.tier.as_str()),
            "reserve_price": lead.reserve_price.to_string(),
            "buy_now_price": lead.buy_now_price.to_string(),
            "opened_at": lead.auction_opened_at,
            "ends_at": lead.auction_ends_at,
            "seed_hash": lead.seed_hash.map(hex::encode),
        });
        self.emit("lead:new", self.vertical_rooms(lead), payload, &lead.correlation_id);
    }

    /// `auction:closing`: ten seconds before the end.
    pub fn emit_closing(&self, lead: &LeadRecord) {
        let payload = json!({"lead_id": lead.id, "vertical": lead.vertical, "ends_at": lead.auction_ends_at, "bid_count": lead.bid_count});
        self.emit("auction:closing", self.lead_rooms(lead), payload, &lead.correlation_id);
    }

    /// After a bid: the public count, and the bidder's own confirmation.
    pub(crate) async fn emit_bid(&self, bid: &Bid, correlation_id: &str) {
        if let Ok(Some(lead)) = self.store.get_lead(bid.lead_id).await {
            let payload = json!({"lead_id": lead.id, "vertical": lead.vertical, "bid_count": lead.bid_count});
            self.emit("auction:bid", self.lead_rooms(&lead), payload, correlation_id);
        }
        self.emit_accepted(bid, correlation_id);
        self.emit_vault(bid.buyer_id, correlation_id).await;
    }

    /// `bid:accepted`: the bidder's own bid, to its account room only.
    fn emit_accepted(&self, bid: &Bid, correlation_id: &str) {
        let own = json!({
            "lead_id": bid.lead_id, "bid_id": bid.id, "amount": bid.amount.to_string(), "fee": bid.fee.to_string(),
            "source": bid.source.as_str(), "status": bid.status,
        });
        self.emit("bid:accepted", vec![account_room(bid.buyer_id)], own, correlation_id);
    }

    /// After a lead's auto-bids (one transaction): the public count once per
    /// bid, each bidder's confirmation and balances (one read for all).
    pub(crate) async fn emit_auto_bids(&self, lead: &LeadRecord, bids: &[&Bid], bid_count: i64) {
        if bids.is_empty() {
            return;
        }
        let rooms = self.lead_rooms(lead);
        let first = bid_count - bids.len() as i64;
        for (i, bid) in bids.iter().enumerate() {
            let n = first + i as i64 + 1;
            let payload = json!({"lead_id": lead.id, "vertical": lead.vertical, "bid_count": n});
            self.emit("auction:bid", rooms.clone(), payload, &lead.correlation_id);
            self.emit_accepted(bid, &lead.correlation_id);
        }
        let owners: Vec<AccountId> = bids.iter().map(|b| b.buyer_id).collect();
        self.emit_vaults(&owners, &lead.correlation_id).await;
    }

    /// `vault:updated` for several accounts, from one read.
    pub(crate) async fn emit_vaults(&self, owners: &[AccountId], correlation_id: &str) {
        if let Ok(vaults) = self.market.vaults(owners).await {
            for (owner, v) in vaults {
                let payload = json!({"available": v.available.to_string(), "locked": v.locked.to_string(), "payable": v.payable.to_string()});
                self.emit("vault:updated", vec![account_room(owner)], payload, correlation_id);
            }
        }
    }

    /// `vault:updated` with the account's balances.
    pub(crate) async fn emit_vault(&self, account: AccountId, correlation_id: &str) {
        self.emit_vaults(&[account], correlation_id).await;
    }

    /// After a close: the public outcome, and each bidder's private result.
    pub(crate) async fn emit_closed(&self, lead: &LeadRecord, outcome: &CloseOutcome) {
        let cid = &lead.correlation_id;
        match outcome {
            CloseOutcome::Sold { winner, losers } => {
                let public = json!({"lead_id": lead.id, "vertical": lead.vertical, "outcome": "sold", "clearing_price": winner.amount.to_string()});
                self.emit("auction:closed", self.lead_rooms(lead), public, cid);
                let sold = json!({"lead_id": lead.id, "vertical": lead.vertical, "price": winner.amount.to_string(), "sale": "auction"});
                self.emit("lead:sold", self.vertical_rooms(lead), sold, cid);
                let won =
                    json!({"lead_id": lead.id, "amount": winner.amount.to_string(), "fee": winner.fee.to_string()});
                self.emit("bid:won", vec![account_room(winner.buyer_id)], won, cid);
                for l in losers {
                    let lost = json!({"lead_id": lead.id, "amount": l.amount.to_string(), "clearing_price": winner.amount.to_string()});
                    self.emit("bid:lost", vec![account_room(l.buyer_id)], lost, cid);
                }
                let mut owners: Vec<AccountId> = std::iter::once(winner.buyer_id)
                    .chain(losers.iter().map(|l| l.buyer_id))
                    .chain(std::iter::once(lead.seller_id))
                    .collect();
                owners.sort();
                owners.dedup();
                self.emit_vaults(&owners, cid).await;
            }
            CloseOutcome::Unsold => {
                let public = json!({"lead_id": lead.id, "vertical": lead.vertical, "outcome": "unsold"});
                self.emit("auction:closed", self.lead_rooms(lead), public, cid);
                let unsold = json!({"lead_id": lead.id, "vertical": lead.vertical, "buy_now_price": lead.buy_now_price.to_string()});
                self.emit("lead:unsold", self.vertical_rooms(lead), unsold, cid);
            }
            CloseOutcome::NotInAuction => {}
        }
    }

    /// `lead:sold` for a buy-now sale.
    pub(crate) async fn emit_bought(&self, lead: &LeadRecord, buyer: AccountId) {
        let sold = json!({"lead_id": lead.id, "vertical": lead.vertical, "price": lead.sold_price.map(|p| p.to_string()), "sale": "buy_now"});
        self.emit("lead:sold", self.vertical_rooms(lead), sold, &lead.correlation_id);
        self.emit_vault(buyer, &lead.correlation_id).await;
        self.emit_vault(lead.seller_id, &lead.correlation_id).await;
    }

    /// `bounty:paid` after bounties were paid on a sale.
    pub(crate) async fn emit_bounties(&self, lead: &LeadRecord, paid: &[(uuid::Uuid, leadex_domain::Money)]) {
        if paid.is_empty() {
            return;
        }
        let total: i64 = paid.iter().map(|(_, m)| m.micros()).sum();
        let payload = json!({"lead_id": lead.id, "vertical": lead.vertical, "pools": paid.len(), "total": leadex_domain::Money::from_micros(total).to_string()});
        let mut rooms = self.vertical_rooms(lead);
        rooms.push(account_room(lead.seller_id));
        self.emit("bounty:paid", rooms, payload, &lead.correlation_id);
        self.emit_vault(lead.seller_id, &lead.correlation_id).await;
    }
}

/// Longest operator announcement text.
pub const MAX_ANNOUNCEMENT: usize = 4096;

impl Leadex {
    /// `system:announcement`: an operator's notice to the watchers of some
    /// verticals (exactly those rooms, not their descendants: an operator
    /// addressing `solar` means the `solar` room). Returns the rooms.
    pub fn announce(&self, verticals: &[String], message: &str, correlation_id: &str) -> Result<Vec<String>, AppError> {
        if verticals.is_empty() || verticals.len() > 100 {
            return Err(AppError::invalid("invalid_verticals", "give 1 to 100 vertical slugs").with_field("verticals"));
        }
        if message.trim().is_empty() || message.len() > MAX_ANNOUNCEMENT {
            return Err(AppError::invalid("invalid_message", format!("message must be 1 to {MAX_ANNOUNCEMENT} bytes"))
                .with_field("message"));
        }
        let mut rooms = Vec::with_capacity(verticals.len());
        for v in verticals {
            match self.catalog.get(v) {
                Some(vert) => rooms.push(vertical_room(&vert.def.slug)),
                None => {
                    return Err(AppError::invalid("unknown_vertical", format!("unknown vertical `{v}`"))
                        .with_field("verticals"));
                }
            }
        }
        rooms.dedup();
        self.emit(
            "system:announcement",
            rooms.clone(),
            json!({ "message": message, "verticals": verticals }),
            correlation_id,
        );
        Ok(rooms)
    }
}
