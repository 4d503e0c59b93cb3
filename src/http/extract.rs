//! Our extractors: each carries one piece of ceremony (the parameters, the
//! signed-in person, the administrator, the CSRF check, the bearer token,
//! the authenticated client), and its rejection is already our error (a
//! friendly page, a redirect to sign in, or an RFC 6749 error), so a handler
//! says only what is particular to it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::browser::Browser;
use super::pages::see_other;
use super::routes;
use crate::app::AppState;
use crate::error::{OAuthError, PageError};
use crate::oauth::client_auth;
use crate::oauth::dpop::{Presented, Scheme};
use crate::oauth::params::Params;
use crate::store::{Client, Role, Session, User};

/// Reads parameters from the query (GET) or from an
/// `application/x-www-form-urlencoded` body (POST).
async fn read_params(req: Request, state: &AppState) -> Result<Params, &'static str> {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return Ok(Params::parse(req.uri().query().unwrap_or("")));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    let form = content_type.as_deref() == Some("application/x-www-form-urlencoded");
    let untyped = content_type.is_none();
    if !form && !untyped {
        return Err("the body must be application/x-www-form-urlencoded");
    }
    let body = Bytes::from_request(req, state).await.map_err(|_| "the request body could not be read")?;
    // A POST with no body and no Content-Type carries no parameters: what
    // openid-client sends to UserInfo with the token in the Authorization
    // header (OIDC Core §5.3.1).
    if untyped {
        if body.is_empty() {
            return Ok(Params::default());
        }
        return Err("the body must be application/x-www-form-urlencoded");
    }
    let text = std::str::from_utf8(&body).map_err(|_| "the body is not valid UTF-8")?;
    Ok(Params::parse(text))
}

/// Protocol parameters; a bad request becomes an RFC 6749 JSON error.
pub struct ProtocolParams(pub Params);

impl FromRequest<AppState> for ProtocolParams {
    type Rejection = OAuthError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, OAuthError> {
        read_params(req, state).await.map(ProtocolParams).map_err(OAuthError::invalid_request)
    }
}

/// Parameters of a page meant for people; a bad request becomes a page.
pub struct PageParams(pub Params);

impl FromRequest<AppState> for PageParams {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        read_params(req, state).await.map(PageParams).map_err(PageError::bad_request)
    }
}

/// A form posted from one of our pages, its CSRF token checked (double
/// submit against the browser's cookie); otherwise the form-expired page.
pub struct Form(pub Params);

impl FromRequest<AppState> for Form {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = req.into_parts();
        let browser = Browser::from_request_parts(&mut parts, state).await?;
        let back = same_origin_referer(&parts, &state.config.issuer);
        let PageParams(params) = PageParams::from_request(Request::from_parts(parts, body), state).await?;
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(PageError::form_expired(back));
        }
        Ok(Form(params))
    }
}

/// The page the form was on, when the browser says so and it is ours.
fn same_origin_referer(parts: &Parts, issuer: &str) -> String {
    parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.strip_prefix(issuer))
        .filter(|path| path.starts_with('/') && !path.starts_with("//"))
        .unwrap_or("/")
        .to_string()
}

/// Someone who is not signed in, sent to sign in and back to the page they
/// asked for (a GET's path and query; after a form, the account page).
pub struct ToSignIn(Option<String>);

impl IntoResponse for ToSignIn {
    fn into_response(self) -> Response {
        match self.0 {
            Some(next) => {
                let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                see_other(&format!("{}?next={next}", routes::LOGIN))
            }
            None => see_other(routes::LOGIN),
        }
    }
}

/// Why a page for signed-in people was refused.
pub enum SignInRejection {
    SignIn(ToSignIn),
    Page(PageError),
}

impl IntoResponse for SignInRejection {
    fn into_response(self) -> Response {
        match self {
            SignInRejection::SignIn(r) => r.into_response(),
            SignInRejection::Page(e) => e.into_response(),
        }
    }
}

impl From<PageError> for SignInRejection {
    fn from(e: PageError) -> Self {
        SignInRejection::Page(e)
    }
}

impl From<crate::store::StoreError> for SignInRejection {
    fn from(e: crate::store::StoreError) -> Self {
        SignInRejection::Page(e.into())
    }
}

/// A signed-in person: the browser, its session, and the (enabled) account.
pub struct SignedIn {
    pub browser: Browser,
    pub session: Session,
    pub user: User,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = SignInRejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, SignInRejection> {
        let browser = Browser::from_request_parts(parts, state).await?;
        let to_sign_in = || {
            let next = (parts.method == Method::GET)
                .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_string()))
                .flatten();
            SignInRejection::SignIn(ToSignIn(next))
        };
        let Some(session) = browser.session.clone() else {
            return Err(to_sign_in());
        };
        let user = match state.store.get_user(&session.user_id).await? {
            Some(u) if !u.disabled => u,
            _ => return Err(to_sign_in()),
        };
        Ok(SignedIn { browser, session, user })
    }
}

/// A signed-in administrator; anyone else signed in gets a 403 page.
pub struct Admin(pub SignedIn);

impl FromRequestParts<AppState> for Admin {
    type Rejection = SignInRejection;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, SignInRejection> {
        let signed_in = SignedIn::from_request_parts(parts, state).await?;
        if signed_in.user.role != Role::Admin {
            return Err(SignInRejection::Page(
                PageError::new(
                    StatusCode::FORBIDDEN,
                    "Administrators only",
                    "This page is for administrators of this server.",
                )
                .with_back(routes::ACCOUNT),
            ));
        }
        Ok(Admin(signed_in))
    }
}

/// The client's IP address: the TCP peer, or, when the peer is one of the
/// configured trusted proxies, the right-most X-Forwarded-For entry that is
/// not itself a trusted proxy (entries further left are the client's word).
pub fn client_ip(parts: &Parts, trusted: &[std::net::IpAddr]) -> Option<String> {
    use axum::extract::ConnectInfo;
    let peer = parts.extensions.get::<ConnectInfo<std::net::SocketAddr>>().map(|ConnectInfo(addr)| addr.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer.to_string());
    }
    let forwarded: Vec<std::net::IpAddr> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let ip = forwarded.iter().rev().find(|ip| !trusted.contains(ip)).copied().unwrap_or(peer);
    Some(ip.to_string())
}

/// The client's IP address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub Option<String>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &state.config.trusted_proxies)))
    }
}

/// The token of an `Authorization: Bearer` (RFC 6750 §2.1) or `DPoP` (RFC
/// 9449 §7.1) header, if the header is one.
fn token_header(parts: &Parts) -> Option<Result<(Scheme, String), OAuthError>> {
    let value = parts.headers.get(header::AUTHORIZATION)?;
    let text = value.to_str().ok().unwrap_or("");
    let (scheme, rest) = match text.split_once(' ') {
        Some((s, rest)) if s.eq_ignore_ascii_case("bearer") => (Scheme::Bearer, rest),
        Some((s, rest)) if s.eq_ignore_ascii_case("dpop") => (Scheme::DPoP, rest),
        _ => {
            return Some(Err(OAuthError::invalid_token("an access token is required (Authorization: Bearer or DPoP)")));
        }
    };
    let token = rest.trim();
    if token.is_empty() {
        return Some(Err(OAuthError::invalid_token("the Authorization header carries no token")));
    }
    Some(Ok((scheme, token.to_string())))
}

/// A bearer token in the Authorization header only, when there is one
/// (for JSON bodies: dynamic client registration, where a missing or
/// unusable token is the handler's to judge).
pub struct BearerHeader(pub Option<String>);

impl FromRequestParts<AppState> for BearerHeader {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let token = token_header(parts).and_then(Result::ok).filter(|(s, _)| *s == Scheme::Bearer);
        Ok(BearerHeader(token.map(|(_, t)| t)))
    }
}

/// An access token sent to a protected resource: as Bearer (RFC 6750: the
/// Authorization header, or the `access_token` parameter, never both), or
/// with the DPoP scheme and its proof headers (RFC 9449 §7.1).
pub struct Bearer {
    pub token: String,
    pub scheme: Scheme,
    proofs: Vec<String>,
    method: String,
    url: String,
}

impl Bearer {
    /// The token as `tokens::validate_presented` checks it.
    pub fn presented(&self) -> Presented<'_> {
        Presented {
            token: &self.token,
            scheme: self.scheme,
            proofs: &self.proofs,
            method: &self.method,
            url: &self.url,
        }
    }
}

impl FromRequest<AppState> for Bearer {
    type Rejection = OAuthError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, OAuthError> {
        let (mut parts, body) = req.into_parts();
        let header = token_header(&parts);
        let DpopHeaders(proofs) = DpopHeaders::from_request_parts(&mut parts, state).await?;
        let method = parts.method.as_str().to_string();
        let url = format!("{}{}", state.config.issuer, parts.uri.path());
        let ProtocolParams(params) = ProtocolParams::from_request(Request::from_parts(parts, body), state).await?;
        let (scheme, token) = match (header, params.get("access_token")) {
            (Some(_), Some(_)) => return Err(OAuthError::invalid_request("send the access token one way only")),
            (Some(h), None) => h?,
            (None, Some(t)) => (Scheme::Bearer, t.to_string()),
            (None, None) => {
                return Err(OAuthError::invalid_token("an access token is required (Authorization: Bearer or DPoP)"));
            }
        };
        Ok(Bearer { token, scheme, proofs, method, url })
    }
}

/// The values of the request's `DPoP` headers (RFC 9449 §4.1); more than
/// one is the rule's to refuse.
pub struct DpopHeaders(pub Vec<String>);

impl FromRequestParts<AppState> for DpopHeaders {
    type Rejection = OAuthError;
    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, OAuthError> {
        let values = parts.headers.get_all("dpop").iter();
        let values: Result<Vec<String>, _> = values.map(|v| v.to_str().map(str::to_string)).collect();
        values
            .map(DpopHeaders)
            .map_err(|_| OAuthError::new(crate::error::ErrorCode::InvalidDpopProof, "the DPoP header is not text"))
    }
}

/// A client that authenticated as it is registered to (RFC 6749 §2.3, RFC
/// 7591 `token_endpoint_auth_method`), with the request's parameters.
/// Failures are throttled per client id and IP.
pub struct AuthenticatedClient {
    pub client: Client,
    pub params: Params,
}

impl FromRequest<AppState> for AuthenticatedClient {
    type Rejection = OAuthError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, OAuthError> {
        let (mut parts, body) = req.into_parts();
        let ClientIp(ip) = ClientIp::from_request_parts(&mut parts, state).await.unwrap_or(ClientIp(None));
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        // RFC 7523 §3, RFC 9126 §2: an assertion may be addressed to the
        // issuer, the token endpoint, or the endpoint it is sent to.
        let issuer = &state.config.issuer;
        let (token_url, here) = (format!("{issuer}{}", routes::TOKEN), format!("{issuer}{}", parts.uri.path()));
        let ProtocolParams(params) = ProtocolParams::from_request(Request::from_parts(parts, body), state).await?;
        params.check_unique()?;
        let creds = client_auth::extract(authorization.as_deref(), &params)?;
        let audiences = [issuer.as_str(), &token_url, &here];
        let client =
            client_auth::authenticate(state.provider(), &creds, &audiences, ip.as_deref(), state.now()).await?;
        Ok(AuthenticatedClient { client, params })
    }
}

/// A JSON answer that is never cached: RFC 6749 §5.1 for token responses,
/// and every other answer carrying tokens or personal data.
pub struct NoStore<T>(pub T);

impl<T: Serialize> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut res = Json(self.0).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        res
    }
}

/// When proofs must carry our nonce, every answer hands out the next one
/// (RFC 9449 §8.2), sparing the client a failed request.
pub fn with_dpop_nonce(state: &AppState, mut res: Response) -> Response {
    if state.config.dpop_nonce {
        if let Ok(v) = crate::oauth::dpop::nonce(state.provider(), state.now()).parse() {
            res.headers_mut().insert("dpop-nonce", v);
        }
    }
    res
}

/// An empty 200 that is never cached (RFC 7009 §2.2).
pub fn no_store_ok() -> Response {
    let mut res = StatusCode::OK.into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}
