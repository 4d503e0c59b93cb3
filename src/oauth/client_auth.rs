//! Client authentication (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, `none` for public clients, and JWT assertions
//! (RFC 7523 §2.2, OIDC Core §9): `private_key_jwt`, signed with a key the
//! client registered, and `client_secret_jwt`, an HMAC with its secret. The
//! same at every endpoint that authenticates clients.

use base64::Engine;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

use super::params::Params;
use super::{clients, jose};
use crate::accounts::throttle::Kind;
use crate::clock::Timestamp;
use crate::crypto::{constant_time_eq, token_hash};
use crate::ephemeral::kinds::ASSERTION_JTIS;
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::Provider;
use crate::store::{Client, ClientId};

/// What the client presented.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        id: ClientId,
        secret: String,
    },
    Post {
        id: ClientId,
        secret: String,
    },
    /// A JWT assertion: `private_key_jwt` or `client_secret_jwt`, told apart
    /// by its algorithm.
    Jwt {
        id: ClientId,
        assertion: String,
    },
    None {
        id: ClientId,
    },
}

pub const METHODS: &[&str] =
    &["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"];
/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest an assertion may be valid: it is made for one request.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;
/// Clock skew allowed on an assertion's times.
const SKEW: i64 = 30;

/// Reads credentials from the Authorization header and the form. Using more
/// than one method at once is an error (RFC 6749 §2.3).
pub fn extract(authorization: Option<&str>, params: &Params) -> Result<Credentials, OAuthError> {
    let form_secret = params.get("client_secret");
    let assertion = match (params.get("client_assertion_type"), params.get("client_assertion")) {
        (None, None) => None,
        (Some(JWT_BEARER), Some(a)) => Some(a),
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_client(format!("client_assertion_type must be {JWT_BEARER}")));
        }
        _ => return Err(OAuthError::invalid_request("client_assertion and client_assertion_type go together")),
    };
    if let Some(assertion) = assertion {
        if assertion.len() > jose::MAX_JWT_LEN {
            return Err(OAuthError::invalid_client("the client assertion is too large"));
        }
        if authorization.is_some() || form_secret.is_some() {
            return Err(OAuthError::invalid_request("use one client authentication method, not two"));
        }
        // RFC 7523 §3: client_id is optional; the assertion's sub names it.
        let id = match params.get("client_id") {
            Some(id) => id.to_string(),
            None => unverified_subject(assertion)
                .ok_or_else(|| OAuthError::invalid_client("the client assertion names no client (sub)"))?,
        };
        return Ok(Credentials::Jwt { id: id.into(), assertion: assertion.to_string() });
    }
    if let Some(header) = authorization {
        let Some(encoded) = header.strip_prefix("Basic ").or_else(|| header.strip_prefix("basic ")) else {
            return Err(OAuthError::invalid_client("unsupported Authorization scheme").with_basic_challenge(true));
        };
        if form_secret.is_some() {
            return Err(OAuthError::invalid_request("use one client authentication method, not two"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials").with_basic_challenge(true))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials").with_basic_challenge(true))?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        let id = ClientId::from(form_decode(id));
        let secret = form_decode(secret);
        if let Some(body_id) = params.get("client_id") {
            if id != body_id {
                return Err(OAuthError::invalid_request("client_id does not match the Authorization header"));
            }
        }
        return Ok(Credentials::Basic { id, secret });
    }
    let id = params
        .get("client_id")
        .map(ClientId::from)
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    Ok(match form_secret {
        Some(secret) => Credentials::Post { id, secret: secret.to_string() },
        None => Credentials::None { id },
    })
}

/// The `sub` of an assertion, read before anything is verified: only to
/// find which client's keys to verify it with.
fn unverified_subject(assertion: &str) -> Option<String> {
    let payload = assertion.split('.').nth(1)?;
    let raw = crate::crypto::b64url_decode(payload)?;
    let claims: Map<String, Value> = serde_json::from_slice(&raw).ok()?;
    jose::text(&claims, "sub").map(str::to_string)
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Finds the client and checks what it presented: a secret in constant
/// time, or an assertion's signature and claims. `audiences`: the names an
/// assertion may be addressed to (the issuer, the token endpoint, the
/// endpoint called). Failures are throttled per client id and per IP. The
/// lock is consulted only after a failure: secrets are 256-bit random values
/// and keys cannot be guessed, so the limit is there to stop floods of bad
/// attempts, and the success path keeps its zero extra round trips.
pub async fn authenticate(
    p: Provider<'_>, creds: &Credentials, audiences: &[&str], ip: Option<&str>, now: Timestamp,
) -> Result<Client, OAuthError> {
    match check(p, creds, audiences, now).await {
        Ok(client) => Ok(client),
        Err(e) if e.code == ErrorCode::InvalidClient => {
            let id = creds.client_id();
            let throttle = p.throttle();
            if let Some(wait) = throttle.locked(Kind::Client, id, ip, now).await? {
                return Err(OAuthError::too_many_attempts(wait));
            }
            let failure = throttle.fail(Kind::Client, id, ip, now).await?;
            tracing::info!(client_id = %id, ip = ?ip, failures = failure.count, reason = %e.description, "client authentication failed");
            if let Some(wait) = failure.locked_for {
                return Err(OAuthError::too_many_attempts(wait));
            }
            tokio::time::sleep(failure.delay).await;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

impl Credentials {
    /// The RFC 7591 name of the method used.
    pub fn method(&self) -> &'static str {
        match self {
            Credentials::Basic { .. } => "client_secret_basic",
            Credentials::Post { .. } => "client_secret_post",
            Credentials::Jwt { assertion, .. } => {
                let hmac = jose::read_header(assertion, jose::HMAC_ALGS).is_ok();
                if hmac { "client_secret_jwt" } else { "private_key_jwt" }
            }
            Credentials::None { .. } => "none",
        }
    }

    pub fn client_id(&self) -> &ClientId {
        match self {
            Credentials::Basic { id, .. }
            | Credentials::Post { id, .. }
            | Credentials::Jwt { id, .. }
            | Credentials::None { id } => id,
        }
    }
}

async fn check(p: Provider<'_>, creds: &Credentials, audiences: &[&str], now: Timestamp) -> Result<Client, OAuthError> {
    let basic = matches!(creds, Credentials::Basic { .. });
    let fail = || OAuthError::invalid_client("client authentication failed").with_basic_challenge(basic);
    let client = p.store.get_client(creds.client_id()).await?.ok_or_else(fail)?;
    // RFC 7591 §2: a client authenticates with the method it registered,
    // and no other (a public client's `none` included).
    if creds.method() != client.token_endpoint_auth_method {
        return Err(OAuthError::invalid_client(format!(
            "this client authenticates with {}",
            client.token_endpoint_auth_method
        ))
        .with_basic_challenge(basic));
    }
    let secret = match creds {
        Credentials::Basic { secret, .. } | Credentials::Post { secret, .. } => Some(secret),
        Credentials::Jwt { assertion, .. } => {
            check_assertion(p, &client, assertion, audiences, now).await?;
            return Ok(client);
        }
        Credentials::None { .. } => None,
    };
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) => {
            let presented = token_hash(secret);
            let current = constant_time_eq(presented.as_bytes(), hash.as_bytes());
            // After a rotation the previous secret works until its overlap ends.
            let previous = match (&client.old_secret_hash, client.old_secret_expires_at) {
                (Some(old), Some(until)) => constant_time_eq(presented.as_bytes(), old.as_bytes()) && now < until,
                _ => false,
            };
            if !(current || previous) {
                return Err(fail());
            }
        }
        (None, None) if client.public => {}
        // A public client has no secret to present; a confidential one must.
        _ => return Err(fail()),
    }
    Ok(client)
}

/// RFC 7523 §3 and OIDC Core §9: the assertion is signed by the client (its
/// registered key, or its secret), names it as `iss` and `sub`, is addressed
/// to us, expires soon, and is used once.
async fn check_assertion(
    p: Provider<'_>, client: &Client, assertion: &str, audiences: &[&str], now: Timestamp,
) -> Result<(), OAuthError> {
    let refuse = |why: &str| OAuthError::invalid_client(format!("the client assertion is not valid: {why}"));
    let hmac = client.token_endpoint_auth_method == "client_secret_jwt";
    let fapi = client.security_profile.as_deref() == Some(clients::FAPI2) || p.config.fapi2;
    let family = match (hmac, fapi) {
        (true, _) => jose::HMAC_ALGS,
        (false, true) => jose::FAPI_ALGS,
        (false, false) => jose::SIGNING_ALGS,
    };
    let header = jose::read_header(assertion, family).map_err(refuse)?;
    if client.token_endpoint_auth_signing_alg.as_deref().is_some_and(|alg| alg != header.alg) {
        return Err(refuse("it is not signed with the client's registered token_endpoint_auth_signing_alg"));
    }
    let claims = if hmac {
        let secrets = clients::open_secrets(client, p.at_rest_key, now);
        secrets
            .iter()
            .find_map(|s| jose::verify(assertion, &header.alg, &DecodingKey::from_secret(s)).ok())
            .ok_or_else(|| refuse("the signature does not verify with the client's secret"))?
    } else {
        let keys = p.client_keys.for_client(client, false).await.map_err(|e| refuse(&e.to_string()))?;
        let keys = if jose::candidates(&keys, &header).is_empty() && header.kid.is_some() {
            // A key id we do not know: the client may have rotated.
            p.client_keys.for_client(client, true).await.map_err(|e| refuse(&e.to_string()))?
        } else {
            keys
        };
        jose::verify_with_set(assertion, &keys, &header).map_err(refuse)?
    };
    let id = client.id.as_str();
    if jose::text(&claims, "iss") != Some(id) || jose::text(&claims, "sub") != Some(id) {
        return Err(refuse("iss and sub must both be the client_id"));
    }
    if !jose::audience_is(&claims, audiences) {
        return Err(refuse("aud must be this server's issuer or the endpoint's URL"));
    }
    let exp = jose::seconds(&claims, "exp").ok_or_else(|| refuse("exp is required"))?;
    if exp + SKEW <= now {
        return Err(refuse("it has expired"));
    }
    if exp > now + MAX_ASSERTION_LIFETIME + SKEW {
        return Err(refuse("exp is too far ahead (an assertion is for one request)"));
    }
    if jose::seconds(&claims, "nbf").is_some_and(|nbf| nbf > now + SKEW)
        || jose::seconds(&claims, "iat").is_some_and(|iat| iat > now + SKEW)
    {
        return Err(refuse("it is not valid yet"));
    }
    let jti = jose::text(&claims, "jti").filter(|j| !j.is_empty() && j.len() <= 256);
    let jti = jti.ok_or_else(|| refuse("jti is required"))?;
    let fresh = ASSERTION_JTIS.first_time(p.ephemeral, &format!("{id} {jti}"), exp - now + SKEW).await?;
    if !fresh {
        return Err(refuse("it was used before (jti)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_form_decoded() {
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("my%20client:s%3Acret"));
        let creds = extract(Some(&header), &Params::default()).unwrap();
        assert_eq!(creds, Credentials::Basic { id: "my client".into(), secret: "s:cret".into() });
    }

    #[test]
    fn two_methods_refused() {
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("a:b"));
        let params = Params::parse("client_secret=b");
        assert!(extract(Some(&header), &params).is_err());
    }
}
