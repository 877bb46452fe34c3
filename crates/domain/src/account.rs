//! Accounts, roles and API-key scopes.
//!
//! Authorisation is always decided from what the database says about a key
//! (its account's role and the key's scopes), never from anything a client
//! asserts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What an account is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Operator with full access.
    Admin,
    /// Submits leads and manages asks.
    Seller,
    /// Bids on and buys leads.
    Buyer,
}

impl Role {
    /// Stable lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Seller => "seller",
            Self::Buyer => "buyer",
        }
    }

    /// The scopes a new key for this role gets when none are asked for.
    pub fn default_scopes(self) -> Vec<Scope> {
        match self {
            Self::Admin => vec![Scope::Admin],
            Self::Seller => vec![Scope::LeadsRead, Scope::LeadsWrite, Scope::AsksWrite],
            Self::Buyer => vec![Scope::LeadsRead, Scope::BidsWrite, Scope::RulesWrite, Scope::VaultWrite],
        }
    }

    /// Whether a key of an account with this role may carry `scope`.
    pub fn allows(self, scope: Scope) -> bool {
        match self {
            Self::Admin => true,
            Self::Seller => matches!(scope, Scope::LeadsRead | Scope::LeadsWrite | Scope::AsksWrite),
            Self::Buyer => matches!(scope, Scope::LeadsRead | Scope::BidsWrite | Scope::RulesWrite | Scope::VaultWrite),
        }
    }
}

/// Unknown role or scope name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{0}`")]
pub struct UnknownName(pub String);

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "seller" => Ok(Self::Seller),
            "buyer" => Ok(Self::Buyer),
            other => Err(UnknownName(other.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission carried by an API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    /// Read own leads and PII of own or bought leads.
    #[serde(rename = "leads:read")]
    LeadsRead,
    /// Submit leads.
    #[serde(rename = "leads:write")]
    LeadsWrite,
    /// Manage asks.
    #[serde(rename = "asks:write")]
    AsksWrite,
    /// Place and withdraw bids, buy now.
    #[serde(rename = "bids:write")]
    BidsWrite,
    /// Manage auto-bid rules.
    #[serde(rename = "rules:write")]
    RulesWrite,
    /// Withdraw, fund bounties.
    #[serde(rename = "vault:write")]
    VaultWrite,
    /// Everything (operators).
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Stable name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeadsRead => "leads:read",
            Self::LeadsWrite => "leads:write",
            Self::AsksWrite => "asks:write",
            Self::BidsWrite => "bids:write",
            Self::RulesWrite => "rules:write",
            Self::VaultWrite => "vault:write",
            Self::Admin => "admin",
        }
    }
}

impl FromStr for Scope {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "leads:read" => Self::LeadsRead,
            "leads:write" => Self::LeadsWrite,
            "asks:write" => Self::AsksWrite,
            "bids:write" => Self::BidsWrite,
            "rules:write" => Self::RulesWrite,
            "vault:write" => Self::VaultWrite,
            "admin" => Self::Admin,
            other => return Err(UnknownName(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_only_allow_their_scopes() {
        assert!(Role::Seller.allows(Scope::LeadsWrite));
        assert!(!Role::Seller.allows(Scope::BidsWrite));
        assert!(!Role::Buyer.allows(Scope::Admin));
        assert!(!Role::Seller.allows(Scope::Admin));
        assert!(Role::Admin.allows(Scope::BidsWrite));
        for r in [Role::Admin, Role::Seller, Role::Buyer] {
            assert!(r.default_scopes().into_iter().all(|s| r.allows(s)));
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
    }
}
