//! Pushed authorization requests (RFC 9126): the client sends the request
//! to us directly, authenticated, and gets a `request_uri` that the browser
//! carries to /authorize instead of the parameters. The pushed request is
//! stored durably and taken once, in one atomic step, within 60 seconds.

use serde::{Deserialize, Serialize};

use super::grants::DpopInput;
use super::params::Params;
use super::{Provider, authorize, dpop, request_object};
use crate::clock::Timestamp;
use crate::crypto::{random_token, token_hash};
use crate::error::{ErrorCode, OAuthError};
use crate::store::{Client, ClientId, Consumed, OneTimeToken};

/// RFC 9126 §2.2: the URN prefix of our request URIs.
pub const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a pushed request waits for the browser.
pub const LIFETIME: i64 = 60;
const PURPOSE: &str = "par";

/// What was pushed, as kept until /authorize takes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pushed {
    pub client_id: ClientId,
    /// The authorization parameters, from the form or the request object.
    pub params: Vec<(String, String)>,
    /// They came as a signed request object.
    pub signed: bool,
}

/// RFC 9126 §2.2: the answer to a push.
#[derive(Debug, Serialize)]
pub struct PushResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Checks a pushed request as /authorize would and keeps it. A DPoP proof
/// sent with the push binds the code to its key, as a `dpop_jkt` parameter
/// does (RFC 9449 §10.1).
pub async fn push(
    p: Provider<'_>, client: &Client, params: &Params, dpop: &DpopInput<'_>, now: Timestamp,
) -> Result<PushResponse, OAuthError> {
    let fapi = request_object::fapi(p, client);
    if fapi && client.token_endpoint_auth_method != "private_key_jwt" {
        return Err(OAuthError::invalid_client("the FAPI 2.0 profile requires private_key_jwt"));
    }
    let target = dpop::Target { method: "POST", url: dpop.url, access_token: None };
    let proof = dpop::check(p, dpop.headers, &target, dpop::algorithms(fapi), now).await?;
    let dpop_jkt = proof.as_ref().map(|proof| proof.jkt.as_str());
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed (RFC 9126 §2.1)"));
    }
    if params.get("client_id").is_some_and(|id| id != client.id.as_str()) {
        return Err(OAuthError::invalid_request("client_id is not the authenticated client"));
    }
    let (mut effective, signed) = match params.get("request") {
        Some(token) => {
            let inner = request_object::open(p, client, token, now)
                .await
                .map_err(|why| OAuthError::new(ErrorCode::InvalidRequestObject, why))?;
            (inner, true)
        }
        None => (params.clone(), false),
    };
    if let Some(jkt) = dpop_jkt {
        match effective.get("dpop_jkt") {
            Some(asked) if asked != jkt => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidDpopProof,
                    "dpop_jkt does not match the key of the DPoP proof",
                ));
            }
            Some(_) => {}
            None => effective = effective.with("dpop_jkt", jkt),
        }
    }
    let context = authorize::Context { pushed: true, signed };
    authorize::check(p, client, &effective, context, now).await.map_err(authorize::Invalid::into_oauth)?;
    let request_uri = format!("{URN_PREFIX}{}", random_token(32));
    let kept = Pushed { client_id: client.id.clone(), params: effective.pairs(), signed };
    let token = OneTimeToken {
        token_hash: token_hash(&request_uri),
        purpose: PURPOSE.into(),
        grant_id: None,
        data: serde_json::to_string(&kept).map_err(OAuthError::server)?,
        created_at: now,
        expires_at: now + LIFETIME,
    };
    p.store.insert_one_time(&token).await?;
    Ok(PushResponse { request_uri, expires_in: LIFETIME })
}

/// Takes a pushed request by its URI, once. None when it is unknown,
/// expired or already used, or is another client's.
pub async fn take(
    p: Provider<'_>, request_uri: &str, client_id: &ClientId, now: Timestamp,
) -> Result<Option<Pushed>, OAuthError> {
    if !request_uri.starts_with(URN_PREFIX) {
        return Ok(None);
    }
    let Consumed::Fresh { data, .. } = p.store.consume_one_time(PURPOSE, &token_hash(request_uri), now).await? else {
        return Ok(None);
    };
    let pushed: Pushed = serde_json::from_str(&data).map_err(OAuthError::server)?;
    Ok((&pushed.client_id == client_id).then_some(pushed))
}
