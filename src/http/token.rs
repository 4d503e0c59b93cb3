//! The token endpoint (RFC 6749 §3.2), revocation (RFC 7009) and
//! introspection (RFC 7662): all authenticate the client the same way (the
//! `AuthenticatedClient` extractor).

use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use super::extract::{AuthenticatedClient, NoStore, no_store_ok};
use crate::app::AppState;
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::clients::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN, SUPPORTED_GRANTS,
};
use crate::oauth::grants::{authorization_code, client_credentials, refresh_token};
use crate::oauth::tokens::TokenResponse;
use crate::oauth::{introspection, revocation};

/// POST /token
pub async fn token(
    State(state): State<AppState>, AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<NoStore<TokenResponse>, OAuthError> {
    let grant_type = params.require("grant_type")?;
    if !SUPPORTED_GRANTS.contains(&grant_type) {
        return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "this grant type is not supported"));
    }
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type"));
    }
    let (p, now) = (state.provider(), state.now());
    let answer = match grant_type {
        GRANT_AUTHORIZATION_CODE => authorization_code::redeem(p, &client, &params, now).await,
        GRANT_REFRESH_TOKEN => refresh_token::refresh(p, &client, &params, now).await,
        GRANT_CLIENT_CREDENTIALS => client_credentials::grant(p, &client, &params, now).await,
        _ => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "this grant type is not supported")),
    };
    answer.map(NoStore)
}

/// POST /revoke
pub async fn revoke(
    State(state): State<AppState>, AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<Response, OAuthError> {
    let token = params.require("token")?;
    revocation::revoke(state.provider(), &client, token, state.now()).await?;
    Ok(no_store_ok())
}

/// POST /introspect
pub async fn introspect(
    State(state): State<AppState>, AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<NoStore<Value>, OAuthError> {
    // RFC 7662 §4: callers must authenticate; a public client cannot.
    if client.public {
        return Err(OAuthError::invalid_client("public clients may not introspect tokens"));
    }
    let token = params.require("token")?;
    Ok(NoStore(introspection::introspect(state.provider(), &client, token, state.now()).await))
}
