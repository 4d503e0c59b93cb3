//! Email links: "forgot password" and the reset it leads to, and email
//! verification. Answers never say whether an address has an account;
//! mail goes out in the background, so an unknown address takes as long as
//! a known one and a slow mail server holds nothing.

use super::email_links::{self, Purpose};
use super::throttle::{self, Kind};
use super::users::{self, AccountError, normalize_email};
use super::{Accounts, password};
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::email::Email;
use crate::http::routes;
use crate::store::{RevokeReason, User};

/// Mails the account's current address without waiting for the mail
/// server: the person's request does not hang on it, and a failure is
/// logged (the message can be asked for again).
pub(super) fn send_later(a: Accounts<'_>, user: &User, subject: String, text: String) {
    let email = Email { to: user.email.clone(), subject, text };
    let mailer = a.mailer.clone();
    tokio::spawn(async move {
        if let Err(e) = mailer.send(&email).await {
            tracing::warn!(error = %e, "sending an email failed");
        }
    });
}

/// Mints a verification link for the account's address and sends it.
pub async fn send_verification(a: Accounts<'_>, user: &User, now: Timestamp) -> Result<(), AccountError> {
    let token = email_links::mint(a.store, Purpose::Verify, &user.id, &user.email, now).await?;
    let link = format!("{}{}?token={token}", a.config.issuer, routes::VERIFY_EMAIL);
    let brand = &a.config.brand.name;
    send_later(
        a,
        user,
        format!("Confirm your email for {brand}"),
        format!(
            "Hello {},\n\nConfirm that this address is yours by opening this link within 24 hours:\n\n{link}\n\n\
             If you did not create a {brand} account, ignore this message.\n",
            user.username
        ),
    );
    Ok(())
}

/// As [`send_verification`], at most as often as reset links to the address.
pub async fn send_verification_throttled(
    a: Accounts<'_>, user: &User, origin: Origin<'_>, now: Timestamp,
) -> Result<(), AccountError> {
    let throttle = a.throttle();
    if throttle.locked(Kind::Reset, &user.email, origin.ip, now).await?.is_none() {
        throttle.fail(Kind::Reset, &user.email, origin.ip, now).await?;
        send_verification(a, user, now).await?;
    }
    Ok(())
}

/// Tells the old address that the account's email changed, so a takeover
/// through a changed address does not go unnoticed.
pub fn notify_email_change(a: Accounts<'_>, user: &User, new_email: &str) {
    let brand = &a.config.brand.name;
    send_later(
        a,
        user,
        format!("Your {brand} email address changed"),
        format!(
            "Hello {},\n\nThe email address of your {brand} account was changed to {new_email}.\n\n\
             If you did not do this, reset your password and sign out everywhere.\n",
            user.username
        ),
    );
}

/// How a reset request went.
#[derive(Debug, PartialEq, Eq)]
pub enum ResetRequest {
    /// Not an email address.
    Invalid,
    /// Too many requests for the address or from the IP: seconds to wait.
    Locked(i64),
    /// Answered "if there is an account, a link is on its way", whether or
    /// not there is one.
    Accepted,
}

/// "Forgot password": every request counts against the address and the IP,
/// found or not; a link goes out only to an enabled account's own address.
pub async fn request_reset(
    a: Accounts<'_>, raw_email: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<ResetRequest, AccountError> {
    let Ok(email) = normalize_email(raw_email) else {
        return Ok(ResetRequest::Invalid);
    };
    let throttle = a.throttle();
    if let Some(wait) = throttle.locked(Kind::Reset, &email, origin.ip, now).await? {
        return Ok(ResetRequest::Locked(wait));
    }
    throttle.fail(Kind::Reset, &email, origin.ip, now).await?;
    let user = a.store.find_user_by_login(&email).await?;
    if let Some(user) = user.filter(|u| u.email == email && !u.disabled) {
        let token = email_links::mint(a.store, Purpose::Reset, &user.id, &user.email, now).await?;
        let link = format!("{}{}?token={token}", a.config.issuer, routes::RESET_PASSWORD);
        let brand = &a.config.brand.name;
        send_later(
            a,
            &user,
            format!("Reset your {brand} password"),
            format!(
                "Hello {},\n\nSomeone asked to reset the password of your {brand} account. If it was you, \
                 open this link within 30 minutes to choose a new password:\n\n{link}\n\n\
                 The link works once. If it was not you, ignore this message: your password stays as it is.\n",
                user.username
            ),
        );
        audit::record(a.store, now, origin.event("password.reset_requested", "success", Some(&user.id))).await;
    }
    Ok(ResetRequest::Accepted)
}

/// The account a reset link is for, while the link is good (leaves it
/// usable).
pub async fn reset_target(a: Accounts<'_>, token: &str, now: Timestamp) -> Result<Option<User>, AccountError> {
    let Some(link) = email_links::peek(a.store, Purpose::Reset, token, now).await? else {
        return Ok(None);
    };
    Ok(a.store.get_user(&link.user_id).await?.filter(|u| !u.disabled && u.email == link.email))
}

/// How a password reset went.
#[derive(Debug, PartialEq, Eq)]
pub enum ResetOutcome {
    /// Used, expired, or for an address the account no longer has.
    LinkInvalid,
    /// The new password breaks the policy: why, in words; the link stays
    /// usable.
    Refused(&'static str),
    /// Set; every session and grant of the account ended.
    Done,
}

/// Sets a new password through a reset link. The link is used only once the
/// password is accepted; the owner proved themselves through their mailbox,
/// so a sign-in lock from someone guessing at the account is lifted.
pub async fn reset(
    a: Accounts<'_>, token: &str, new_password: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<ResetOutcome, AccountError> {
    let Some(user) = reset_target(a, token, now).await? else {
        return Ok(ResetOutcome::LinkInvalid);
    };
    if let Err(why) = password::check_policy(new_password, &user.username, &user.email) {
        return Ok(ResetOutcome::Refused(why));
    }
    if email_links::take(a.store, Purpose::Reset, token, now).await?.is_none() {
        return Ok(ResetOutcome::LinkInvalid);
    }
    let hash = a.hasher.hash(new_password).await?;
    a.store.set_password_hash(&user.id, &hash, now).await?;
    let (ended, grants) = users::end_everything(a.store, &user.id, RevokeReason::PasswordReset, now).await?;
    a.throttle().release(Kind::SignIn, &throttle::account_subject(&user.id)).await?;
    let event = origin
        .event("password.reset", "success", Some(&user.id))
        .detail(format!("{ended} sessions ended, {grants} grants revoked"));
    audit::record(a.store, now, event).await;
    super::alerts::send(a, &user, super::alerts::Alert::PasswordReset, origin, now);
    Ok(ResetOutcome::Done)
}

/// How an email verification went.
#[derive(Debug, PartialEq, Eq)]
pub enum Verification {
    /// Used or expired.
    LinkInvalid,
    /// The account's address changed after the link was sent.
    AddressChanged,
    /// This address is verified now.
    Verified(String),
}

pub async fn verify_email(
    a: Accounts<'_>, token: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<Verification, AccountError> {
    let Some(link) = email_links::take(a.store, Purpose::Verify, token, now).await? else {
        return Ok(Verification::LinkInvalid);
    };
    if !a.store.set_email_verified(&link.user_id, &link.email, now).await? {
        return Ok(Verification::AddressChanged);
    }
    audit::record(a.store, now, origin.event("email.verified", "success", Some(&link.user_id))).await;
    Ok(Verification::Verified(link.email))
}
