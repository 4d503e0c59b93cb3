//! Token exchange (RFC 8693) for APIs calling APIs: an API that received a
//! person's access token exchanges it, as its own confidential client, for
//! a token meant for another API, on the same person's behalf and with no
//! more scope. With an `actor_token` (the API's own token) the new token
//! says who acts: `act`, nested when the chain goes on.
//!
//! What keeps it safe: only clients the operator allowed, only for the
//! APIs allowed to each, only tokens meant for the calling API, never a
//! refresh or ID token, never another person, never wider scope, never
//! longer than the token exchanged, and every exchange in the audit log. The
//! new token carries the original grant's id, so ending that authorization
//! ends every token exchanged from it.

use serde_json::json;

use super::tokens::{self, AccessClaims, AccessGrant, TokenResponse};
use super::{Provider, apis, scopes};
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::crypto::constant_time_eq;
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::dpop::Proof;
use crate::oauth::params::Params;
use crate::store::{Api, Client};

pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const REFRESH_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:refresh_token";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";
/// Token types this server issues and takes in an exchange.
pub const TOKEN_TYPES: &[&str] = &[ACCESS_TOKEN_TYPE];

fn invalid_request(why: &'static str) -> OAuthError {
    OAuthError::invalid_request(why)
}

/// Reads a token of `type` as an access token of ours, with the reason in
/// the error (every one `invalid_grant` for the subject).
async fn read_token(
    p: Provider<'_>, token: &str, token_type: Option<&str>, what: &'static str, now: Timestamp,
) -> Result<AccessClaims, OAuthError> {
    match token_type {
        Some(ACCESS_TOKEN_TYPE) => {}
        Some(REFRESH_TOKEN_TYPE) => {
            return Err(OAuthError::invalid_request(format!("a refresh token cannot be exchanged ({what})")));
        }
        Some(ID_TOKEN_TYPE) => {
            return Err(OAuthError::invalid_request(format!("an ID token cannot be exchanged ({what})")));
        }
        Some(_) => return Err(OAuthError::invalid_request(format!("unsupported {what}_type"))),
        None => return Err(OAuthError::invalid_request(format!("{what}_type is required"))),
    }
    // The signature, the access-token type (an ID token is refused here
    // too), the issuer, expiry and revocation.
    tokens::validate_access_token(p, token, now)
        .await
        .map_err(|e| OAuthError::invalid_grant(format!("the {what} is not valid: {}", e.description)))
}

/// The API the new token is for: one target, by `resource` or `audience`
/// (both naming an API identifier), that the client may exchange for.
async fn target(p: Provider<'_>, client: &Client, params: &Params) -> Result<Api, OAuthError> {
    let mut named: Vec<&String> = params.all("resource").iter().chain(params.all("audience")).collect();
    named.dedup();
    let [identifier] = named.as_slice() else {
        return Err(OAuthError::new(ErrorCode::InvalidTarget, "name one API to exchange for, by resource or audience"));
    };
    apis::check_identifier(identifier).map_err(|why| OAuthError::new(ErrorCode::InvalidTarget, why))?;
    if !client.token_exchange_targets.iter().any(|t| t == *identifier) {
        return Err(OAuthError::new(ErrorCode::InvalidTarget, "this client may not exchange tokens for that API"));
    }
    apis::find(p.store, identifier)
        .await?
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidTarget, "that API is not registered"))
}

/// POST /token with the token-exchange grant, from an authenticated client
/// at `origin`. Refusals are audited too: an API trying what it may not is
/// worth an operator's look.
pub async fn exchange(
    p: Provider<'_>, client: &Client, params: &Params, dpop: Option<&Proof>, origin: Origin<'_>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let answer = exchange_for(p, client, params, dpop, origin, now).await;
    if let Err(e) = &answer {
        let detail = format!("{}: {}", e.code.as_str(), e.description);
        audit::record(p.store, now, origin.event("token.exchange", "failure", None).client(&client.id).detail(detail))
            .await;
    }
    answer
}

async fn exchange_for(
    p: Provider<'_>, client: &Client, params: &Params, dpop: Option<&Proof>, origin: Origin<'_>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    if client.public || client.token_exchange_targets.is_empty() {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not exchange tokens"));
    }
    if params.get("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(invalid_request("only access tokens are issued by exchange"));
    }
    let target = target(p, client, params).await?;
    let subject_token = params.require("subject_token")?;
    let subject = read_token(p, subject_token, params.get("subject_token_type"), "subject_token", now).await?;
    // The token the calling API received, meant for it.
    let own_api = apis::of_client(p.store, &client.id).await?;
    if own_api.as_ref().is_none_or(|api| api.identifier != subject.aud) {
        return Err(OAuthError::invalid_grant("the subject token is not meant for this client's API"));
    }
    // A person's token: a client's own token has no person to act for.
    if subject.sub == subject.client_id.as_str() {
        return Err(OAuthError::invalid_grant("the subject token is a client's own, not a person's"));
    }
    // A DPoP-bound token is only usable with a proof of its key.
    if let Some(bound) = subject.jkt() {
        if dpop.is_none_or(|proof| !constant_time_eq(proof.jkt.as_bytes(), bound.as_bytes())) {
            return Err(OAuthError::invalid_grant("the subject token is DPoP-bound: send a proof made with its key"));
        }
    }
    let act = match params.get("actor_token") {
        Some(token) => {
            let actor = read_token(p, token, params.get("actor_token_type"), "actor_token", now).await?;
            // The actor is the calling client itself, never a person: one
            // person may not act as another.
            if actor.sub != actor.client_id.as_str() || actor.client_id != client.id {
                return Err(OAuthError::invalid_grant("the actor token must be the calling client's own"));
            }
            let mut act = json!({ "sub": actor.sub, "client_id": actor.client_id });
            if let Some(previous) = &subject.act {
                act["act"] = previous.clone();
            }
            Some(act)
        }
        None if params.get("actor_token_type").is_some() => {
            return Err(invalid_request("actor_token_type without actor_token"));
        }
        None => subject.act.clone(),
    };
    let held: Vec<String> = subject.scopes().map(str::to_string).collect();
    let granted = match params.get("scope") {
        Some(raw) => {
            let asked: Vec<String> = raw.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
            if !asked.iter().all(|s| held.contains(s) && target.scopes.contains(s)) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "the scope asked for is wider than the subject token's, or not the target API's",
                ));
            }
            asked
        }
        None => apis::narrow(&held, &target),
    };
    if granted.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "the subject token holds none of the target API's scopes",
        ));
    }
    let grant = AccessGrant {
        sub: &subject.sub,
        client_id: &client.id,
        scopes: &granted,
        auth_time: subject.auth_time,
        grant_id: subject.gid.as_ref(),
        jkt: dpop.map(|proof| proof.jkt.as_str()),
        api: Some(&target),
        act: act.as_ref(),
        // Never longer than the token it came from.
        not_after: Some(subject.exp),
    };
    let (access_token, claims) = tokens::issue_access_token(p, &grant, now).await.map_err(OAuthError::server)?;
    let detail = format!(
        "person {} from {} to {} by {}{}",
        subject.sub,
        subject.aud,
        target.identifier,
        client.id,
        if act.is_some() { " (acting)" } else { "" }
    );
    let event = origin.event("token.exchange", "success", Some(&subject.sub)).client(&client.id).detail(detail);
    audit::record(p.store, now, event).await;
    Ok(TokenResponse {
        access_token,
        token_type: claims.token_type(),
        expires_in: claims.exp - now,
        scope: scopes::join(&granted),
        id_token: None,
        refresh_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}
