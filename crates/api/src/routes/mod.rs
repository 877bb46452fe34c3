//! Route handlers, one module per resource.

pub mod accounts;
pub mod asks;
pub mod health;
pub mod jobs;
pub mod leads;
pub mod market;
pub mod nft;
pub mod verticals;
