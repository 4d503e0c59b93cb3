//! Registering clients: ids, secrets, and the metadata rules.

use super::redirect_uri;
use super::scopes;
use crate::clock::Timestamp;
use crate::crypto::{random_token, token_hash};
use crate::store::Client;

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// Grant types this build implements.
pub const SUPPORTED_GRANTS: &[&str] = &[GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS];

#[derive(Debug, Default, Clone)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub skip_consent: bool,
}

/// A new client and, for a confidential one, its secret (shown once; only its
/// hash is kept).
pub struct NewClient {
    pub client: Client,
    pub secret: Option<String>,
}

pub fn build(spec: ClientSpec, now: Timestamp) -> Result<NewClient, String> {
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("name must be 1 to 100 characters".into());
    }
    for uri in spec.redirect_uris.iter().chain(&spec.post_logout_redirect_uris) {
        redirect_uri::validate_registration(uri)?;
    }
    let grant_types = if spec.grant_types.is_empty() {
        vec![GRANT_AUTHORIZATION_CODE.to_string(), GRANT_REFRESH_TOKEN.to_string()]
    } else {
        let mut g = spec.grant_types;
        g.dedup();
        g
    };
    for g in &grant_types {
        if !SUPPORTED_GRANTS.contains(&g.as_str()) {
            return Err(format!(
                "unsupported grant type `{g}` (supported: {})",
                SUPPORTED_GRANTS.join(", ")
            ));
        }
    }
    if grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) && spec.redirect_uris.is_empty() {
        return Err("the authorization_code grant needs at least one redirect URI".into());
    }
    if spec.public && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        return Err("client_credentials is for confidential clients; drop --public".into());
    }
    let scopes = if spec.scopes.is_empty() {
        scopes::default_client_scopes()
    } else {
        spec.scopes
    };
    for s in &scopes {
        if !scopes::is_user_scope(s) && !scopes::valid_api_scope(s) {
            return Err(format!("invalid scope `{s}`"));
        }
    }
    let secret = (!spec.public).then(|| random_token(32));
    let client = Client {
        id: random_token(16),
        secret_hash: secret.as_deref().map(token_hash),
        name,
        redirect_uris: spec.redirect_uris,
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        grant_types,
        scopes,
        public: spec.public,
        skip_consent: spec.skip_consent,
        created_at: now,
    };
    Ok(NewClient { client, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidential_gets_hashed_secret() {
        let n = build(
            ClientSpec {
                name: "App".into(),
                redirect_uris: vec!["https://app.example/cb".into()],
                ..Default::default()
            },
            0,
        )
        .unwrap();
        let secret = n.secret.unwrap();
        assert_eq!(n.client.secret_hash.as_deref(), Some(token_hash(&secret).as_str()));
        assert_eq!(n.client.grant_types, vec!["authorization_code", "refresh_token"]);
    }

    #[test]
    fn rules() {
        let spec = |uris: &[&str]| ClientSpec {
            name: "App".into(),
            redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert!(build(spec(&[]), 0).is_err());
        assert!(build(spec(&["http://app.example/cb"]), 0).is_err());
        let mut s = spec(&["https://app.example/cb"]);
        s.public = true;
        assert!(build(s, 0).unwrap().secret.is_none());
        let mut s = spec(&["https://app.example/cb"]);
        s.grant_types = vec!["implicit".into()];
        assert!(build(s, 0).is_err());
        let mut s = spec(&[]);
        s.grant_types = vec!["client_credentials".into()];
        s.scopes = vec!["orders:read".into()];
        if let Err(e) = build(s, 0) {
            panic!("machine clients need no redirect URI: {e}");
        }
        let mut s = spec(&[]);
        s.grant_types = vec!["client_credentials".into()];
        s.public = true;
        assert!(build(s, 0).is_err());
        let mut s = spec(&["https://app.example/cb"]);
        s.scopes = vec!["bad scope".into()];
        assert!(build(s, 0).is_err());
    }
}
