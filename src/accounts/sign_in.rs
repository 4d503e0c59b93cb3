//! Signing in, step by step: the password (throttled per account), then,
//! for whoever has one, the second factor (`two_step`), then the rules of
//! the last step (a verified email when the operator requires one). Each
//! step returns what comes next; the audit events are written here, where
//! the decisions are made.

use std::time::Duration;

use super::throttle::{self, Kind};
use super::users::{self, AccountError};
use super::{Accounts, recovery};
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::store::User;

/// How the password step went.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// The right password: on to [`after_first_factor`].
    Passed(User),
    /// Wrong (or no such account: the same answer), after `delay`.
    Refused { delay: Duration },
    /// Locked, before this attempt or by it: seconds to wait.
    Locked(i64),
    /// The right password of a disabled account (see `users::DISABLED`).
    Disabled,
}

/// Checks a password. Failures count against the account the login names
/// (by username or email alike) and against the login itself when it names
/// none, so locks and answers are the same for known and unknown logins.
pub async fn password(
    a: Accounts<'_>, login: &str, password: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<PasswordOutcome, AccountError> {
    let throttle = a.throttle();
    let found = a.store.find_user_by_login(login).await?;
    let subject = throttle::sign_in_subject(found.as_ref(), login);
    // Checked before the password: a locked account refuses even the right
    // one, and unknown logins lock the same way, so nothing is revealed.
    if let Some(wait) = throttle.locked(Kind::SignIn, &subject, origin.ip, now).await? {
        return Ok(PasswordOutcome::Locked(wait));
    }
    let known = found.as_ref().map(|u| u.id.clone());
    let Some(user) = users::authenticate_found(a.store, a.hasher, found, password, now).await? else {
        let failure = throttle.fail(Kind::SignIn, &subject, origin.ip, now).await?;
        let event = origin
            .event("sign_in", "failure", known.as_deref())
            .detail(format!("{} failure(s) in the window", failure.count));
        audit::record(a.store, now, event).await;
        if let Some(wait) = failure.locked_for {
            let event =
                origin.event("sign_in.lockout", "locked", known.as_deref()).detail(format!("locked for {wait} s"));
            audit::record(a.store, now, event).await;
            return Ok(PasswordOutcome::Locked(wait));
        }
        return Ok(PasswordOutcome::Refused { delay: failure.delay });
    };
    if user.disabled {
        audit::record(a.store, now, origin.event("sign_in", "disabled", Some(&user.id))).await;
        return Ok(PasswordOutcome::Disabled);
    }
    throttle.succeeded(Kind::SignIn, &subject).await?;
    Ok(PasswordOutcome::Passed(user))
}

/// Whether the account must give a second factor after its first (a
/// password or GitHub: neither skips it).
pub async fn needs_second_factor(a: Accounts<'_>, user: &User) -> Result<bool, AccountError> {
    Ok(a.store.get_totp(&user.id).await?.is_some())
}

/// How the last step went.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    /// Signed in: start the session.
    SignedIn,
    /// The operator requires a verified email and this one is not: no
    /// session; a fresh link was sent (at most as often as reset links).
    VerifyEmailFirst,
}

/// The last step of every sign-in (password, GitHub, second factor).
pub async fn complete(
    a: Accounts<'_>, user: &User, amr: &[String], origin: Origin<'_>, now: Timestamp,
) -> Result<Completion, AccountError> {
    if a.config.require_verified_email && !user.email_verified {
        recovery::send_verification_throttled(a, user, origin, now).await?;
        return Ok(Completion::VerifyEmailFirst);
    }
    let event = origin.event("sign_in", "success", Some(&user.id)).detail(amr.join(" "));
    audit::record(a.store, now, event).await;
    tracing::info!(user_id = %user.id, ip = ?origin.ip, "signed in");
    Ok(Completion::SignedIn)
}
