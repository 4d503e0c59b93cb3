//! What a person changes about their own account from the account page:
//! the password, the profile, their sessions, and the apps they allowed.

use super::throttle::{self, Kind};
use super::users::{self, AccountError, normalize_email};
use super::{Accounts, password, recovery, sessions};
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::store::{ClientId, GrantsOf, RevokeReason, Session, StoreError, User};

/// How a password change went.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordChange {
    /// The current password was wrong (counted like a failed sign-in).
    WrongCurrent,
    /// The new password breaks the policy.
    Refused(&'static str),
    /// Changed; every session and grant of the account ended (the caller
    /// starts a fresh session for this browser).
    Changed,
}

/// Changes (or, for an account made through GitHub, sets) the password.
pub async fn change_password(
    a: Accounts<'_>, user: &User, current: &str, new: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<PasswordChange, AccountError> {
    if user.password_hash.is_some() {
        let verified = a.hasher.verify(current, user.password_hash.as_deref()).await;
        if !matches!(verified, Ok(v) if v.ok) {
            let subject = throttle::account_subject(&user.id);
            a.throttle().fail(Kind::SignIn, &subject, origin.ip, now).await?;
            let event = origin.event("password.change", "failure", Some(&user.id)).detail("wrong current password");
            audit::record(a.store, now, event).await;
            return Ok(PasswordChange::WrongCurrent);
        }
    }
    if let Err(why) = password::check_policy(new, &user.username, &user.email) {
        tracing::info!(user_id = %user.id, reason = why, "new password refused");
        return Ok(PasswordChange::Refused(why));
    }
    let hash = a.hasher.hash(new).await?;
    a.store.set_password_hash(&user.id, &hash, now).await?;
    let (ended, grants) = users::end_everything(a.store, &user.id, RevokeReason::PasswordChanged, now).await?;
    let event = origin
        .event("password.change", "success", Some(&user.id))
        .detail(format!("{ended} sessions ended, {grants} grants revoked"));
    audit::record(a.store, now, event).await;
    super::alerts::send(a, user, super::alerts::Alert::PasswordChanged, origin, now);
    Ok(PasswordChange::Changed)
}

/// How a profile update went.
#[derive(Debug, PartialEq, Eq)]
pub enum ProfileUpdate {
    InvalidEmail,
    EmailTaken,
    /// Saved; `email_changed`: a link went to the new address (unverified
    /// until opened) and the old one was told.
    Saved {
        email_changed: bool,
    },
}

/// Sets the name (at most 100 characters; empty removes it) and the email.
pub async fn update_profile(
    a: Accounts<'_>, user: &User, name: Option<&str>, raw_email: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<ProfileUpdate, AccountError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty()).map(|n| n.chars().take(100).collect::<String>());
    let Ok(email) = normalize_email(raw_email) else {
        return Ok(ProfileUpdate::InvalidEmail);
    };
    match a.store.update_profile(&user.id, name.as_deref(), &email, now).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Ok(ProfileUpdate::EmailTaken),
        Err(e) => return Err(e.into()),
    }
    let email_changed = email != user.email;
    if email_changed {
        if let Some(updated) = a.store.get_user(&user.id).await? {
            recovery::send_verification(a, &updated, now).await?;
        }
        recovery::notify_email_change(a, user, &email);
    }
    let detail = if email_changed { "name and email" } else { "name" };
    audit::record(a.store, now, origin.event("profile.update", "success", Some(&user.id)).detail(detail)).await;
    Ok(ProfileUpdate::Saved { email_changed })
}

/// Ends one of the person's sessions (found by its id hash; another
/// person's is left alone). True when one ended.
pub async fn end_session(
    a: Accounts<'_>, user: &User, session_id: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<bool, AccountError> {
    let Some(target) = a.store.get_session(session_id).await? else {
        return Ok(false);
    };
    if target.user_id != user.id {
        return Ok(false);
    }
    a.store.delete_session(session_id).await?;
    let event = origin
        .event("session.end", "success", Some(&user.id))
        .detail(sessions::describe_device(target.user_agent.as_deref()));
    audit::record(a.store, now, event).await;
    Ok(true)
}

/// Ends every session and grant of the account; returns the sessions ended.
pub async fn sign_out_everywhere(
    a: Accounts<'_>, session: &Session, origin: Origin<'_>, now: Timestamp,
) -> Result<u64, AccountError> {
    let (ended, grants) =
        users::end_everything(a.store, &session.user_id, RevokeReason::SignOutEverywhere, now).await?;
    let event = origin
        .event("session.sign_out_everywhere", "success", Some(&session.user_id))
        .detail(format!("{ended} sessions ended, {grants} grants revoked"));
    audit::record(a.store, now, event).await;
    Ok(ended)
}

/// Revokes an app: its consent goes, and every grant the person gave it
/// ends (access tokens included, with or without a refresh token).
pub async fn revoke_app(
    a: Accounts<'_>, user: &User, client_id: &ClientId, origin: Origin<'_>, now: Timestamp,
) -> Result<(), AccountError> {
    let removed = a.store.delete_consent(&user.id, client_id).await?;
    let which = GrantsOf::UserClient { user_id: &user.id, client_id };
    let grants = a.store.revoke_grants(which, RevokeReason::AppRevoked, now).await?;
    if removed || !grants.is_empty() {
        let event = origin
            .event("consent.revoke", "success", Some(&user.id))
            .client(client_id)
            .detail(format!("{} grants revoked", grants.len()));
        audit::record(a.store, now, event).await;
    }
    Ok(())
}
