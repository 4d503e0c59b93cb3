//! From a checked authorization request to a code: what the person must do
//! first (sign in, consent), remembering their consent, and issuing the code
//! with its grant. The request waits in short-lived state meanwhile.

use super::Provider;
use super::authorize::{self, AuthorizationRequest, Next};
use super::grants::authorization_code::{self, CODE_TTL, CodeRecord};
use super::scopes;
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::ephemeral::EphemeralResult;
use crate::ephemeral::kinds::PENDING_REQUEST;
use crate::error::{ErrorCode, OAuthError};
use crate::store::{GrantId, Role, Session, StoreResult};

/// A pending request, unless it is gone or older than its lifetime.
pub async fn load_pending(p: Provider<'_>, id: &str, now: Timestamp) -> EphemeralResult<Option<AuthorizationRequest>> {
    let req = PENDING_REQUEST.get(p.ephemeral, id).await?;
    Ok(req.filter(|r| now - r.created_at <= PENDING_REQUEST.ttl_seconds()))
}

pub async fn save_pending(p: Provider<'_>, id: &str, req: &AuthorizationRequest) -> EphemeralResult<()> {
    PENDING_REQUEST.put(p.ephemeral, id, req).await
}

pub async fn forget_pending(p: Provider<'_>, id: &str) -> EphemeralResult<()> {
    PENDING_REQUEST.delete(p.ephemeral, id).await
}

/// What the consent page tells about the app asking, so a person can judge
/// it: who registered it, where it sends them back, its links, whether an
/// administrator checked it, and since when they have used it.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppFacts {
    /// Shown only from https (checked at registration), at a fixed size.
    pub logo_url: Option<String>,
    pub homepage: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// `@username` of the person who registered it; None for an operator's.
    pub owner: Option<String>,
    /// The host of the redirect URI this request returns to.
    pub redirect_host: String,
    /// Registered by an ordinary user (or by dynamic registration) and not
    /// checked by an administrator.
    pub unverified: bool,
    /// When the person first allowed it, if they did (the page shows it as
    /// text).
    #[serde(skip)]
    pub allowed_since: Option<Timestamp>,
}

/// The facts about the app of `req` for `user_id`'s consent page.
pub async fn app_facts(p: Provider<'_>, req: &AuthorizationRequest, user_id: &str) -> StoreResult<AppFacts> {
    let Some(client) = p.store.get_client(&req.client_id).await? else {
        return Ok(AppFacts::default());
    };
    let owner = match &client.owner_id {
        Some(id) => p.store.get_user(id).await?,
        None => None,
    };
    let allowed_since =
        p.store.list_user_consents(user_id).await?.into_iter().find(|(id, _, _)| *id == client.id).map(|(_, _, at)| at);
    Ok(AppFacts {
        unverified: super::clients::unverified(&client, owner.as_ref()),
        owner: owner.map(|o| format!("@{}", o.username)),
        redirect_host: url::Url::parse(&req.redirect_uri)
            .ok()
            .and_then(|u| {
                u.host_str().map(|h| match u.port() {
                    Some(port) => format!("{h}:{port}"),
                    None => h.to_string(),
                })
            })
            .unwrap_or_else(|| req.redirect_uri.clone()),
        logo_url: client.logo_url.filter(|u| u.starts_with("https://")),
        homepage: client.homepage,
        policy_uri: client.policy_uri,
        tos_uri: client.tos_uri,
        allowed_since,
    })
}

/// What happens to a request now.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Issue a code for the signed-in person.
    Issue,
    /// The person must sign in (again).
    SignIn,
    /// The person must allow the app.
    Consent,
    /// Refused without asking (prompt=none, or an unmet acr): sent back to
    /// the client.
    Refuse(ErrorCode, &'static str),
}

/// Decides from the request, the browser's session and any remembered
/// consent (see `authorize::decide`).
pub async fn decide(
    p: Provider<'_>, req: &AuthorizationRequest, session: Option<&Session>, now: Timestamp,
) -> StoreResult<Decision> {
    let consent = match session {
        Some(s) => p.store.get_consent(&s.user_id, &req.client_id).await?,
        None => None,
    };
    let can_mfa = match session {
        Some(s) if req.require_mfa => p.store.get_totp(&s.user_id).await?.is_some(),
        _ => false,
    };
    Ok(match authorize::decide(req, session, consent.as_deref(), can_mfa, now) {
        Ok(Next::Issue) => Decision::Issue,
        Ok(Next::Login) => Decision::SignIn,
        Ok(Next::Consent) => Decision::Consent,
        Err(ErrorCode::LoginRequired) => Decision::Refuse(ErrorCode::LoginRequired, "the user is not signed in"),
        Err(ErrorCode::ConsentRequired) => {
            Decision::Refuse(ErrorCode::ConsentRequired, "the user has not approved this client")
        }
        Err(ErrorCode::UnmetAuthenticationRequirements) => Decision::Refuse(
            ErrorCode::UnmetAuthenticationRequirements,
            "multi-factor authentication was requested and the user cannot provide it",
        ),
        Err(code) => Decision::Refuse(code, "the request needs interaction"),
    })
}

/// The scopes to show on the consent page: the admin scope only to
/// administrators, since nobody else is ever granted it.
pub fn scopes_to_ask(req: &AuthorizationRequest, role: Role) -> Vec<String> {
    req.scopes.iter().filter(|s| s.as_str() != scopes::ADMIN || role == Role::Admin).cloned().collect()
}

/// What each scope lets the app do, in words for the consent page: OpenID
/// scopes by their description, an API's scopes by the API's name.
pub async fn describe(p: Provider<'_>, asked: &[String], resources: &[String]) -> StoreResult<Vec<(String, String)>> {
    let apis = p.store.list_apis().await?;
    let mut out = Vec::new();
    for s in asked {
        if let Some(words) = scopes::describe(s) {
            out.push((s.clone(), words.to_string()));
        } else if let Some(api) = apis.iter().find(|a| resources.contains(&a.identifier) && a.scopes.contains(s)) {
            out.push((s.clone(), format!("Use {} on your behalf ({s})", api.name)));
        }
    }
    Ok(out)
}

/// Remembers that the person allowed the app the request's scopes, on top
/// of what they allowed before.
pub async fn allow(
    p: Provider<'_>, user_id: &str, req: &AuthorizationRequest, origin: Origin<'_>, now: Timestamp,
) -> StoreResult<()> {
    let mut granted = p.store.get_consent(user_id, &req.client_id).await?.unwrap_or_default();
    for s in &req.scopes {
        if !granted.contains(s) {
            granted.push(s.clone());
        }
    }
    p.store.put_consent(user_id, &req.client_id, &granted, now).await?;
    let event =
        origin.event("consent.grant", "success", Some(user_id)).client(&req.client_id).detail(granted.join(" "));
    audit::record(p.store, now, event).await;
    Ok(())
}

/// Records that the person refused; the caller sends `access_denied` back.
pub async fn refuse(p: Provider<'_>, user_id: &str, req: &AuthorizationRequest, origin: Origin<'_>, now: Timestamp) {
    let event =
        origin.event("consent.grant", "denied", Some(user_id)).client(&req.client_id).detail(req.scopes.join(" "));
    audit::record(p.store, now, event).await;
}

/// Issues a code (and its grant) for the request and the signed-in person;
/// returns where to send the browser.
pub async fn issue_code(
    p: Provider<'_>, req: &AuthorizationRequest, session: &Session, now: Timestamp,
) -> Result<String, OAuthError> {
    let mut scopes = req.scopes.clone();
    // The admin scope goes to administrators only; for others it is dropped
    // like any scope the client may not have.
    if scopes.iter().any(|s| s == scopes::ADMIN) {
        let is_admin = p.store.get_user(&session.user_id).await?.is_some_and(|u| u.role == Role::Admin);
        if !is_admin {
            scopes.retain(|s| s != scopes::ADMIN);
        }
    }
    let record = CodeRecord {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        redirect_uri_sent: req.redirect_uri_sent,
        user_id: session.user_id.clone(),
        scopes,
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        expires_at: now + CODE_TTL,
        grant_id: GrantId::generate(),
        dpop_jkt: req.dpop_jkt.clone(),
        resources: req.resources.clone(),
    };
    let code = authorization_code::mint(p, &record, now).await?;
    Ok(authorize::success_redirect(&req.redirect_uri, &code, req.state.as_deref(), &p.config.issuer))
}

/// The redirect carrying an error back to the request's client.
pub fn error_redirect(
    p: Provider<'_>, req: &AuthorizationRequest, code: ErrorCode, description: &'static str,
) -> String {
    authorize::error_redirect(
        &req.redirect_uri,
        req.state.as_deref(),
        &p.config.issuer,
        &OAuthError::new(code, description),
    )
}
