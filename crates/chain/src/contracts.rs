//! Contract bindings from the committed artifacts (`contracts/artifacts`),
//! so Rust and the deployed bytecode never disagree.

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::sol_types::SolValue;

use crate::ChainError;

alloy::sol!(
    #[derive(Debug)]
    LeadNFT,
    "../../contracts/artifacts/LeadNFT.json"
);
alloy::sol!(
    #[derive(Debug)]
    Escrow,
    "../../contracts/artifacts/Escrow.json"
);
alloy::sol!(
    #[derive(Debug)]
    TestUSDC,
    "../../contracts/artifacts/TestUSDC.json"
);

const LEAD_NFT_ARTIFACT: &str = include_str!("../../../contracts/artifacts/LeadNFT.json");
const ESCROW_ARTIFACT: &str = include_str!("../../../contracts/artifacts/Escrow.json");
const TEST_USDC_ARTIFACT: &str = include_str!("../../../contracts/artifacts/TestUSDC.json");

/// The largest batch `mintBatch` is sent with.
pub const MAX_MINT_BATCH: usize = 50;

/// Gas limit for a `mintBatch` of `n`: a first-time recipient costs about
/// 48 800 gas per mint (BENCHMARKS.md, issue 7), so 60 000 per mint plus
/// the transaction's base leaves headroom; unused gas is not charged.
pub fn mint_batch_gas_limit(n: usize) -> u64 {
    80_000 + 60_000 * n as u64
}

/// The token id of a lead: `uint256(keccak256(leadId))` over its 16 bytes.
pub fn token_id(lead: &[u8; 16]) -> U256 {
    U256::from_be_bytes(keccak256(lead).0)
}

/// Creation bytecode of an artifact.
fn creation_code(artifact: &str) -> Result<Vec<u8>, ChainError> {
    let v: serde_json::Value =
        serde_json::from_str(artifact).map_err(|e| ChainError::Other(format!("artifact json: {e}")))?;
    let hex = v
        .pointer("/bytecode/object")
        .and_then(|o| o.as_str())
        .ok_or_else(|| ChainError::Other("artifact without bytecode.object".into()))?;
    alloy::hex::decode(hex.trim_start_matches("0x")).map_err(|e| ChainError::Other(format!("artifact bytecode: {e}")))
}

/// Creation input of `LeadNFT(owner, baseURI, royaltyReceiver, royaltyBps)`.
pub fn lead_nft_init(
    owner: Address,
    base_uri: &str,
    royalty_receiver: Address,
    royalty_bps: u16,
) -> Result<Bytes, ChainError> {
    let mut code = creation_code(LEAD_NFT_ARTIFACT)?;
    let bps = alloy::primitives::aliases::U96::from(royalty_bps);
    code.extend((owner, base_uri.to_string(), royalty_receiver, bps).abi_encode_params());
    Ok(code.into())
}

/// Creation input of `Escrow(owner, token)`.
pub fn escrow_init(owner: Address, token: Address) -> Result<Bytes, ChainError> {
    let mut code = creation_code(ESCROW_ARTIFACT)?;
    code.extend((owner, token).abi_encode_params());
    Ok(code.into())
}

/// Creation input of `TestUSDC()`.
pub fn test_usdc_init() -> Result<Bytes, ChainError> {
    Ok(creation_code(TEST_USDC_ARTIFACT)?.into())
}

/// Topic 0 of `Escrow.Deposited`.
pub fn deposited_topic() -> B256 {
    use alloy::sol_types::SolEvent;
    Escrow::Deposited::SIGNATURE_HASH
}

/// Topic 0 of ERC-721 `Transfer`.
pub fn transfer_topic() -> B256 {
    use alloy::sol_types::SolEvent;
    LeadNFT::Transfer::SIGNATURE_HASH
}

/// The three contract addresses leadex works with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Deployment {
    /// `LeadNFT`.
    pub nft: Address,
    /// `Escrow`.
    pub escrow: Address,
    /// The escrow's token (`TestUSDC` on development chains).
    pub usdc: Address,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_carry_bytecode() {
        assert!(lead_nft_init(Address::ZERO, "x", Address::ZERO, 250).expect("nft").len() > 1000);
        assert!(escrow_init(Address::ZERO, Address::repeat_byte(1)).expect("escrow").len() > 500);
        assert!(test_usdc_init().expect("usdc").len() > 500);
    }

    #[test]
    fn token_id_is_keccak_of_the_uuid_bytes() {
        let id = [7u8; 16];
        assert_eq!(token_id(&id), U256::from_be_bytes(keccak256([7u8; 16]).0));
    }
}
