//! Token revocation (RFC 7009) for access and refresh tokens. Both are
//! recorded in the database: an access token by its `jti` until it expires,
//! a refresh token by ending its grant.

use crate::clock::Timestamp;
use crate::crypto::{constant_time_eq, token_hash};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::Provider;
use crate::oauth::tokens::{ACCESS_TOKEN_TYP, AccessClaims};
use crate::store::{Client, GrantsOf, RevokeReason};

fn not_yours() -> OAuthError {
    // RFC 7009 §2.1: a token issued to another client is refused.
    OAuthError::new(ErrorCode::UnauthorizedClient, "the token was not issued to this client")
}

/// Revokes `token` if it is one of ours issued to `client`. Unknown,
/// expired or malformed tokens are not an error (RFC 7009 §2.2: "invalid
/// tokens do not cause an error response").
pub async fn revoke(p: Provider<'_>, client: &Client, token: &str, now: Timestamp) -> Result<(), OAuthError> {
    // Our access tokens are JWTs; refresh tokens are opaque. The hint only
    // orders the lookups (§2.1), and both are cheap, so it is not needed.
    if token.matches('.').count() == 2 {
        let Ok(claims) = p.keys.verify::<AccessClaims>(token, Some(ACCESS_TOKEN_TYP), &p.config.issuer).await else {
            return Ok(());
        };
        if !constant_time_eq(claims.client_id.as_bytes(), client.id.as_bytes()) {
            return Err(not_yours());
        }
        if claims.exp > now {
            p.store.revoke_access_token(&claims.jti, &client.id, now, claims.exp).await?;
        }
        return Ok(());
    }
    let Some(row) = p.store.get_refresh_token(&token_hash(token)).await? else {
        return Ok(());
    };
    if !constant_time_eq(row.client_id.as_bytes(), client.id.as_bytes()) {
        return Err(not_yours());
    }
    // §2.1: revoking a refresh token SHOULD also invalidate the access
    // tokens of the same grant.
    p.store.revoke_grants(GrantsOf::Grant(&row.grant_id), RevokeReason::TokenRevoked, now).await?;
    Ok(())
}
