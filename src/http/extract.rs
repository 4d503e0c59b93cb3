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
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !form {
        return Err("the body must be application/x-www-form-urlencoded");
    }
    let body = Bytes::from_request(req, state)
        .await
        .map_err(|_| "the request body could not be read")?;
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
