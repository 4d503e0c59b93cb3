//! What each instance keeps in memory of the database: clients and accounts
//! (read on every token request), and what is revoked (checked on every
//! access token). The database stays the truth: the mirror is loaded from it
//! at start, updated at once by this instance's own writes, and by the
//! change feed for everyone else's within a second. A miss reads the
//! database; nothing here is ever the only copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use super::cache::Cached;
use super::{Api, Change, Client, User};
use crate::clock::Timestamp;

/// Milliseconds since the epoch on the wall clock: the change feed's time,
/// shared by every instance (the app clock may be moved by tests).
pub fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// How far back each read of the change feed looks, in milliseconds. A
/// change is stamped when its transaction writes it, and may commit a little
/// later; reading the last seconds again (skipping what was applied) catches
/// late commits and modest clock skew between instances.
pub const FEED_LOOKBACK_MS: i64 = 10_000;

#[derive(Default)]
struct Revoked {
    /// Grant id → until when its access tokens might still be alive.
    grants: HashMap<String, Timestamp>,
    /// Access token id → its expiry.
    jtis: HashMap<String, Timestamp>,
}

#[derive(Default)]
pub struct Mirror {
    pub clients: Cached<Client>,
    pub users: Cached<User>,
    /// Every registered API, or None until read again after a change.
    apis: RwLock<Option<Arc<Vec<Api>>>>,
    /// Bumped by every change to the APIs: a read that started before one
    /// must not keep what it read.
    apis_generation: std::sync::atomic::AtomicU64,
    revoked: RwLock<Revoked>,
    /// Feed rows already applied: sequence number → when written.
    applied: Mutex<HashMap<i64, i64>>,
    local_writes: Arc<Notify>,
    keys_changed: Arc<Notify>,
}

impl Mirror {
    /// Applies a change written by this instance, and tells the publisher
    /// so other instances hear of it at once.
    pub fn apply_local(&self, change: &Change) {
        self.apply(change);
        self.local_writes.notify_one();
    }

    /// Applies a change (idempotent). Bulk grant revocations are resolved
    /// by the store, which reads the grants and calls [`Mirror::revoke_grant`].
    pub fn apply(&self, change: &Change) {
        match change {
            Change::Client(id) => self.clients.forget(id),
            Change::User(id) => self.users.forget(id),
            Change::Grant { id, until } => self.revoke_grant(id, *until),
            Change::AccessToken { jti, until } => {
                self.write().jtis.insert(jti.clone(), *until);
            }
            Change::Grants(_) => {}
            Change::Keys => self.keys_changed.notify_one(),
            Change::Apis => {
                self.apis_generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                *self.apis.write().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
    }

    /// The APIs held, if they are current.
    pub fn apis(&self) -> Option<Arc<Vec<Api>>> {
        self.apis.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn apis_generation(&self) -> u64 {
        self.apis_generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps the APIs read from the database, unless a change came since
    /// the read began (`generation`); returns them either way.
    pub fn keep_apis(&self, apis: Vec<Api>, generation: u64) -> Arc<Vec<Api>> {
        let apis = Arc::new(apis);
        let mut held = self.apis.write().unwrap_or_else(|p| p.into_inner());
        if self.apis_generation() == generation {
            *held = Some(apis.clone());
        }
        apis
    }

    pub fn revoke_grant(&self, id: &str, until: Timestamp) {
        let mut revoked = self.write();
        let entry = revoked.grants.entry(id.to_string()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Adds what the database holds to the revocation state. Never
    /// replaces: a revocation is never undone, only outlived, so merging
    /// cannot lose one this instance applied while the database was read.
    pub fn merge_revocations(&self, grants: Vec<(String, Timestamp)>, jtis: Vec<(String, Timestamp)>) {
        let mut revoked = self.write();
        for (id, until) in grants {
            let entry = revoked.grants.entry(id).or_insert(until);
            *entry = (*entry).max(until);
        }
        for (jti, until) in jtis {
            revoked.jtis.insert(jti, until);
        }
    }

    /// Whether an access token is revoked: its own id, or its grant.
    pub fn revoked(&self, jti: &str, grant_id: Option<&str>, now: Timestamp) -> bool {
        let revoked = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        revoked.jtis.get(jti).is_some_and(|until| *until >= now)
            || grant_id.is_some_and(|g| revoked.grants.get(g).is_some_and(|until| *until >= now))
    }

    /// Drops entries whose tokens have all expired.
    pub fn prune(&self, now: Timestamp) {
        let mut revoked = self.write();
        revoked.grants.retain(|_, until| *until >= now);
        revoked.jtis.retain(|_, until| *until >= now);
    }

    /// Whether the feed row `seq` was applied already.
    pub fn seen(&self, seq: i64) -> bool {
        self.applied.lock().unwrap_or_else(|p| p.into_inner()).contains_key(&seq)
    }

    /// Records the feed row `seq` (written at `at_ms`) as applied.
    pub fn mark_seen(&self, seq: i64, at_ms: i64) {
        self.applied.lock().unwrap_or_else(|p| p.into_inner()).insert(seq, at_ms);
    }

    /// Forgets applied rows older than the next read can return.
    pub fn forget_applied_before(&self, at_ms: i64) {
        let mut applied = self.applied.lock().unwrap_or_else(|p| p.into_inner());
        applied.retain(|_, at| *at >= at_ms);
    }

    pub fn local_writes(&self) -> Arc<Notify> {
        self.local_writes.clone()
    }

    pub fn keys_changed(&self) -> Arc<Notify> {
        self.keys_changed.clone()
    }

    /// Counts for logs: revoked grants and access tokens held.
    pub fn sizes(&self) -> (usize, usize) {
        let revoked = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        (revoked.grants.len(), revoked.jtis.len())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Revoked> {
        self.revoked.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_hold_until_their_tokens_expire() {
        let m = Mirror::default();
        m.apply(&Change::Grant { id: "g1".into(), until: 100 });
        m.apply(&Change::AccessToken { jti: "j1".into(), until: 50 });
        assert!(m.revoked("other", Some("g1"), 99));
        assert!(m.revoked("j1", None, 50));
        assert!(!m.revoked("j1", None, 51), "expired tokens need no entry");
        assert!(!m.revoked("j2", Some("g2"), 10));
        assert!(!m.revoked("j2", None, 10), "no grant: only the jti counts");
        m.prune(60);
        assert_eq!(m.sizes(), (1, 0));
        // A later revocation of the same grant keeps the later bound.
        m.revoke_grant("g1", 90);
        assert!(m.revoked("x", Some("g1"), 100));
    }

    #[test]
    fn feed_rows_apply_once() {
        let m = Mirror::default();
        assert!(!m.seen(1));
        m.mark_seen(1, 1000);
        m.mark_seen(2, 2000);
        assert!(m.seen(1) && m.seen(2));
        m.forget_applied_before(1500);
        assert!(!m.seen(1), "rows older than the next read are forgotten");
        assert!(m.seen(2));
    }

    #[test]
    fn merging_keeps_what_was_applied_meanwhile() {
        let m = Mirror::default();
        m.revoke_grant("local", 100);
        m.merge_revocations(vec![("g".into(), 50), ("local".into(), 80)], vec![("j".into(), 70)]);
        assert!(m.revoked("x", Some("local"), 100));
        assert!(m.revoked("x", Some("g"), 50));
        assert!(m.revoked("j", None, 70));
    }
}
