//! OpenID Provider metadata (OIDC Discovery §3, RFC 8414) and the JWKS.
//! Only what is implemented is advertised.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::routes;
use crate::app::AppState;
use crate::config::Config;
use crate::oauth::{client_auth, clients, dpop, exchange, jose, scopes};

pub fn document(config: &Config) -> serde_json::Value {
    let issuer = &config.issuer;
    let url = |path: &str| format!("{issuer}{path}");
    // FAPI 2.0 narrows what clients may sign with.
    let client_algs = if config.fapi2 { jose::FAPI_ALGS } else { jose::SIGNING_ALGS };
    let assertion_algs: Vec<&str> =
        client_algs.iter().chain(if config.fapi2 { &[][..] } else { jose::HMAC_ALGS }).copied().collect();
    let auth_methods: &[&str] = if config.fapi2 { &["private_key_jwt"] } else { client_auth::METHODS };
    json!({
        "issuer": issuer,
        "authorization_endpoint": url(routes::AUTHORIZE),
        "token_endpoint": url(routes::TOKEN),
        "userinfo_endpoint": url(routes::USERINFO),
        "jwks_uri": url(routes::JWKS),
        "end_session_endpoint": url(routes::END_SESSION),
        "revocation_endpoint": url(routes::REVOKE),
        "introspection_endpoint": url(routes::INTROSPECT),
        "pushed_authorization_request_endpoint": url(routes::PAR),
        "device_authorization_endpoint": url(routes::DEVICE_AUTHORIZATION),
        "require_pushed_authorization_requests": config.require_par || config.fapi2,
        "scopes_supported": scopes::SUPPORTED.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": clients::SUPPORTED_GRANTS,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint_auth_methods_supported":
            auth_methods.iter().filter(|m| **m != "none").collect::<Vec<_>>(),
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "dpop_signing_alg_values_supported": dpop::algorithms(config.fapi2),
        // RFC 8693: the token types an exchange takes and issues (this
        // server's metadata name; the RFC defines none).
        "token_exchange_token_types_supported": exchange::TOKEN_TYPES,
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
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": client_algs,
        // Only the URNs of pushed requests: URLs are never fetched.
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "require_signed_request_object": false,
        "authorization_response_iss_parameter_supported": true,
    })
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    ([(header::CACHE_CONTROL, "public, max-age=300")], axum::Json(document(&state.config))).into_response()
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
