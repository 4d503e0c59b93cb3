//! Browser sessions: server-side rows keyed by the hash of a random cookie
//! value; idle and absolute lifetimes.

use crate::clock::Timestamp;
use crate::crypto::{random_token, token_hash};
use crate::store::Session;

#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle: i64,
    pub absolute: i64,
}

/// How often `last_seen_at` is written back: at most once a minute per
/// session, so browsing does not turn every page view into a write.
pub const TOUCH_EVERY: i64 = 60;

/// A new session for `user_id`. Returns the cookie value (shown to the browser
/// only) and the row to store.
pub fn start(
    user_id: &str,
    amr: Vec<String>,
    now: Timestamp,
    lifetimes: Lifetimes,
    ip: Option<String>,
    user_agent: Option<String>,
) -> (String, Session) {
    let cookie = random_token(32);
    let session = Session {
        id_hash: token_hash(&cookie),
        user_id: user_id.to_string(),
        auth_time: now,
        amr,
        created_at: now,
        last_seen_at: now,
        expires_at: now + lifetimes.absolute,
        ip,
        user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
    };
    (cookie, session)
}

/// Whether the session may still be used at `now`.
pub fn is_live(session: &Session, now: Timestamp, lifetimes: Lifetimes) -> bool {
    now < session.expires_at && now - session.last_seen_at < lifetimes.idle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_apply() {
        let l = Lifetimes {
            idle: 100,
            absolute: 1000,
        };
        let (cookie, mut s) = start("u", vec!["pwd".into()], 0, l, None, None);
        assert_eq!(s.id_hash, token_hash(&cookie));
        assert!(is_live(&s, 99, l));
        assert!(!is_live(&s, 100, l), "idle timeout");
        s.last_seen_at = 950;
        assert!(is_live(&s, 999, l));
        assert!(!is_live(&s, 1000, l), "absolute timeout");
    }
}
