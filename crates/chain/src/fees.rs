//! The gas oracle: `eth_feeHistory` gives the next base fee and recent
//! tips; a fee cap of twice the base fee plus the tip survives six full
//! blocks of base-fee growth. Above the configured ceiling, sending pauses
//! (callers wait) and `leadex_chain_gas_price_wei` crosses
//! `leadex_chain_gas_price_ceiling_wei`, which the alert watches.

use std::sync::Arc;

use crate::{Chain, ChainError};

/// Fees to sign a transaction with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`, wei.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`, wei.
    pub max_priority_fee_per_gas: u128,
}

impl Fees {
    /// Fees for replacing a stuck transaction: at least `bump_pct` above
    /// `self` (nodes require ≥ 10 %) and at least `current`.
    pub fn bumped(self, bump_pct: u32, current: Fees) -> Fees {
        let bump = |v: u128| v + v * u128::from(bump_pct) / 100 + 1;
        Fees {
            max_fee_per_gas: bump(self.max_fee_per_gas).max(current.max_fee_per_gas),
            max_priority_fee_per_gas: bump(self.max_priority_fee_per_gas).max(current.max_priority_fee_per_gas),
        }
    }
}

/// What the oracle advises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quote {
    /// Send with these fees.
    Send(Fees),
    /// The base fee is above the ceiling: wait.
    Paused {
        /// Next base fee, wei.
        base_fee: u128,
    },
}

/// Oracle settings.
#[derive(Clone, Debug)]
pub struct GasPolicy {
    /// Blocks of history.
    pub blocks: u64,
    /// Tip percentile.
    pub percentile: f64,
    /// Lowest tip offered, wei.
    pub min_tip: u128,
    /// Base fee above which sending pauses, wei (0: no ceiling).
    pub ceiling: u128,
}

impl Default for GasPolicy {
    fn default() -> Self {
        GasPolicy { blocks: 10, percentile: 50.0, min_tip: 1_000_000, ceiling: 500_000_000_000 }
    }
}

/// The oracle over a chain.
#[derive(Clone, Debug)]
pub struct GasOracle {
    chain: Arc<dyn Chain>,
    policy: GasPolicy,
}

impl GasOracle {
    /// An oracle.
    pub fn new(chain: Arc<dyn Chain>, policy: GasPolicy) -> Self {
        // Only with a ceiling: the alert compares price > ceiling.
        if policy.ceiling > 0 {
            metrics::gauge!("leadex_chain_gas_price_ceiling_wei").set(policy.ceiling as f64);
        }
        GasOracle { chain, policy }
    }

    /// The advice for the next transaction.
    pub async fn quote(&self) -> Result<Quote, ChainError> {
        let sample = self.chain.fee_history(self.policy.blocks, self.policy.percentile).await?;
        let base_fee = sample.next_base_fee;
        let mut tips = sample.tips;
        tips.sort_unstable();
        let tip = tips.get(tips.len() / 2).copied().unwrap_or_default().max(self.policy.min_tip);
        // What a unit of gas costs now: base fee + tip (the alert's input).
        metrics::gauge!("leadex_chain_gas_price_wei").set((base_fee + tip) as f64);
        if self.policy.ceiling > 0 && base_fee > self.policy.ceiling {
            return Ok(Quote::Paused { base_fee });
        }
        Ok(Quote::Send(Fees { max_fee_per_gas: base_fee * 2 + tip, max_priority_fee_per_gas: tip }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_is_at_least_the_percentage_and_the_current_quote() {
        let old = Fees { max_fee_per_gas: 100, max_priority_fee_per_gas: 10 };
        let now = Fees { max_fee_per_gas: 50, max_priority_fee_per_gas: 30 };
        let b = old.bumped(25, now);
        assert_eq!(b.max_fee_per_gas, 126);
        assert_eq!(b.max_priority_fee_per_gas, 30);
    }
}
