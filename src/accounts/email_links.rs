//! Single-use links sent by email: password reset (30 minutes) and email
//! verification (24 hours). The token travels only in the email; the
//! database keeps its hash, with the account and address it was made for,
//! so a link survives a restart and is used exactly once on any instance.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::crypto::{random_token, token_hash};
use crate::store::{Consumed, OneTimeToken, Store, StoreResult};

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

    /// The purpose it is stored under: a link of one never passes for the
    /// other.
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

/// Makes a link token for `user_id`; returns the token (for the email only).
pub async fn mint(
    store: &dyn Store, purpose: Purpose, user_id: &str, email: &str, now: Timestamp,
) -> StoreResult<String> {
    let token = random_token(32);
    let link = Link { user_id: user_id.to_string(), email: email.to_string(), expires_at: now + purpose.ttl() };
    store
        .insert_one_time(&OneTimeToken {
            token_hash: token_hash(&token),
            purpose: purpose.tag().into(),
            grant_id: None,
            data: serde_json::to_string(&link).unwrap_or_default(),
            created_at: now,
            expires_at: link.expires_at,
        })
        .await?;
    Ok(token)
}

/// The link behind `token`, if it is still valid; leaves it usable.
pub async fn peek(store: &dyn Store, purpose: Purpose, token: &str, now: Timestamp) -> StoreResult<Option<Link>> {
    let data = store.peek_one_time(purpose.tag(), &token_hash(token), now).await?;
    Ok(data.and_then(|d| serde_json::from_str(&d).ok()))
}

/// Uses the link: of any number of concurrent uses (on any instance), one
/// gets it.
pub async fn take(store: &dyn Store, purpose: Purpose, token: &str, now: Timestamp) -> StoreResult<Option<Link>> {
    Ok(match store.consume_one_time(purpose.tag(), &token_hash(token), now).await? {
        Consumed::Fresh { data, .. } => serde_json::from_str(&data).ok(),
        Consumed::Replayed { .. } | Consumed::Missing => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqlStore;

    #[tokio::test]
    async fn links_are_single_use_expire_and_keep_their_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::connect(&format!("sqlite://{}/t.db", dir.path().display())).await.unwrap();
        store.migrate().await.unwrap();
        let now = 1_000_000;
        let token = mint(&store, Purpose::Reset, "u1", "a@example.com", now).await.unwrap();
        assert!(peek(&store, Purpose::Verify, &token, now).await.unwrap().is_none(), "purpose-bound");
        assert_eq!(peek(&store, Purpose::Reset, &token, now).await.unwrap().unwrap().user_id, "u1");
        assert!(take(&store, Purpose::Reset, &token, now).await.unwrap().is_some());
        assert!(take(&store, Purpose::Reset, &token, now).await.unwrap().is_none(), "single use");
        let token = mint(&store, Purpose::Reset, "u1", "a@example.com", now).await.unwrap();
        assert!(peek(&store, Purpose::Reset, &token, now + 30 * 60).await.unwrap().is_none(), "expired");
        assert!(take(&store, Purpose::Reset, &token, now + 30 * 60).await.unwrap().is_none());
    }
}
