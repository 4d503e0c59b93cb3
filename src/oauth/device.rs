//! The device authorization grant (RFC 8628): a TV, a console or a
//! command-line tool shows a short code; the person enters it at /device on
//! their phone or computer, signs in, confirms and approves; the device,
//! polling the token endpoint meanwhile, then gets its tokens, once.
//!
//! The user code is the weak point (RFC 8628 §5.1): 8 characters from 20
//! consonants, 20^8 ≈ 2.6·10^10 codes, and guessing is limited per IP and
//! across the whole code space per minute (see [`lookup`]). A prefilled
//! link (`verification_uri_complete`) never skips the person's
//! confirmation: a phished link is the main attack on this flow (§5.4).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::grants::authorization_code::{self, CodeRecord};
use super::{Provider, apis, scopes};
use crate::accounts::throttle::Kind;
use crate::accounts::users;
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::crypto::{random_bytes, random_token, token_hash};
use crate::ephemeral::kinds::{self, DEVICE_CONFIRMATION};
use crate::error::{ErrorCode, OAuthError};
use crate::oauth::clients::GRANT_DEVICE_CODE;
use crate::oauth::dpop::Proof;
use crate::oauth::params::Params;
use crate::oauth::tokens::TokenResponse;
use crate::store::{
    Client, DeviceAuthorization, DeviceDecision, DeviceStatus, Grant, GrantId, Poll, Role, Session, StoreError, User,
};

/// RFC 8628 §6.1: consonants only (no vowels, so no words; no look-alikes).
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
pub const USER_CODE_LEN: usize = 8;
/// How long a device waits for its person, seconds.
pub const LIFETIME: i64 = 600;
/// The least time between two polls, seconds (RFC 8628 §3.2 default).
pub const INTERVAL: i64 = 5;

/// RFC 8628 §3.2: the answer to a device's request.
#[derive(Debug, Serialize)]
pub struct DeviceResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A code as typed: letters of the alphabet in any case, with or without
/// the dash and spaces. None when it cannot be one of ours.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !matches!(c, '-' | ' ' | '\t')).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// XXXX-XXXX, as shown to the person.
pub fn display(code: &str) -> String {
    let (a, b) = code.split_at(code.len().min(USER_CODE_LEN / 2));
    format!("{a}-{b}")
}

fn new_user_code() -> String {
    // 20 divides 240 evenly: bytes below 240 map uniformly.
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        for b in random_bytes(16) {
            if b < 240 && code.len() < USER_CODE_LEN {
                code.push(ALPHABET[(b % 20) as usize] as char);
            }
        }
    }
    code
}

/// POST /device_authorization (RFC 8628 §3.1-3.2).
pub async fn start(
    p: Provider<'_>, client: &Client, params: &Params, verification_uri: &str, now: Timestamp,
) -> Result<DeviceResponse, OAuthError> {
    if !client.grant_types.iter().any(|g| g == GRANT_DEVICE_CODE) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the device flow"));
    }
    let resources = apis::resolve(p, client, params.all("resource")).await?;
    let api_scopes: Vec<String> = resources.iter().flat_map(|a| a.scopes.iter().cloned()).collect();
    let requested = params.get("scope").unwrap_or("");
    let granted = scopes::parse_for(requested, &client.scopes, &api_scopes);
    if !requested.trim().is_empty() && granted.is_empty() {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "none of the requested scopes is available"));
    }
    let device_code = random_token(32);
    // A user code taken by another device is drawn again; five collisions
    // in a row would mean the code space is nearly full.
    for _ in 0..5 {
        let user_code = new_user_code();
        let device = DeviceAuthorization {
            device_code_hash: token_hash(&device_code),
            user_code: user_code.clone(),
            client_id: client.id.clone(),
            scopes: granted.clone(),
            resources: resources.iter().map(|a| a.identifier.clone()).collect(),
            status: DeviceStatus::Pending,
            user_id: None,
            grant_id: None,
            auth_time: None,
            amr: Vec::new(),
            poll_interval: INTERVAL,
            last_polled_at: None,
            created_at: now,
            expires_at: now + LIFETIME,
        };
        match p.store.create_device(&device).await {
            Ok(()) => {
                let shown = display(&user_code);
                let complete = format!("{verification_uri}?user_code={shown}");
                return Ok(DeviceResponse {
                    device_code,
                    user_code: shown,
                    verification_uri: verification_uri.to_string(),
                    verification_uri_complete: complete,
                    expires_in: LIFETIME,
                    interval: INTERVAL,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::unavailable("no free user code after five draws"))
}

/// What entering a code found.
pub enum Lookup {
    /// Not a code of ours in form (wrong length or letters).
    Malformed,
    /// Unknown, expired, or already decided.
    Unknown,
    /// Too many wrong codes: seconds to wait.
    Locked(i64),
    Found(Box<DeviceAuthorization>, Box<Client>),
}

/// Finds the device a code names, counting entries against the IP and the
/// whole code space so that guessing stays hopeless. Each entry is counted
/// before it is looked at: concurrent guesses cannot slip in while the
/// count catches up.
pub async fn lookup(p: Provider<'_>, typed: &str, origin: Origin<'_>, now: Timestamp) -> Result<Lookup, OAuthError> {
    let throttle = p.throttle();
    let ip = origin.ip.unwrap_or("unknown");
    if let Some(wait) = throttle.locked(Kind::DeviceCode, ip, origin.ip, now).await? {
        return Ok(Lookup::Locked(wait));
    }
    if let Some(wait) = throttle.admit(Kind::DeviceCode, ip, now).await? {
        return Ok(Lookup::Locked(wait));
    }
    let minute = now.div_euclid(60);
    let space_key = format!("device:guesses:{minute}");
    let space_window = Duration::from_secs(120);
    if p.ephemeral.incr(&space_key, space_window).await? > p.config.device_code_guesses_per_minute {
        return Ok(Lookup::Locked(60 - now.rem_euclid(60)));
    }
    let code = normalize(typed);
    let found = match &code {
        Some(code) => p.store.pending_device(code, now).await?,
        None => None,
    };
    let client = match &found {
        Some(device) => p.store.get_client(&device.client_id).await?,
        None => None,
    };
    if let (Some(device), Some(client)) = (found, client) {
        throttle.admitted_good(Kind::DeviceCode, ip).await?;
        p.ephemeral.decr(&space_key, space_window).await?;
        return Ok(Lookup::Found(Box::new(device), Box::new(client)));
    }
    // A miss counts, whatever its form: a guess is a guess. Misses lock the
    // IP in the database (entries are counted in short-lived state only).
    let failure = throttle.fail(Kind::DeviceCode, ip, origin.ip, now).await?;
    audit::record(p.store, now, origin.event("device.code_entry", "failure", None)).await;
    if let Some(wait) = failure.locked_for {
        return Ok(Lookup::Locked(wait));
    }
    Ok(if code.is_none() { Lookup::Malformed } else { Lookup::Unknown })
}

/// A code the person entered at /device and was shown, waiting for their
/// answer. The answer names this, never the code: only the browser and the
/// person who entered the code (through [`lookup`]'s limits) may answer it,
/// once; otherwise the answer step would be a way round those limits.
#[derive(Debug, Serialize, Deserialize)]
pub struct Confirmation {
    pub user_code: String,
    pub user_id: String,
    /// The browser's binding (its CSRF cookie).
    pub binding: String,
}

/// Holds a found code for `user`'s answer from the browser with `binding`;
/// the id for the confirm form.
pub async fn hold(
    p: Provider<'_>, device: &DeviceAuthorization, user: &User, binding: String,
) -> Result<String, OAuthError> {
    let id = random_token(24);
    let held = Confirmation { user_code: device.user_code.clone(), user_id: user.id.clone(), binding };
    DEVICE_CONFIRMATION.put(p.ephemeral, &id, &held).await?;
    Ok(id)
}

/// The person's answer to the code held under `confirmation`, from their
/// signed-in `session` in the browser with `binding`. False when there is
/// nothing to answer: the hold is unknown, used, another browser's or
/// another person's, or the code is no longer pending (decided, expired).
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    p: Provider<'_>, confirmation: &str, binding: Option<&str>, user: &User, session: &Session, approve: bool,
    origin: Origin<'_>, now: Timestamp,
) -> Result<bool, OAuthError> {
    let held = DEVICE_CONFIRMATION.take(p.ephemeral, confirmation).await?;
    let Some(held) = held.filter(|h| kinds::same_browser(h, binding) && h.user_id == user.id) else {
        return Ok(false);
    };
    let user_code = held.user_code.as_str();
    let (auth_time, amr) = (session.auth_time, session.amr.as_slice());
    let Some(device) = p.store.pending_device(user_code, now).await? else {
        return Ok(false);
    };
    let decided = if approve {
        let mut scopes = device.scopes.clone();
        // The admin scope goes to administrators only.
        if user.role != Role::Admin {
            scopes.retain(|s| s != scopes::ADMIN);
        }
        let grant = Grant {
            id: GrantId::generate(),
            client_id: device.client_id.clone(),
            user_id: user.id.clone(),
            scopes,
            created_at: now,
            last_issued_at: now,
            // Until the device takes its tokens, nothing comes of it.
            expires_at: device.expires_at + p.config.access_token_ttl,
            revoked_at: None,
            revoked_reason: None,
            resources: device.resources.clone(),
        };
        let decision = DeviceDecision::Approve { grant: &grant, auth_time, amr };
        p.store.decide_device(user_code, &user.id, decision, now).await?
    } else {
        p.store.decide_device(user_code, &user.id, DeviceDecision::Deny, now).await?
    };
    if decided && approve {
        // Recorded as a consent, so the device is among the person's
        // connected apps, where revoking it ends its grant. It never skips
        // the confirmation: every device code is confirmed (RFC 8628 §5.4).
        let mut consented = p.store.get_consent(&user.id, &device.client_id).await?.unwrap_or_default();
        for s in &device.scopes {
            let admin_only = s == scopes::ADMIN && user.role != Role::Admin;
            if !admin_only && !consented.contains(s) {
                consented.push(s.clone());
            }
        }
        p.store.put_consent(&user.id, &device.client_id, &consented, now).await?;
    }
    if decided {
        let (event, outcome) = if approve { ("device.approve", "success") } else { ("device.deny", "success") };
        let e = origin.event(event, outcome, Some(&user.id)).client(&device.client_id).detail(display(user_code));
        audit::record(p.store, now, e).await;
    }
    Ok(decided)
}

/// The token request of a polling device (RFC 8628 §3.4-3.5).
pub async fn redeem(
    p: Provider<'_>, client: &Client, params: &Params, dpop: Option<&Proof>, now: Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let device_code = params.require("device_code")?;
    let device = match p.store.poll_device(&token_hash(device_code), &client.id, now).await? {
        Poll::Approved(device) => device,
        Poll::Pending => {
            return Err(OAuthError::new(ErrorCode::AuthorizationPending, "the person has not answered yet"));
        }
        Poll::SlowDown => {
            return Err(OAuthError::new(ErrorCode::SlowDown, "polling too fast: wait 5 seconds more between polls"));
        }
        Poll::Denied => return Err(OAuthError::new(ErrorCode::AccessDenied, "the person refused")),
        Poll::Expired => return Err(OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired")),
        Poll::Unknown | Poll::Used => {
            return Err(OAuthError::invalid_grant("the device code is invalid or was already used"));
        }
    };
    let (Some(user_id), Some(grant_id)) = (device.user_id.as_deref(), device.grant_id.as_ref()) else {
        return Err(OAuthError::server("an approved device authorization without its grant"));
    };
    let user = users::enabled(p.store, user_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer available"))?;
    let scopes = match p.store.get_grant(grant_id).await? {
        Some(grant) if grant.revoked_at.is_none() => grant.scopes,
        _ => return Err(OAuthError::invalid_grant("the authorization has been revoked")),
    };
    let record = CodeRecord {
        client_id: client.id.clone(),
        redirect_uri: String::new(),
        redirect_uri_sent: false,
        user_id: user.id.clone(),
        scopes,
        nonce: None,
        code_challenge: None,
        auth_time: device.auth_time.unwrap_or(now),
        amr: device.amr.clone(),
        expires_at: device.expires_at,
        grant_id: grant_id.clone(),
        dpop_jkt: None,
        resources: device.resources.clone(),
    };
    authorization_code::issue(p, client, &user, &record, params, dpop, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_as_people_type_them() {
        assert_eq!(normalize("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize(" BCDF GHJK ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize("BCDFGHJ"), None, "too short");
        assert_eq!(normalize("BCDFGHJKL"), None, "too long");
        assert_eq!(normalize("BCDF-GHJA"), None, "a vowel is not in the alphabet");
        assert_eq!(normalize("BCDF-GHJ1"), None);
        assert_eq!(display("BCDFGHJK"), "BCDF-GHJK");
        for _ in 0..100 {
            let code = new_user_code();
            assert_eq!(normalize(&code).as_deref(), Some(code.as_str()));
        }
    }
}
