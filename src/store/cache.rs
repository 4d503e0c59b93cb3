//! The in-process cache behind `get_client` and `get_user`, so the token,
//! introspection and userinfo endpoints do not read the database on every
//! call. Only hits are cached (a new client or user is found at once). The
//! store forgets an entry when it writes it, and the change feed when
//! another instance or the CLI does (within a second); [`CACHE_TTL`] is
//! only the backstop.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::StoreResult;

pub const CACHE_TTL: Duration = Duration::from_secs(30);
const MAX_ENTRIES: usize = 4096;

pub struct Cached<T> {
    entries: Mutex<HashMap<String, (Arc<T>, Instant)>>,
    /// Bumped by every `forget`: a load that started before a forget must
    /// not put back the value the forget removed.
    generation: AtomicU64,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Self { entries: Mutex::default(), generation: AtomicU64::new(0) }
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
        let generation = self.generation.load(Ordering::SeqCst);
        let Some(value) = load().await? else {
            // Gone from the database: drop any stale copy (no generation
            // bump: unknown ids come from requests, and must not stop
            // everyone else's loads from being cached).
            self.lock().remove(id);
            return Ok(None);
        };
        let value = Arc::new(value);
        let mut entries = self.lock();
        if self.generation.load(Ordering::SeqCst) != generation {
            return Ok(Some(value));
        }
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
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<T>, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
