//! Registered APIs (resource servers) and RFC 8707 resource indicators. An
//! API is named by an absolute URI; a token request that names it as its
//! `resource` gets an access token whose `aud` is that URI and whose scopes
//! are the API's, so a token for the photos API is refused by the payments
//! API. Tokens asked for without a resource keep the issuer as audience.

use super::{Provider, scopes};
use crate::audit::{self, Actor};
use crate::clock::Timestamp;
use crate::config::Config;
use crate::crypto::random_token;
use crate::error::{ErrorCode, OAuthError};
use crate::keys;
use crate::store::{Api, Client, ClientId, Role, Store, StoreError, StoreResult, User};

/// What an API is registered with.
#[derive(Debug, Default, Clone)]
pub struct ApiSpec {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub access_token_ttl: Option<i64>,
    pub access_token_alg: Option<String>,
    pub owner_id: Option<String>,
    pub client_id: Option<ClientId>,
}

/// RFC 8707 §2: an absolute URI, without a fragment.
pub fn check_identifier(uri: &str) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|_| format!("`{uri}` is not an absolute URI"))?;
    if parsed.fragment().is_some() || uri.contains('#') {
        return Err(format!("`{uri}` has a fragment"));
    }
    if uri.len() > 500 {
        return Err("an API identifier is at most 500 characters".into());
    }
    Ok(())
}

/// Checks a spec against the rules and the server's settings.
pub fn build(spec: ApiSpec, config: &Config, now: Timestamp) -> Result<Api, String> {
    check_identifier(&spec.identifier)?;
    let name = spec.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err("name must be 1 to 100 characters".into());
    }
    let mut api_scopes: Vec<String> = Vec::new();
    for s in spec.scopes.iter().flat_map(|s| s.split_whitespace()) {
        if scopes::is_user_scope(s) || !scopes::valid_api_scope(s) {
            return Err(format!("`{s}` cannot be an API scope (letters, digits and :._-/; not an OpenID scope)"));
        }
        if !api_scopes.iter().any(|x| x == s) {
            api_scopes.push(s.to_string());
        }
    }
    if api_scopes.is_empty() {
        return Err("an API defines at least one scope".into());
    }
    // Revocations are remembered as long as the longest access token lives:
    // an API's tokens may live shorter, never longer.
    if let Some(ttl) = spec.access_token_ttl {
        if !(30..=config.access_token_ttl).contains(&ttl) {
            return Err(format!("token lifetime must be 30 to {} seconds", config.access_token_ttl));
        }
    }
    if let Some(alg) = &spec.access_token_alg {
        if !keys::ALGORITHMS.contains(&alg.as_str()) {
            return Err(format!("token algorithm must be one of {}", keys::ALGORITHMS.join(", ")));
        }
    }
    Ok(Api {
        id: random_token(12),
        identifier: spec.identifier,
        name,
        scopes: api_scopes,
        access_token_ttl: spec.access_token_ttl,
        access_token_alg: spec.access_token_alg,
        owner_id: spec.owner_id,
        client_id: spec.client_id,
        created_at: now,
    })
}

/// Registers an API: a key of its algorithm is made first when none is
/// active, so its tokens can be signed at once (every instance loads it
/// through the change feed).
pub async fn create(store: &dyn Store, api: &Api, actor: Actor<'_>, now: Timestamp) -> Result<(), StoreErrorOr> {
    if let Some(alg) = &api.access_token_alg {
        keys::ensure_alg(store, alg, now).await.map_err(StoreErrorOr::Keys)?;
    }
    store.create_api(api).await?;
    audit::record(store, now, actor.event("api.create", format!("{} ({})", api.name, api.identifier))).await;
    Ok(())
}

/// Saves an edited API (its identifier stays).
pub async fn save(store: &dyn Store, api: &Api, actor: Actor<'_>, now: Timestamp) -> Result<bool, StoreErrorOr> {
    if let Some(alg) = &api.access_token_alg {
        keys::ensure_alg(store, alg, now).await.map_err(StoreErrorOr::Keys)?;
    }
    let found = store.update_api(api).await?;
    if found {
        audit::record(store, now, actor.event("api.update", format!("{} ({})", api.name, api.identifier))).await;
    }
    Ok(found)
}

pub async fn delete(store: &dyn Store, api: &Api, actor: Actor<'_>, now: Timestamp) -> StoreResult<bool> {
    let found = store.delete_api(&api.id).await?;
    if found {
        audit::record(store, now, actor.event("api.delete", format!("{} ({})", api.name, api.identifier))).await;
    }
    Ok(found)
}

/// A store or key failure while registering an API.
#[derive(Debug, thiserror::Error)]
pub enum StoreErrorOr {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key: {0}")]
    Keys(keys::KeyError),
}

/// The API registered under `identifier`.
pub async fn find(store: &dyn Store, identifier: &str) -> StoreResult<Option<Api>> {
    Ok(store.list_apis().await?.iter().find(|a| a.identifier == identifier).cloned())
}

/// Whether `user` may edit or delete `api`: its owner, or an admin.
pub fn may_manage(api: &Api, user: &User) -> bool {
    api.owner_id.as_deref() == Some(user.id.as_str()) || user.role == Role::Admin
}

/// The first of `identifiers` that names no registered API, in words: a
/// client limited to, or allowed to exchange for, an API that does not
/// exist is almost always a typo.
pub async fn unregistered(store: &dyn Store, identifiers: &[String]) -> StoreResult<Option<String>> {
    let apis = store.list_apis().await?;
    Ok(identifiers
        .iter()
        .find(|i| !apis.iter().any(|a| &a.identifier == *i))
        .map(|i| format!("`{i}` is not a registered API")))
}

/// Whether `user` may give a machine app `requested` (scopes it gets with
/// no person present, through client credentials): each must be a scope of
/// an API they manage, or one the app holds already (`kept`, perhaps given
/// by an operator). Otherwise any developer could give their app another
/// team's scopes. Admins may give any API's scopes.
pub async fn check_machine_scopes(
    store: &dyn Store, user: &User, requested: &[String], kept: &[String],
) -> StoreResult<Result<(), String>> {
    let apis = store.list_apis().await?;
    for s in requested {
        if kept.contains(s) {
            continue;
        }
        let defined = apis.iter().filter(|a| a.scopes.contains(s));
        let mine = defined.clone().any(|a| may_manage(a, user));
        if !mine {
            let why = if defined.count() == 0 {
                format!("`{s}` is not a scope of a registered API")
            } else {
                format!("`{s}` belongs to an API you do not manage: its owner or an admin grants it")
            };
            return Ok(Err(why));
        }
    }
    Ok(Ok(()))
}

/// Whether `client` can be an API's own client: it must authenticate, as it
/// introspects tokens and exchanges them.
pub fn check_own_client(client: &Client) -> Result<(), String> {
    if client.public {
        return Err(format!("{} is a public client: an API's own client authenticates", client.name));
    }
    Ok(())
}

/// The API whose own client `client_id` is.
pub async fn of_client(store: &dyn Store, client_id: &ClientId) -> StoreResult<Option<Api>> {
    Ok(store.list_apis().await?.iter().find(|a| a.client_id.as_ref() == Some(client_id)).cloned())
}

fn invalid_target(why: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, why.into())
}

/// The APIs `requested` names, each a registered API the client may ask
/// for; anything else is `invalid_target` (RFC 8707 §2).
pub async fn resolve(p: Provider<'_>, client: &Client, requested: &[String]) -> Result<Vec<Api>, OAuthError> {
    let mut out: Vec<Api> = Vec::new();
    for uri in requested {
        check_identifier(uri).map_err(invalid_target)?;
        let api =
            find(p.store, uri).await?.ok_or_else(|| invalid_target(format!("`{uri}` is not a registered API")))?;
        if !may_request(client, &api) {
            return Err(invalid_target(format!("this client may not ask for tokens for `{uri}`")));
        }
        if !out.iter().any(|a| a.identifier == api.identifier) {
            out.push(api);
        }
    }
    Ok(out)
}

/// Whether the client may ask tokens for `api`: any registered API, unless
/// it is limited to some.
pub fn may_request(client: &Client, api: &Api) -> bool {
    client.allowed_resources.is_empty() || client.allowed_resources.iter().any(|r| r == &api.identifier)
}

/// The scopes of `granted` that `api` defines.
pub fn narrow(granted: &[String], api: &Api) -> Vec<String> {
    granted.iter().filter(|s| api.scopes.contains(s)).cloned().collect()
}

/// The one API a token request is for, among those `granted` to the
/// authorization: the `resource` named (one at most: several resources
/// would add up the scopes of each), or the only one granted. None when the
/// authorization named none and the request names none.
pub async fn pick(
    p: Provider<'_>, client: &Client, requested: &[String], granted: &[String],
) -> Result<Option<Api>, OAuthError> {
    let identifier = match (requested, granted) {
        ([], []) => return Ok(None),
        ([], [only]) => only,
        ([], _) => return Err(invalid_target("several APIs were granted: name one with `resource`")),
        ([one], _) => one,
        (_, _) => return Err(invalid_target("a token is for one API: send one `resource`")),
    };
    if !granted.is_empty() && !granted.iter().any(|g| g == identifier) {
        return Err(invalid_target(format!("`{identifier}` was not granted to this authorization")));
    }
    let apis = resolve(p, client, std::slice::from_ref(identifier)).await?;
    Ok(apis.into_iter().next())
}

/// The API identifiers a form names (one per line, or separated by spaces
/// or commas), each checked to be an absolute URI without a fragment.
pub fn parse_identifiers(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for line in text.split(['\n', ' ', ',']).map(str::trim).filter(|l| !l.is_empty()) {
        check_identifier(line)?;
        if !out.iter().any(|o: &String| o == line) {
            out.push(line.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_absolute_uris_without_fragments() {
        assert!(check_identifier("https://api.example/photos").is_ok());
        assert!(check_identifier("urn:example:payments").is_ok());
        assert!(check_identifier("/photos").is_err());
        assert!(check_identifier("photos").is_err());
        assert!(check_identifier("https://api.example/photos#v1").is_err());
        assert!(check_identifier("https://api.example/photos#").is_err());
    }

    #[test]
    fn apis_are_built_by_the_rules() {
        let config = Config::with(&[]).unwrap();
        let spec = |f: &dyn Fn(&mut ApiSpec)| {
            let mut s = ApiSpec {
                identifier: "https://api.example/photos".into(),
                name: "Photos".into(),
                scopes: vec!["photos:read photos:write".into()],
                ..Default::default()
            };
            f(&mut s);
            s
        };
        let api = build(spec(&|_| {}), &config, 0).unwrap();
        assert_eq!(api.scopes, ["photos:read", "photos:write"]);
        assert!(build(spec(&|s| s.scopes = vec!["openid".into()]), &config, 0).is_err());
        assert!(build(spec(&|s| s.scopes = vec![]), &config, 0).is_err());
        assert!(build(spec(&|s| s.access_token_ttl = Some(config.access_token_ttl + 1)), &config, 0).is_err());
        assert!(build(spec(&|s| s.access_token_alg = Some("HS256".into())), &config, 0).is_err());
        assert!(build(spec(&|s| s.identifier = "https://x.example/#frag".into()), &config, 0).is_err());
    }
}
