//! Brute-force throttling: failures are counted per subject (an account's
//! login, a client id, an email asking for resets) and per client IP in the
//! short-lived shared state, so every instance behind a load balancer sees
//! the same counts (Redis). Past a soft limit answers slow down; at the hard
//! limit the subject is locked for a while and answers are 429 with
//! Retry-After.
//!
//! Counting by the login as typed, whether or not an account has it, keeps
//! the answers the same for known and unknown accounts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::crypto::token_hash;
use crate::ephemeral::{Ephemeral, EphemeralResult};

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
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::SignIn => "signin",
            Kind::SecondFactor => "mfa",
            Kind::Reset => "reset",
            Kind::Client => "client",
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

/// A lock: until when (app clock, so tests can move time; Redis expiry is
/// only the backstop that frees memory).
#[derive(Debug, Serialize, Deserialize)]
struct Lock {
    until: Timestamp,
}

fn key(kind: Kind, what: &str, subject: &str) -> String {
    // Hashed: logins and emails stay out of Redis in clear text.
    format!(
        "throttle:{}:{what}:{}",
        kind.tag(),
        token_hash(&subject.trim().to_lowercase())
    )
}

/// Seconds to wait when `kind`/`subject` (or the IP) is locked at `now`.
pub async fn locked(
    eph: &dyn Ephemeral,
    kind: Kind,
    subject: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> EphemeralResult<Option<i64>> {
    let mut wait = None;
    let mut keys = vec![key(kind, "lock", subject)];
    if let Some(ip) = ip {
        keys.push(key(kind, "iplock", ip));
    }
    for k in keys {
        if let Some(raw) = eph.get(&k).await? {
            if let Ok(lock) = serde_json::from_str::<Lock>(&raw) {
                if lock.until > now {
                    wait = Some(wait.unwrap_or(0).max(lock.until - now));
                }
            }
        }
    }
    Ok(wait)
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

/// Counts a failure of `subject` (and of `ip`), locking past the limits.
pub async fn fail(
    eph: &dyn Ephemeral,
    policy: &Policy,
    kind: Kind,
    subject: &str,
    ip: Option<&str>,
    now: Timestamp,
) -> EphemeralResult<Failure> {
    let window = Duration::from_secs(policy.lock_seconds.max(1) as u64);
    let count = eph.incr(&key(kind, "count", subject), window).await?;
    let mut locked_for = None;
    if count >= policy.max_failures {
        lock(eph, &key(kind, "lock", subject), policy, now).await?;
        eph.delete(&key(kind, "count", subject)).await?;
        locked_for = Some(policy.lock_seconds);
    }
    if let Some(ip) = ip {
        let ip_count = eph.incr(&key(kind, "ipcount", ip), window).await?;
        if ip_count >= policy.max_ip_failures {
            lock(eph, &key(kind, "iplock", ip), policy, now).await?;
            eph.delete(&key(kind, "ipcount", ip)).await?;
            locked_for = Some(policy.lock_seconds);
        }
    }
    Ok(Failure {
        count,
        locked_for,
        delay: delay_for(count, policy),
    })
}

async fn lock(eph: &dyn Ephemeral, k: &str, policy: &Policy, now: Timestamp) -> EphemeralResult<()> {
    let value = serde_json::to_string(&Lock {
        until: now + policy.lock_seconds,
    })
    .unwrap_or_default();
    eph.put(k, &value, Duration::from_secs(policy.lock_seconds.max(1) as u64))
        .await
}

/// After a success: the subject's count starts again (the IP's does not, so
/// one good account cannot launder guesses at others).
pub async fn succeeded(eph: &dyn Ephemeral, kind: Kind, subject: &str) -> EphemeralResult<()> {
    eph.delete(&key(kind, "count", subject)).await
}

/// Lifts a lock: the owner proved themselves another way (password reset).
pub async fn release(eph: &dyn Ephemeral, kind: Kind, subject: &str) -> EphemeralResult<()> {
    eph.delete(&key(kind, "lock", subject)).await?;
    eph.delete(&key(kind, "count", subject)).await
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
    if minutes <= 1 {
        "in a minute".into()
    } else {
        format!("in {minutes} minutes")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, OffsetClock};
    use crate::ephemeral::MemoryStore;

    fn policy() -> Policy {
        Policy {
            max_failures: 4,
            max_ip_failures: 6,
            lock_seconds: 600,
            delay_ms: 100,
        }
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
        let p = policy();
        let now = clock.now();
        for i in 1..4 {
            let f = fail(&eph, &p, Kind::SignIn, "Ada", Some("10.0.0.1"), now)
                .await
                .unwrap();
            assert_eq!((f.count, f.locked_for), (i, None));
        }
        assert_eq!(locked(&eph, Kind::SignIn, "ada", None, now).await.unwrap(), None);
        let f = fail(&eph, &p, Kind::SignIn, " ADA ", Some("10.0.0.1"), now)
            .await
            .unwrap();
        assert_eq!(f.locked_for, Some(600), "the login is compared case-insensitively");
        assert_eq!(
            locked(&eph, Kind::SignIn, "ada", None, now + 10).await.unwrap(),
            Some(590)
        );
        assert_eq!(locked(&eph, Kind::SignIn, "ada", None, now + 600).await.unwrap(), None);
        // Other kinds are separate.
        assert_eq!(locked(&eph, Kind::Reset, "ada", None, now).await.unwrap(), None);
        // The IP reaches its own limit across accounts.
        fail(&eph, &p, Kind::SignIn, "bob", Some("10.0.0.1"), now)
            .await
            .unwrap();
        let f = fail(&eph, &p, Kind::SignIn, "carol", Some("10.0.0.1"), now)
            .await
            .unwrap();
        assert_eq!(f.locked_for, Some(600));
        assert!(
            locked(&eph, Kind::SignIn, "dave", Some("10.0.0.1"), now)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            locked(&eph, Kind::SignIn, "dave", Some("10.0.0.2"), now)
                .await
                .unwrap()
                .is_none()
        );
        release(&eph, Kind::SignIn, "ada").await.unwrap();
        assert_eq!(locked(&eph, Kind::SignIn, "ada", None, now + 10).await.unwrap(), None);
    }
}
