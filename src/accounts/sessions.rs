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
    user_id: &str, amr: Vec<String>, now: Timestamp, lifetimes: Lifetimes, ip: Option<String>,
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

/// Tell-tale User-Agent fragments, most specific first: Edge's says Chrome
/// and Safari too, Chrome's says Safari.
const BROWSERS: &[(&str, &str)] =
    &[("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Chromium/", "Chrome"), ("Safari/", "Safari")];
/// Android's says Linux; an iPad's may say Mac OS X.
const SYSTEMS: &[(&str, &str)] = &[
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

fn first_match(ua: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table.iter().find(|(fragment, _)| ua.contains(fragment)).map(|(_, name)| *name)
}

/// "Firefox on Linux": enough of a User-Agent for a person to recognise
/// their device in a list.
pub fn describe_device(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent else {
        return "Unknown device".into();
    };
    match (first_match(ua, BROWSERS), first_match(ua, SYSTEMS)) {
        (Some(browser), Some(os)) => format!("{browser} on {os}"),
        (Some(browser), None) => browser.into(),
        (None, _) => ua.split('/').next().unwrap_or("Unknown").chars().take(40).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_in_words() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_device(Some(firefox)), "Firefox on Linux");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(describe_device(Some(iphone)), "Safari on iOS");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(describe_device(Some(edge)), "Edge on Windows");
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36";
        assert_eq!(describe_device(Some(android)), "Chrome on Android");
        assert_eq!(describe_device(Some("Mozilla/5.0 (Unknown) Firefox/128.0")), "Firefox");
        assert_eq!(describe_device(Some("curl/8.5.0")), "curl");
        assert_eq!(describe_device(None), "Unknown device");
    }

    #[test]
    fn lifetimes_apply() {
        let l = Lifetimes { idle: 100, absolute: 1000 };
        let (cookie, mut s) = start("u", vec!["pwd".into()], 0, l, None, None);
        assert_eq!(s.id_hash, token_hash(&cookie));
        assert!(is_live(&s, 99, l));
        assert!(!is_live(&s, 100, l), "idle timeout");
        s.last_seen_at = 950;
        assert!(is_live(&s, 999, l));
        assert!(!is_live(&s, 1000, l), "absolute timeout");
    }
}
