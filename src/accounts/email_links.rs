//! Single-use links sent by email: password reset (30 minutes) and email
//! verification (24 hours). The token travels only in the email; the
//! short-lived state keeps its hash, with the account and address it was
//! made for and its own expiry on the app clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::crypto::{random_token, token_hash};
use crate::ephemeral::{Ephemeral, EphemeralResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Reset,
    Verify,
}

impl Purpose {
    pub fn ttl(self) -> i64 {
        match self {
            Purpose::Reset => 30 * 60,
            Purpose::Verify => 24 * 3600,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Verify => "verify",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Link {
    pub user_id: String,
    /// The address the link was sent to: a verification only counts while
    /// the account still has it.
    pub email: String,
    pub expires_at: Timestamp,
}

fn key(purpose: Purpose, token: &str) -> String {
    format!("link:{}:{}", purpose.tag(), token_hash(token))
}

/// Makes a link token for `user_id`; returns the token (for the email only).
pub async fn mint(
    eph: &dyn Ephemeral,
    purpose: Purpose,
    user_id: &str,
    email: &str,
    now: Timestamp,
) -> EphemeralResult<String> {
    let token = random_token(32);
    let link = Link {
        user_id: user_id.to_string(),
        email: email.to_string(),
        expires_at: now + purpose.ttl(),
    };
    let value = serde_json::to_string(&link).unwrap_or_default();
    eph.put(&key(purpose, &token), &value, Duration::from_secs(purpose.ttl() as u64))
        .await?;
    Ok(token)
}

fn live(raw: Option<String>, now: Timestamp) -> Option<Link> {
    let link: Link = serde_json::from_str(&raw?).ok()?;
    (link.expires_at > now).then_some(link)
}

/// The link behind `token`, if it is still valid; leaves it usable.
pub async fn peek(eph: &dyn Ephemeral, purpose: Purpose, token: &str, now: Timestamp) -> EphemeralResult<Option<Link>> {
    Ok(live(eph.get(&key(purpose, token)).await?, now))
}

/// Uses the link: of two concurrent uses (on any instance), one wins.
pub async fn take(eph: &dyn Ephemeral, purpose: Purpose, token: &str, now: Timestamp) -> EphemeralResult<Option<Link>> {
    Ok(live(eph.take(&key(purpose, token)).await?, now))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::{Clock, OffsetClock};
    use crate::ephemeral::MemoryStore;

    #[tokio::test]
    async fn links_are_single_use_expire_and_keep_their_purpose() {
        let clock = OffsetClock::default();
        let eph = MemoryStore::new(Arc::new(clock.clone()) as Arc<dyn Clock>);
        let now = clock.now();
        let token = mint(&eph, Purpose::Reset, "u1", "a@example.com", now).await.unwrap();
        assert!(
            peek(&eph, Purpose::Verify, &token, now).await.unwrap().is_none(),
            "purpose-bound"
        );
        assert_eq!(
            peek(&eph, Purpose::Reset, &token, now).await.unwrap().unwrap().user_id,
            "u1"
        );
        assert!(take(&eph, Purpose::Reset, &token, now).await.unwrap().is_some());
        assert!(
            take(&eph, Purpose::Reset, &token, now).await.unwrap().is_none(),
            "single use"
        );
        let token = mint(&eph, Purpose::Reset, "u1", "a@example.com", now).await.unwrap();
        assert!(
            peek(&eph, Purpose::Reset, &token, now + 30 * 60)
                .await
                .unwrap()
                .is_none(),
            "expired"
        );
    }
}
