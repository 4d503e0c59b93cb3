//! Dynamic client registration (RFC 7591) and its management protocol
//! (RFC 7592): client metadata in, validated with the RFC's error codes,
//! and the metadata document out.

use serde::Deserialize;
use serde_json::{Value, json};

use super::clients::{
    self, ClientSpec, GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, SUPPORTED_GRANTS,
};
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
    /// OIDC Dynamic Registration §2: shown on the consent page.
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub scope: Option<String>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub application_type: Option<String>,
    /// Present on RFC 7592 updates: must name the client being updated.
    pub client_id: Option<String>,
    /// RFC 7591 §2: the client's public keys, by value or by reference.
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    /// OIDC Dynamic Registration §2.
    pub token_endpoint_auth_signing_alg: Option<String>,
    pub request_object_signing_alg: Option<String>,
    /// RFC 9101 §10.5.
    pub require_signed_request_object: Option<bool>,
    /// RFC 9126 §6.
    pub require_pushed_authorization_requests: Option<bool>,
    /// RFC 9449 §5.2.
    pub dpop_bound_access_tokens: Option<bool>,
    /// This server's extension: `fapi2` holds the client to the FAPI 2.0
    /// Security Profile.
    pub security_profile: Option<String>,
    /// This server's extensions: the API identifiers the client may ask
    /// tokens for (RFC 8707 resources; absent: any), and those it may
    /// exchange a person's token for (RFC 8693; absent: none).
    pub allowed_resources: Option<Vec<String>>,
    pub token_exchange_targets: Option<Vec<String>>,
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
        None => false,
        Some("none") => true,
        Some(m) if clients::CONFIDENTIAL_METHODS.contains(&m) => false,
        Some(other) => {
            return Err(meta(&format!(
                "token_endpoint_auth_method `{other}` is not supported ({}, none)",
                clients::CONFIDENTIAL_METHODS.join(", ")
            )));
        }
    };
    let jwks = match &m.jwks {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => return Err(meta("jwks must be a JWK set (an object with a keys array)")),
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
    let uses_code = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    // RFC 7591 defaults response_types to ["code"]; a client that names only
    // grants without it (a device or machine app) means none, so the default
    // follows the grants rather than refusing what the client plainly asked.
    let response_types =
        m.response_types.clone().unwrap_or_else(|| if uses_code { vec!["code".into()] } else { vec![] });
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
        // have, minus what it cannot use: a person's scopes need a grant
        // through which a person signs in.
        let for_people = uses_code || grant_types.iter().any(|g| g == GRANT_DEVICE_CODE);
        allowed_scopes
            .iter()
            .filter(|s| *s != scopes::ADMIN && (for_people || !scopes::is_user_scope(s)))
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
        policy_uri: m.policy_uri.clone().filter(|u| !u.is_empty()),
        tos_uri: m.tos_uri.clone().filter(|u| !u.is_empty()),
        // Without a method, the RFC's default, or the profile's.
        token_endpoint_auth_method: m.token_endpoint_auth_method.clone(),
        jwks,
        jwks_uri: m.jwks_uri.clone(),
        token_endpoint_auth_signing_alg: m.token_endpoint_auth_signing_alg.clone(),
        request_object_signing_alg: m.request_object_signing_alg.clone(),
        require_signed_request_object: m.require_signed_request_object.unwrap_or(false),
        require_pushed_authorization_requests: m.require_pushed_authorization_requests.unwrap_or(false),
        dpop_bound_access_tokens: m.dpop_bound_access_tokens.unwrap_or(false),
        security_profile: m.security_profile.clone(),
        allowed_resources: m.allowed_resources.clone().unwrap_or_default(),
        token_exchange_targets: m.token_exchange_targets.clone().unwrap_or_default(),
    })
}

/// On an update (RFC 7592 §2.2), what an operator set and the client left
/// out stays: the client cannot change it, so leaving it out is no request
/// to remove it.
pub fn keep_operator_settings(m: &Metadata, spec: &mut ClientSpec, existing: &Client) {
    if m.token_exchange_targets.is_none() {
        spec.token_exchange_targets = existing.token_exchange_targets.clone();
    }
}

/// The APIs a self-registered client names. `allowed_resources` only
/// narrows what it may ask for, so it may set it, to registered APIs.
/// `token_exchange_targets` is an operator's permission (RFC 8693 §5: the
/// server decides who may exchange for what): a client keeps what it was
/// given (`existing`) and cannot give itself more.
pub async fn check_apis(
    store: &dyn crate::store::Store, spec: &ClientSpec, existing: Option<&Client>,
) -> Result<(), StoreOr<MetadataError>> {
    let given: &[String] = existing.map_or(&[], |c| &c.token_exchange_targets);
    if spec.token_exchange_targets != given {
        return Err(StoreOr::Rule(MetadataError::Metadata(
            "token_exchange_targets is set by an operator (latchkey clients, or an admin in the portal)".into(),
        )));
    }
    if let Some(why) = super::apis::unregistered(store, &spec.allowed_resources).await? {
        return Err(StoreOr::Rule(MetadataError::Metadata(format!("allowed_resources: {why}"))));
    }
    Ok(())
}

/// A rule's refusal, or the store failing while checking it.
#[derive(Debug)]
pub enum StoreOr<E> {
    Rule(E),
    Store(crate::store::StoreError),
}

impl<E> From<crate::store::StoreError> for StoreOr<E> {
    fn from(e: crate::store::StoreError) -> Self {
        StoreOr::Store(e)
    }
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
        for (name, value) in [("policy_uri", &client.policy_uri), ("tos_uri", &client.tos_uri)] {
            if let Some(u) = value {
                obj.insert(name.into(), json!(u));
            }
        }
        if client.secret_hash.is_some() {
            obj.insert("client_secret_expires_at".into(), json!(0));
        }
        if let Some(jwks) = client.jwks.as_deref().and_then(|j| serde_json::from_str::<Value>(j).ok()) {
            obj.insert("jwks".into(), jwks);
        }
        let texts = [
            ("jwks_uri", &client.jwks_uri),
            ("token_endpoint_auth_signing_alg", &client.token_endpoint_auth_signing_alg),
            ("request_object_signing_alg", &client.request_object_signing_alg),
            ("security_profile", &client.security_profile),
        ];
        for (name, value) in texts {
            if let Some(v) = value {
                obj.insert(name.into(), json!(v));
            }
        }
        obj.insert("require_signed_request_object".into(), json!(client.require_signed_request_object));
        obj.insert("require_pushed_authorization_requests".into(), json!(client.require_pushed_authorization_requests));
        obj.insert("dpop_bound_access_tokens".into(), json!(client.dpop_bound_access_tokens));
        if !client.allowed_resources.is_empty() {
            obj.insert("allowed_resources".into(), json!(client.allowed_resources));
        }
        if !client.token_exchange_targets.is_empty() {
            obj.insert("token_exchange_targets".into(), json!(client.token_exchange_targets));
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
        let device = json!({"grant_types": [GRANT_DEVICE_CODE], "token_endpoint_auth_method": "none"});
        let spec = meta(device).unwrap();
        assert_eq!(spec.scopes, allowed(), "a person signs in on the device: the allowed ones");
        assert!(spec.grant_types.iter().all(|g| g != "authorization_code"), "response_types follows the grants");
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
            code(json!({"redirect_uris": ok, "token_endpoint_auth_method": "tls_client_auth"})),
            "invalid_client_metadata"
        );
        assert_eq!(code(json!({"redirect_uris": ok, "jwks": ["not", "a", "set"]})), "invalid_client_metadata");
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
