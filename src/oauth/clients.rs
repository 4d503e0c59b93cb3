//! Registering clients: ids, secrets, and the metadata rules.

use super::{jose, redirect_uri, scopes};
use crate::audit::{self, Actor};
use crate::clock::Timestamp;
use crate::crypto::{self, Secret, random_token, token_hash};
use crate::store::{Client, ClientId, GrantsOf, RevokeReason, Role, Store, StoreResult, User};

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
/// RFC 8628 §3.4.
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8693 §2.1.
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Grant types this build implements.
pub const SUPPORTED_GRANTS: &[&str] =
    &[GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_TOKEN_EXCHANGE];

#[derive(Debug, Default, Clone)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub skip_consent: bool,
    pub owner_id: Option<String>,
    /// `web`, `spa`, `native` or `machine`: sets sensible grant types and
    /// the client type, and tightens the redirect URI rules (private-use
    /// schemes for native apps only). None: the CLI's explicit settings.
    pub app_type: Option<String>,
    pub homepage: Option<String>,
    pub logo_url: Option<String>,
    /// RFC 7591 `token_endpoint_auth_method`; None: `none` for a public
    /// client, `private_key_jwt` under the FAPI 2.0 profile, and
    /// `client_secret_basic` (the RFC's default) otherwise.
    pub token_endpoint_auth_method: Option<String>,
    /// RFC 7591 `jwks` (a JWK set, JSON text) or `jwks_uri`: the client's
    /// public keys, for `private_key_jwt` and signed request objects.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub token_endpoint_auth_signing_alg: Option<String>,
    pub request_object_signing_alg: Option<String>,
    pub require_signed_request_object: bool,
    pub require_pushed_authorization_requests: bool,
    pub dpop_bound_access_tokens: bool,
    /// `fapi2`: held to the FAPI 2.0 Security Profile (see [`FAPI2`]).
    pub security_profile: Option<String>,
    /// API identifiers it may ask tokens for (empty: any), and those it may
    /// exchange tokens for (empty: none). The second is an operator's
    /// permission: only the CLI and admins set it. Callers check both name
    /// registered APIs with [`unregistered`](super::apis::unregistered).
    pub allowed_resources: Vec<String>,
    pub token_exchange_targets: Vec<String>,
    /// Its privacy policy and terms of service (https), for the consent page.
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
}

/// The methods a confidential client may authenticate with.
pub const CONFIDENTIAL_METHODS: &[&str] =
    &["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"];
/// Those that use a secret we issue.
pub const SECRET_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "client_secret_jwt"];
/// The FAPI 2.0 Security Profile (final, 2025): pushed requests, PKCE with
/// S256, `private_key_jwt`, DPoP-bound tokens, and PS256/ES256/EdDSA only.
pub const FAPI2: &str = "fapi2";

/// The method a client is registered with, checked against its type.
fn auth_method(spec: &ClientSpec) -> Result<String, String> {
    match (spec.public, spec.token_endpoint_auth_method.as_deref()) {
        (true, None | Some("none")) => Ok("none".into()),
        (true, Some(other)) => {
            Err(format!("a public client has no secret: token_endpoint_auth_method must be none, not {other}"))
        }
        (false, None) if spec.security_profile.as_deref() == Some(FAPI2) => Ok("private_key_jwt".into()),
        (false, None) => Ok("client_secret_basic".into()),
        (false, Some(m)) if CONFIDENTIAL_METHODS.contains(&m) => Ok(m.into()),
        (false, Some(other)) => Err(format!(
            "unsupported token_endpoint_auth_method `{other}` for a confidential client (supported: {})",
            CONFIDENTIAL_METHODS.join(", ")
        )),
    }
}

/// The key settings, checked: `jwks` normalized (public keys of a safe
/// size), or a `jwks_uri` we may fetch; never both (RFC 7591 §2).
fn check_keys(spec: &ClientSpec) -> Result<(Option<String>, Option<String>), String> {
    let jwks = match spec.jwks.as_deref().map(str::trim).filter(|j| !j.is_empty()) {
        Some(text) => {
            let set = jose::key_set(text)?;
            Some(serde_json::to_string(&set).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let jwks_uri = spec.jwks_uri.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(str::to_string);
    if let Some(uri) = &jwks_uri {
        let parsed = url::Url::parse(uri).map_err(|_| "jwks_uri must be a URL".to_string())?;
        let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if !(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback))
            || parsed.fragment().is_some()
            || uri.len() > 500
        {
            return Err("jwks_uri must be an https URL without a fragment".into());
        }
    }
    if jwks.is_some() && jwks_uri.is_some() {
        return Err("register jwks or jwks_uri, not both".into());
    }
    Ok((jwks, jwks_uri))
}

/// The settings that depend on the method and keys, and the FAPI 2.0
/// profile's demands.
fn check_security(spec: &mut ClientSpec, method: &str, has_keys: bool) -> Result<(), String> {
    let fapi = match spec.security_profile.as_deref() {
        None | Some("") => false,
        Some(FAPI2) => true,
        Some(other) => return Err(format!("unknown security profile `{other}` (supported: {FAPI2})")),
    };
    if method == "private_key_jwt" && !has_keys {
        return Err("private_key_jwt needs the client's public keys (jwks or jwks_uri)".into());
    }
    if let Some(alg) = spec.token_endpoint_auth_signing_alg.as_deref() {
        let allowed = match method {
            "private_key_jwt" => jose::SIGNING_ALGS,
            "client_secret_jwt" => jose::HMAC_ALGS,
            _ => return Err("token_endpoint_auth_signing_alg is for private_key_jwt and client_secret_jwt".into()),
        };
        if !allowed.contains(&alg) {
            return Err(format!("token_endpoint_auth_signing_alg `{alg}` is not supported for {method}"));
        }
    }
    if let Some(alg) = spec.request_object_signing_alg.as_deref() {
        if !jose::SIGNING_ALGS.contains(&alg) {
            return Err(format!(
                "request_object_signing_alg `{alg}` is not supported (supported: {})",
                jose::SIGNING_ALGS.join(", ")
            ));
        }
    }
    let signs_requests = spec.request_object_signing_alg.is_some() || spec.require_signed_request_object;
    if signs_requests && !has_keys {
        return Err("signed request objects need the client's public keys (jwks or jwks_uri)".into());
    }
    for uri in spec.allowed_resources.iter().chain(&spec.token_exchange_targets) {
        super::apis::check_identifier(uri).map_err(|why| format!("API identifier: {why}"))?;
    }
    if !spec.token_exchange_targets.is_empty() && spec.public {
        return Err("token exchange is for clients that authenticate (an API's own client)".into());
    }
    if fapi {
        if spec.public || method != "private_key_jwt" {
            return Err("the FAPI 2.0 profile needs a confidential client authenticating with private_key_jwt".into());
        }
        let fapi_alg = |a: &Option<String>| a.as_deref().is_none_or(|a| jose::FAPI_ALGS.contains(&a));
        if !fapi_alg(&spec.token_endpoint_auth_signing_alg) || !fapi_alg(&spec.request_object_signing_alg) {
            return Err(format!("the FAPI 2.0 profile allows only {}", jose::FAPI_ALGS.join(", ")));
        }
        // What the profile demands is on, whatever was asked.
        spec.require_pushed_authorization_requests = true;
        spec.dpop_bound_access_tokens = true;
    }
    Ok(())
}

/// A new client and, for a confidential one, its secret (shown once; only its
/// hash is kept).
pub struct NewClient {
    pub client: Client,
    pub secret: Option<String>,
}

/// The kinds of app the portal registers, with words for the form.
pub const APP_TYPES: &[(&str, &str)] = &[
    ("web", "Web app with a server (keeps a secret)"),
    ("spa", "Single-page app in the browser (no secret, PKCE)"),
    ("native", "Native or mobile app (no secret, PKCE)"),
    ("machine", "Machine to machine (client credentials)"),
    ("device", "TV, console or command-line tool (device code, no secret)"),
];

/// Fills in what the app type decides: the client type, and the grant types
/// when none were given.
fn apply_type(spec: &mut ClientSpec) -> Result<(), String> {
    let Some(kind) = spec.app_type.as_deref() else {
        return Ok(());
    };
    if spec.grant_types.is_empty() {
        spec.grant_types = vec![GRANT_AUTHORIZATION_CODE.to_string(), GRANT_REFRESH_TOKEN.to_string()];
    }
    match kind {
        "web" => spec.public = false,
        "spa" => spec.public = true,
        // A native app cannot keep a secret (RFC 8252 §8.4); one registered
        // with a secret method anyway is confidential, as it asked.
        "native" => {
            spec.public = spec.token_endpoint_auth_method.as_deref().is_none_or(|m| m == "none");
        }
        "machine" => {
            spec.public = false;
            spec.grant_types = vec![GRANT_CLIENT_CREDENTIALS.to_string()];
            if !spec.redirect_uris.is_empty() || !spec.post_logout_redirect_uris.is_empty() {
                return Err("a machine-to-machine app has no redirect URIs".into());
            }
        }
        // RFC 8628: shows a code instead of a browser; cannot keep a secret.
        "device" => {
            spec.public = spec.token_endpoint_auth_method.as_deref().is_none_or(|m| m == "none");
            spec.grant_types = vec![GRANT_DEVICE_CODE.to_string(), GRANT_REFRESH_TOKEN.to_string()];
            if !spec.redirect_uris.is_empty() || !spec.post_logout_redirect_uris.is_empty() {
                return Err("a device app has no redirect URIs".into());
            }
        }
        other => return Err(format!("unknown app type `{other}`")),
    }
    // Private-use schemes (com.example.app:/cb) belong to native apps
    // (RFC 8252 §7.1); browsers need http(s).
    if kind != "native" {
        for uri in spec.redirect_uris.iter().chain(&spec.post_logout_redirect_uris) {
            if !(uri.starts_with("https://") || uri.starts_with("http://")) {
                return Err(format!("`{uri}`: custom schemes are for native apps only"));
            }
        }
    }
    Ok(())
}

/// Optional https URL fields (homepage, logo).
fn check_url(field: &str, value: &Option<String>) -> Result<(), String> {
    match value {
        Some(v) if !v.starts_with("https://") || url::Url::parse(v).is_err() || v.len() > 500 => {
            Err(format!("{field} must be an https URL"))
        }
        _ => Ok(()),
    }
}

/// Keeps `client_secret_jwt` secrets apart from anything else the at-rest
/// key seals.
const SEAL_LABEL: &[u8] = b"latchkey client secret v1";

/// The secret a `client_secret_jwt` client signs with, sealed for storage
/// and bound to the client id; None for other methods, which need only the
/// hash.
fn sealed_secret(client: &Client, secret: &str, key: &Secret) -> Option<Vec<u8>> {
    (client.token_endpoint_auth_method == "client_secret_jwt")
        .then(|| crypto::seal(SEAL_LABEL, key.expose().as_bytes(), &client.id, secret.as_bytes()))
}

/// The secrets a `client_secret_jwt` client may sign with now: the current
/// one, and the previous one during a rotation's overlap.
pub fn open_secrets(client: &Client, key: &Secret, now: Timestamp) -> Vec<Vec<u8>> {
    let open = |sealed: &Option<Vec<u8>>| {
        sealed.as_deref().and_then(|s| crypto::open(SEAL_LABEL, key.expose().as_bytes(), &client.id, s))
    };
    let mut out: Vec<Vec<u8>> = open(&client.secret_sealed).into_iter().collect();
    if client.old_secret_expires_at.is_some_and(|until| now < until) {
        out.extend(open(&client.old_secret_sealed));
    }
    out
}

/// A new secret for a client that has one; the previous one keeps working
/// for `overlap` seconds so deployments can switch without downtime.
pub fn rotate_secret(client: &mut Client, key: &Secret, now: Timestamp, overlap: i64) -> Option<String> {
    let current = client.secret_hash.clone()?;
    let secret = random_token(32);
    client.old_secret_hash = Some(current);
    client.old_secret_expires_at = Some(now + overlap);
    client.secret_hash = Some(token_hash(&secret));
    client.old_secret_sealed = client.secret_sealed.take();
    client.secret_sealed = sealed_secret(client, &secret, key);
    Some(secret)
}

/// Stores a new client (built and checked by [`build`]), its secret sealed
/// when it signs with it; returns the client as stored.
pub async fn create(
    store: &dyn Store, key: &Secret, new: &NewClient, actor: Actor<'_>, now: Timestamp,
) -> StoreResult<Client> {
    let mut client = new.client.clone();
    if let Some(secret) = &new.secret {
        client.secret_sealed = sealed_secret(&client, secret, key);
    }
    store.create_client(&client).await?;
    audit::record(store, now, actor.event("client.create", &client.name).client(&client.id)).await;
    Ok(client)
}

/// Saves an edited client; every instance uses the new settings within a
/// second.
pub async fn save(store: &dyn Store, client: &Client, actor: Actor<'_>, now: Timestamp) -> StoreResult<bool> {
    let found = store.update_client(client).await?;
    if found {
        audit::record(store, now, actor.event("client.update", &client.name).client(&client.id)).await;
    }
    Ok(found)
}

/// A new secret for a confidential client, saved; the previous one keeps
/// working for `overlap` seconds. None for a public client.
pub async fn rotate(
    store: &dyn Store, key: &Secret, client: &mut Client, overlap: i64, actor: Actor<'_>, now: Timestamp,
) -> StoreResult<Option<String>> {
    let Some(secret) = rotate_secret(client, key, now, overlap) else {
        return Ok(None);
    };
    store.update_client(client).await?;
    audit::record(store, now, actor.event("client.rotate_secret", &client.name).client(&client.id)).await;
    Ok(Some(secret))
}

/// Deletes a client. Its grants end first, so every token issued to it
/// stops working on every instance; then the client goes, with its consents
/// and refresh tokens. Returns the number of grants ended, or None when
/// there was no such client.
pub async fn delete(store: &dyn Store, id: &ClientId, actor: Actor<'_>, now: Timestamp) -> StoreResult<Option<usize>> {
    let Some(client) = store.get_client(id).await? else {
        return Ok(None);
    };
    let grants = store.revoke_grants(GrantsOf::Client(id), RevokeReason::ClientDeleted, now).await?;
    store.delete_client(id).await?;
    let event = if actor.via.is_admin() { "admin.client_delete" } else { "client.delete" };
    let detail = format!("{}, {} grants revoked", client.name, grants.len());
    audit::record(store, now, actor.event(event, detail).client(id)).await;
    Ok(Some(grants.len()))
}

/// Whether `user` may see and change `client` in the portal: the person
/// who registered it, or an administrator.
pub fn may_manage(client: &Client, user: &User) -> bool {
    client.owner_id.as_deref() == Some(user.id.as_str()) || user.role == Role::Admin
}

/// A registered client with new metadata, checked by the same rules as a
/// new registration. What makes it this client stays: its id, type,
/// secrets, owner, consent setting and registration token. A change of
/// method must keep what the client proves itself with: a secret stays a
/// secret (and `client_secret_jwt` needs one we hold sealed, so one issued
/// before must be rotated first), a key stays a key.
pub fn revise(client: &Client, spec: ClientSpec) -> Result<Client, String> {
    let spec = ClientSpec { public: client.public, skip_consent: client.skip_consent, ..spec };
    let checked = build(spec, client.created_at)?.client;
    let holds_secret = |m: &str| SECRET_METHODS.contains(&m);
    let (before, after) = (client.token_endpoint_auth_method.as_str(), checked.token_endpoint_auth_method.as_str());
    if holds_secret(before) != holds_secret(after) {
        return Err(format!("a client authenticating with {before} cannot switch to {after}: register a new client"));
    }
    if after == "client_secret_jwt" && client.secret_sealed.is_none() {
        return Err("client_secret_jwt needs a secret this server holds sealed, and this client's is kept only as a hash: register a new client".into());
    }
    Ok(Client {
        id: client.id.clone(),
        secret_hash: client.secret_hash.clone(),
        owner_id: client.owner_id.clone(),
        old_secret_hash: client.old_secret_hash.clone(),
        old_secret_expires_at: client.old_secret_expires_at,
        registration_token_hash: client.registration_token_hash.clone(),
        secret_sealed: client.secret_sealed.clone(),
        old_secret_sealed: client.old_secret_sealed.clone(),
        // What people judge an app by changed: an administrator looks again.
        verified: client.verified && same_face(client, &checked),
        ..checked
    })
}

/// Whether the name, logo, links and redirect hosts people see on the
/// consent page are unchanged.
fn same_face(a: &Client, b: &Client) -> bool {
    (&a.name, &a.logo_url, &a.homepage, &a.policy_uri, &a.tos_uri, &a.redirect_uris)
        == (&b.name, &b.logo_url, &b.homepage, &b.policy_uri, &b.tos_uri, &b.redirect_uris)
}

/// Whether people are warned that nobody checked this app: it was
/// registered by an ordinary user (the portal or dynamic registration) and
/// no administrator has marked it verified. Operators' apps (the CLI) and
/// administrators' own are trusted.
pub fn unverified(client: &Client, owner: Option<&crate::store::User>) -> bool {
    if client.verified {
        return false;
    }
    match (&client.owner_id, owner) {
        (None, _) => client.registration_token_hash.is_some(),
        (Some(_), Some(o)) => o.role != crate::store::Role::Admin,
        (Some(_), None) => true,
    }
}

pub fn build(mut spec: ClientSpec, now: Timestamp) -> Result<NewClient, String> {
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("name must be 1 to 100 characters".into());
    }
    apply_type(&mut spec)?;
    let token_endpoint_auth_method = auth_method(&spec)?;
    let (jwks, jwks_uri) = check_keys(&spec)?;
    check_security(&mut spec, &token_endpoint_auth_method, jwks.is_some() || jwks_uri.is_some())?;
    check_url("homepage", &spec.homepage)?;
    check_url("logo URL", &spec.logo_url)?;
    check_url("privacy policy URL", &spec.policy_uri)?;
    check_url("terms of service URL", &spec.tos_uri)?;
    for uri in spec.redirect_uris.iter().chain(&spec.post_logout_redirect_uris) {
        redirect_uri::validate_registration(uri)?;
    }
    let mut grant_types = if spec.grant_types.is_empty() {
        vec![GRANT_AUTHORIZATION_CODE.to_string(), GRANT_REFRESH_TOKEN.to_string()]
    } else {
        let mut g = spec.grant_types;
        g.dedup();
        g
    };
    // Targets to exchange tokens for imply the grant that does it.
    if !spec.token_exchange_targets.is_empty() && !grant_types.iter().any(|g| g == GRANT_TOKEN_EXCHANGE) {
        grant_types.push(GRANT_TOKEN_EXCHANGE.to_string());
    }
    for g in &grant_types {
        if !SUPPORTED_GRANTS.contains(&g.as_str()) {
            return Err(format!("unsupported grant type `{g}` (supported: {})", SUPPORTED_GRANTS.join(", ")));
        }
    }
    if grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) && spec.redirect_uris.is_empty() {
        return Err("the authorization_code grant needs at least one redirect URI".into());
    }
    if spec.public && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        return Err("client_credentials is for confidential clients; drop --public".into());
    }
    // A person's scopes by default only where a person signs in.
    let for_people = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE || g == GRANT_DEVICE_CODE);
    let machine = spec.app_type.as_deref() == Some("machine") || !for_people;
    let scopes = if spec.scopes.is_empty() && !machine { scopes::default_client_scopes() } else { spec.scopes };
    for s in &scopes {
        if !scopes::is_user_scope(s) && !scopes::valid_api_scope(s) {
            return Err(format!("invalid scope `{s}`"));
        }
    }
    let secret = SECRET_METHODS.contains(&token_endpoint_auth_method.as_str()).then(|| random_token(32));
    let client = Client {
        id: ClientId::generate(),
        secret_hash: secret.as_deref().map(token_hash),
        name,
        redirect_uris: spec.redirect_uris,
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        grant_types,
        scopes,
        public: spec.public,
        skip_consent: spec.skip_consent,
        created_at: now,
        owner_id: spec.owner_id,
        app_type: spec.app_type,
        homepage: spec.homepage,
        logo_url: spec.logo_url,
        old_secret_hash: None,
        old_secret_expires_at: None,
        registration_token_hash: None,
        token_endpoint_auth_method,
        jwks,
        jwks_uri,
        token_endpoint_auth_signing_alg: spec.token_endpoint_auth_signing_alg,
        request_object_signing_alg: spec.request_object_signing_alg,
        require_signed_request_object: spec.require_signed_request_object,
        require_pushed_authorization_requests: spec.require_pushed_authorization_requests,
        dpop_bound_access_tokens: spec.dpop_bound_access_tokens,
        security_profile: spec.security_profile.filter(|p| !p.is_empty()),
        secret_sealed: None,
        old_secret_sealed: None,
        allowed_resources: spec.allowed_resources,
        token_exchange_targets: spec.token_exchange_targets,
        policy_uri: spec.policy_uri,
        tos_uri: spec.tos_uri,
        // Apps of operators and administrators are trusted as made; an
        // ordinary user's app waits for an administrator (see `verified`).
        verified: false,
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

    #[test]
    fn app_types_set_sensible_defaults() {
        let typed = |kind: &str, uri: &str| ClientSpec {
            name: "App".into(),
            app_type: Some(kind.into()),
            redirect_uris: if uri.is_empty() { vec![] } else { vec![uri.into()] },
            ..Default::default()
        };
        let spa = build(typed("spa", "https://spa.example/cb"), 0).unwrap();
        assert!(spa.client.public && spa.secret.is_none());
        let web = build(typed("web", "https://web.example/cb"), 0).unwrap();
        assert!(!web.client.public && web.secret.is_some());
        assert!(build(typed("spa", "com.example.app:/cb"), 0).is_err(), "custom scheme in a browser app");
        assert!(build(typed("native", "com.example.app:/cb"), 0).is_ok());
        let machine = build(typed("machine", ""), 0).unwrap();
        assert_eq!(machine.client.grant_types, ["client_credentials"]);
        assert!(build(typed("machine", "https://m.example/cb"), 0).is_err());
        assert!(build(typed("toaster", "https://t.example/cb"), 0).is_err());
        let mut s = typed("web", "https://web.example/cb");
        s.logo_url = Some("http://insecure.example/logo.png".into());
        assert!(build(s, 0).is_err());
    }

    #[test]
    fn rotation_keeps_the_old_secret_for_the_overlap() {
        let mut n = build(
            ClientSpec {
                name: "App".into(),
                redirect_uris: vec!["https://app.example/cb".into()],
                ..Default::default()
            },
            0,
        )
        .unwrap();
        let old = n.client.secret_hash.clone();
        let key = Secret::new("k");
        let new = rotate_secret(&mut n.client, &key, 100, 60).unwrap();
        assert_eq!(n.client.old_secret_hash, old);
        assert_eq!(n.client.old_secret_expires_at, Some(160));
        assert_eq!(n.client.secret_hash.as_deref(), Some(token_hash(&new).as_str()));
        assert_eq!(n.client.secret_sealed, None, "only client_secret_jwt secrets are kept sealed");
    }
}
