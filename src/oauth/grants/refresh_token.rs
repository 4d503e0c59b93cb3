//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection
//! (RFC 9700 §4.14.2): every use returns a new refresh token and retires the
//! presented one; presenting a retired token again revokes the whole family,
//! unless it comes within the grace window, when the same successor is
//! returned (a client that lost the response must not be signed out).

use crate::accounts::users;
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::crypto::{constant_time_eq, token_hash};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::dpop::Proof;
use crate::oauth::params::Params;
use crate::oauth::refresh::{self, NewRefresh};
use crate::oauth::scopes;
use crate::oauth::tokens::{self, AccessGrant, IdTokenInput, TokenResponse};
use crate::oauth::{Provider, apis};
use crate::store::{Api, Client, GrantsOf, RefreshToken, RevokeReason, Rotation};

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

pub async fn refresh(
    p: Provider<'_>, client: &Client, params: &Params, dpop: Option<&Proof>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let presented = params.require("refresh_token")?;
    let hash = token_hash(presented);
    let row = p.store.get_refresh_token(&hash).await?.ok_or_else(invalid)?;
    if !constant_time_eq(row.client_id.as_bytes(), client.id.as_bytes()) {
        return Err(invalid());
    }
    if row.revoked_at.is_some() {
        return Err(invalid());
    }
    // RFC 9449 §5: a bound refresh token is used with a proof by its key.
    if let Some(bound) = &row.dpop_jkt {
        if dpop.is_none_or(|proof| !constant_time_eq(proof.jkt.as_bytes(), bound.as_bytes())) {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "this refresh token is bound to a DPoP key: send a proof made with it",
            ));
        }
    }
    let jkt = dpop.map(|proof| proof.jkt.as_str());
    // RFC 8707: the one API the access token is for.
    let api = apis::pick(p, client, params.all("resource"), &row.resources).await?;
    let api = api.as_ref();
    // RFC 6749 §6: the scope may be narrowed, never widened.
    let scopes = match params.get("scope") {
        Some(raw) => {
            let asked: Vec<String> = raw.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
            if !scopes::covers(&row.scopes, &asked) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "the requested scope exceeds what was originally granted",
                ));
            }
            let mut narrowed: Vec<String> = Vec::new();
            for s in asked {
                if !narrowed.contains(&s) {
                    narrowed.push(s);
                }
            }
            narrowed
        }
        None => row.scopes.clone(),
    };
    if row.used_at.is_some() {
        return reused(p, client, &row, presented, &scopes, jkt, api, now).await;
    }
    if now >= row.expires_at || now >= row.family_expires_at {
        return Err(invalid());
    }
    let user = users::enabled(p.store, &row.user_id).await?.ok_or_else(invalid)?;

    let (successor, successor_row) = refresh::mint(
        p,
        &NewRefresh {
            grant_id: &row.grant_id,
            client_id: &row.client_id,
            user_id: &row.user_id,
            scopes: &row.scopes,
            auth_time: row.auth_time,
            amr: &row.amr,
            family_expires_at: row.family_expires_at,
            dpop_jkt: row.dpop_jkt.as_deref(),
            resources: &row.resources,
        },
        now,
    );
    let sealed =
        refresh::seal(presented, &successor).ok_or_else(|| OAuthError::server("sealing the successor failed"))?;
    let grant_expires_at = row.family_expires_at.max(now + p.config.access_token_ttl);
    match p.store.rotate_refresh_token(&hash, now, &sealed, &successor_row, grant_expires_at).await? {
        Rotation::Rotated => {}
        // Another request rotated this token a moment ago: treat as reuse,
        // which the grace window turns into the same successor.
        Rotation::AlreadyUsed => {
            let row = p.store.get_refresh_token(&hash).await?.ok_or_else(invalid)?;
            return reused(p, client, &row, presented, &scopes, jkt, api, now).await;
        }
        // Revoked while this request ran: no successor was stored.
        Rotation::GrantRevoked => return Err(invalid()),
    }
    respond(p, client, &user, &row, Answer { scopes: &scopes, refresh_token: successor, jkt, api }, now).await
}

/// A token that was already rotated was presented again.
#[allow(clippy::too_many_arguments)]
async fn reused(
    p: Provider<'_>, client: &Client, row: &RefreshToken, presented: &str, scopes: &[String], jkt: Option<&str>,
    api: Option<&Api>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let grace = p.config.refresh_token_grace;
    let within_grace = grace > 0 && row.used_at.is_some_and(|at| now - at <= grace);
    if within_grace {
        if let (Some(successor_hash), Some(sealed)) = (&row.successor_hash, &row.successor_sealed) {
            let successor = p.store.get_refresh_token(successor_hash).await?;
            let value = refresh::unseal(presented, sealed);
            if let (Some(successor), Some(value)) = (successor, value) {
                if successor.used_at.is_none() && successor.revoked_at.is_none() {
                    let user = users::enabled(p.store, &row.user_id).await?.ok_or_else(invalid)?;
                    // A new access token is issued: only while the grant lives.
                    let expires_at = row.family_expires_at.max(now + p.config.access_token_ttl);
                    if !p.store.issue_from_grant(&row.grant_id, now, expires_at, None).await? {
                        return Err(invalid());
                    }
                    tracing::info!(client_id = %client.id, grant_id = %row.grant_id, "refresh token retried within the grace window");
                    let answer = Answer { scopes, refresh_token: value, jkt, api };
                    return respond(p, client, &user, row, answer, now).await;
                }
            }
        }
    }
    // RFC 9700 §4.14.2: a rotated refresh token used again means one of two
    // parties holds a stolen token; revoke the whole family.
    p.store.revoke_grants(GrantsOf::Grant(&row.grant_id), RevokeReason::RefreshTokenReuse, now).await?;
    let event = Origin::default()
        .event("refresh_token.reuse_detected", "family_revoked", Some(&row.user_id))
        .client(&client.id)
        .detail(format!("grant {}", row.grant_id));
    audit::record(p.store, now, event).await;
    Err(invalid())
}

/// What a refresh answers with: the scopes asked (or granted), the
/// successor, the DPoP key and the API the access token is for.
struct Answer<'a> {
    scopes: &'a [String],
    refresh_token: String,
    jkt: Option<&'a str>,
    api: Option<&'a Api>,
}

async fn respond(
    p: Provider<'_>, client: &Client, user: &crate::store::User, row: &RefreshToken, answer: Answer<'_>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let Answer { scopes, refresh_token, jkt, api } = answer;
    let token_scopes = api.map_or_else(|| scopes.to_vec(), |a| apis::narrow(scopes, a));
    let (access_token, claims) = tokens::issue_access_token(
        p,
        &AccessGrant {
            sub: &user.id,
            client_id: &client.id,
            scopes: &token_scopes,
            auth_time: Some(row.auth_time),
            grant_id: Some(&row.grant_id),
            jkt,
            api,
            act: None,
            not_after: None,
        },
        now,
    )
    .await
    .map_err(OAuthError::server)?;
    // OIDC Core §12.2: a refreshed ID token keeps the original auth_time and
    // carries no nonce.
    let id_token = if scopes.iter().any(|s| s == scopes::OPENID) {
        Some(
            tokens::issue_id_token(
                p,
                &IdTokenInput {
                    user,
                    client_id: &client.id,
                    nonce: None,
                    auth_time: row.auth_time,
                    amr: &row.amr,
                    access_token: &access_token,
                    scopes,
                },
                now,
            )
            .map_err(OAuthError::server)?,
        )
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: claims.token_type(),
        expires_in: claims.exp - now,
        scope: scopes::join(&token_scopes),
        id_token,
        refresh_token: Some(refresh_token),
        issued_token_type: None,
    })
}
