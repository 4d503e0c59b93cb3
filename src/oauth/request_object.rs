//! Signed authorization requests (RFC 9101, JAR): the parameters travel as
//! a JWT the client signed with a key it registered, so nothing in the
//! browser's address bar can change them. By value only (`request`):
//! `request_uri` is accepted solely as the URN of a pushed request (RFC
//! 9126), never as a URL to fetch.

use serde_json::Value;

use super::params::Params;
use super::{Provider, clients, jose};
use crate::clock::Timestamp;
use crate::store::Client;

/// RFC 9101 §4: the media type of a request object.
pub const TYP: &str = "oauth-authz-req+jwt";
/// The longest a request object may be valid (FAPI 2.0 Message Signing
/// §5.3.2: `exp` at most 60 minutes after `nbf`).
pub const MAX_LIFETIME: i64 = 3600;
const SKEW: i64 = 30;
/// Claims of the JWT itself, not authorization parameters.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "iat", "nbf", "jti", "sub"];

/// Whether the client is held to the FAPI 2.0 profile, on its own or by
/// the server's setting.
pub fn fapi(p: Provider<'_>, client: &Client) -> bool {
    p.config.fapi2 || client.security_profile.as_deref() == Some(clients::FAPI2)
}

/// Verifies a request object and returns the authorization parameters it
/// carries. The error is the `invalid_request_object` description.
pub async fn open(p: Provider<'_>, client: &Client, token: &str, now: Timestamp) -> Result<Params, String> {
    let family = if fapi(p, client) { jose::FAPI_ALGS } else { jose::SIGNING_ALGS };
    let header = jose::read_header(token, family).map_err(str::to_string)?;
    if client.request_object_signing_alg.as_deref().is_some_and(|alg| alg != header.alg) {
        return Err("the request object is not signed with the client's registered request_object_signing_alg".into());
    }
    if header.typ.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case(TYP) && !t.eq_ignore_ascii_case("JWT")) {
        return Err(format!("the request object's typ must be {TYP}"));
    }
    let keys = p.client_keys.for_client(client, false).await.map_err(|e| e.to_string())?;
    let keys = if jose::candidates(&keys, &header).is_empty() && header.kid.is_some() {
        p.client_keys.for_client(client, true).await.map_err(|e| e.to_string())?
    } else {
        keys
    };
    let claims = jose::verify_with_set(token, &keys, &header).map_err(str::to_string)?;
    let id = client.id.as_str();
    if jose::text(&claims, "iss") != Some(id) {
        return Err("the request object's iss must be the client_id".into());
    }
    if !jose::audience_is(&claims, &[&p.config.issuer]) {
        return Err("the request object's aud must be this server's issuer".into());
    }
    if claims.get("client_id").is_some() && jose::text(&claims, "client_id") != Some(id) {
        return Err("the request object's client_id is another client's".into());
    }
    let exp = jose::seconds(&claims, "exp").ok_or("the request object must have exp")?;
    if exp + SKEW <= now {
        return Err("the request object has expired".into());
    }
    let start = jose::seconds(&claims, "nbf").or_else(|| jose::seconds(&claims, "iat")).unwrap_or(now);
    if start > now + SKEW {
        return Err("the request object is not valid yet".into());
    }
    if exp - start > MAX_LIFETIME {
        return Err("the request object is valid for too long (at most an hour)".into());
    }
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        return Err("a request object cannot hold another request".into());
    }
    // RFC 9101 §5: the parameters inside are the request; those outside
    // are not used (the client_id outside must name the same client).
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(claims.len());
    for (name, value) in claims.iter().filter(|(name, _)| !JWT_CLAIMS.contains(&name.as_str())) {
        let text = match value {
            // RFC 8707 in a request object: several resources as an array.
            Value::Array(items) if super::params::REPEATABLE.contains(&name.as_str()) => {
                pairs.extend(items.iter().filter_map(Value::as_str).map(|v| (name.clone(), v.to_string())));
                continue;
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            other => other.to_string(),
        };
        pairs.push((name.clone(), text));
    }
    if !pairs.iter().any(|(name, _)| name == "client_id") {
        pairs.push(("client_id".into(), id.to_string()));
    }
    Ok(Params::from_pairs(pairs))
}
