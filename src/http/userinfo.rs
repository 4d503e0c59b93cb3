//! The UserInfo endpoint (OIDC Core §5.3), bearer tokens per RFC 6750.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::extract::{Bearer, NoStore, with_dpop_nonce};
use crate::accounts::users;
use crate::app::AppState;
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::dpop::Scheme;
use crate::oauth::scopes;
use crate::oauth::tokens;

/// GET or POST /userinfo
pub async fn userinfo(State(state): State<AppState>, bearer: Bearer) -> Result<Response, OAuthError> {
    let claims = tokens::validate_presented(state.provider(), &bearer.presented(), state.now()).await?;
    let granted: Vec<String> = claims.scopes().map(str::to_string).collect();
    if !granted.iter().any(|s| s == scopes::OPENID) {
        return Err(OAuthError::new(ErrorCode::InsufficientScope, "the access token was not granted the openid scope"));
    }
    // The client's tokens end with the client.
    if state.store.get_client(&claims.client_id).await?.is_none() {
        return Err(OAuthError::invalid_token("the client of this token is gone"));
    }
    let user = users::enabled(&*state.store, &claims.sub)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the account behind this token is gone"))?;
    let answer = NoStore(tokens::user_claims(&user, &granted)).into_response();
    Ok(if bearer.scheme == Scheme::DPoP { with_dpop_nonce(&state, answer) } else { answer })
}
