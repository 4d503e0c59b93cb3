//! Redirect URI matching: exact string comparison (RFC 9700 §4.1.3), except
//! that a native app's loopback IP redirect may use any port (RFC 8252 §7.3).
//! Only a native app: a web app or SPA on `http://127.0.0.1:3000/cb` must
//! use exactly that, or another local program could catch its codes.

use url::{Host, Url};

fn loopback_ip(url: &Url) -> bool {
    url.scheme() == "http" && matches!(url.host(), Some(Host::Ipv4(ip)) if ip.is_loopback())
        || url.scheme() == "http" && matches!(url.host(), Some(Host::Ipv6(ip)) if ip.is_loopback())
}

/// Whether `requested` is one of `registered` (`native`: the client is a
/// native app, whose loopback redirects may use any port).
pub fn matches(registered: &[String], requested: &str, native: bool) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    if !native {
        return false;
    }
    let Ok(req) = Url::parse(requested) else { return false };
    if !loopback_ip(&req) {
        return false;
    }
    registered.iter().any(|r| {
        Url::parse(r).is_ok_and(|reg| {
            loopback_ip(&reg)
                && reg.host() == req.host()
                && reg.path() == req.path()
                && reg.query() == req.query()
                && reg.fragment().is_none()
                && req.fragment().is_none()
        })
    })
}

/// Rules for registering a redirect URI: absolute, no fragment (RFC 6749
/// §3.1.2), https unless loopback, no wildcards; private-use schemes for
/// native apps (RFC 8252 §7.1) must contain a dot.
pub fn validate_registration(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|e| format!("`{uri}` is not an absolute URI: {e}"))?;
    if url.fragment().is_some() {
        return Err(format!("`{uri}` must not contain a fragment"));
    }
    if uri.contains('*') {
        return Err(format!("`{uri}` must not contain wildcards"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if crate::config::is_loopback(&url) => Ok(()),
        "http" => Err(format!("`{uri}` must use https (http is allowed for loopback only)")),
        scheme if scheme.contains('.') => Ok(()),
        _ => Err(format!("`{uri}`: use https, loopback http, or a reverse-domain private-use scheme")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_loopback() {
        let reg = vec!["https://app.example/cb".to_string(), "http://127.0.0.1/native".to_string()];
        assert!(matches(&reg, "https://app.example/cb", true));
        assert!(!matches(&reg, "https://app.example/cb/", true));
        assert!(!matches(&reg, "https://app.example/cb?x=1", true));
        assert!(!matches(&reg, "https://APP.example/cb", true), "no normalisation");
        assert!(matches(&reg, "http://127.0.0.1:51234/native", true));
        assert!(!matches(&reg, "http://127.0.0.1:51234/other", true));
        assert!(!matches(&reg, "http://localhost:51234/native", true));
        // RFC 9700 §4.1.3: for anything but a native app, exactly as registered.
        assert!(matches(&reg, "http://127.0.0.1/native", false));
        assert!(!matches(&reg, "http://127.0.0.1:51234/native", false));
    }

    #[test]
    fn registration() {
        assert!(validate_registration("https://app.example/cb").is_ok());
        assert!(validate_registration("http://127.0.0.1:3000/cb").is_ok());
        assert!(validate_registration("com.example.app:/cb").is_ok());
        assert!(validate_registration("http://app.example/cb").is_err());
        assert!(validate_registration("https://app.example/cb#x").is_err());
        assert!(validate_registration("https://*.example/cb").is_err());
        assert!(validate_registration("/relative").is_err());
        assert!(validate_registration("myapp:/cb").is_err());
    }
}
