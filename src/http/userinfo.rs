//! The UserInfo endpoint (OIDC Core §5.3), bearer tokens per RFC 6750.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::extract::ProtocolParams;
use crate::app::AppState;
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::scopes;
use crate::oauth::tokens;

/// The bearer token from the Authorization header or, on POST, the
/// `access_token` form field (RFC 6750 §2.1, §2.2); never both.
fn bearer<'a>(headers: &'a HeaderMap, form: Option<&'a str>) -> Result<&'a str, OAuthError> {
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match (header, form) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the access token one way only")),
        (Some(h), None) => {
            let token = h
                .strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty());
            token.ok_or_else(|| OAuthError::invalid_token("an access token is required (Authorization: Bearer)"))
        }
        (None, Some(t)) => Ok(t),
        (None, None) => Err(OAuthError::invalid_token(
            "an access token is required (Authorization: Bearer)",
        )),
    }
}

pub async fn userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
    ProtocolParams(params): ProtocolParams,
) -> Response {
    let result = async {
        let token = bearer(&headers, params.get("access_token"))?;
        let claims = tokens::validate_access_token(&state, token, state.now()).await?;
        let granted: Vec<String> = claims.scopes().map(str::to_string).collect();
        if !granted.iter().any(|s| s == scopes::OPENID) {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token was not granted the openid scope",
            ));
        }
        // The client's tokens end with the client.
        if state.store.get_client(&claims.client_id).await?.is_none() {
            return Err(OAuthError::invalid_token("the client of this token is gone"));
        }
        let user = state
            .store
            .get_user(&claims.sub)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(|| OAuthError::invalid_token("the account behind this token is gone"))?;
        Ok(tokens::user_claims(&user, &granted))
    }
    .await;
    match result {
        Ok(claims) => {
            let mut res = Json(claims).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => e.into_response(),
    }
}
