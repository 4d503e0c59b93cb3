//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1): checking
//! it, deciding what the person must do next, and building the redirect back.

use serde::{Deserialize, Serialize};
use url::Url;

use super::params::Params;
use super::{apis, par, pkce, redirect_uri, request_object, scopes};
use crate::clock::Timestamp;
use crate::error::{ErrorCode, OAuthError, PageError};
use crate::oauth::Provider;
use crate::store::{Client, ClientId, Session};

/// How long a pending authorization request waits for the person to sign
/// in and consent.
pub const PENDING_TTL: i64 = 30 * 60;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
    pub select_account: bool,
}

/// A checked authorization request, kept in short-lived state while the
/// person signs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub client_name: String,
    pub skip_consent: bool,
    pub redirect_uri: String,
    /// Whether redirect_uri was in the request: then the token request must
    /// repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The subject of a valid id_token_hint.
    pub hint_sub: Option<String>,
    pub created_at: Timestamp,
    /// The person signed in during this request, which satisfies
    /// prompt=login, prompt=select_account and max_age.
    pub login_done: bool,
    /// `acr_values` asked for multi-factor authentication ([`ACR_MFA`]).
    #[serde(default)]
    pub require_mfa: bool,
    /// RFC 9449 §10: the DPoP key the code is bound to.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    /// RFC 8707: the APIs (identifiers) the tokens are for.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// The `acr` value for a sign-in with two factors (password or GitHub, then
/// a TOTP or backup code): the OpenID PAPE multi-factor policy URI, which
/// relying parties already know. Requested with `acr_values`; carried in the
/// ID token's `acr` claim.
pub const ACR_MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// A refused request: before the client and redirect URI are proven, a page
/// (never a redirect: RFC 6749 §4.1.2.1); after, an error sent back to the
/// client.
#[derive(Debug)]
pub enum Rejection {
    Page(PageError),
    Redirect(String),
}

impl From<PageError> for Rejection {
    fn from(e: PageError) -> Self {
        Rejection::Page(e)
    }
}

/// The redirect carrying an error to the client, with `state` and `iss`
/// (RFC 9207).
pub fn error_redirect(redirect_uri: &str, state: Option<&str>, issuer: &str, err: &OAuthError) -> String {
    let mut pairs = vec![("error", err.code.as_str()), ("error_description", err.description.as_ref())];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    append_query(redirect_uri, &pairs)
}

pub fn success_redirect(redirect_uri: &str, code: &str, state: Option<&str>, issuer: &str) -> String {
    let mut pairs = vec![("code", code)];
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    pairs.push(("iss", issuer));
    append_query(redirect_uri, &pairs)
}

/// Adds parameters to a URI, keeping any query it already has (RFC 6749
/// §3.1.2: the redirect URI's query component MUST be retained).
fn append_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

/// How a request reached /authorize.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// Pushed first (RFC 9126), so authenticated and kept server-side.
    pub pushed: bool,
    /// Carried in a signed request object (RFC 9101).
    pub signed: bool,
}

/// Why a request is refused.
#[derive(Debug)]
pub enum Invalid {
    /// Before the client and its redirect URI are proven: shown, never sent
    /// to an unchecked address.
    Unproven { heading: &'static str, message: String, code: ErrorCode },
    /// After: the error goes back to the client.
    Proven { redirect_uri: String, state: Option<String>, error: OAuthError },
    /// A backend failed.
    Failed(OAuthError),
}

impl Invalid {
    /// The error as a direct answer (a pushed request, RFC 9126 §2.3).
    pub fn into_oauth(self) -> OAuthError {
        match self {
            Invalid::Unproven { message, code, .. } => OAuthError::new(code, message),
            Invalid::Proven { error, .. } => error,
            Invalid::Failed(e) => e,
        }
    }

    fn into_rejection(self, issuer: &str) -> Rejection {
        match self {
            Invalid::Unproven { heading, message, code } => {
                Rejection::Page(PageError::new(axum::http::StatusCode::BAD_REQUEST, heading, message).with_code(code))
            }
            Invalid::Proven { redirect_uri, state, error } => {
                Rejection::Redirect(error_redirect(&redirect_uri, state.as_deref(), issuer, &error))
            }
            Invalid::Failed(e) if e.code == ErrorCode::TemporarilyUnavailable => {
                Rejection::Page(PageError::unavailable(e.detail.unwrap_or_default()))
            }
            Invalid::Failed(e) => Rejection::Page(PageError::server(e.detail.unwrap_or_default())),
        }
    }
}

fn unproven(heading: &'static str, message: impl Into<String>, code: ErrorCode) -> Invalid {
    Invalid::Unproven { heading, message: message.into(), code }
}

/// Checks an authorization request and returns it with its client: a
/// pushed request taken by its `request_uri`, a signed request object, or
/// plain parameters.
pub async fn validate(
    p: Provider<'_>, params: &Params, now: Timestamp,
) -> Result<(AuthorizationRequest, Client), Rejection> {
    let issuer = &p.config.issuer;
    let reject = |e: Invalid| e.into_rejection(issuer);
    let Some(client_id) = params.get("client_id").map(ClientId::from) else {
        return Err(reject(unproven(
            "This link is missing information",
            "The app did not say who it is (client_id is missing).",
            ErrorCode::InvalidRequest,
        )));
    };
    let client = p.store.get_client(&client_id).await.map_err(PageError::from)?.ok_or_else(|| {
        reject(unproven(
            "Unknown application",
            "The app that sent you here is not registered with this server.",
            ErrorCode::InvalidRequest,
        ))
    })?;
    let (effective, context) = match (params.get("request_uri"), params.get("request")) {
        (Some(_), Some(_)) => {
            return Err(reject(unproven(
                "This link is malformed",
                "The request carries both request and request_uri.",
                ErrorCode::InvalidRequest,
            )));
        }
        (Some(uri), None) => {
            let pushed = par::take(p, uri, &client.id, now).await.map_err(|e| reject(Invalid::Failed(e)))?;
            let Some(pushed) = pushed else {
                return Err(reject(unproven(
                    "This sign-in link has expired",
                    "The app's request is unknown, was already used, or is more than a minute old. Go back to the app and start again.",
                    ErrorCode::InvalidRequestUri,
                )));
            };
            (Params::from_pairs(pushed.params), Context { pushed: true, signed: pushed.signed })
        }
        (None, Some(token)) => match request_object::open(p, &client, token, now).await {
            Ok(inner) => (inner, Context { pushed: false, signed: true }),
            // RFC 9101 §6.3: sent back when the redirect URI outside the
            // object is one the client registered; shown otherwise.
            Err(why) => {
                let native = client.app_type.as_deref() == Some("native");
                let error = OAuthError::new(ErrorCode::InvalidRequestObject, why.clone());
                return Err(reject(match params.get("redirect_uri") {
                    Some(uri) if redirect_uri::matches(&client.redirect_uris, uri, native) => Invalid::Proven {
                        redirect_uri: uri.to_string(),
                        state: params.get("state").map(str::to_string),
                        error,
                    },
                    _ => unproven(
                        "This app's request could not be checked",
                        format!("The signed request object is not valid: {why}."),
                        ErrorCode::InvalidRequestObject,
                    ),
                }));
            }
        },
        (None, None) => (params.clone(), Context::default()),
    };
    let request = check(p, &client, &effective, context, now).await.map_err(reject)?;
    Ok((request, client))
}

/// Checks the parameters of an authorization request from `client`: the
/// redirect URI first (until it is proven, errors are shown, not sent), then
/// everything else.
pub async fn check(
    p: Provider<'_>, client: &Client, params: &Params, context: Context, now: Timestamp,
) -> Result<AuthorizationRequest, Invalid> {
    let fapi = request_object::fapi(p, client);
    let (redirect_uri, redirect_uri_sent) = match params.get("redirect_uri") {
        Some(uri)
            if redirect_uri::matches(&client.redirect_uris, uri, client.app_type.as_deref() == Some("native")) =>
        {
            (uri.to_string(), true)
        }
        Some(_) => {
            return Err(unproven(
                "This app sent you to the wrong place",
                "The redirect address in this link is not registered for the app, so we stopped here to keep your account safe.",
                ErrorCode::InvalidRequest,
            ));
        }
        // OIDC Core §3.1.2.1 requires redirect_uri; plain OAuth may omit it
        // when exactly one is registered (RFC 6749 §3.1.2.3).
        None if client.redirect_uris.len() == 1
            && !fapi
            && !params.get("scope").unwrap_or("").split(' ').any(|s| s == scopes::OPENID) =>
        {
            (client.redirect_uris[0].clone(), false)
        }
        None => {
            return Err(unproven(
                "This link is missing information",
                "The app did not say where to return you (redirect_uri is missing).",
                ErrorCode::InvalidRequest,
            ));
        }
    };
    if params.check_unique().is_err() {
        return Err(unproven(
            "This link is malformed",
            "A parameter appears more than once in the request.",
            ErrorCode::InvalidRequest,
        ));
    }

    // Step two: every other problem goes back to the client.
    let req_state = params.get("state").map(str::to_string);
    let fail = |code: ErrorCode, description: &'static str| Invalid::Proven {
        redirect_uri: redirect_uri.clone(),
        state: req_state.clone(),
        error: OAuthError::new(code, description),
    };
    if !client.grant_types.iter().any(|g| g == super::clients::GRANT_AUTHORIZATION_CODE) {
        return Err(fail(ErrorCode::UnauthorizedClient, "this client may not use the authorization code grant"));
    }
    // RFC 9126 §5-6, RFC 9101 §10.5, FAPI 2.0 §5.3.1.2: how the request
    // must reach us.
    if !context.pushed && (client.require_pushed_authorization_requests || p.config.require_par || fapi) {
        return Err(fail(ErrorCode::InvalidRequest, "this client must push its authorization requests (PAR)"));
    }
    if !context.signed && client.require_signed_request_object {
        return Err(fail(ErrorCode::InvalidRequest, "this client must send a signed request object"));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(fail(ErrorCode::UnsupportedResponseType, "only response_type=code is supported"));
        }
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
    }
    if let Some(mode) = params.get("response_mode") {
        if mode != "query" {
            return Err(fail(ErrorCode::InvalidRequest, "only response_mode=query is supported"));
        }
    }
    if params.get("request").is_some() || params.get("request_uri").is_some() {
        return Err(fail(ErrorCode::InvalidRequest, "a request cannot hold another request"));
    }
    if params.get("registration").is_some() {
        return Err(fail(ErrorCode::RegistrationNotSupported, "the registration parameter is not supported"));
    }
    // RFC 8707: the APIs the tokens are for; their scopes may be asked.
    let resources = apis::resolve(p, client, params.all("resource")).await.map_err(|error| {
        if matches!(error.code, ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError) {
            Invalid::Failed(error)
        } else {
            Invalid::Proven { redirect_uri: redirect_uri.clone(), state: req_state.clone(), error }
        }
    })?;
    let api_scopes: Vec<String> = resources.iter().flat_map(|a| a.scopes.iter().cloned()).collect();
    let requested = params.get("scope").unwrap_or("");
    let granted_scopes = scopes::parse_for(requested, &client.scopes, &api_scopes);
    if !requested.trim().is_empty() && granted_scopes.is_empty() {
        return Err(fail(ErrorCode::InvalidScope, "none of the requested scopes is available to this client"));
    }
    let code_challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
        (Some(challenge), method) => {
            if let Err(why) = pkce::check_challenge(challenge, method) {
                return Err(fail(ErrorCode::InvalidRequest, why));
            }
            Some(challenge.to_string())
        }
        (None, Some(_)) => {
            return Err(fail(ErrorCode::InvalidRequest, "code_challenge_method without code_challenge"));
        }
        // RFC 9700 §2.1.1: public clients MUST use PKCE; FAPI 2.0 §5.3.1.2:
        // every client does.
        (None, None) if client.public || fapi => {
            return Err(fail(ErrorCode::InvalidRequest, "PKCE (code_challenge with S256) is required for this client"));
        }
        (None, None) => None,
    };
    let mut prompt = Prompt::default();
    for p in params.get("prompt").unwrap_or("").split(' ').filter(|s| !s.is_empty()) {
        match p {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "select_account" => prompt.select_account = true,
            _ => return Err(fail(ErrorCode::InvalidRequest, "unsupported prompt value")),
        }
    }
    // OIDC Core §3.1.2.1: none with any other value is an error.
    if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
        return Err(fail(ErrorCode::InvalidRequest, "prompt=none cannot be combined with other values"));
    }
    let max_age = match params.get("max_age") {
        Some(raw) => match raw.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => {
                return Err(fail(ErrorCode::InvalidRequest, "max_age must be a non-negative integer"));
            }
        },
        None => None,
    };
    let hint_sub = match params.get("id_token_hint") {
        Some(hint) => {
            // An expired ID token is still a fine hint (OIDC Core §3.1.2.1);
            // the signature and issuer must hold.
            let claims: serde_json::Value = p.keys.verify(hint, None, &p.config.issuer).await.map_err(|_| {
                fail(ErrorCode::InvalidRequest, "id_token_hint is not a valid ID token from this issuer")
            })?;
            claims.get("sub").and_then(|s| s.as_str()).map(str::to_string)
        }
        None => None,
    };
    // RFC 9449 §10: the code is bound to this DPoP key (a SHA-256 JWK
    // thumbprint, 43 base64url characters).
    let dpop_jkt = match params.get("dpop_jkt") {
        Some(jkt) if jkt.len() == 43 && crate::crypto::b64url_decode(jkt).is_some() => Some(jkt.to_string()),
        Some(_) => return Err(fail(ErrorCode::InvalidRequest, "dpop_jkt is not a JWK SHA-256 thumbprint")),
        None => None,
    };
    let request = AuthorizationRequest {
        client_id: client.id.clone(),
        client_name: client.name.clone(),
        skip_consent: client.skip_consent,
        redirect_uri,
        redirect_uri_sent,
        scopes: granted_scopes,
        state: req_state.clone(),
        nonce: params.get("nonce").map(str::to_string),
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(|h| h.chars().take(254).collect()),
        hint_sub,
        created_at: now,
        login_done: false,
        require_mfa: params.get("acr_values").is_some_and(|v| v.split_whitespace().any(|a| a == ACR_MFA)),
        dpop_jkt,
        resources: resources.into_iter().map(|a| a.identifier).collect(),
    };
    Ok(request)
}

/// What the person must do before a code can be issued.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Login,
    Consent,
    Issue,
}

/// The signed-in person must prove themselves again: prompt=login, or a
/// sign-in older than max_age (OIDC Core §3.1.2.1, errata 2: max_age=0 is
/// prompt=login).
pub fn wants_fresh_sign_in(req: &AuthorizationRequest, session: &Session, now: Timestamp) -> bool {
    req.prompt.login || req.max_age.is_some_and(|max| max == 0 || now - session.auth_time > max)
}

/// The request names someone other than the signed-in person (id_token_hint).
fn names_someone_else(req: &AuthorizationRequest, session: &Session) -> bool {
    req.hint_sub.as_deref().is_some_and(|sub| sub != session.user_id)
}

/// `prompt=select_account` with a signed-in session: the person may go on
/// with that account instead of signing in again, unless the request also
/// wants a fresh sign-in or names someone else.
pub fn may_continue_as(req: &AuthorizationRequest, session: &Session, now: Timestamp) -> bool {
    req.prompt.select_account && !wants_fresh_sign_in(req, session, now) && !names_someone_else(req, session)
}

/// The signed-in person is asked to sign in again as themselves (not to
/// switch accounts): the page says who and fills in the name.
pub fn asks_to_sign_in_again(req: &AuthorizationRequest, session: &Session, now: Timestamp) -> bool {
    wants_fresh_sign_in(req, session, now) && !names_someone_else(req, session)
}

/// Decides the next step from the request, the browser session and any
/// remembered consent. `Err` carries the error for prompt=none.
///
/// `can_mfa`: the signed-in account has a second factor, for requests that
/// demand one.
pub fn decide(
    req: &AuthorizationRequest, session: Option<&Session>, consent: Option<&[String]>, can_mfa: bool, now: Timestamp,
) -> Result<Next, ErrorCode> {
    let needs_login = match session {
        None => true,
        Some(s) => {
            !req.login_done
                && (req.prompt.select_account || wants_fresh_sign_in(req, s, now) || names_someone_else(req, s))
        }
    };
    if needs_login {
        return if req.prompt.none { Err(ErrorCode::LoginRequired) } else { Ok(Next::Login) };
    }
    if req.require_mfa && session.is_some_and(|s| !s.amr.iter().any(|a| a == "mfa")) {
        // Step up: sign in again, which asks for the second factor. An
        // account without one, or a sign-in that still lacks it, cannot
        // meet the request.
        if !can_mfa || req.login_done {
            return Err(ErrorCode::UnmetAuthenticationRequirements);
        }
        return if req.prompt.none { Err(ErrorCode::InteractionRequired) } else { Ok(Next::Login) };
    }
    let remembered = consent.is_some_and(|granted| scopes::covers(granted, &req.scopes));
    let needs_consent = req.prompt.consent || !(req.skip_consent || remembered);
    if needs_consent {
        return if req.prompt.none { Err(ErrorCode::ConsentRequired) } else { Ok(Next::Consent) };
    }
    Ok(Next::Issue)
}

pub fn pending_key(id: &str) -> String {
    format!("authreq:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "c".into(),
            client_name: "App".into(),
            skip_consent: false,
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_sent: true,
            scopes: vec!["openid".into(), "email".into()],
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
            hint_sub: None,
            created_at: 1000,
            login_done: false,
            require_mfa: false,
            dpop_jkt: None,
            resources: Vec::new(),
        }
    }

    fn session(auth_time: Timestamp) -> Session {
        Session {
            id_hash: "h".into(),
            user_id: "u1".into(),
            auth_time,
            amr: vec!["pwd".into()],
            created_at: auth_time,
            last_seen_at: auth_time,
            expires_at: auth_time + 1000,
            ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn login_then_consent_then_issue() {
        let req = request();
        let granted = vec!["openid".to_string(), "email".to_string()];
        assert_eq!(decide(&req, None, None, false, 1000), Ok(Next::Login));
        assert_eq!(decide(&req, Some(&session(990)), None, false, 1000), Ok(Next::Consent));
        assert_eq!(decide(&req, Some(&session(990)), Some(&granted), false, 1000), Ok(Next::Issue));
        assert_eq!(
            decide(&req, Some(&session(990)), Some(&granted[..1]), false, 1000),
            Ok(Next::Consent),
            "new scope asks again"
        );
    }

    #[test]
    fn prompt_none_errors() {
        let mut req = request();
        req.prompt.none = true;
        assert_eq!(decide(&req, None, None, false, 1000), Err(ErrorCode::LoginRequired));
        assert_eq!(decide(&req, Some(&session(990)), None, false, 1000), Err(ErrorCode::ConsentRequired));
    }

    #[test]
    fn prompt_login_and_max_age_until_done() {
        let mut req = request();
        req.skip_consent = true;
        req.prompt.login = true;
        assert_eq!(decide(&req, Some(&session(990)), None, false, 1000), Ok(Next::Login));
        req.login_done = true;
        assert_eq!(decide(&req, Some(&session(990)), None, false, 1000), Ok(Next::Issue));
        let mut req = request();
        req.skip_consent = true;
        req.max_age = Some(5);
        assert_eq!(decide(&req, Some(&session(990)), None, false, 1000), Ok(Next::Login));
        assert_eq!(decide(&req, Some(&session(996)), None, false, 1000), Ok(Next::Issue));
        // max_age=0 asks for a sign-in even right after one, once.
        req.max_age = Some(0);
        assert_eq!(decide(&req, Some(&session(1000)), None, false, 1000), Ok(Next::Login));
        req.login_done = true;
        assert_eq!(decide(&req, Some(&session(1000)), None, false, 1000), Ok(Next::Issue));
    }

    #[test]
    fn hint_for_someone_else_needs_login() {
        let mut req = request();
        req.skip_consent = true;
        req.hint_sub = Some("u2".into());
        assert_eq!(decide(&req, Some(&session(990)), None, false, 1000), Ok(Next::Login));
        req.hint_sub = Some("u1".into());
        assert_eq!(decide(&req, Some(&session(990)), None, false, 1000), Ok(Next::Issue));
    }

    #[test]
    fn redirects_keep_query_and_carry_iss() {
        let url = success_redirect("https://app.example/cb?x=1", "abc", Some("s t"), "https://id.example");
        assert_eq!(url, "https://app.example/cb?x=1&code=abc&state=s+t&iss=https%3A%2F%2Fid.example");
        let err = OAuthError::new(ErrorCode::AccessDenied, "no");
        let url = error_redirect("https://app.example/cb", None, "https://id.example", &err);
        assert!(url.starts_with("https://app.example/cb?error=access_denied&error_description=no&iss="));
    }
}
