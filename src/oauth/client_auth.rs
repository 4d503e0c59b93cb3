//! Client authentication at the token endpoint (RFC 6749 §2.3):
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients.

use base64::Engine;

use super::params::Params;
use crate::accounts::throttle::Kind;
use crate::clock::Timestamp;
use crate::crypto::{constant_time_eq, token_hash};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::Provider;
use crate::store::{Client, ClientId};

/// What the client presented.
#[derive(Debug, PartialEq, Eq)]
pub enum Credentials {
    Basic { id: ClientId, secret: String },
    Post { id: ClientId, secret: String },
    None { id: ClientId },
}

pub const METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];

/// Reads credentials from the Authorization header and the form. Using more
/// than one method at once is an error (RFC 6749 §2.3).
pub fn extract(authorization: Option<&str>, params: &Params) -> Result<Credentials, OAuthError> {
    let form_secret = params.get("client_secret");
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

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Finds the client and checks its secret in constant time. Failures are
/// throttled per client id and per IP. The lock is consulted only after a
/// failure: secrets are 256-bit random values that cannot be guessed, so the
/// limit is there to stop floods of bad attempts, and the success path keeps
/// its zero extra round trips.
pub async fn authenticate(
    p: Provider<'_>, creds: &Credentials, ip: Option<&str>, now: Timestamp,
) -> Result<Client, OAuthError> {
    match check(p, creds, now).await {
        Ok(client) => Ok(client),
        Err(e) if e.code == ErrorCode::InvalidClient => {
            let id = creds.client_id();
            let throttle = p.throttle();
            if let Some(wait) = throttle.locked(Kind::Client, id, ip, now).await? {
                return Err(OAuthError::too_many_attempts(wait));
            }
            let failure = throttle.fail(Kind::Client, id, ip, now).await?;
            tracing::info!(client_id = %id, ip = ?ip, failures = failure.count, "client authentication failed");
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
            Credentials::None { .. } => "none",
        }
    }

    pub fn client_id(&self) -> &ClientId {
        match self {
            Credentials::Basic { id, .. } | Credentials::Post { id, .. } | Credentials::None { id } => id,
        }
    }
}

async fn check(p: Provider<'_>, creds: &Credentials, now: Timestamp) -> Result<Client, OAuthError> {
    let (id, secret, basic) = match creds {
        Credentials::Basic { id, secret } => (id, Some(secret), true),
        Credentials::Post { id, secret } => (id, Some(secret), false),
        Credentials::None { id } => (id, None, false),
    };
    let fail = || OAuthError::invalid_client("client authentication failed").with_basic_challenge(basic);
    let client = p.store.get_client(id).await?.ok_or_else(fail)?;
    // RFC 7591 §2: a client authenticates with the method it registered,
    // and no other (a public client's `none` included).
    if creds.method() != client.token_endpoint_auth_method {
        return Err(OAuthError::invalid_client(format!(
            "this client authenticates with {}",
            client.token_endpoint_auth_method
        ))
        .with_basic_challenge(basic));
    }
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
