//! The authorization code grant (RFC 6749 §4.1.3, RFC 7636 §4.5).
//!
//! A code is a random 256-bit value stored by hash with its grant, for 60 s.
//! Redeeming consumes it in one atomic step that tells a fresh code from a
//! replayed one. A replay fails with `invalid_grant` and revokes the grant,
//! and with it every token issued from the code (RFC 6749 §4.1.2: "the
//! authorization server MUST deny the request and SHOULD revoke ... all
//! tokens previously issued based on that authorization code"). Tokens are
//! issued only while the grant is live, checked in the same transaction that
//! stores the refresh token, so nothing outlives the revocation.

use serde::{Deserialize, Serialize};

use crate::accounts::users;
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::crypto::{constant_time_eq, random_token, token_hash};
use crate::error::OAuthError;
use crate::oauth::dpop::Proof;
use crate::oauth::params::Params;
use crate::oauth::pkce;
use crate::oauth::refresh::{self, NewRefresh};
use crate::oauth::scopes;
use crate::oauth::tokens::{self, AccessGrant, IdTokenInput, TokenResponse};
use crate::oauth::{Provider, apis};
use crate::store::{Client, ClientId, Consumed, Grant, GrantId, GrantsOf, OneTimeToken, RevokeReason, User};

/// RFC 6749 §4.1.2 recommends at most 10 minutes; we use 60 s.
pub const CODE_TTL: i64 = 60;
/// The purpose codes are stored under.
pub const PURPOSE: &str = "code";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: ClientId,
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
    pub grant_id: GrantId,
    /// RFC 9449 §10: the DPoP key the code must be redeemed with.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
    /// RFC 8707: the APIs the person allowed the tokens to reach.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// Stores a new grant with its code, and returns the code.
pub async fn mint(p: Provider<'_>, record: &CodeRecord, now: Timestamp) -> Result<String, OAuthError> {
    let code = random_token(32);
    let grant = Grant {
        id: record.grant_id.clone(),
        client_id: record.client_id.clone(),
        user_id: record.user_id.clone(),
        scopes: record.scopes.clone(),
        created_at: now,
        last_issued_at: now,
        // Until redeemed, nothing but the code can come of it.
        expires_at: record.expires_at + p.config.access_token_ttl,
        revoked_at: None,
        revoked_reason: None,
        resources: record.resources.clone(),
    };
    let token = OneTimeToken {
        token_hash: token_hash(&code),
        purpose: PURPOSE.into(),
        grant_id: Some(grant.id.clone()),
        data: serde_json::to_string(record).map_err(OAuthError::server)?,
        created_at: now,
        expires_at: record.expires_at,
    };
    p.store.create_grant(&grant, &token).await?;
    Ok(code)
}

fn unusable() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is invalid, expired or already used")
}

pub async fn redeem(
    p: Provider<'_>, client: &Client, params: &Params, dpop: Option<&Proof>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let code = params.require("code")?;
    let record: CodeRecord = match p.store.consume_one_time(PURPOSE, &token_hash(code), now).await? {
        Consumed::Fresh { data, .. } => serde_json::from_str(&data).map_err(OAuthError::server)?,
        Consumed::Replayed { grant_id } => {
            // The code may have been stolen: everything issued from it goes.
            if let Some(grant_id) = grant_id {
                let ended = p.store.revoke_grants(GrantsOf::Grant(&grant_id), RevokeReason::CodeReplay, now).await?;
                tracing::warn!(client_id = %client.id, grant_id = %grant_id, "authorization code replayed; grant revoked");
                if !ended.is_empty() {
                    let event = Origin::default()
                        .event("authorization_code.replay", "grant_revoked", None)
                        .client(&client.id)
                        .detail(format!("grant {grant_id}"));
                    audit::record(p.store, now, event).await;
                }
            }
            return Err(unusable());
        }
        Consumed::Missing => return Err(unusable()),
    };

    if !constant_time_eq(record.client_id.as_bytes(), client.id.as_bytes()) {
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    if let Some(bound) = &record.dpop_jkt {
        if dpop.is_none_or(|proof| !constant_time_eq(proof.jkt.as_bytes(), bound.as_bytes())) {
            return Err(OAuthError::invalid_grant("the authorization code is bound to another DPoP key"));
        }
    }
    match params.get("redirect_uri") {
        Some(uri) if uri == record.redirect_uri => {}
        Some(_) => {
            return Err(OAuthError::invalid_grant("redirect_uri does not match the authorization request"));
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
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade
        // attempt and MUST be refused.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant("code_verifier sent but no code_challenge was used"));
        }
        (None, None) => {}
    }

    let user = users::enabled(p.store, &record.user_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer available"))?;
    issue(p, client, &user, &record, params, dpop, now).await
}

/// Tokens for an authorization the person approved (a redeemed code, or a
/// device they confirmed): the access token (for one API, when the request
/// names one), a refresh token when the client may have one, and an ID
/// token for `openid`. Issued only while the grant is live.
pub async fn issue(
    p: Provider<'_>, client: &Client, user: &User, record: &CodeRecord, params: &Params, dpop: Option<&Proof>,
    now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let jkt = dpop.map(|proof| proof.jkt.as_str());
    // RFC 8707: the one API this access token is for, and its scopes.
    let api = apis::pick(p, client, params.all("resource"), &record.resources).await?;
    let token_scopes = api.as_ref().map_or_else(|| record.scopes.clone(), |a| apis::narrow(&record.scopes, a));
    let refresh = refresh::should_issue(client, &record.scopes).then(|| {
        refresh::mint(
            p,
            &NewRefresh {
                grant_id: &record.grant_id,
                client_id: &client.id,
                user_id: &user.id,
                scopes: &record.scopes,
                auth_time: record.auth_time,
                amr: &record.amr,
                family_expires_at: now + p.config.refresh_token_absolute_ttl,
                // RFC 9449 §5: a public client's refresh token is bound to
                // its key; a confidential client authenticates instead.
                dpop_jkt: jkt.filter(|_| client.public),
                resources: &record.resources,
            },
            now,
        )
    });
    let grant_expires_at =
        refresh.as_ref().map_or(now, |(_, row)| row.family_expires_at).max(now + p.config.access_token_ttl);
    // The grant must still be live when the tokens are born: a replay that
    // revoked it since the code was taken wins.
    if !p.store.issue_from_grant(&record.grant_id, now, grant_expires_at, refresh.as_ref().map(|(_, row)| row)).await? {
        return Err(OAuthError::invalid_grant("the authorization has been revoked"));
    }
    let (access_token, claims) = tokens::issue_access_token(
        p,
        &AccessGrant {
            sub: &user.id,
            client_id: &client.id,
            scopes: &token_scopes,
            auth_time: Some(record.auth_time),
            grant_id: Some(&record.grant_id),
            jkt,
            api: api.as_ref(),
            act: None,
            not_after: None,
        },
        now,
    )
    .await
    .map_err(OAuthError::server)?;
    let id_token = if record.scopes.iter().any(|s| s == scopes::OPENID) {
        Some(
            tokens::issue_id_token(
                p,
                &IdTokenInput {
                    user,
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
    let refresh_token = refresh.map(|(value, _)| value);
    Ok(TokenResponse {
        access_token,
        token_type: claims.token_type(),
        expires_in: claims.exp - now,
        scope: scopes::join(&token_scopes),
        id_token,
        refresh_token,
        issued_token_type: None,
    })
}
