//! The client credentials grant (RFC 6749 §4.4): a confidential client gets
//! an access token for itself. No refresh token, no ID token; `sub` is the
//! client. Nothing is written to the database: this is the throughput path.

use crate::clock::Timestamp;
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::dpop::Proof;
use crate::oauth::params::Params;
use crate::oauth::scopes;
use crate::oauth::tokens::{self, AccessGrant, TokenResponse};
use crate::oauth::{Provider, apis};
use crate::store::Client;

pub async fn grant(
    p: Provider<'_>, client: &Client, params: &Params, dpop: Option<&Proof>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    if client.public {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "client credentials are for confidential clients"));
    }
    // RFC 8707: for one API, the client's scopes that API defines; with no
    // API named, any of its API scopes (the issuer is the audience).
    let api = apis::pick(p, client, params.all("resource"), &[]).await?;
    let mut allowed: Vec<String> = client.scopes.iter().filter(|s| !scopes::is_user_scope(s)).cloned().collect();
    if let Some(api) = &api {
        allowed = apis::narrow(&allowed, api);
    }
    let granted = match params.get("scope") {
        Some(raw) => {
            let mut asked: Vec<String> = Vec::new();
            for s in raw.split(' ').filter(|s| !s.is_empty()) {
                if !allowed.iter().any(|a| a == s) {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidScope,
                        "a requested scope is not allowed for this client",
                    ));
                }
                if !asked.iter().any(|a| a == s) {
                    asked.push(s.to_string());
                }
            }
            asked
        }
        None => allowed,
    };
    let (access_token, claims) = tokens::issue_access_token(
        p,
        &AccessGrant {
            sub: &client.id,
            client_id: &client.id,
            scopes: &granted,
            auth_time: None,
            // No grant row: this path writes nothing. Such a token ends by
            // its own revocation or with its client.
            grant_id: None,
            jkt: dpop.map(|proof| proof.jkt.as_str()),
            api: api.as_ref(),
            act: None,
            not_after: None,
        },
        now,
    )
    .await
    .map_err(OAuthError::server)?;
    Ok(TokenResponse {
        access_token,
        token_type: claims.token_type(),
        expires_in: claims.exp - now,
        scope: scopes::join(&granted),
        id_token: None,
        refresh_token: None,
        issued_token_type: None,
    })
}
