//! Ports, use-case services and application errors of leadex.
//!
//! This crate sits between the pure domain and the adapters: it defines the
//! [`ports::Store`] trait the storage adapters implement, and the
//! [`service::Leadex`] service the HTTP layer (and the CLI) call. It never
//! names sqlx, axum or any other adapter crate.

pub mod clock;
pub mod crypto;
pub mod cursor;
pub mod error;
pub mod events;
pub mod market;
pub mod model;
pub mod nft;
pub mod ports;
pub mod service;
pub mod synth;

pub use error::{AppError, ErrorKind};
pub use ports::{Store, StoreError};
pub use service::Leadex;
