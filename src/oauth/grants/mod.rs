//! Token-endpoint grants, one file per grant type, and what every token
//! request goes through first: the grant type allowed for the client, the
//! FAPI 2.0 profile's demands, and the DPoP proof that binds the tokens.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use super::clients::{
    GRANT_AUTHORIZATION_CODE, GRANT_CLIENT_CREDENTIALS, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE,
    SUPPORTED_GRANTS,
};
use super::dpop::{self, Proof, Target};
use super::params::Params;
use super::tokens::TokenResponse;
use super::{Provider, request_object};
use crate::audit::Origin;
use crate::clock::Timestamp;
use crate::error::{ErrorCode, OAuthError};
use crate::store::Client;

/// The DPoP side of a request: its proof headers, and the URL they name.
pub struct DpopInput<'a> {
    pub headers: &'a [&'a str],
    pub url: &'a str,
}

/// Checks the request's DPoP proof for `client`: required when the client
/// (or the FAPI 2.0 profile) says every token request carries one.
pub async fn dpop_proof(
    p: Provider<'_>, client: &Client, dpop: &DpopInput<'_>, now: Timestamp,
) -> Result<Option<Proof>, OAuthError> {
    let fapi = request_object::fapi(p, client);
    if fapi && client.token_endpoint_auth_method != "private_key_jwt" {
        return Err(OAuthError::invalid_client("the FAPI 2.0 profile requires private_key_jwt"));
    }
    let target = Target { method: "POST", url: dpop.url, access_token: None };
    let proof = dpop::check(p, dpop.headers, &target, dpop::algorithms(fapi), now).await?;
    if proof.is_none() && (client.dpop_bound_access_tokens || fapi) {
        return Err(OAuthError::new(ErrorCode::InvalidDpopProof, "this client must send a DPoP proof"));
    }
    Ok(proof)
}

/// A token request (RFC 6749 §3.2) from an authenticated client.
pub async fn exchange(
    p: Provider<'_>, client: &Client, params: &Params, dpop: &DpopInput<'_>, origin: Origin<'_>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let grant_type = params.require("grant_type")?;
    if !SUPPORTED_GRANTS.contains(&grant_type) {
        return Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "this grant type is not supported"));
    }
    if !client.grant_types.iter().any(|g| g == grant_type) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use this grant type"));
    }
    let proof = dpop_proof(p, client, dpop, now).await?;
    let proof = proof.as_ref();
    match grant_type {
        GRANT_AUTHORIZATION_CODE => authorization_code::redeem(p, client, params, proof, now).await,
        GRANT_REFRESH_TOKEN => refresh_token::refresh(p, client, params, proof, now).await,
        GRANT_CLIENT_CREDENTIALS => client_credentials::grant(p, client, params, proof, now).await,
        GRANT_DEVICE_CODE => super::device::redeem(p, client, params, proof, now).await,
        GRANT_TOKEN_EXCHANGE => super::exchange::exchange(p, client, params, proof, origin, now).await,
        _ => Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "this grant type is not supported")),
    }
}
