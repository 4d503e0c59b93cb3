//! Token contents and issuance: RFC 9068 JWT access tokens, OpenID Connect ID
//! tokens, and the claims we release per scope.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::Timestamp;
use crate::crypto::{b64url, random_token, sha256};
use crate::error::OAuthError;
use crate::keys::KeyError;
use crate::oauth::{Provider, dpop};
use crate::store::{Api, ClientId, GrantId, User};

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
pub const ID_TOKEN_TYP: &str = "JWT";

/// RFC 9068 §2.2 claims, plus `gid`: the grant the token was issued under,
/// so ending the grant ends the token. Client-credentials tokens have none.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: Timestamp,
    pub iat: Timestamp,
    pub jti: String,
    pub client_id: ClientId,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<GrantId>,
    /// RFC 9449 §6.1: the DPoP key the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// RFC 8693 §4.1: who acts for the subject (a chain, the latest actor
    /// outermost), in a token made by token exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Value>,
}

/// RFC 7800 `cnf` with RFC 9449's `jkt`: the SHA-256 thumbprint of the key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Confirmation {
    pub jkt: String,
}

impl AccessClaims {
    /// The DPoP key the token is bound to, if it is.
    pub fn jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|c| c.jkt.as_str())
    }

    /// `DPoP` for a bound token, `Bearer` otherwise (RFC 9449 §5).
    pub fn token_type(&self) -> &'static str {
        if self.cnf.is_some() { "DPoP" } else { "Bearer" }
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

/// What the token endpoint answers (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// RFC 8693 §2.2.1, for an exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// The subject's audience for our access tokens: the authorization server
/// itself, whose userinfo and introspection endpoints accept them.
pub fn access_audience(issuer: &str) -> String {
    issuer.to_string()
}

pub struct AccessGrant<'a> {
    pub sub: &'a str,
    pub client_id: &'a ClientId,
    pub scopes: &'a [String],
    pub auth_time: Option<Timestamp>,
    pub grant_id: Option<&'a GrantId>,
    /// Bind the token to this DPoP key.
    pub jkt: Option<&'a str>,
    /// The API the token is for (RFC 8707): its identifier is the audience,
    /// and its settings the lifetime and algorithm. None: the issuer.
    pub api: Option<&'a Api>,
    /// RFC 8693 `act`.
    pub act: Option<&'a Value>,
    /// The token expires by then at the latest (an exchanged token never
    /// outlives the one it came from).
    pub not_after: Option<Timestamp>,
}

pub async fn issue_access_token(
    p: Provider<'_>, g: &AccessGrant<'_>, now: Timestamp,
) -> Result<(String, AccessClaims), KeyError> {
    let ttl = g.api.and_then(|a| a.access_token_ttl).unwrap_or(p.config.access_token_ttl);
    let claims = AccessClaims {
        iss: p.config.issuer.clone(),
        sub: g.sub.to_string(),
        aud: g.api.map_or_else(|| access_audience(&p.config.issuer), |a| a.identifier.clone()),
        exp: g.not_after.map_or(now + ttl, |limit| limit.min(now + ttl)),
        iat: now,
        jti: random_token(16),
        client_id: g.client_id.clone(),
        scope: g.scopes.join(" "),
        auth_time: g.auth_time,
        gid: g.grant_id.cloned(),
        cnf: g.jkt.map(|jkt| Confirmation { jkt: jkt.to_string() }),
        act: g.act.cloned(),
    };
    let alg = g.api.and_then(|a| a.access_token_alg.as_deref());
    let token = p.keys.sign_access_with(alg, ACCESS_TOKEN_TYP, &claims).await?;
    Ok((token, claims))
}

/// OIDC Core §3.1.3.6: the left half of the SHA-256 of the access token.
pub fn at_hash(access_token: &str) -> String {
    let digest = sha256(access_token.as_bytes());
    b64url(&digest[..digest.len() / 2])
}

/// Claims released for `scopes` (OIDC Core §5.4), used by ID tokens and
/// userinfo alike.
pub fn user_claims(user: &User, scopes: &[String]) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("sub".into(), json!(user.id));
    if scopes.iter().any(|s| s == "profile") {
        m.insert("preferred_username".into(), json!(user.username));
        if let Some(name) = &user.name {
            m.insert("name".into(), json!(name));
        }
        if let Some(picture) = &user.picture {
            m.insert("picture".into(), json!(picture));
        }
        m.insert("updated_at".into(), json!(user.updated_at));
    }
    if scopes.iter().any(|s| s == "roles") {
        m.insert("roles".into(), json!([user.role.as_str()]));
    }
    if scopes.iter().any(|s| s == "email") {
        m.insert("email".into(), json!(user.email));
        m.insert("email_verified".into(), json!(user.email_verified));
    }
    m
}

pub struct IdTokenInput<'a> {
    pub user: &'a User,
    pub client_id: &'a ClientId,
    pub nonce: Option<&'a str>,
    pub auth_time: Timestamp,
    pub amr: &'a [String],
    pub access_token: &'a str,
    pub scopes: &'a [String],
}

pub fn issue_id_token(p: Provider<'_>, input: &IdTokenInput<'_>, now: Timestamp) -> Result<String, KeyError> {
    let mut claims = user_claims(input.user, input.scopes);
    claims.insert("iss".into(), json!(p.config.issuer));
    claims.insert("aud".into(), json!(input.client_id));
    claims.insert("exp".into(), json!(now + p.config.id_token_ttl));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(input.auth_time));
    claims.insert("amr".into(), json!(input.amr));
    if input.amr.iter().any(|a| a == "mfa") {
        claims.insert("acr".into(), json!(crate::oauth::authorize::ACR_MFA));
    }
    claims.insert("at_hash".into(), json!(at_hash(input.access_token)));
    if let Some(nonce) = input.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    p.keys.sign(ID_TOKEN_TYP, &Value::Object(claims))
}

/// Checks a bearer access token: signature, `typ` = at+jwt (so an ID token
/// cannot pass), issuer, expiry against the app clock, and revocation (of
/// the token itself or of its grant).
/// Validates an access token as a protected resource received it: the
/// token itself, then how it was presented (Bearer, or DPoP with a proof by
/// the key it is bound to).
pub async fn validate_presented(
    p: Provider<'_>, presented: &dpop::Presented<'_>, now: Timestamp,
) -> Result<AccessClaims, OAuthError> {
    let claims = validate_access_token(p, presented.token, now)
        .await
        .map_err(|e| if presented.scheme == dpop::Scheme::DPoP { e.at_dpop_resource() } else { e })?;
    dpop::check_binding(p, claims.jkt(), presented, now).await?;
    // A token meant for a registered API (RFC 8707) is that API's: this
    // server's own resources take only tokens addressed to the issuer.
    if claims.aud != access_audience(&p.config.issuer) {
        let e = OAuthError::invalid_token("this access token is meant for another API");
        return Err(if presented.scheme == dpop::Scheme::DPoP { e.at_dpop_resource() } else { e });
    }
    Ok(claims)
}

pub async fn validate_access_token(p: Provider<'_>, token: &str, now: Timestamp) -> Result<AccessClaims, OAuthError> {
    let claims: AccessClaims = p
        .keys
        .verify(token, Some(ACCESS_TOKEN_TYP), &p.config.issuer)
        .await
        .map_err(|e| OAuthError::invalid_token(format!("the access token is invalid ({e})")))?;
    if claims.exp <= now {
        return Err(OAuthError::invalid_token("the access token has expired"));
    }
    // Revocations are held in memory, loaded from the database and kept
    // current by the change feed: no round trip on this path.
    if p.store.access_token_revoked(&claims.jti, claims.gid.as_ref(), now) {
        return Err(OAuthError::invalid_token("the access token has been revoked"));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_oidc_example() {
        // OpenID Connect Core A.3 example: at_hash of this access token.
        assert_eq!(at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }

    #[test]
    fn claims_follow_scopes() {
        let user = User {
            id: "sub-1".into(),
            username: "ada".into(),
            email: "ada@example.com".into(),
            email_verified: true,
            name: Some("Ada".into()),
            picture: None,
            password_hash: None,
            role: crate::store::Role::User,
            disabled: false,
            created_at: 1,
            updated_at: 2,
        };
        let only_openid = user_claims(&user, &["openid".into()]);
        assert_eq!(only_openid.len(), 1);
        let all = user_claims(&user, &["openid".into(), "profile".into(), "email".into()]);
        assert_eq!(all["email"], "ada@example.com");
        assert_eq!(all["preferred_username"], "ada");
        assert_eq!(all["name"], "Ada");
    }
}
