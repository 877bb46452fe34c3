//! Lead NFTs (SPEC §14): what the `mint_nft` job records, and the ERC-721
//! metadata `tokenURI` points at.

use leadex_domain::LeadId;
use leadex_domain::lead::keccak256;
use serde_json::{Value, json};

use super::Leadex;
use crate::error::AppError;
use crate::model::LeadStatus;
use crate::nft::{MintStatus, NewMint};

/// The token id of a lead: `keccak256` of its 16 id bytes, `0x`-hex.
pub fn token_id_of(lead: LeadId) -> String {
    format!("0x{}", hex::encode(keccak256(lead.as_uuid().as_bytes())))
}

/// A token id as `tokenURI` prints it (decimal) or as `0x` hex, in the
/// stored form (`0x` + 64 lowercase hex digits); `None` if it is neither
/// or exceeds 256 bits.
pub fn parse_token_id(s: &str) -> Option<String> {
    let s = s.trim();
    let mut limbs = [0u64; 4]; // little-endian 64-bit limbs
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if h.is_empty() || h.len() > 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return Some(format!("0x{:0>64}", h.to_ascii_lowercase()));
    }
    if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    for d in s.bytes().map(|b| u128::from(b - b'0')) {
        let mut carry = d;
        for limb in &mut limbs {
            let v = u128::from(*limb) * 10 + carry;
            *limb = v as u64;
            carry = v >> 64;
        }
        if carry != 0 {
            return None;
        }
    }
    Some(format!("0x{:016x}{:016x}{:016x}{:016x}", limbs[3], limbs[2], limbs[1], limbs[0]))
}

impl Leadex {
    /// The `mint_nft` job: records the sold lead's token for the batcher
    /// (idempotent). A lead that is not sold has nothing to mint.
    pub async fn queue_mint(&self, lead: LeadId) -> Result<bool, AppError> {
        let Some(l) = self.store.get_lead(lead).await? else {
            return Err(AppError::not_found("lead_not_found", format!("lead {lead} does not exist")));
        };
        let (LeadStatus::Sold, Some(buyer), Some(price), Some(sold_at)) =
            (l.status, l.buyer_id, l.sold_price, l.sold_at)
        else {
            tracing::debug!(lead_id = %lead, status = ?l.status, "mint_nft: lead is not sold; nothing to mint");
            return Ok(false);
        };
        let score = l.score.map(|s| s.value.min(10_000) as u16).unwrap_or(0);
        let m = NewMint {
            lead_id: lead,
            token_id: token_id_of(lead),
            buyer_id: buyer,
            vertical: l.vertical.clone(),
            score,
            price_micros: price.micros(),
            sold_at,
            correlation_id: l.correlation_id.clone(),
            created_at: self.clock.now(),
        };
        Ok(self.nft.queue_mint(&m).await?)
    }

    /// A lead's token record.
    pub async fn lead_token(&self, lead: &str) -> Result<Value, AppError> {
        let not_found = || AppError::not_found("token_not_found", format!("lead {lead} has no token (yet)"));
        let id: LeadId = lead.parse().map_err(|_| not_found())?;
        let m = self.nft.mint_by_lead(id).await?.ok_or_else(not_found)?;
        Ok(json!({
            "lead_id": m.lead_id,
            "token_id": m.token_id,
            "status": m.status,
            "owner": m.recipient,
            "chain_tx_id": m.chain_tx_id,
            "minted_at": m.minted_at,
            "metadata_path": format!("/v1/nft/{}", m.token_id),
            "claim_to": m.claim_to,
        }))
    }

    /// The chain service's state for `/health/ready`: `None` when no chain
    /// service ever ran for this chain id; `ok` when its heartbeat is under
    /// a minute old (with its head block), else how stale it is.
    pub async fn chain_health(&self) -> Result<Option<String>, AppError> {
        let key = format!("heartbeat:{}", self.config.siwe.chain_id);
        let Some(v) = self.nft.chain_meta(&key).await? else { return Ok(None) };
        let (at, head) = v.split_once(' ').unwrap_or((v.as_str(), "?"));
        let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) else { return Ok(Some("unknown".into())) };
        let age = (self.clock.now() - at.with_timezone(&chrono::Utc)).num_seconds();
        Ok(Some(if age <= 60 {
            "ok".into()
        } else {
            format!("stale ({age} s since the chain service's last round; head {head})")
        }))
    }

    /// `GET /v1/admin/trace/{correlation_id}`: the stored timeline of a
    /// correlation id (ingest, jobs, auction, bids, ledger, token, chain
    /// transactions).
    pub async fn trace(&self, correlation_id: &str) -> Result<Value, AppError> {
        let mut steps = self.nft.trace(correlation_id).await?;
        if steps.is_empty() {
            return Err(AppError::not_found("trace_not_found", format!("nothing recorded for `{correlation_id}`")));
        }
        annotate_events(&mut steps);
        let mut leads: Vec<String> = steps.iter().filter_map(|s| s.lead_id.map(|l| l.to_string())).collect();
        leads.sort();
        leads.dedup();
        Ok(json!({"correlation_id": correlation_id, "leads": leads, "timeline": steps}))
    }

    /// ERC-721 metadata of a token (no PII, no price); 404 until the lead
    /// is sold.
    pub async fn nft_metadata(&self, token: &str) -> Result<Value, AppError> {
        let Some(id) = parse_token_id(token) else {
            return Err(AppError::invalid("invalid_token_id", "token id must be a decimal or 0x-hex uint256"));
        };
        let Some(m) = self.nft.mint_by_token(&id).await? else {
            return Err(AppError::not_found("token_not_found", format!("no token {id}")));
        };
        let vertical_name =
            self.catalog.get(&m.vertical).map(|v| v.def.name.clone()).unwrap_or_else(|| m.vertical.clone());
        Ok(json!({
            "name": format!("leadex lead {}", &id[2..10]),
            "description": format!("A {vertical_name} lead sold on leadex. The lead itself is delivered off chain to its buyer; this token proves the purchase."),
            "token_id": id,
            "lead_hash": id,
            "status": match m.status { MintStatus::Minted => "minted", _ => "pending" },
            "owner": m.recipient,
            "attributes": [
                {"trait_type": "vertical", "value": m.vertical},
                {"trait_type": "vertical_id", "value": m.vertical_number},
                {"trait_type": "quality_score", "value": m.score, "max_value": 10000},
                {"trait_type": "sold_at", "display_type": "date", "value": m.sold_at.timestamp()},
            ],
        }))
    }
}

/// Adds to each timeline step the Socket.IO events its transition
/// publishes (events are fanned out, not stored; every one carries the
/// correlation id, SPEC §11), so an operator sees what clients were told.
fn annotate_events(steps: &mut [crate::nft::TraceStep]) {
    let auctioned: std::collections::HashSet<_> =
        steps.iter().filter(|s| s.stage == "job.close_auction").filter_map(|s| s.lead_id).collect();
    for s in steps.iter_mut() {
        let events: &[&str] = match s.stage.as_str() {
            "auction.opened" => &["lead:new"],
            "bid" => &["auction:bid", "bid:accepted"],
            "job.auction_closing" => &["auction:closing"],
            "lead.sold" if s.lead_id.is_some_and(|l| auctioned.contains(&l)) => {
                &["auction:closed", "lead:sold", "bid:won", "bid:lost"]
            }
            "lead.sold" => &["lead:sold"],
            "ledger" => &["vault:updated"],
            "nft.minted" => &["lead:minted"],
            _ => &[],
        };
        if !events.is_empty()
            && let Some(d) = s.detail.as_object_mut()
        {
            d.insert("events".into(), json!(events));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_and_hex_token_ids_agree() {
        assert_eq!(parse_token_id("255").as_deref(), Some(format!("0x{:0>64}", "ff").as_str()));
        assert_eq!(parse_token_id("0xFF").as_deref(), Some(format!("0x{:0>64}", "ff").as_str()));
        let max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
        assert_eq!(parse_token_id(max).as_deref(), Some(format!("0x{}", "f".repeat(64)).as_str()));
        let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
        assert_eq!(parse_token_id(over), None);
        assert_eq!(parse_token_id("12a"), None);
        assert_eq!(parse_token_id(""), None);
    }
}
