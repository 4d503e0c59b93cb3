//! Refresh tokens (RFC 6749 §6, RFC 9700 §4.14): opaque random values stored
//! by hash, rotated at every use. Each rotation seals the successor's value
//! with a key derived from the presented token, so within the grace window
//! the same holder can get the same successor back after a lost response,
//! while a stolen database row reveals nothing.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::clock::Timestamp;
use crate::crypto::{random_bytes, random_token, sha256, token_hash};
use crate::oauth::Provider;
use crate::oauth::clients::GRANT_REFRESH_TOKEN;
use crate::oauth::scopes::OFFLINE_ACCESS;
use crate::store::{Client, ClientId, GrantId, RefreshToken};

/// Whether an authorization with `scopes` gets a refresh token: the client
/// must be allowed the grant, and a public client must also have been
/// granted `offline_access` (a confidential client gets one whenever it is
/// registered for the grant).
pub fn should_issue(client: &Client, scopes: &[String]) -> bool {
    client.grant_types.iter().any(|g| g == GRANT_REFRESH_TOKEN)
        && (!client.public || scopes.iter().any(|s| s == OFFLINE_ACCESS))
}

pub struct NewRefresh<'a> {
    pub grant_id: &'a GrantId,
    pub client_id: &'a ClientId,
    pub user_id: &'a str,
    pub scopes: &'a [String],
    pub auth_time: Timestamp,
    pub amr: &'a [String],
    pub family_expires_at: Timestamp,
    /// The DPoP key a public client's token is bound to.
    pub dpop_jkt: Option<&'a str>,
    /// The grant's APIs (kept with the grant; carried for the answer).
    pub resources: &'a [String],
}

/// A new token value and its row.
pub fn mint(p: Provider<'_>, n: &NewRefresh<'_>, now: Timestamp) -> (String, RefreshToken) {
    let value = random_token(32);
    let row = RefreshToken {
        id_hash: token_hash(&value),
        grant_id: n.grant_id.clone(),
        client_id: n.client_id.clone(),
        user_id: n.user_id.to_string(),
        scopes: n.scopes.to_vec(),
        auth_time: n.auth_time,
        amr: n.amr.to_vec(),
        created_at: now,
        expires_at: (now + p.config.refresh_token_idle_ttl).min(n.family_expires_at),
        family_expires_at: n.family_expires_at,
        used_at: None,
        successor_hash: None,
        successor_sealed: None,
        revoked_at: None,
        dpop_jkt: n.dpop_jkt.map(str::to_string),
        resources: n.resources.to_vec(),
    };
    (value, row)
}

fn grace_key(presented: &str) -> Option<LessSafeKey> {
    let mut material = b"latchkey refresh successor".to_vec();
    material.extend_from_slice(presented.as_bytes());
    UnboundKey::new(&AES_256_GCM, &sha256(&material)).ok().map(LessSafeKey::new)
}

/// Seals `successor` so that only the holder of `presented` can open it.
pub fn seal(presented: &str, successor: &str) -> Option<Vec<u8>> {
    let key = grace_key(presented)?;
    let nonce_bytes = random_bytes(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(&nonce_bytes).ok()?;
    let mut data = successor.as_bytes().to_vec();
    key.seal_in_place_append_tag(nonce, Aad::empty(), &mut data).ok()?;
    let mut out = nonce_bytes;
    out.extend_from_slice(&data);
    Some(out)
}

pub fn unseal(presented: &str, sealed: &[u8]) -> Option<String> {
    if sealed.len() <= NONCE_LEN {
        return None;
    }
    let key = grace_key(presented)?;
    let (nonce, data) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key.open_in_place(nonce, Aad::empty(), &mut data).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_presenter_can_unseal() {
        let sealed = seal("old-token", "new-token").unwrap();
        assert_eq!(unseal("old-token", &sealed).as_deref(), Some("new-token"));
        assert_eq!(unseal("other-token", &sealed), None);
        assert_eq!(unseal("old-token", &sealed[..5]), None);
    }
}
