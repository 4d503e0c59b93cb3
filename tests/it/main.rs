//! The integration suite: one binary, a module per feature. Every test starts
//! the real server on 127.0.0.1:0 and talks HTTP to it.

mod fake_github;
mod helpers;
mod jose_client;
mod smtp_sink;

mod api_portal;
mod apis;
mod browser;
mod cli;
mod device;
mod discovery;
mod durability;
mod federation;
mod flow;
mod portal;
mod resilience;
mod rules;
mod security;
mod sender;
mod tokens;
mod trust;
