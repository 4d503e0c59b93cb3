//! A client's public keys: the JWK set it registered by value (`jwks`), or
//! the one it serves at `jwks_uri`, fetched with care: HTTPS only, no
//! redirects, a short deadline, a size limit, never to a private or
//! loopback address (unless this server itself runs on loopback), and
//! cached so a busy client costs one fetch in five minutes. A JWT naming a
//! key we do not have triggers one early refetch (the client rotated), at
//! most every 30 seconds.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::jose;
use crate::store::Client;

/// How long a fetched key set is used before it is fetched again.
const FRESH_FOR: Duration = Duration::from_secs(300);
/// The soonest a key set is refetched for a key it lacks.
const REFETCH_AFTER: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// The most a served key set may weigh.
const MAX_FETCH: usize = 64 * 1024;
/// Parsed key sets kept at most (the cache is cleared past it).
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("the client has registered no public keys")]
    None,
    #[error("the client's registered keys are unusable: {0}")]
    Invalid(String),
    #[error("the client's jwks_uri could not be fetched: {0}")]
    Fetch(String),
}

struct Fetched {
    set: Arc<JwkSet>,
    at: Instant,
}

/// The key sets of clients, parsed once and kept.
pub struct ClientKeys {
    /// Built on the first fetch: most servers never fetch a key set, and an
    /// HTTP client with its TLS roots is a megabyte.
    http: std::sync::OnceLock<reqwest::Client>,
    /// By client id: the registered text and its parsed set.
    inline: Mutex<HashMap<String, (String, Arc<JwkSet>)>>,
    /// By jwks_uri.
    fetched: Mutex<HashMap<String, Fetched>>,
    allow_loopback: bool,
}

impl ClientKeys {
    /// `issuer`: this server's; fetching from loopback addresses is allowed
    /// only when it is itself on loopback (development and tests).
    pub fn new(issuer: &str) -> Self {
        let allow_loopback = url::Url::parse(issuer)
            .ok()
            .is_some_and(|u| matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")));
        Self { http: std::sync::OnceLock::new(), inline: Mutex::default(), fetched: Mutex::default(), allow_loopback }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            // Building with these settings cannot fail (no TLS files to read).
            #[allow(clippy::expect_used)]
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(FETCH_TIMEOUT)
                .connect_timeout(FETCH_TIMEOUT)
                .dns_resolver(Arc::new(PublicOnly { allow_loopback: self.allow_loopback }))
                .user_agent("latchkey (client jwks_uri)")
                .build()
                .expect("an HTTP client")
        })
    }

    /// The client's key set. `missing_kid`: a JWT named a key the cached
    /// set lacks, so a fetched set is refreshed if it is old enough.
    pub async fn for_client(&self, client: &Client, missing_kid: bool) -> Result<Arc<JwkSet>, KeysError> {
        if let Some(text) = &client.jwks {
            return self.inline_set(client, text);
        }
        let Some(uri) = &client.jwks_uri else {
            return Err(KeysError::None);
        };
        if let Some(cached) = self.cached(uri, missing_kid) {
            return Ok(cached);
        }
        let set = Arc::new(self.fetch(uri).await?);
        let mut fetched = lock(&self.fetched);
        if fetched.len() >= MAX_ENTRIES {
            fetched.clear();
        }
        fetched.insert(uri.clone(), Fetched { set: set.clone(), at: Instant::now() });
        Ok(set)
    }

    fn inline_set(&self, client: &Client, text: &str) -> Result<Arc<JwkSet>, KeysError> {
        let mut inline = lock(&self.inline);
        if let Some((known, set)) = inline.get(client.id.as_str()) {
            if known == text {
                return Ok(set.clone());
            }
        }
        let set = Arc::new(jose::key_set(text).map_err(KeysError::Invalid)?);
        if inline.len() >= MAX_ENTRIES {
            inline.clear();
        }
        inline.insert(client.id.to_string(), (text.to_string(), set.clone()));
        Ok(set)
    }

    fn cached(&self, uri: &str, missing_kid: bool) -> Option<Arc<JwkSet>> {
        let fetched = lock(&self.fetched);
        let entry = fetched.get(uri)?;
        let age = entry.at.elapsed();
        let fresh = age < FRESH_FOR && !(missing_kid && age >= REFETCH_AFTER);
        fresh.then(|| entry.set.clone())
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, KeysError> {
        let url = url::Url::parse(uri).map_err(|_| KeysError::Fetch("not a URL".into()))?;
        let loopback_host = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback_host && self.allow_loopback);
        if !scheme_ok {
            return Err(KeysError::Fetch("only https is fetched".into()));
        }
        // A literal address skips the resolver: check it here.
        if let Some(ip) = url.host_str().and_then(|h| h.trim_matches(['[', ']']).parse::<IpAddr>().ok()) {
            if !allowed(ip, self.allow_loopback) {
                return Err(KeysError::Fetch("the address is not a public one".into()));
            }
        }
        let mut res = self.http().get(url).send().await.map_err(|e| KeysError::Fetch(short(&e)))?;
        if !res.status().is_success() {
            return Err(KeysError::Fetch(format!("status {}", res.status().as_u16())));
        }
        if res.content_length().is_some_and(|n| n as usize > MAX_FETCH) {
            return Err(KeysError::Fetch("the key set is too large".into()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| KeysError::Fetch(short(&e)))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_FETCH {
                return Err(KeysError::Fetch("the key set is too large".into()));
            }
        }
        let text = String::from_utf8(body).map_err(|_| KeysError::Fetch("not UTF-8".into()))?;
        jose::key_set(&text).map_err(KeysError::Invalid)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An error in a few words, without the URL's query (which is the client's).
fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "request failed".into()
    }
}

/// Whether a fetch may go to `ip`: public unicast only, loopback when
/// allowed.
fn allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let unique_local = (seg[0] & 0xfe00) == 0xfc00;
            let link_local = (seg[0] & 0xffc0) == 0xfe80;
            let mapped = v6.to_ipv4_mapped().is_some_and(|v4| !allowed(IpAddr::V4(v4), allow_loopback));
            !(unique_local || link_local || v6.is_unspecified() || v6.is_multicast() || mapped)
        }
    }
}

/// Resolves names to public addresses only, so a registered jwks_uri cannot
/// point this server at its own network.
struct PublicOnly {
    allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|addr| allowed(addr.ip(), allow_loopback))
                .collect();
            if found.is_empty() {
                return Err("no public address for the host".into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_fetched() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!allowed(ip.parse().unwrap(), true), "{ip}");
        }
        assert!(!allowed("127.0.0.1".parse().unwrap(), false));
        assert!(allowed("127.0.0.1".parse().unwrap(), true), "loopback when this server is on loopback");
        assert!(allowed("93.184.215.14".parse().unwrap(), false));
        assert!(allowed("2606:2800:21f:cb07:6820:80da:af6b:8b2c".parse().unwrap(), false));
    }
}
