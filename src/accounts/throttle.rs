//! Brute-force throttling: failures are counted per subject (an account, a
//! client id, an email asking for resets) and per client IP in the
//! short-lived shared state, so every instance behind a load balancer sees
//! the same counts (Redis). Past a soft limit answers slow down; at the hard
//! limit the subject is locked for a while and answers are 429 with
//! Retry-After. A lock is written to the database: a restart of the server
//! or of Redis lifts none.
//!
//! Sign-in failures count against the account the login names, whichever
//! of its names (username or email) was typed, and against the login as
//! typed when it names no account: unknown logins lock exactly like known
//! ones, so the answers reveal nothing.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::crypto::token_hash;
use crate::ephemeral::Ephemeral;
use crate::store::{LockoutStore, StoreError, User};

/// What is being guessed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A password at sign-in (the subject is the login as typed).
    SignIn,
    /// A TOTP or backup code (the subject is the account id).
    SecondFactor,
    /// Password reset requests (the subject is the email).
    Reset,
    /// Client authentication at the token endpoint (the subject is the client id).
    Client,
    /// A device's user code at /device (the subject is the IP).
    DeviceCode,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::SignIn => "signin",
            Kind::SecondFactor => "mfa",
            Kind::Reset => "reset",
            Kind::Client => "client",
            Kind::DeviceCode => "device",
        }
    }
}

/// Limits, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures of one subject before it locks.
    pub max_failures: i64,
    /// Failures from one IP (all subjects) before the IP is refused.
    pub max_ip_failures: i64,
    /// How long a lock lasts, and the window failures are counted in, seconds.
    pub lock_seconds: i64,
    /// Added per failure past half of `max_failures`, milliseconds (capped at
    /// 5 s per answer).
    pub delay_ms: u64,
}

/// Why throttling could not decide: the short-lived state or the database
/// is unavailable.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    #[error(transparent)]
    State(#[from] crate::ephemeral::EphemeralError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type ThrottleResult<T> = Result<T, ThrottleError>;

/// The sign-in subject for a login: its account when it names one, the
/// login as typed otherwise.
pub fn sign_in_subject(account: Option<&User>, login: &str) -> String {
    match account {
        Some(user) => account_subject(&user.id),
        None => format!("login:{}", login.trim().to_lowercase()),
    }
}

/// The sign-in subject of a known account.
pub fn account_subject(user_id: &str) -> String {
    format!("account:{user_id}")
}

fn key(kind: Kind, what: &str, subject: &str) -> String {
    // Hashed: logins and emails stay out of Redis and the lock table in
    // clear text.
    format!("throttle:{}:{what}:{}", kind.tag(), token_hash(&subject.trim().to_lowercase()))
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The subject's failures in the current window, this one included.
    pub count: i64,
    /// Set when this failure locked the subject or the IP: seconds to wait.
    pub locked_for: Option<i64>,
    /// How long to hold the answer (slow down).
    pub delay: Duration,
}

/// Counts in the short-lived state, locks in the database.
#[derive(Clone, Copy)]
pub struct Throttle<'a> {
    pub counts: &'a dyn Ephemeral,
    pub locks: &'a dyn LockoutStore,
    pub policy: &'a Policy,
}

impl Throttle<'_> {
    /// Seconds to wait when `kind`/`subject` (or the IP) is locked at `now`.
    pub async fn locked(
        &self, kind: Kind, subject: &str, ip: Option<&str>, now: Timestamp,
    ) -> ThrottleResult<Option<i64>> {
        let mut keys = vec![key(kind, "lock", subject)];
        if let Some(ip) = ip {
            keys.push(key(kind, "iplock", ip));
        }
        Ok(self.locks.locked_until(&keys, now).await?.map(|until| until - now))
    }

    /// Counts an attempt before it is judged, for secrets guessed in
    /// parallel (a device's user code): checking a lock and counting the
    /// failure afterwards would let every concurrent guess through while the
    /// count catches up. Of any number of attempts in a window, at most
    /// `max_failures` are let through; the next one locks. None: go on.
    pub async fn admit(&self, kind: Kind, subject: &str, now: Timestamp) -> ThrottleResult<Option<i64>> {
        let policy = self.policy;
        let window = Duration::from_secs(policy.lock_seconds.max(1) as u64);
        let attempts = self.counts.incr(&key(kind, "attempts", subject), window).await?;
        if attempts <= policy.max_failures {
            return Ok(None);
        }
        if attempts == policy.max_failures + 1 {
            self.locks.lock(&key(kind, "lock", subject), now + policy.lock_seconds).await?;
        }
        Ok(Some(policy.lock_seconds))
    }

    /// Gives back an attempt [`admit`](Self::admit) counted that was good:
    /// only guesses use up the limit. (One's own good codes cannot launder
    /// guesses: each gives back only itself.)
    pub async fn admitted_good(&self, kind: Kind, subject: &str) -> ThrottleResult<()> {
        let window = Duration::from_secs(self.policy.lock_seconds.max(1) as u64);
        Ok(self.counts.decr(&key(kind, "attempts", subject), window).await?)
    }

    /// Counts a failure of `subject` (and of `ip`), locking past the limits.
    pub async fn fail(&self, kind: Kind, subject: &str, ip: Option<&str>, now: Timestamp) -> ThrottleResult<Failure> {
        let policy = self.policy;
        let window = Duration::from_secs(policy.lock_seconds.max(1) as u64);
        let count = self.counts.incr(&key(kind, "count", subject), window).await?;
        let mut locked_for = None;
        if count >= policy.max_failures {
            self.locks.lock(&key(kind, "lock", subject), now + policy.lock_seconds).await?;
            self.counts.delete(&key(kind, "count", subject)).await?;
            locked_for = Some(policy.lock_seconds);
        }
        if let Some(ip) = ip {
            let ip_count = self.counts.incr(&key(kind, "ipcount", ip), window).await?;
            if ip_count >= policy.max_ip_failures {
                self.locks.lock(&key(kind, "iplock", ip), now + policy.lock_seconds).await?;
                self.counts.delete(&key(kind, "ipcount", ip)).await?;
                locked_for = Some(policy.lock_seconds);
            }
        }
        Ok(Failure { count, locked_for, delay: delay_for(count, policy) })
    }

    /// After a success: the subject's count starts again (the IP's does not,
    /// so one good account cannot launder guesses at others).
    pub async fn succeeded(&self, kind: Kind, subject: &str) -> ThrottleResult<()> {
        Ok(self.counts.delete(&key(kind, "count", subject)).await?)
    }

    /// Lifts a lock: the owner proved themselves another way (password reset).
    pub async fn release(&self, kind: Kind, subject: &str) -> ThrottleResult<()> {
        self.locks.unlock(&key(kind, "lock", subject)).await?;
        Ok(self.counts.delete(&key(kind, "count", subject)).await?)
    }
}

/// The slow-down: nothing up to half the limit, then `delay_ms` more per
/// failure, at most 5 s.
pub fn delay_for(count: i64, policy: &Policy) -> Duration {
    let soft = (policy.max_failures / 2).max(1);
    if count <= soft {
        return Duration::ZERO;
    }
    let ms = policy.delay_ms.saturating_mul((count - soft) as u64).min(5000);
    Duration::from_millis(ms)
}

/// "in N minutes" for a page.
pub fn wait_words(seconds: i64) -> String {
    let minutes = (seconds + 59) / 60;
    if minutes <= 1 { "in a minute".into() } else { format!("in {minutes} minutes") }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, OffsetClock};
    use crate::ephemeral::MemoryStore;
    use crate::store::SqlStore;

    fn policy() -> Policy {
        Policy { max_failures: 4, max_ip_failures: 6, lock_seconds: 600, delay_ms: 100 }
    }

    #[test]
    fn slow_down_grows_then_caps() {
        let p = policy();
        assert_eq!(delay_for(1, &p), Duration::ZERO);
        assert_eq!(delay_for(2, &p), Duration::ZERO);
        assert_eq!(delay_for(3, &p), Duration::from_millis(100));
        assert_eq!(delay_for(4, &p), Duration::from_millis(200));
        assert_eq!(delay_for(1000, &p), Duration::from_secs(5));
    }

    #[tokio::test]
    async fn locks_at_the_limit_and_lifts_with_time() {
        let clock = OffsetClock::default();
        let eph = MemoryStore::new(Arc::new(clock.clone()) as Arc<dyn Clock>);
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        store.migrate().await.unwrap();
        let p = policy();
        let t = Throttle { counts: &eph, locks: &store, policy: &p };
        let now = clock.now();
        for i in 1..4 {
            let f = t.fail(Kind::SignIn, "Ada", Some("10.0.0.1"), now).await.unwrap();
            assert_eq!((f.count, f.locked_for), (i, None));
        }
        assert_eq!(t.locked(Kind::SignIn, "ada", None, now).await.unwrap(), None);
        let f = t.fail(Kind::SignIn, " ADA ", Some("10.0.0.1"), now).await.unwrap();
        assert_eq!(f.locked_for, Some(600), "the subject is compared case-insensitively");
        assert_eq!(t.locked(Kind::SignIn, "ada", None, now + 10).await.unwrap(), Some(590));
        assert_eq!(t.locked(Kind::SignIn, "ada", None, now + 600).await.unwrap(), None);
        // The lock is in the database: new short-lived state keeps it.
        let restarted = MemoryStore::new(Arc::new(clock.clone()) as Arc<dyn Clock>);
        let after = Throttle { counts: &restarted, ..t };
        assert_eq!(after.locked(Kind::SignIn, "ada", None, now + 10).await.unwrap(), Some(590));
        // Other kinds are separate.
        assert_eq!(t.locked(Kind::Reset, "ada", None, now).await.unwrap(), None);
        // The IP reaches its own limit across subjects.
        t.fail(Kind::SignIn, "bob", Some("10.0.0.1"), now).await.unwrap();
        let f = t.fail(Kind::SignIn, "carol", Some("10.0.0.1"), now).await.unwrap();
        assert_eq!(f.locked_for, Some(600));
        assert!(t.locked(Kind::SignIn, "dave", Some("10.0.0.1"), now).await.unwrap().is_some());
        assert!(t.locked(Kind::SignIn, "dave", Some("10.0.0.2"), now).await.unwrap().is_none());
        t.release(Kind::SignIn, "ada").await.unwrap();
        assert_eq!(t.locked(Kind::SignIn, "ada", None, now + 10).await.unwrap(), None);
    }

    #[test]
    fn sign_in_subjects_name_the_account() {
        let user = User {
            id: "u-1".into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            name: None,
            picture: None,
            password_hash: None,
            role: crate::store::Role::User,
            disabled: false,
            created_at: 0,
            updated_at: 0,
        };
        // Username and email of one account are one subject.
        assert_eq!(sign_in_subject(Some(&user), "ada"), sign_in_subject(Some(&user), "ADA@example.com"));
        assert_eq!(sign_in_subject(Some(&user), "ada"), account_subject("u-1"));
        // A login that names no account is its own subject, whatever case.
        assert_eq!(sign_in_subject(None, " Ghost "), sign_in_subject(None, "ghost"));
        assert_ne!(sign_in_subject(None, "u-1"), account_subject("u-1"));
    }
}
