//! Everything kept in short-lived state, by kind: one place naming each,
//! with its payload type and lifetime. Keys are the kind's name and the hash
//! of an id (ids travel in URLs and forms; Redis never sees them in clear).
//!
//! None of it decides whether a token, session or account is good: that is
//! the database's. Losing all of it (a Redis restart) costs sign-ins in
//! progress and failure counts below the lockout threshold, nothing more.

use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Ephemeral, EphemeralResult};
use crate::accounts::two_step::PendingStep;
use crate::crypto::{constant_time_eq, sha256, token_hash};
use crate::federation::{PendingProof, RoundTrip};
use crate::oauth::authorize::AuthorizationRequest;
use crate::oauth::device::Confirmation;

/// An authorization request waiting for the person to sign in and consent,
/// under the id in the sign-in and consent URLs.
pub const PENDING_REQUEST: Kind<AuthorizationRequest> = Kind::new("authreq", 30 * 60);
/// A sign-in whose password (or GitHub) step is done, waiting for its second
/// step, under the id in the two-step form.
pub const SECOND_STEP: Kind<PendingStep> = Kind::new("mfa:step", 5 * 60);
/// A TOTP secret (sealed, base64url) being enrolled, under the account id,
/// until a first code confirms it.
pub const TOTP_ENROLMENT: Kind<String> = Kind::new("mfa:setup", 15 * 60);
/// A round trip to GitHub, under its `state`; taken once on the callback.
pub const GITHUB_ROUND_TRIP: Kind<RoundTrip> = Kind::new("fed:state", 10 * 60);
/// A GitHub identity waiting for the password proving the matching local
/// account is the person's own, under the id in the proof form.
pub const GITHUB_PROOF: Kind<PendingProof> = Kind::new("fed:proof", 10 * 60);
/// A device code the person entered and saw named at /device, waiting for
/// their answer, under the id in the confirm form; taken once.
pub const DEVICE_CONFIRMATION: Kind<Confirmation> = Kind::new("device:confirm", 10 * 60);
/// A secret shown once, on the page a form redirects to (a new client
/// secret, backup codes), under the id in that page's URL; the first load
/// takes it, so a reload or a shared URL shows nothing.
pub const REVEAL: Kind<Reveal> = Kind::new("reveal", 5 * 60);
/// `jti`s of client assertions seen, kept until the assertion expires
/// (RFC 7523 §3: an assertion is used once).
pub const ASSERTION_JTIS: Seen = Seen::new("jti:assertion");
/// `jti`s of DPoP proofs seen, kept while a proof could still be accepted
/// (RFC 9449 §11.1).
pub const DPOP_JTIS: Seen = Seen::new("jti:dpop");

/// Failure counters of the brute-force limits (`accounts::throttle`), whose
/// window is the lockout duration. Locks themselves are in the database.
pub const FAILURE_COUNTS: &str = "throttle";

/// A kind of short-lived value: its key prefix, payload type and lifetime.
pub struct Kind<T> {
    name: &'static str,
    ttl: Duration,
    payload: PhantomData<fn() -> T>,
}

impl<T> Kind<T> {
    pub const fn new(name: &'static str, ttl_seconds: u64) -> Self {
        Self { name, ttl: Duration::from_secs(ttl_seconds), payload: PhantomData }
    }

    /// The lifetime, seconds.
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl.as_secs() as i64
    }

    fn key(&self, id: &str) -> String {
        format!("{}:{}", self.name, token_hash(id))
    }
}

impl<T: Serialize + DeserializeOwned> Kind<T> {
    /// Stores `value` under `id` for the kind's lifetime, replacing any.
    pub async fn put(&self, eph: &dyn Ephemeral, id: &str, value: &T) -> EphemeralResult<()> {
        let text = serde_json::to_string(value).unwrap_or_default();
        eph.put(&self.key(id), &text, self.ttl).await
    }

    /// The value under `id`; None when absent, expired, or unreadable (a
    /// value written by an older release is as good as gone).
    pub async fn get(&self, eph: &dyn Ephemeral, id: &str) -> EphemeralResult<Option<T>> {
        Ok(decode(self.name, eph.get(&self.key(id)).await?))
    }

    /// Takes the value in one atomic step: of two concurrent callers (on any
    /// instance), one gets it.
    pub async fn take(&self, eph: &dyn Ephemeral, id: &str) -> EphemeralResult<Option<T>> {
        Ok(decode(self.name, eph.take(&self.key(id)).await?))
    }

    pub async fn delete(&self, eph: &dyn Ephemeral, id: &str) -> EphemeralResult<()> {
        eph.delete(&self.key(id)).await
    }
}

/// What [`REVEAL`] holds: secrets for one person in one browser, about one
/// thing (`subject`, such as `client:ID`), so a page shows only its own.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reveal {
    pub binding: String,
    pub user_id: String,
    pub subject: String,
    pub secrets: Vec<String>,
}

impl BrowserBound for Reveal {
    fn binding(&self) -> &str {
        &self.binding
    }
}

/// A step of a sign-in started in one browser, which only that browser may
/// continue: its binding is that browser's CSRF cookie.
pub trait BrowserBound {
    fn binding(&self) -> &str;
}

impl<T: Serialize + DeserializeOwned + BrowserBound> Kind<T> {
    /// The value under `id`, when `binding` (the presenting browser's CSRF
    /// cookie; None when it has none) is the one it was started by.
    pub async fn get_bound(&self, eph: &dyn Ephemeral, id: &str, binding: Option<&str>) -> EphemeralResult<Option<T>> {
        Ok(self.get(eph, id).await?.filter(|v| same_browser(v, binding)))
    }
}

/// Compared in constant time: the binding is a secret of the browser.
pub fn same_browser(value: &impl BrowserBound, binding: Option<&str>) -> bool {
    binding.is_some_and(|b| constant_time_eq(b.as_bytes(), value.binding().as_bytes()))
}

impl BrowserBound for PendingStep {
    fn binding(&self) -> &str {
        &self.binding
    }
}

impl BrowserBound for PendingProof {
    fn binding(&self) -> &str {
        &self.binding
    }
}

impl BrowserBound for Confirmation {
    fn binding(&self) -> &str {
        &self.binding
    }
}

impl BrowserBound for RoundTrip {
    fn binding(&self) -> &str {
        &self.binding
    }
}

/// Ids that may be seen once: a second sighting within the lifetime given is
/// a replay. Of two concurrent first sightings (on any instance), one wins.
pub struct Seen {
    name: &'static str,
}

impl Seen {
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// Records `id` for `ttl_seconds`; false when it was seen already. Ids
    /// are kept as 128-bit digests: a collision among the ids of one
    /// lifetime is beyond any real chance.
    pub async fn first_time(&self, eph: &dyn Ephemeral, id: &str, ttl_seconds: i64) -> EphemeralResult<bool> {
        let ttl = Duration::from_secs(ttl_seconds.clamp(1, 24 * 3600) as u64);
        // The set's name is hashed in: ids of two sets never meet.
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&sha256(format!("{}\0{id}", self.name).as_bytes())[..16]);
        eph.first_sighting(self.name, digest, ttl).await
    }
}

fn decode<T: DeserializeOwned>(kind: &str, raw: Option<String>) -> Option<T> {
    let raw = raw?;
    match serde_json::from_str(&raw) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(kind, error = %e, "unreadable short-lived value");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, OffsetClock};
    use crate::ephemeral::MemoryStore;

    const NUMBERS: Kind<Vec<u32>> = Kind::new("test:numbers", 60);

    #[tokio::test]
    async fn values_round_trip_once_and_keys_hide_ids() {
        let clock = OffsetClock::default();
        let eph = MemoryStore::new(Arc::new(clock.clone()) as Arc<dyn Clock>);
        NUMBERS.put(&eph, "id-1", &vec![1, 2]).await.unwrap();
        assert_eq!(NUMBERS.get(&eph, "id-1").await.unwrap(), Some(vec![1, 2]));
        assert!(!NUMBERS.key("id-1").contains("id-1"), "ids are hashed");
        assert_eq!(NUMBERS.take(&eph, "id-1").await.unwrap(), Some(vec![1, 2]));
        assert_eq!(NUMBERS.take(&eph, "id-1").await.unwrap(), None);
        // Another payload under the same key reads as nothing, not a panic.
        eph.put(&NUMBERS.key("id-2"), "\"text\"", Duration::from_secs(60)).await.unwrap();
        assert_eq!(NUMBERS.get(&eph, "id-2").await.unwrap(), None);
        NUMBERS.put(&eph, "id-3", &vec![3]).await.unwrap();
        clock.advance(61);
        assert_eq!(NUMBERS.get(&eph, "id-3").await.unwrap(), None, "expired");
    }
}
