//! Token introspection (RFC 7662). Anything not valid, or not ours to show
//! the caller, is `{"active": false}` and nothing else (§2.2).

use serde_json::{Value, json};

use crate::accounts::users;
use crate::clock::Timestamp;
use crate::crypto::{constant_time_eq, token_hash};
use crate::oauth::tokens::{self, AccessClaims};
use crate::oauth::{Provider, apis};
use crate::store::Client;

pub fn inactive() -> Value {
    json!({ "active": false })
}

pub async fn introspect(p: Provider<'_>, caller: &Client, token: &str, now: Timestamp) -> Value {
    let result = if token.matches('.').count() == 2 {
        access_token(p, caller, token, now).await
    } else {
        refresh_token(p, caller, token, now).await
    };
    result.unwrap_or_else(inactive)
}

async fn access_token(p: Provider<'_>, caller: &Client, token: &str, now: Timestamp) -> Option<Value> {
    // Resource servers introspect tokens issued to other clients: that is
    // the point. Signature, type, issuer, expiry and the deny-list all hold.
    let claims: AccessClaims = tokens::validate_access_token(p, token, now).await.ok()?;
    // An API asking about a token learns of it only when the token is meant
    // for that API (its own client is the caller).
    if let Some(api) = apis::of_client(p.store, &caller.id).await.ok()? {
        if claims.aud != api.identifier {
            return None;
        }
    }
    // A deleted client's tokens die with it.
    p.store.get_client(&claims.client_id).await.ok()??;
    let mut out = json!({
        "active": true,
        "scope": claims.scope,
        "client_id": claims.client_id,
        "sub": claims.sub,
        "exp": claims.exp,
        "iat": claims.iat,
        "nbf": claims.iat,
        "aud": claims.aud,
        "iss": claims.iss,
        "jti": claims.jti,
        "token_type": claims.token_type(),
    });
    // RFC 9449 §6.2: the key a DPoP-bound token is bound to.
    if let Some(jkt) = claims.jkt() {
        out["cnf"] = json!({ "jkt": jkt });
    }
    // RFC 8693 §4.1: who acts for the person, in an exchanged token.
    if let Some(act) = &claims.act {
        out["act"] = act.clone();
    }
    // A person's token (not a client's own) says whose it is, while the
    // account may act.
    if claims.sub != *claims.client_id {
        let user = users::enabled(p.store, &claims.sub).await.ok()??;
        out["username"] = json!(user.username);
    }
    Some(out)
}

async fn refresh_token(p: Provider<'_>, caller: &Client, token: &str, now: Timestamp) -> Option<Value> {
    let row = p.store.get_refresh_token(&token_hash(token)).await.ok()??;
    // Only the client holding a refresh token may learn about it.
    let live = row.used_at.is_none() && row.revoked_at.is_none() && now < row.expires_at && now < row.family_expires_at;
    if !live || !constant_time_eq(row.client_id.as_bytes(), caller.id.as_bytes()) {
        return None;
    }
    let user = users::enabled(p.store, &row.user_id).await.ok()??;
    let mut out = json!({
        "active": true,
        "scope": row.scopes.join(" "),
        "client_id": row.client_id,
        "sub": row.user_id,
        "username": user.username,
        "exp": row.expires_at,
        "iat": row.created_at,
        "nbf": row.created_at,
        "iss": p.config.issuer,
        "token_type": "refresh_token",
    });
    if let Some(jkt) = &row.dpop_jkt {
        out["cnf"] = json!({ "jkt": jkt });
    }
    Some(out)
}
