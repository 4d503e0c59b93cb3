//! DPoP (RFC 9449): a client proves, request by request, that it holds a
//! private key, and the tokens we issue it are bound to that key (`cnf.jkt`,
//! its SHA-256 JWK thumbprint). A stolen DPoP-bound token is useless
//! without the key.
//!
//! A proof is checked as §4.3 lists: one header; a JWT typed `dpop+jwt`,
//! signed with an asymmetric algorithm by the public key in its own header
//! (no private members); `htm` and `htu` naming this request; `iat` recent;
//! its `jti` never seen before; `ath` the hash of the access token sent
//! with it; and, when this server asks for them, a nonce it issued.

use aws_lc_rs::hmac;
use jsonwebtoken::DecodingKey;

use super::{Provider, jose};
use crate::clock::Timestamp;
use crate::crypto::{b64url, constant_time_eq, sha256};
use crate::ephemeral::kinds::DPOP_JTIS;
use crate::error::{ErrorCode, OAuthError};
use crate::keys;

/// RFC 9449 §4.2.
pub const TYP: &str = "dpop+jwt";
/// A proof's `iat` may be this far in the future (clock skew).
const FUTURE_SKEW: i64 = 5;
/// Server nonces change every this many seconds; the previous one stays
/// good, so a nonce lives one to two windows.
const NONCE_WINDOW: i64 = 60;

/// A verified proof: the thumbprint of the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub jkt: String,
}

/// The request a proof must name.
pub struct Target<'a> {
    pub method: &'a str,
    /// The URL without query or fragment (RFC 9449 §4.2 `htu`).
    pub url: &'a str,
    /// The access token sent with the proof, at a protected resource.
    pub access_token: Option<&'a str>,
}

fn invalid(why: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, format!("the DPoP proof is not valid: {}", why.into()))
}

/// Checks the DPoP header values of a request. None when there is no proof;
/// an error when there is more than one, or it does not hold. `algs`: the
/// algorithms accepted (FAPI 2.0 narrows them).
pub async fn check(
    p: Provider<'_>, headers: &[&str], target: &Target<'_>, algs: &[&str], now: Timestamp,
) -> Result<Option<Proof>, OAuthError> {
    let proof = match headers {
        [] => return Ok(None),
        [one] => *one,
        _ => return Err(invalid("send one DPoP header")),
    };
    let header = jose::read_header(proof, algs).map_err(invalid)?;
    if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(TYP)) {
        return Err(invalid(format!("typ must be {TYP}")));
    }
    let jwk_value = header.jwk.as_ref().ok_or_else(|| invalid("the header carries no jwk"))?;
    let jwk = jose::public_jwk(jwk_value).map_err(invalid)?;
    if !jose::fits(&jwk, &header.alg) {
        return Err(invalid("the jwk does not fit the algorithm"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the jwk is unusable"))?;
    let claims = jose::verify(proof, &header.alg, &key).map_err(invalid)?;
    if jose::text(&claims, "htm") != Some(target.method) {
        return Err(invalid("htm is not this request's method"));
    }
    if !jose::text(&claims, "htu").is_some_and(|htu| same_target(htu, target.url)) {
        return Err(invalid("htu is not this request's URL"));
    }
    let lifetime = p.config.dpop_proof_lifetime;
    let iat = jose::seconds(&claims, "iat").ok_or_else(|| invalid("iat is required"))?;
    if iat > now + FUTURE_SKEW || iat < now - lifetime {
        return Err(invalid("iat is not recent"));
    }
    if let Some(token) = target.access_token {
        let expected = b64url(&sha256(token.as_bytes()));
        if !jose::text(&claims, "ath").is_some_and(|ath| constant_time_eq(ath.as_bytes(), expected.as_bytes())) {
            return Err(invalid("ath is not the hash of the access token"));
        }
    }
    if p.config.dpop_nonce && !jose::text(&claims, "nonce").is_some_and(|n| nonce_ok(p, n, now)) {
        return Err(OAuthError::new(ErrorCode::UseDpopNonce, "use the nonce this server provided (DPoP-Nonce)")
            .with_dpop_nonce(Some(nonce(p, now))));
    }
    let jti = jose::text(&claims, "jti").filter(|j| !j.is_empty() && j.len() <= 256);
    let jti = jti.ok_or_else(|| invalid("jti is required"))?;
    let jkt = keys::thumbprint(jwk_value);
    // Remembered as long as the proof could still be accepted.
    if !DPOP_JTIS.first_time(p.ephemeral, &format!("{jkt} {jti}"), lifetime + FUTURE_SKEW).await? {
        return Err(invalid("it was used before (jti)"));
    }
    Ok(Some(Proof { jkt }))
}

/// Whether `htu` names `url`, ignoring query and fragment, case in the
/// scheme and host, and a default port (RFC 9449 §4.3, RFC 3986 §6.2.3).
fn same_target(htu: &str, url: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(htu), url::Url::parse(url)) else {
        return false;
    };
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

fn nonce_key(p: Provider<'_>) -> hmac::Key {
    let mut material = b"latchkey dpop nonce v1".to_vec();
    material.extend_from_slice(p.at_rest_key.expose().as_bytes());
    hmac::Key::new(hmac::HMAC_SHA256, &sha256(&material))
}

fn nonce_for(p: Provider<'_>, window: i64) -> String {
    let tag = hmac::sign(&nonce_key(p), &window.to_be_bytes());
    let mut raw = window.to_be_bytes().to_vec();
    raw.extend_from_slice(&tag.as_ref()[..16]);
    b64url(&raw)
}

/// The nonce a client puts in its next proof (RFC 9449 §8): the same on
/// every instance sharing the at-rest key, so no state is kept.
pub fn nonce(p: Provider<'_>, now: Timestamp) -> String {
    nonce_for(p, now.div_euclid(NONCE_WINDOW))
}

fn nonce_ok(p: Provider<'_>, presented: &str, now: Timestamp) -> bool {
    let window = now.div_euclid(NONCE_WINDOW);
    [window, window - 1].iter().any(|w| constant_time_eq(presented.as_bytes(), nonce_for(p, *w).as_bytes()))
}

/// How an access token was sent to a protected resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// RFC 6750: `Authorization: Bearer`, or the `access_token` parameter.
    Bearer,
    /// RFC 9449 §7.1: `Authorization: DPoP`, with a proof.
    DPoP,
}

/// An access token as a protected resource received it.
pub struct Presented<'a> {
    pub token: &'a str,
    pub scheme: Scheme,
    /// The request's DPoP headers.
    pub proofs: &'a [String],
    pub method: &'a str,
    /// The resource's URL, without query.
    pub url: &'a str,
}

/// Checks that a valid access token was presented as its binding demands
/// (RFC 9449 §7): a DPoP-bound token only with the DPoP scheme and a proof
/// by its key for this request and this token; an unbound one only as
/// Bearer.
pub async fn check_binding(
    p: Provider<'_>, bound_to: Option<&str>, presented: &Presented<'_>, now: Timestamp,
) -> Result<(), OAuthError> {
    let at_resource = |e: OAuthError| e.at_dpop_resource();
    match (bound_to, presented.scheme) {
        (None, Scheme::Bearer) => Ok(()),
        (None, Scheme::DPoP) => {
            Err(at_resource(OAuthError::invalid_token("this access token is not DPoP-bound: send it as Bearer")))
        }
        (Some(_), Scheme::Bearer) => Err(at_resource(OAuthError::invalid_token(
            "this access token is DPoP-bound: send it with the DPoP scheme and a proof",
        ))),
        (Some(jkt), Scheme::DPoP) => {
            let target = Target { method: presented.method, url: presented.url, access_token: Some(presented.token) };
            let proofs: Vec<&str> = presented.proofs.iter().map(String::as_str).collect();
            let proof = check(p, &proofs, &target, jose::SIGNING_ALGS, now).await.map_err(at_resource)?;
            let proof = proof.ok_or_else(|| at_resource(invalid("a DPoP proof is required with the DPoP scheme")))?;
            if !constant_time_eq(proof.jkt.as_bytes(), jkt.as_bytes()) {
                return Err(at_resource(invalid("the proof's key is not the key the token is bound to")));
            }
            Ok(())
        }
    }
}

/// The algorithms DPoP proofs may use: all we verify, or FAPI 2.0's.
pub fn algorithms(fapi: bool) -> &'static [&'static str] {
    if fapi { jose::FAPI_ALGS } else { jose::SIGNING_ALGS }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_compare_as_rfc_3986_normalizes() {
        assert!(same_target("https://AS.example/token", "https://as.example/token"));
        assert!(same_target("https://as.example:443/token?x=1#f", "https://as.example/token"));
        assert!(!same_target("https://as.example/token/", "https://as.example/token"));
        assert!(!same_target("http://as.example/token", "https://as.example/token"));
        assert!(!same_target("https://as.example:8443/token", "https://as.example/token"));
        assert!(!same_target("not a url", "https://as.example/token"));
    }
}
