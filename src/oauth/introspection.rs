//! Token introspection (RFC 7662). Anything not valid, or not ours to show
//! the caller, is `{"active": false}` and nothing else (§2.2).

use serde_json::{Map, Value, json};

use crate::clock::Timestamp;
use crate::crypto::{constant_time_eq, token_hash};
use crate::oauth::Provider;
use crate::oauth::tokens::{self, AccessClaims};
use crate::store::Client;

pub fn inactive() -> Value {
    json!({ "active": false })
}

pub async fn introspect(p: Provider<'_>, caller: &Client, token: &str, now: Timestamp) -> Value {
    let result = if token.matches('.').count() == 2 {
        access_token(p, token, now).await
    } else {
        refresh_token(p, caller, token, now).await
    };
    result.map(Value::Object).unwrap_or_else(inactive)
}

async fn access_token(p: Provider<'_>, token: &str, now: Timestamp) -> Option<Map<String, Value>> {
    // Resource servers introspect tokens issued to other clients: that is
    // the point. Signature, type, issuer, expiry and the deny-list all hold.
    let claims: AccessClaims = tokens::validate_access_token(p, token, now).await.ok()?;
    // A deleted client's tokens die with it.
    p.store.get_client(&claims.client_id).await.ok()??;
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    if claims.sub != claims.client_id {
        let user = p.store.get_user(&claims.sub).await.ok()??;
        if user.disabled {
            return None;
        }
        out.insert("username".into(), json!(user.username));
    }
    out.insert("scope".into(), json!(claims.scope));
    out.insert("client_id".into(), json!(claims.client_id));
    out.insert("sub".into(), json!(claims.sub));
    out.insert("exp".into(), json!(claims.exp));
    out.insert("iat".into(), json!(claims.iat));
    out.insert("nbf".into(), json!(claims.iat));
    out.insert("aud".into(), json!(claims.aud));
    out.insert("iss".into(), json!(claims.iss));
    out.insert("jti".into(), json!(claims.jti));
    out.insert("token_type".into(), json!("Bearer"));
    Some(out)
}

async fn refresh_token(p: Provider<'_>, caller: &Client, token: &str, now: Timestamp) -> Option<Map<String, Value>> {
    let row = p.store.get_refresh_token(&token_hash(token)).await.ok()??;
    // Only the client holding a refresh token may learn about it.
    let live = row.used_at.is_none() && row.revoked_at.is_none() && now < row.expires_at && now < row.family_expires_at;
    if !live || !constant_time_eq(row.client_id.as_bytes(), caller.id.as_bytes()) {
        return None;
    }
    let user = p.store.get_user(&row.user_id).await.ok()??;
    if user.disabled {
        return None;
    }
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    out.insert("scope".into(), json!(row.scopes.join(" ")));
    out.insert("client_id".into(), json!(row.client_id));
    out.insert("sub".into(), json!(row.user_id));
    out.insert("username".into(), json!(user.username));
    out.insert("exp".into(), json!(row.expires_at));
    out.insert("iat".into(), json!(row.created_at));
    out.insert("nbf".into(), json!(row.created_at));
    out.insert("iss".into(), json!(p.config.issuer));
    out.insert("token_type".into(), json!("refresh_token"));
    Some(out)
}
