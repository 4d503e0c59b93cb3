//! Scopes we know, in words a person understands.

pub const OPENID: &str = "openid";
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Every scope Latchkey supports, with the sentence the consent page shows.
pub const SUPPORTED: &[(&str, &str)] = &[
    ("openid", "Know who you are (your account identifier)"),
    ("profile", "See your name and username"),
    ("email", "See your email address"),
    ("offline_access", "Stay signed in to the app when you are away"),
    ("roles", "Know your role here (user or administrator)"),
    ("admin", "Manage people and apps on your behalf (administrators only)"),
];

/// Granted only to administrators, and registered on a client only on purpose.
pub const ADMIN: &str = "admin";

/// Splits a space-separated scope string, keeps known scopes allowed for the
/// client, drops unknown ones, and removes duplicates (keeping first order).
pub fn parse(raw: &str, allowed: &[String]) -> Vec<String> {
    parse_for(raw, allowed, &[])
}

/// As [`parse`], also keeping the scopes of the APIs the request names
/// (RFC 8707 resources): a person may grant those at /authorize.
pub fn parse_for(raw: &str, allowed: &[String], api_scopes: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in raw.split(' ').filter(|s| !s.is_empty()) {
        let known = SUPPORTED.iter().any(|(name, _)| *name == s) && allowed.iter().any(|a| a == s);
        if (known || api_scopes.iter().any(|a| a == s)) && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// The scopes about a person (OpenID Connect's). Other registered scopes are
/// API scopes, granted through client credentials.
pub fn is_user_scope(scope: &str) -> bool {
    SUPPORTED.iter().any(|(n, _)| *n == scope)
}

/// An API scope a client may be registered with: 1–64 characters of
/// letters, digits and `:._-/`.
pub fn valid_api_scope(scope: &str) -> bool {
    (1..=64).contains(&scope.len())
        && scope.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'.' | b'_' | b'-' | b'/'))
}

pub fn describe(scope: &str) -> Option<&'static str> {
    SUPPORTED.iter().find(|(n, _)| *n == scope).map(|(_, d)| *d)
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn covers(granted: &[String], requested: &[String]) -> bool {
    requested.iter().all(|r| granted.contains(r))
}

/// What a client may ask for unless registered otherwise: every person
/// scope but `admin`.
pub fn default_client_scopes() -> Vec<String> {
    SUPPORTED.iter().map(|(n, _)| n.to_string()).filter(|n| n != ADMIN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_drops_unknown_and_disallowed() {
        let allowed = vec!["openid".to_string(), "email".to_string()];
        assert_eq!(parse("openid  email openid admin profile", &allowed), vec!["openid", "email"]);
        assert!(covers(&allowed, &["email".to_string()]));
        assert!(!covers(&["email".to_string()], &allowed));
    }
}
