//! Short-lived in-process caches of clients and users, so the token,
//! introspection and userinfo endpoints do not read the database on every
//! call. Only hits are cached (a new client or user is found at once); a
//! change made on another instance or by the CLI reaches this one within
//! [`CACHE_TTL`]. What must take effect at once (revocation, a disabled
//! account) goes through the deny-list in short-lived state instead.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Client, Store, StoreResult, User};

pub const CACHE_TTL: Duration = Duration::from_secs(10);
const MAX_ENTRIES: usize = 4096;

pub struct Cached<T> {
    entries: Mutex<HashMap<String, (Arc<T>, Instant)>>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
        }
    }
}

impl<T> Cached<T> {
    pub async fn get_or_load<F, Fut>(&self, id: &str, load: F) -> StoreResult<Option<Arc<T>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoreResult<Option<T>>>,
    {
        if let Some((value, at)) = self.lock().get(id) {
            if at.elapsed() < CACHE_TTL {
                return Ok(Some(value.clone()));
            }
        }
        let Some(value) = load().await? else {
            self.forget(id);
            return Ok(None);
        };
        let value = Arc::new(value);
        let mut entries = self.lock();
        // Ids come from requests: bound the cache, dropping stale entries
        // before growing past the limit.
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(id.to_string(), (value.clone(), Instant::now()));
        }
        Ok(Some(value))
    }

    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<T>, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Clients by id.
#[derive(Default)]
pub struct ClientCache(Cached<Client>);

impl ClientCache {
    pub async fn get(&self, store: &dyn Store, id: &str) -> StoreResult<Option<Arc<Client>>> {
        self.0.get_or_load(id, || store.get_client(id)).await
    }
    pub fn forget(&self, id: &str) {
        self.0.forget(id);
    }
}

/// Users by id.
#[derive(Default)]
pub struct UserCache(Cached<User>);

impl UserCache {
    pub async fn get(&self, store: &dyn Store, id: &str) -> StoreResult<Option<Arc<User>>> {
        self.0.get_or_load(id, || store.get_user(id)).await
    }
    pub fn forget(&self, id: &str) {
        self.0.forget(id);
    }
}
