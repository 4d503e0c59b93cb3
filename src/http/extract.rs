//! Our extractors: their rejections are our error types, so a malformed form
//! becomes `invalid_request` (or a friendly page), never axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};

use crate::app::AppState;
use crate::error::{OAuthError, PageError};
use crate::oauth::params::Params;

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
    let body = Bytes::from_request(req, state)
        .await
        .map_err(|_| "the request body could not be read")?;
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
        read_params(req, state)
            .await
            .map(ProtocolParams)
            .map_err(OAuthError::invalid_request)
    }
}

/// Parameters of a page or form meant for people; a bad request becomes a page.
pub struct PageParams(pub Params);

impl FromRequest<AppState> for PageParams {
    type Rejection = PageError;
    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        read_params(req, state)
            .await
            .map(PageParams)
            .map_err(PageError::bad_request)
    }
}

/// The client's IP address: the TCP peer, or, when the peer is one of the
/// configured trusted proxies, the right-most X-Forwarded-For entry that is
/// not itself a trusted proxy (entries further left are the client's word).
pub fn client_ip(parts: &axum::http::request::Parts, trusted: &[std::net::IpAddr]) -> Option<String> {
    use axum::extract::ConnectInfo;
    let peer = parts
        .extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())?;
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
    let ip = forwarded
        .iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .copied()
        .unwrap_or(peer);
    Some(ip.to_string())
}

/// The client's IP address as an extractor (see [`client_ip`]).
pub struct ClientIp(pub Option<String>);

impl axum::extract::FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, &state.config.trusted_proxies)))
    }
}
