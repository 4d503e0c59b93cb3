//! Latchkey: an OAuth 2.0 / OpenID Connect provider.
//!
//! The crate is a library with a thin binary (`src/main.rs`). The seams:
//! `http` speaks axum and nothing else decides anything; `oauth` and `accounts`
//! hold the protocol and account rules with the current time passed in; `store`
//! keeps durable data (SQLite or PostgreSQL), `ephemeral` short-lived state
//! (in-process or Redis); `keys` signs and publishes.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod accounts;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod email;
pub mod ephemeral;
pub mod error;
pub mod federation;
pub mod http;
pub mod keys;
pub mod oauth;
pub mod server;
pub mod shared;
pub mod store;
pub mod templates;

pub use app::{App, AppState};
pub use config::Config;

/// Selects aws-lc-rs as the process-wide TLS crypto provider. Dependencies
/// may enable both rustls back ends, and then rustls cannot choose one by
/// itself; call this once at start.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
