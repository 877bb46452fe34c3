//! Buyer wallet linking with EIP-4361 ("Sign-In with Ethereum"): the
//! server issues a message (domain, address, chain id, single-use nonce,
//! expiry), the buyer signs it with `personal_sign`, and the server checks
//! every field and recovers the signer before linking the address.

use chrono::Duration;
use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use leadex_domain::lead::keccak256;
use rand::Rng;
use serde_json::{Value, json};

use super::Leadex;
use crate::error::AppError;
use crate::model::Principal;
use crate::nft::WalletChallenge;
use crate::ports::StoreError;

/// What the EIP-4361 messages of this deployment name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiweConfig {
    /// `domain` (host[:port]) the message is for.
    pub domain: String,
    /// `URI` line.
    pub uri: String,
    /// Chain id.
    pub chain_id: u64,
    /// Challenge lifetime.
    pub ttl: Duration,
}

impl Default for SiweConfig {
    fn default() -> Self {
        SiweConfig {
            domain: "127.0.0.1:8080".into(),
            uri: "http://127.0.0.1:8080".into(),
            chain_id: 31_337,
            ttl: Duration::minutes(10),
        }
    }
}

/// `0x` + 40 hex digits, EIP-55 checksummed.
pub fn checksum_address(raw: &[u8; 20]) -> String {
    let lower = hex::encode(raw);
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nibble = (hash[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
        out.push(if c.is_ascii_alphabetic() && nibble >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

fn parse_address(s: &str) -> Option<[u8; 20]> {
    let h = s.strip_prefix("0x")?;
    let bytes = hex::decode(h).ok()?;
    bytes.try_into().ok()
}

/// The signer of an EIP-191 `personal_sign` signature (65 bytes, v = 27/28
/// or 0/1) over `message`.
pub fn recover_personal_sign(message: &str, signature: &str) -> Option<[u8; 20]> {
    let sig = hex::decode(signature.trim().strip_prefix("0x")?).ok()?;
    if sig.len() != 65 {
        return None;
    }
    let mut prefixed = format!("\x19Ethereum Signed Message:\n{}", message.len()).into_bytes();
    prefixed.extend_from_slice(message.as_bytes());
    let digest = keccak256(&prefixed);
    let v = match sig[64] {
        27 | 28 => sig[64] - 27,
        0 | 1 => sig[64],
        _ => return None,
    };
    let signature = Signature::from_slice(&sig[..64]).ok()?;
    let key = VerifyingKey::recover_from_prehash(&digest, &signature, RecoveryId::from_byte(v)?).ok()?;
    let point = key.to_encoded_point(false);
    let hash = keccak256(&point.as_bytes()[1..]);
    let mut addr = [0u8; 20];
    addr.copy_from_slice(&hash[12..]);
    Some(addr)
}

/// The fields of an EIP-4361 message leadex checks.
#[derive(Debug, Default, PartialEq, Eq)]
struct SiweFields<'a> {
    domain: &'a str,
    address: &'a str,
    chain_id: &'a str,
    nonce: &'a str,
    expiration: &'a str,
}

fn parse_siwe(message: &str) -> Option<SiweFields<'_>> {
    let mut lines = message.lines();
    let domain = lines.next()?.strip_suffix(" wants you to sign in with your Ethereum account:")?;
    let address = lines.next()?;
    let mut f = SiweFields { domain, address, ..Default::default() };
    for line in lines {
        if let Some(v) = line.strip_prefix("Chain ID: ") {
            f.chain_id = v;
        } else if let Some(v) = line.strip_prefix("Nonce: ") {
            f.nonce = v;
        } else if let Some(v) = line.strip_prefix("Expiration Time: ") {
            f.expiration = v;
        }
    }
    Some(f)
}

fn refused(detail: impl Into<String>) -> AppError {
    AppError::invalid("wallet_proof_invalid", detail).with_field("message")
}

impl Leadex {
    /// `POST /v1/me/wallet/challenge`: the message a buyer signs to link
    /// `address`.
    pub async fn wallet_challenge(&self, who: &Principal, address: &str) -> Result<Value, AppError> {
        let raw = parse_address(address.trim()).ok_or_else(|| {
            AppError::invalid("invalid_address", "address must be 0x + 40 hex digits").with_field("address")
        })?;
        let address = checksum_address(&raw);
        let cfg = &self.config.siwe;
        let now = self.clock.now();
        let expires_at = now + cfg.ttl;
        let nonce: String =
            rand::thread_rng().sample_iter(&rand::distributions::Alphanumeric).take(17).map(char::from).collect();
        let message = format!(
            "{domain} wants you to sign in with your Ethereum account:\n{address}\n\n\
             Link this wallet to your leadex account; purchased lead tokens will be minted to it.\n\n\
             URI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {issued}\nExpiration Time: {exp}",
            domain = cfg.domain,
            uri = cfg.uri,
            chain = cfg.chain_id,
            issued = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            exp = expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        let c = WalletChallenge { nonce: nonce.clone(), account_id: who.account.id, address, message, expires_at };
        self.nft.create_challenge(&c).await?;
        Ok(json!({"message": c.message, "nonce": nonce, "expires_at": expires_at}))
    }

    /// `POST /v1/me/wallet`: checks the signed EIP-4361 message (domain,
    /// chain id, single-use nonce of this account, expiry, signer) and
    /// links the address.
    pub async fn link_wallet(&self, who: &Principal, message: &str, signature: &str) -> Result<Value, AppError> {
        let f = parse_siwe(message).ok_or_else(|| refused("not an EIP-4361 message"))?;
        if f.domain != self.config.siwe.domain {
            return Err(refused(format!("message is for domain `{}`, not `{}`", f.domain, self.config.siwe.domain)));
        }
        if f.chain_id != self.config.siwe.chain_id.to_string() {
            return Err(refused(format!("message is for chain {}, not {}", f.chain_id, self.config.siwe.chain_id)));
        }
        let now = self.clock.now();
        let expiry =
            chrono::DateTime::parse_from_rfc3339(f.expiration).map_err(|_| refused("no valid Expiration Time"))?;
        if expiry <= now {
            return Err(AppError::invalid("wallet_challenge_expired", "the challenge expired; ask for a new one"));
        }
        let signer = recover_personal_sign(message, signature).ok_or_else(|| {
            AppError::invalid("invalid_signature", "signature must be 65 bytes of 0x hex").with_field("signature")
        })?;
        let claimed = parse_address(f.address).ok_or_else(|| refused("no valid address line"))?;
        if signer != claimed {
            return Err(AppError::invalid("wallet_signer_mismatch", "the signature is not from the message's address")
                .with_field("signature"));
        }
        let c = match self.nft.use_challenge_and_link(f.nonce, who.account.id, message, now).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Err(AppError::invalid(
                    "wallet_challenge_unknown",
                    "nonce unknown, already used, expired, issued to another account or for another message",
                ));
            }
            Err(StoreError::Conflict(_)) => {
                return Err(AppError::new(
                    crate::error::ErrorKind::Conflict,
                    "wallet_taken",
                    "this address is linked to another account",
                ));
            }
            Err(e) => return Err(e.into()),
        };
        Ok(json!({"address": c.address, "linked_at": now}))
    }

    /// `GET /v1/me/wallet`.
    pub async fn my_wallet(&self, who: &Principal) -> Result<Value, AppError> {
        Ok(json!({"address": self.nft.linked_wallet(who.account.id).await?}))
    }
}

impl Leadex {
    /// `POST /v1/me/vault/withdrawals`: moves `amount` from the buyer's
    /// available balance to `outbound` and queues its `withdrawTo` to `to`
    /// (default: the linked wallet).
    pub async fn request_withdrawal(&self, who: &Principal, amount: &str, to: Option<&str>) -> Result<Value, AppError> {
        use leadex_domain::Money;
        use leadex_domain::account::Role;
        if who.account.role != Role::Buyer {
            return Err(AppError::new(
                crate::error::ErrorKind::Forbidden,
                "buyers_only",
                "only buyers withdraw; sellers are paid out",
            ));
        }
        let amount = Money::parse(amount)
            .map_err(|e| AppError::invalid("invalid_amount", e.to_string()).with_field("amount"))?;
        let amount = super::market::positive(amount, "amount")?;
        let to = match to {
            Some(a) => checksum_address(&parse_address(a.trim()).ok_or_else(|| {
                AppError::invalid("invalid_address", "to must be 0x + 40 hex digits").with_field("to")
            })?),
            None => self.nft.linked_wallet(who.account.id).await?.ok_or_else(|| {
                AppError::invalid("wallet_required", "link a wallet (POST /v1/me/wallet) or give `to`").with_field("to")
            })?,
        };
        let p = crate::nft::Payout {
            id: uuid::Uuid::now_v7(),
            kind: crate::nft::PayoutKind::Withdrawal,
            account_id: who.account.id,
            to_address: to,
            amount_micros: amount.micros(),
            status: "queued".into(),
            chain_tx_id: None,
            created_at: self.clock.now(),
            finished_at: None,
        };
        if !self.nft.request_withdrawal(&p).await? {
            return Err(AppError::invalid("insufficient_funds", "available balance does not cover the amount")
                .with_field("amount"));
        }
        Ok(payout_json(&p))
    }

    /// `GET /v1/me/vault/withdrawals`: the caller's withdrawals and payouts.
    pub async fn my_payouts(&self, who: &Principal) -> Result<Value, AppError> {
        let items: Vec<Value> = self.nft.payouts_of(who.account.id, 100).await?.iter().map(payout_json).collect();
        Ok(json!({"items": items}))
    }

    /// `POST /v1/me/nft/claim`: moves the caller's tokens held by the
    /// custody address (minted before it linked a wallet) to its linked
    /// wallet; how many were queued.
    pub async fn claim_tokens(&self, who: &Principal) -> Result<Value, AppError> {
        let to = self
            .nft
            .linked_wallet(who.account.id)
            .await?
            .ok_or_else(|| AppError::invalid("wallet_required", "link a wallet first (POST /v1/me/wallet)"))?;
        let custody = self.nft.chain_meta(&format!("custody:{}", self.config.siwe.chain_id)).await?.unwrap_or_default();
        if custody.is_empty() {
            return Err(AppError::new(
                crate::error::ErrorKind::Conflict,
                "custody_not_managed",
                "the custody address is not managed by this deployment's chain service",
            ));
        }
        let queued = self.nft.request_claims(who.account.id, &custody, &to).await?;
        Ok(json!({"queued": queued, "to": to}))
    }

    /// `GET /v1/reserves`: the last proof-of-reserves check.
    pub async fn reserves(&self) -> Result<Value, AppError> {
        let key = format!("reserves:{}", self.config.siwe.chain_id);
        let Some(v) = self.nft.chain_meta(&key).await? else {
            return Err(AppError::not_found("reserves_unknown", "no reserves check has run yet"));
        };
        serde_json::from_str(&v).map_err(AppError::internal)
    }
}

fn payout_json(p: &crate::nft::Payout) -> Value {
    json!({
        "id": p.id,
        "kind": p.kind,
        "to": p.to_address,
        "amount": leadex_domain::Money::from_micros(p.amount_micros).to_string(),
        "status": p.status,
        "chain_tx_id": p.chain_tx_id,
        "created_at": p.created_at,
        "finished_at": p.finished_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eip55_matches_the_reference_vector() {
        let raw = parse_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed").expect("addr");
        assert_eq!(checksum_address(&raw), "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
    }

    #[test]
    fn siwe_fields_parse() {
        let m = "example.com wants you to sign in with your Ethereum account:\n0xabc\n\nhi\n\nURI: x\nVersion: 1\nChain ID: 5\nNonce: n1\nIssued At: t\nExpiration Time: e";
        let f = parse_siwe(m).expect("parsed");
        assert_eq!((f.domain, f.address, f.chain_id, f.nonce, f.expiration), ("example.com", "0xabc", "5", "n1", "e"));
        assert!(parse_siwe("hello").is_none());
    }
}
