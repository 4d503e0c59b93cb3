//! The pushed authorization request endpoint (RFC 9126; rules in
//! `oauth::par`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::{AuthenticatedClient, DpopHeaders, NoStore, with_dpop_nonce};
use super::routes;
use crate::app::AppState;
use crate::error::OAuthError;
use crate::oauth::grants::DpopInput;
use crate::oauth::par;

/// POST /par: 201 with the request_uri (RFC 9126 §2.2).
pub async fn push(
    State(state): State<AppState>, DpopHeaders(proofs): DpopHeaders,
    AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<Response, OAuthError> {
    let url = format!("{}{}", state.config.issuer, routes::PAR);
    let headers: Vec<&str> = proofs.iter().map(String::as_str).collect();
    let dpop = DpopInput { headers: &headers, url: &url };
    let pushed = par::push(state.provider(), &client, &params, &dpop, state.now()).await?;
    Ok(with_dpop_nonce(&state, (StatusCode::CREATED, NoStore(pushed)).into_response()))
}
