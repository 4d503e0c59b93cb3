//! The token endpoint (RFC 6749 §3.2), revocation (RFC 7009) and
//! introspection (RFC 7662): all authenticate the client the same way (the
//! `AuthenticatedClient` extractor).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::extract::{AuthenticatedClient, ClientIp, DpopHeaders, NoStore, no_store_ok, with_dpop_nonce};
use super::routes;
use crate::app::AppState;
use crate::audit::Origin;
use crate::error::OAuthError;
use crate::oauth::grants::{self, DpopInput};
use crate::oauth::{introspection, revocation};

/// POST /token
pub async fn token(
    State(state): State<AppState>, DpopHeaders(proofs): DpopHeaders, ClientIp(ip): ClientIp,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<Response, OAuthError> {
    let url = format!("{}{}", state.config.issuer, routes::TOKEN);
    let headers: Vec<&str> = proofs.iter().map(String::as_str).collect();
    let dpop = DpopInput { headers: &headers, url: &url };
    let origin = Origin { ip: ip.as_deref(), user_agent: None };
    let answer = grants::exchange(state.provider(), &client, &params, &dpop, origin, state.now()).await?;
    Ok(with_dpop_nonce(&state, NoStore(answer).into_response()))
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
