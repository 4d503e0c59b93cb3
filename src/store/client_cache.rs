//! A short-lived in-process cache of clients, so the token, introspection and
//! userinfo endpoints do not read the database for the client on every call.
//! Only hits are cached (a new client is found at once); a deletion made on
//! another instance or by the CLI reaches this one within [`CLIENT_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Client, Store, StoreResult};

pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct ClientCache {
    entries: Mutex<HashMap<String, (Arc<Client>, Instant)>>,
}

impl ClientCache {
    pub async fn get(&self, store: &dyn Store, id: &str) -> StoreResult<Option<Arc<Client>>> {
        if let Some((client, at)) = self.lock().get(id) {
            if at.elapsed() < CLIENT_CACHE_TTL {
                return Ok(Some(client.clone()));
            }
        }
        let Some(client) = store.get_client(id).await? else {
            self.forget(id);
            return Ok(None);
        };
        let client = Arc::new(client);
        let mut entries = self.lock();
        // Bound the cache: ids come from requests, so drop stale entries
        // before growing past a few thousand.
        if entries.len() >= 4096 {
            entries.retain(|_, (_, at)| at.elapsed() < CLIENT_CACHE_TTL);
        }
        if entries.len() < 4096 {
            entries.insert(id.to_string(), (client.clone(), Instant::now()));
        }
        Ok(Some(client))
    }

    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<Client>, Instant)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}
