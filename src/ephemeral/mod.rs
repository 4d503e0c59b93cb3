//! Short-lived shared state: pending authorization requests, sign-in steps,
//! failure counters. Nothing here decides that a token is no longer good:
//! that is the database's (see `store`). In-process by default; Redis when
//! `REDIS_URL` is set, so several instances share it.
//!
//! Entries expire by their TTL. Rules that care about exact expiry (a code's
//! 60 s) also carry their own `expires_at`, checked against the app clock.

pub mod kinds;
mod memory;
mod redis_store;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;

pub use memory::MemoryStore;
pub use redis_store::{RedisStore, follow_channel};

#[derive(Debug, thiserror::Error)]
pub enum EphemeralError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

pub type EphemeralResult<T> = Result<T, EphemeralError>;

#[async_trait]
pub trait Ephemeral: Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any earlier value.
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<()>;
    /// Stores `value` only if `key` holds nothing; true when it was stored.
    async fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool>;
    async fn get(&self, key: &str) -> EphemeralResult<Option<String>>;
    /// Returns and removes the value in one atomic step: of two concurrent
    /// callers (on any instance), exactly one gets it.
    async fn take(&self, key: &str) -> EphemeralResult<Option<String>>;
    async fn delete(&self, key: &str) -> EphemeralResult<()>;
    /// Adds one to the counter at `key`, starting a `ttl` window at its first
    /// increment; returns the new count.
    async fn incr(&self, key: &str, ttl: Duration) -> EphemeralResult<i64>;
    /// Takes one back from the counter at `key` (an attempt counted before
    /// it was judged turned out good). A counter that is gone stays gone in
    /// effect: whatever is left expires within `ttl`.
    async fn decr(&self, key: &str, ttl: Duration) -> EphemeralResult<()>;
    /// Records that `id` (a 128-bit digest) of the set `set` was seen, for
    /// `ttl`; false when it had been seen already. Of two concurrent first
    /// sightings (on any instance), one wins. Replay caches hold many such
    /// ids, so a store may keep them more compactly than values.
    async fn first_sighting(&self, set: &str, id: [u8; 16], ttl: Duration) -> EphemeralResult<bool> {
        let key = format!("{set}:{}", crate::crypto::b64url(&id));
        self.put_if_absent(&key, "1", ttl).await
    }
    async fn ping(&self) -> EphemeralResult<()>;
    /// Drops expired entries now (Redis expires keys by itself).
    async fn purge_expired(&self) {}
    /// Tells every instance subscribed to `channel` (Redis pub/sub) that
    /// something changed; nothing for in-process state.
    async fn publish(&self, _channel: &str) -> EphemeralResult<()> {
        Ok(())
    }
    fn backend(&self) -> &'static str;
}
