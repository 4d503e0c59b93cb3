//! Dynamic client registration (RFC 7591) and its management protocol
//! (RFC 7592): client metadata in, validated with the RFC's error codes,
//! and the metadata document out.

use serde::Deserialize;
use serde_json::{Value, json};

use super::clients::{self, ClientSpec, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, SUPPORTED_GRANTS};
use super::redirect_uri;
use super::scopes;
use crate::store::Client;

/// RFC 7591 §3.2.2 error codes.
#[derive(Debug, PartialEq, Eq)]
pub enum MetadataError {
    RedirectUri(String),
    Metadata(String),
}

impl MetadataError {
    pub fn code(&self) -> &'static str {
        match self {
            MetadataError::RedirectUri(_) => "invalid_redirect_uri",
            MetadataError::Metadata(_) => "invalid_client_metadata",
        }
    }
    pub fn description(&self) -> &str {
        match self {
            MetadataError::RedirectUri(d) | MetadataError::Metadata(d) => d,
        }
    }
}

/// The metadata we understand (RFC 7591 §2, OpenID Connect Dynamic
/// Registration §2 for `application_type` and RP-Initiated Logout for
/// `post_logout_redirect_uris`). Unknown fields are ignored, as §2 allows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Metadata {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub scope: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub application_type: Option<String>,
    /// Present on RFC 7592 updates: must name the client being updated.
    pub client_id: Option<String>,
}

/// Parses a JSON body into metadata, with the RFC's error for bad JSON.
pub fn parse(body: &[u8]) -> Result<Metadata, MetadataError> {
    serde_json::from_slice(body)
        .map_err(|e| MetadataError::Metadata(format!("the body is not valid client metadata: {e}")))
}

/// Checks the metadata and turns it into a client spec. `allowed_scopes` are
/// those the operator lets self-registered clients have.
pub fn to_spec(m: &Metadata, allowed_scopes: &[String]) -> Result<ClientSpec, MetadataError> {
    let meta = |d: &str| MetadataError::Metadata(d.to_string());
    let native = match m.application_type.as_deref() {
        None | Some("web") => false,
        Some("native") => true,
        Some(other) => return Err(meta(&format!("application_type `{other}` is not web or native"))),
    };
    let public = match m.token_endpoint_auth_method.as_deref() {
        None | Some("client_secret_basic") | Some("client_secret_post") => false,
        Some("none") => true,
        Some(other) => {
            return Err(meta(&format!(
                "token_endpoint_auth_method `{other}` is not supported (client_secret_basic, client_secret_post, none)"
            )));
        }
    };
    let grant_types = m.grant_types.clone().unwrap_or_else(|| vec![GRANT_AUTHORIZATION_CODE.to_string()]);
    if grant_types.is_empty() {
        return Err(meta("grant_types must not be empty"));
    }
    for g in &grant_types {
        if !SUPPORTED_GRANTS.contains(&g.as_str()) {
            return Err(meta(&format!("grant type `{g}` is not supported")));
        }
    }
    let response_types = m.response_types.clone().unwrap_or_else(|| vec!["code".into()]);
    let uses_code = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    if response_types.iter().any(|r| r != "code") || (uses_code != response_types.iter().any(|r| r == "code")) {
        return Err(meta("response_types must be [\"code\"] with the authorization_code grant, and empty without it"));
    }
    if public && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        return Err(meta("client_credentials needs a client that authenticates (not token_endpoint_auth_method none)"));
    }
    let redirect_uris = m.redirect_uris.clone().unwrap_or_default();
    if uses_code && redirect_uris.is_empty() {
        return Err(MetadataError::RedirectUri("redirect_uris is required for the authorization_code grant".into()));
    }
    let post_logout = m.post_logout_redirect_uris.clone().unwrap_or_default();
    for uri in redirect_uris.iter().chain(&post_logout) {
        redirect_uri::validate_registration(uri).map_err(MetadataError::RedirectUri)?;
        // Private-use schemes belong to native apps (RFC 8252 §7.1).
        let web_scheme = uri.starts_with("https://") || uri.starts_with("http://");
        if !native && !web_scheme {
            return Err(MetadataError::RedirectUri(format!("`{uri}`: custom schemes need application_type native")));
        }
    }
    let requested_scopes: Vec<String> =
        m.scope.as_deref().unwrap_or("").split_whitespace().map(str::to_string).collect();
    // Software registers itself into the scopes the operator allows
    // (OpenID scopes by default), never into administration or API scopes
    // that are the operator's to hand out.
    if let Some(s) = requested_scopes.iter().find(|s| !allowed_scopes.contains(s) || *s == scopes::ADMIN) {
        return Err(meta(&format!(
            "scope `{s}` cannot be registered dynamically (allowed: {})",
            allowed_scopes.join(" ")
        )));
    }
    let requested_scopes = if requested_scopes.is_empty() && m.scope.is_none() {
        // Without `scope`, the client gets what self-registered clients may
        // have, minus what it cannot use.
        allowed_scopes
            .iter()
            .filter(|s| *s != scopes::ADMIN && (uses_code || !scopes::is_user_scope(s)))
            .cloned()
            .collect()
    } else {
        requested_scopes
    };
    Ok(ClientSpec {
        name: m.client_name.clone().unwrap_or_else(|| "Unnamed app".into()),
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        public,
        grant_types,
        scopes: requested_scopes,
        skip_consent: false,
        owner_id: None,
        app_type: native.then(|| "native".to_string()),
        homepage: m.client_uri.clone().filter(|u| !u.is_empty()),
        logo_url: m.logo_uri.clone().filter(|u| !u.is_empty()),
        token_endpoint_auth_method: Some(
            m.token_endpoint_auth_method.clone().unwrap_or_else(|| "client_secret_basic".into()),
        ),
    })
}

/// Builds the client, mapping the remaining rule failures to metadata errors.
pub fn build(spec: ClientSpec, now: i64) -> Result<clients::NewClient, MetadataError> {
    clients::build(spec, now).map_err(MetadataError::Metadata)
}

/// New metadata for a registered client (RFC 7592 §2.2).
pub fn revise(client: &Client, spec: ClientSpec) -> Result<Client, MetadataError> {
    clients::revise(client, spec).map_err(MetadataError::Metadata)
}

/// The registered metadata as the RFCs return it (no secrets here; the
/// caller adds them when there are new ones to show).
pub fn document(client: &Client, registration_client_uri: &str) -> Value {
    let mut doc = json!({
        "client_id": client.id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "response_types": if client.grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) { vec!["code"] } else { vec![] },
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "application_type": if client.app_type.as_deref() == Some("native") { "native" } else { "web" },
        "scope": client.scopes.join(" "),
        "registration_client_uri": registration_client_uri,
    });
    if let Some(obj) = doc.as_object_mut() {
        if let Some(u) = &client.homepage {
            obj.insert("client_uri".into(), json!(u));
        }
        if let Some(u) = &client.logo_url {
            obj.insert("logo_uri".into(), json!(u));
        }
        if !client.public {
            obj.insert("client_secret_expires_at".into(), json!(0));
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        ["openid", "profile", "email", "offline_access", "orders:read"].iter().map(|s| s.to_string()).collect()
    }

    fn meta(v: Value) -> Result<ClientSpec, MetadataError> {
        to_spec(&serde_json::from_value(v).unwrap(), &allowed())
    }

    #[test]
    fn valid_metadata() {
        let spec = meta(json!({"redirect_uris": ["https://app.example/cb"], "client_name": "App"})).unwrap();
        assert!(!spec.public);
        assert_eq!(spec.grant_types, ["authorization_code"]);
        let spec = meta(json!({
            "redirect_uris": ["com.example.app:/cb"], "application_type": "native",
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]
        }))
        .unwrap();
        assert!(spec.public);
        assert_eq!(spec.app_type.as_deref(), Some("native"));
        let spec =
            meta(json!({"grant_types": ["client_credentials"], "response_types": [], "scope": "orders:read"})).unwrap();
        assert_eq!(spec.scopes, ["orders:read"]);
        let spec = meta(json!({"redirect_uris": ["https://app.example/cb"]})).unwrap();
        assert_eq!(spec.scopes, allowed(), "no scope asked: the allowed ones");
        let spec = meta(json!({"grant_types": ["client_credentials"], "response_types": []})).unwrap();
        assert_eq!(spec.scopes, ["orders:read"], "no person, no OpenID scopes");
    }

    #[test]
    fn each_invalid_case_has_its_code() {
        let code = |v: Value| meta(v).unwrap_err().code();
        assert_eq!(code(json!({})), "invalid_redirect_uri", "code grant without redirect URIs");
        assert_eq!(code(json!({"redirect_uris": ["http://app.example/cb"]})), "invalid_redirect_uri");
        assert_eq!(code(json!({"redirect_uris": ["https://app.example/cb#frag"]})), "invalid_redirect_uri");
        assert_eq!(code(json!({"redirect_uris": ["https://*.example/cb"]})), "invalid_redirect_uri");
        assert_eq!(code(json!({"redirect_uris": ["com.example.app:/cb"]})), "invalid_redirect_uri");
        let ok = json!(["https://app.example/cb"]);
        assert_eq!(code(json!({"redirect_uris": ok, "grant_types": ["implicit"]})), "invalid_client_metadata");
        assert_eq!(code(json!({"redirect_uris": ok, "response_types": ["token"]})), "invalid_client_metadata");
        assert_eq!(
            code(json!({"redirect_uris": ok, "token_endpoint_auth_method": "private_key_jwt"})),
            "invalid_client_metadata"
        );
        assert_eq!(code(json!({"redirect_uris": ok, "application_type": "toaster"})), "invalid_client_metadata");
        assert_eq!(
            code(
                json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "none"})
            ),
            "invalid_client_metadata"
        );
        assert_eq!(code(json!({"redirect_uris": ok, "scope": "openid admin"})), "invalid_client_metadata");
        assert_eq!(
            code(json!({"redirect_uris": ok, "scope": "openid payments:write"})),
            "invalid_client_metadata",
            "API scopes the operator did not allow"
        );
        assert!(parse(b"not json").is_err());
    }
}
