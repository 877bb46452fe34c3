//! Identifiers: UUIDv7 newtypes, so a lead id can never be passed where an
//! account id is expected. UUIDv7 is time-ordered, which keeps B-tree inserts
//! append-mostly and makes `(created_at, id)` a stable sort key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh UUIDv7.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (from storage).
            pub const fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }

            /// The inner UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// An account (seller, buyer or operator).
    AccountId
);
id_type!(
    /// An API key.
    KeyId
);
id_type!(
    /// A lead.
    LeadId
);
id_type!(
    /// A seller's ask.
    AskId
);
id_type!(
    /// A queued job.
    JobId
);
