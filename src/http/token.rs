//! The token endpoint (RFC 6749 §3.2), revocation (RFC 7009) and
//! introspection (RFC 7662): all authenticate the client the same way.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::extract::{ClientIp, ProtocolParams};
use crate::app::AppState;
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::client_auth;
use crate::oauth::clients::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, SUPPORTED_GRANTS,
};
use crate::oauth::grants::{authorization_code, client_credentials, refresh_token};
use crate::oauth::params::Params;
use crate::oauth::{introspection, revocation};
use crate::store::Client;

async fn authenticated_client(
    state: &AppState,
    headers: &HeaderMap,
    params: &Params,
    ip: Option<&str>,
) -> Result<Client, OAuthError> {
    params.check_unique()?;
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let creds = client_auth::extract(authorization, params)?;
    client_auth::authenticate(state, &creds, ip).await
}

/// RFC 6749 §5.1: responses with tokens MUST NOT be cached.
fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    ProtocolParams(params): ProtocolParams,
) -> Response {
    let result = async {
        let client = authenticated_client(&state, &headers, &params, ip.as_deref()).await?;
        let grant_type = params.require("grant_type")?;
        if !SUPPORTED_GRANTS.contains(&grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            ));
        }
        if !client.grant_types.iter().any(|g| g == grant_type) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client may not use this grant type",
            ));
        }
        let now = state.now();
        match grant_type {
            GRANT_AUTHORIZATION_CODE => authorization_code::redeem(&state, &client, &params, now).await,
            GRANT_REFRESH_TOKEN => refresh_token::refresh(&state, &client, &params, now).await,
            GRANT_CLIENT_CREDENTIALS => client_credentials::grant(&state, &client, &params, now).await,
            _ => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )),
        }
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    ProtocolParams(params): ProtocolParams,
) -> Response {
    let result = async {
        let client = authenticated_client(&state, &headers, &params, ip.as_deref()).await?;
        let token = params.require("token")?;
        revocation::revoke(&state, &client, token, state.now()).await
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}

pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    ProtocolParams(params): ProtocolParams,
) -> Response {
    let result = async {
        let client = authenticated_client(&state, &headers, &params, ip.as_deref()).await?;
        // RFC 7662 §4: callers must authenticate; a public client cannot.
        if client.public {
            return Err(OAuthError::invalid_client("public clients may not introspect tokens"));
        }
        let token = params.require("token")?;
        Ok(introspection::introspect(&state, &client, token, state.now()).await)
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}
