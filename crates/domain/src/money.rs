//! Money: USDC amounts as integer micro-units (6 decimals).
//!
//! There is no floating point anywhere in this module. Amounts travel over
//! the API as decimal strings (`"12.50"`) and are parsed exactly; more than
//! six fractional digits, signs, exponents and overflow are parse errors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Micro-units in one USDC.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// A non-negative or negative amount of USDC in micro-units.
///
/// Arithmetic is checked: every operation that could overflow returns an
/// `Option`. Ledger balances are built from these and must never go negative;
/// that is enforced by the ledger, not by this type, which also represents
/// signed deltas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// Why a decimal string is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Empty input.
    #[error("amount is empty")]
    Empty,
    /// A character other than digits and one `.`.
    #[error("amount must be a decimal string such as \"12.50\"")]
    Malformed,
    /// A leading `-`.
    #[error("amount must not be negative")]
    Negative,
    /// More than six fractional digits (below one micro-USDC).
    #[error("amount has more than 6 decimal places")]
    TooPrecise,
    /// Larger than the representable maximum.
    #[error("amount is too large")]
    Overflow,
}

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// From micro-units.
    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    /// From whole units; `None` on overflow.
    pub fn from_units(units: i64) -> Option<Self> {
        units.checked_mul(MICROS_PER_UNIT).map(Money)
    }

    /// The amount in micro-units.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self - other`, `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// `self × numerator / denominator`, rounded down (toward zero), computed
    /// in 128 bits; `None` when the denominator is zero or the result overflows.
    pub fn mul_div(self, numerator: i64, denominator: i64) -> Option<Money> {
        if denominator == 0 {
            return None;
        }
        let v = i128::from(self.0) * i128::from(numerator) / i128::from(denominator);
        i64::try_from(v).ok().map(Money)
    }

    /// The part of `self` given in basis points (1/10 000), rounded down.
    pub fn bps(self, basis_points: i64) -> Option<Money> {
        self.mul_div(basis_points, 10_000)
    }

    /// Parses a non-negative decimal string with at most 6 decimals.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MoneyError::Empty);
        }
        if s.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(MoneyError::Malformed);
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MoneyError::Malformed);
        }
        if s.ends_with('.') && frac.is_empty() && s.contains('.') && int.is_empty() {
            return Err(MoneyError::Malformed);
        }
        if frac.len() > 6 {
            return Err(MoneyError::TooPrecise);
        }
        let mut units: i64 = 0;
        for b in int.bytes() {
            units =
                units.checked_mul(10).and_then(|u| u.checked_add(i64::from(b - b'0'))).ok_or(MoneyError::Overflow)?;
        }
        let mut micros: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            micros += i64::from(b - b'0') * 10_i64.pow(5 - i as u32);
        }
        units.checked_mul(MICROS_PER_UNIT).and_then(|u| u.checked_add(micros)).map(Money).ok_or(MoneyError::Overflow)
    }
}

impl fmt::Display for Money {
    /// Two decimals at least, more only when needed: `12.50`, `0.000001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let units = abs / MICROS_PER_UNIT as u64;
        let micros = abs % MICROS_PER_UNIT as u64;
        let mut frac = format!("{micros:06}");
        while frac.len() > 2 && frac.ends_with('0') {
            frac.pop();
        }
        write!(f, "{sign}{units}.{frac}")
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Money::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_decimal_strings_exactly() {
        assert_eq!(Money::parse("12.50"), Ok(Money::from_micros(12_500_000)));
        assert_eq!(Money::parse("0.000001"), Ok(Money::from_micros(1)));
        assert_eq!(Money::parse("7"), Ok(Money::from_micros(7_000_000)));
        assert_eq!(Money::parse(".5"), Ok(Money::from_micros(500_000)));
        assert_eq!(Money::parse("5."), Ok(Money::from_micros(5_000_000)));
    }

    #[test]
    fn rejects_bad_amounts() {
        assert_eq!(Money::parse(""), Err(MoneyError::Empty));
        assert_eq!(Money::parse("-1.00"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("1.0000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("1e3"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse("."), Err(MoneyError::Malformed));
        assert_eq!(Money::parse("1.2.3"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse("+1"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse("99999999999999999999"), Err(MoneyError::Overflow));
    }

    #[test]
    fn displays_two_decimals_minimum() {
        assert_eq!(Money::from_micros(12_500_000).to_string(), "12.50");
        assert_eq!(Money::from_micros(1).to_string(), "0.000001");
        assert_eq!(Money::from_micros(-1_230_000).to_string(), "-1.23");
        assert_eq!(Money::ZERO.to_string(), "0.00");
    }

    #[test]
    fn basis_points_round_down() {
        let m = Money::from_micros(1_000_001);
        assert_eq!(m.bps(9_500), Some(Money::from_micros(950_000)));
        assert_eq!(m.bps(500), Some(Money::from_micros(50_000)));
    }

    proptest! {
        #[test]
        fn display_parse_round_trips(micros in 0i64..=i64::MAX) {
            let m = Money::from_micros(micros);
            prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
        }

        #[test]
        fn split_never_creates_or_loses_money(micros in 0i64..1_000_000_000_000, bps in 0i64..=10_000) {
            let total = Money::from_micros(micros);
            let part = total.bps(bps).expect("in range");
            let rest = total.checked_sub(part).expect("no overflow");
            prop_assert!(!part.is_negative() && !rest.is_negative());
            prop_assert_eq!(part.checked_add(rest), Some(total));
        }
    }
}
