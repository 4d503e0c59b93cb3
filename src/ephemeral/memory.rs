use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{Ephemeral, EphemeralResult};
use crate::clock::{Clock, Timestamp};

struct Entry {
    value: String,
    expires_at: Timestamp,
}

/// In-process short-lived state for a single instance. Expiry follows the app
/// clock, so tests that move the clock see entries expire.
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Replay caches (`first_sighting`): 128-bit ids (the set's name hashed
    /// in) with their expiry, 24 bytes an entry where a value would take ten
    /// times that.
    seen: HashMap<u128, Timestamp>,
    /// Writes until the next sweep of expired entries.
    until_sweep: u64,
}

impl MemoryStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, inner: Mutex::new(Inner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-written entry
        // (every update is a single insert or remove), so a poisoned lock is
        // still safe to use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expiry(&self, ttl: Duration) -> Timestamp {
        self.clock.now() + ttl.as_secs().max(1) as i64
    }

    /// Removes expired entries now and then, so memory does not grow without
    /// bound under a steady stream of writes.
    fn on_write(&self, inner: &mut Inner) {
        if inner.until_sweep > 0 {
            inner.until_sweep -= 1;
            return;
        }
        let now = self.clock.now();
        inner.map.retain(|_, e| e.expires_at > now);
        inner.seen.retain(|_, expires_at| *expires_at > now);
        // A sweep costs a pass over the entries: the next one comes after as
        // many writes as there are entries left, so each write pays a
        // constant share however large the state grows.
        inner.until_sweep = (inner.map.len() + inner.seen.len()).max(1024) as u64;
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Ids held by the replay caches.
    pub fn seen_len(&self) -> usize {
        self.lock().seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl Ephemeral for MemoryStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<()> {
        let expires_at = self.expiry(ttl);
        let mut inner = self.lock();
        inner.map.insert(key.to_string(), Entry { value: value.to_string(), expires_at });
        self.on_write(&mut inner);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, value: &str, ttl: Duration) -> EphemeralResult<bool> {
        let now = self.clock.now();
        let expires_at = self.expiry(ttl);
        let mut inner = self.lock();
        if inner.map.get(key).is_some_and(|e| e.expires_at > now) {
            return Ok(false);
        }
        inner.map.insert(key.to_string(), Entry { value: value.to_string(), expires_at });
        self.on_write(&mut inner);
        Ok(true)
    }

    async fn get(&self, key: &str) -> EphemeralResult<Option<String>> {
        let now = self.clock.now();
        let inner = self.lock();
        Ok(inner.map.get(key).filter(|e| e.expires_at > now).map(|e| e.value.clone()))
    }

    async fn take(&self, key: &str) -> EphemeralResult<Option<String>> {
        let now = self.clock.now();
        let mut inner = self.lock();
        Ok(inner.map.remove(key).filter(|e| e.expires_at > now).map(|e| e.value))
    }

    async fn delete(&self, key: &str) -> EphemeralResult<()> {
        self.lock().map.remove(key);
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> EphemeralResult<i64> {
        let now = self.clock.now();
        let expires_at = self.expiry(ttl);
        let mut inner = self.lock();
        let entry = inner.map.entry(key.to_string()).or_insert(Entry { value: "0".into(), expires_at });
        if entry.expires_at <= now {
            entry.value = "0".into();
            entry.expires_at = expires_at;
        }
        let n = entry.value.parse::<i64>().unwrap_or(0) + 1;
        entry.value = n.to_string();
        self.on_write(&mut inner);
        Ok(n)
    }

    async fn decr(&self, key: &str, _ttl: Duration) -> EphemeralResult<()> {
        let now = self.clock.now();
        let mut inner = self.lock();
        if let Some(entry) = inner.map.get_mut(key).filter(|e| e.expires_at > now) {
            let n = entry.value.parse::<i64>().unwrap_or(0) - 1;
            entry.value = n.max(0).to_string();
        }
        Ok(())
    }

    async fn first_sighting(&self, _set: &str, id: [u8; 16], ttl: Duration) -> EphemeralResult<bool> {
        let now = self.clock.now();
        let expires_at = self.expiry(ttl);
        let mut inner = self.lock();
        let key = u128::from_be_bytes(id);
        if inner.seen.get(&key).is_some_and(|until| *until > now) {
            return Ok(false);
        }
        inner.seen.insert(key, expires_at);
        self.on_write(&mut inner);
        Ok(true)
    }

    async fn ping(&self) -> EphemeralResult<()> {
        Ok(())
    }

    async fn purge_expired(&self) {
        let now = self.clock.now();
        let mut inner = self.lock();
        inner.map.retain(|_, e| e.expires_at > now);
        inner.seen.retain(|_, until| *until > now);
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
