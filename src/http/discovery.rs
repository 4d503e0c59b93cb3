//! OpenID Provider metadata (OIDC Discovery §3, RFC 8414) and the JWKS.
//! Only what is implemented is advertised.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::routes;
use crate::app::AppState;
use crate::oauth::{client_auth, clients, scopes};

pub fn document(issuer: &str) -> serde_json::Value {
    let url = |path: &str| format!("{issuer}{path}");
    json!({
        "issuer": issuer,
        "authorization_endpoint": url(routes::AUTHORIZE),
        "token_endpoint": url(routes::TOKEN),
        "userinfo_endpoint": url(routes::USERINFO),
        "jwks_uri": url(routes::JWKS),
        "end_session_endpoint": url(routes::END_SESSION),
        "revocation_endpoint": url(routes::REVOKE),
        "introspection_endpoint": url(routes::INTROSPECT),
        "scopes_supported": scopes::SUPPORTED.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": clients::SUPPORTED_GRANTS,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": client_auth::METHODS,
        "revocation_endpoint_auth_methods_supported": client_auth::METHODS,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "acr", "picture", "roles",
            "name", "preferred_username", "updated_at", "email", "email_verified"
        ],
        "registration_endpoint": format!("{issuer}{}", routes::REGISTER),
        "acr_values_supported": [crate::oauth::authorize::ACR_MFA],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "ui_locales_supported": ["en"],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(document(&state.config.issuer))).into_response()
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            // Short: clients refetch soon after a rotation.
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        state.keys.jwks().to_vec(),
    )
        .into_response()
}
