//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5).
//!
//! A code is a random 256-bit value kept in short-lived state under its hash,
//! for 60 s. Redeeming takes it atomically. A redeemed code leaves a marker
//! behind; presenting the code again finds the marker, fails with
//! `invalid_grant`, and revokes every token issued from the first redemption
//! (RFC 6749 §4.1.2: "the authorization server MUST deny the request and
//! SHOULD revoke ... all tokens previously issued based on that authorization
//! code").

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::clock::Timestamp;
use crate::crypto::{constant_time_eq, random_token, token_hash};
use crate::error::OAuthError;
use crate::oauth::params::Params;
use crate::oauth::pkce;
use crate::oauth::refresh::{self, NewRefresh};
use crate::oauth::scopes;
use crate::oauth::tokens::{self, AccessGrant, IdTokenInput, TokenResponse};
use crate::store::Client;

/// RFC 6749 §4.1.2 recommends at most 10 minutes; we use 60 s.
pub const CODE_TTL: i64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub expires_at: Timestamp,
    /// Names the authorization: every token issued from it carries this id.
    pub grant_id: String,
}

fn code_key(code: &str) -> String {
    format!("code:{}", token_hash(code))
}

fn used_key(code: &str) -> String {
    format!("code_used:{}", token_hash(code))
}

/// Stores a new code and returns it.
pub async fn mint(state: &AppState, record: &CodeRecord) -> Result<String, OAuthError> {
    let code = random_token(32);
    let value = serde_json::to_string(record).map_err(OAuthError::server)?;
    state
        .ephemeral
        .put(&code_key(&code), &value, Duration::from_secs(CODE_TTL as u64))
        .await?;
    Ok(code)
}

pub async fn redeem(
    state: &AppState,
    client: &Client,
    params: &Params,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let code = params.require("code")?;
    let Some(raw) = state.ephemeral.take(&code_key(code)).await? else {
        // Unknown, expired, or already used. A marker means a replay: the
        // code may have been stolen, so everything issued from it goes.
        if let Some(grant_id) = state.ephemeral.get(&used_key(code)).await? {
            refresh::revoke_family(state, &grant_id, now).await?;
            tracing::warn!(client_id = %client.id, grant_id = %grant_id, "authorization code replayed; grant revoked");
        }
        return Err(OAuthError::invalid_grant(
            "the authorization code is invalid, expired or already used",
        ));
    };
    let record: CodeRecord = serde_json::from_str(&raw).map_err(OAuthError::server)?;
    // Leave the replay marker before anything else can fail, for as long as
    // tokens from this code can live.
    state
        .ephemeral
        .put(
            &used_key(code),
            &record.grant_id,
            Duration::from_secs(state.config.access_token_ttl.max(CODE_TTL) as u64),
        )
        .await?;

    if !constant_time_eq(record.client_id.as_bytes(), client.id.as_bytes()) {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    match params.get("redirect_uri") {
        Some(uri) if uri == record.redirect_uri => {}
        Some(_) => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        None if record.redirect_uri_sent => {
            return Err(OAuthError::invalid_request(
                "redirect_uri is required: it was part of the authorization request",
            ));
        }
        None => {}
    }
    match (&record.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::verify(verifier, challenge) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade
        // attempt and MUST be refused.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but no code_challenge was used",
            ));
        }
        (None, None) => {}
    }

    let user = state
        .store
        .get_user(&record.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer available"))?;
    let (access_token, _claims) = tokens::issue_access_token(
        state,
        &AccessGrant {
            sub: &user.id,
            client_id: &client.id,
            scopes: &record.scopes,
            auth_time: Some(record.auth_time),
            grant_id: &record.grant_id,
        },
        now,
    )
    .map_err(OAuthError::server)?;
    let id_token = if record.scopes.iter().any(|s| s == scopes::OPENID) {
        Some(
            tokens::issue_id_token(
                state,
                &IdTokenInput {
                    user: &user,
                    client_id: &client.id,
                    nonce: record.nonce.as_deref(),
                    auth_time: record.auth_time,
                    amr: &record.amr,
                    access_token: &access_token,
                    scopes: &record.scopes,
                },
                now,
            )
            .map_err(OAuthError::server)?,
        )
    } else {
        None
    };
    let refresh_token = if refresh::should_issue(client, &record.scopes) {
        let (value, row) = refresh::mint(
            state,
            &NewRefresh {
                family_id: &record.grant_id,
                client_id: &client.id,
                user_id: &user.id,
                scopes: &record.scopes,
                auth_time: record.auth_time,
                amr: &record.amr,
                family_expires_at: now + state.config.refresh_token_absolute_ttl,
            },
            now,
        );
        state.store.insert_refresh_token(&row).await?;
        Some(value)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: state.config.access_token_ttl,
        scope: scopes::join(&record.scopes),
        id_token,
        refresh_token,
    })
}
