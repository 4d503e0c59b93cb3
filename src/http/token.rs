//! The token endpoint (RFC 6749 §3.2).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::extract::ProtocolParams;
use crate::app::AppState;
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::client_auth;
use crate::oauth::clients::{GRANT_AUTHORIZATION_CODE, SUPPORTED_GRANTS};
use crate::oauth::grants::authorization_code;

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ProtocolParams(params): ProtocolParams,
) -> Response {
    let result = async {
        params.check_unique()?;
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let creds = client_auth::extract(authorization, &params)?;
        let client = client_auth::authenticate(&*state.store, &creds).await?;
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
            _ => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )),
        }
    }
    .await;
    match result {
        Ok(body) => {
            let mut res = Json(body).into_response();
            // RFC 6749 §5.1: responses with tokens MUST NOT be cached.
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res.headers_mut()
                .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            res
        }
        Err(e) => e.into_response(),
    }
}
