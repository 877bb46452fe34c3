//! Pure domain rules of leadex.
//!
//! Everything here is deterministic and free of I/O: no async, no database,
//! no HTTP. Adapters and services in other crates build on these types.
//! Values are parsed once at the edge (`parse`/`TryFrom`) into newtypes with
//! private fields, so code past the edge never re-validates.

pub mod account;
pub mod catalog;
pub mod geo;
pub mod ids;
pub mod lead;
pub mod market;
pub mod money;
pub mod score;
pub mod vertical;

pub use ids::{AccountId, AskId, JobId, KeyId, LeadId};
pub use money::Money;
