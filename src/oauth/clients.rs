//! Registering clients: ids, secrets, and the metadata rules.

use super::redirect_uri;
use super::scopes;
use crate::audit::{self, Actor};
use crate::clock::Timestamp;
use crate::crypto::{random_token, token_hash};
use crate::store::{Client, ClientId, GrantsOf, RevokeReason, Role, Store, StoreResult, User};

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
    pub owner_id: Option<String>,
    /// `web`, `spa`, `native` or `machine`: sets sensible grant types and
    /// the client type, and tightens the redirect URI rules (private-use
    /// schemes for native apps only). None: the CLI's explicit settings.
    pub app_type: Option<String>,
    pub homepage: Option<String>,
    pub logo_url: Option<String>,
    /// RFC 7591 `token_endpoint_auth_method`; None: `none` for a public
    /// client, `client_secret_basic` (the RFC's default) otherwise.
    pub token_endpoint_auth_method: Option<String>,
}

/// How a confidential client may authenticate at the token endpoint.
pub const SECRET_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];

/// The method a client is registered with, checked against its type.
fn auth_method(spec: &ClientSpec) -> Result<String, String> {
    match (spec.public, spec.token_endpoint_auth_method.as_deref()) {
        (true, None | Some("none")) => Ok("none".into()),
        (true, Some(other)) => {
            Err(format!("a public client has no secret: token_endpoint_auth_method must be none, not {other}"))
        }
        (false, None) => Ok("client_secret_basic".into()),
        (false, Some(m)) if SECRET_METHODS.contains(&m) => Ok(m.into()),
        (false, Some(other)) => Err(format!(
            "unsupported token_endpoint_auth_method `{other}` for a confidential client (supported: {})",
            SECRET_METHODS.join(", ")
        )),
    }
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

/// A new secret for a confidential client; the previous one keeps working
/// for `overlap` seconds so deployments can switch without downtime.
pub fn rotate_secret(client: &mut Client, now: Timestamp, overlap: i64) -> Option<String> {
    let current = client.secret_hash.clone()?;
    let secret = random_token(32);
    client.old_secret_hash = Some(current);
    client.old_secret_expires_at = Some(now + overlap);
    client.secret_hash = Some(token_hash(&secret));
    Some(secret)
}

/// Stores a new client (built and checked by [`build`]).
pub async fn create(store: &dyn Store, client: &Client, actor: Actor<'_>, now: Timestamp) -> StoreResult<()> {
    store.create_client(client).await?;
    audit::record(store, now, actor.event("client.create", &client.name).client(&client.id)).await;
    Ok(())
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
    store: &dyn Store, client: &mut Client, overlap: i64, actor: Actor<'_>, now: Timestamp,
) -> StoreResult<Option<String>> {
    let Some(secret) = rotate_secret(client, now, overlap) else {
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
/// secrets, owner, consent setting and registration token.
pub fn revise(client: &Client, spec: ClientSpec) -> Result<Client, String> {
    let spec = ClientSpec { public: client.public, skip_consent: client.skip_consent, ..spec };
    let checked = build(spec, client.created_at)?.client;
    Ok(Client {
        id: client.id.clone(),
        secret_hash: client.secret_hash.clone(),
        owner_id: client.owner_id.clone(),
        old_secret_hash: client.old_secret_hash.clone(),
        old_secret_expires_at: client.old_secret_expires_at,
        registration_token_hash: client.registration_token_hash.clone(),
        ..checked
    })
}

pub fn build(mut spec: ClientSpec, now: Timestamp) -> Result<NewClient, String> {
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("name must be 1 to 100 characters".into());
    }
    apply_type(&mut spec)?;
    let token_endpoint_auth_method = auth_method(&spec)?;
    check_url("homepage", &spec.homepage)?;
    check_url("logo URL", &spec.logo_url)?;
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
            return Err(format!("unsupported grant type `{g}` (supported: {})", SUPPORTED_GRANTS.join(", ")));
        }
    }
    if grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) && spec.redirect_uris.is_empty() {
        return Err("the authorization_code grant needs at least one redirect URI".into());
    }
    if spec.public && grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS) {
        return Err("client_credentials is for confidential clients; drop --public".into());
    }
    let machine = spec.app_type.as_deref() == Some("machine");
    let scopes = if spec.scopes.is_empty() && !machine { scopes::default_client_scopes() } else { spec.scopes };
    for s in &scopes {
        if !scopes::is_user_scope(s) && !scopes::valid_api_scope(s) {
            return Err(format!("invalid scope `{s}`"));
        }
    }
    let secret = (!spec.public).then(|| random_token(32));
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
        let new = rotate_secret(&mut n.client, 100, 60).unwrap();
        assert_eq!(n.client.old_secret_hash, old);
        assert_eq!(n.client.old_secret_expires_at, Some(160));
        assert_eq!(n.client.secret_hash.as_deref(), Some(token_hash(&new).as_str()));
    }
}
