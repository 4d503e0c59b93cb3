//! Creating accounts and checking passwords.

use serde::Serialize;

use super::password::{self, PasswordHasherPool};
use crate::clock::Timestamp;
use crate::store::{GrantsOf, RevokeReason, Role, Store, StoreError, StoreResult, User};

/// Per-field problems with a sign-up, in words for the person.
#[derive(Debug, Serialize, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors {
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub form: Option<String>,
}

impl FieldErrors {
    pub fn is_empty(&self) -> bool {
        self.username.is_none() && self.email.is_none() && self.password.is_none() && self.form.is_none()
    }
}

/// Why an account rule could not decide: bad input (with words for the
/// person), or a backend that failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("invalid input")]
    Invalid(FieldErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    State(#[from] crate::ephemeral::EphemeralError),
    #[error(transparent)]
    Hash(#[from] password::HashError),
    /// A stored secret does not open with the configured key.
    #[error("{0}")]
    Key(&'static str),
}

impl From<super::throttle::ThrottleError> for AccountError {
    fn from(e: super::throttle::ThrottleError) -> Self {
        match e {
            super::throttle::ThrottleError::State(e) => AccountError::State(e),
            super::throttle::ThrottleError::Store(e) => AccountError::Store(e),
        }
    }
}

/// Usernames: 3–32 characters of a–z, 0–9, `.`, `_`, `-`, starting with a
/// letter or digit; stored lower case so `Ada` and `ada` are one account.
pub fn normalize_username(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim().to_lowercase();
    let len = name.chars().count();
    if !(3..=32).contains(&len) {
        return Err("Use 3 to 32 characters.");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')) {
        return Err("Use only letters, digits, dots, dashes and underscores.");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err("Start with a letter or a digit.");
    }
    Ok(name)
}

/// A plausible address (`local@domain.tld`), stored lower case. Whether it
/// is really theirs is for email verification to prove.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if ok { Ok(email) } else { Err("Enter an email address like name@example.com.") }
}

pub struct NewAccount<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// Validates and creates an account. Field problems come back together, so
/// the form can show all of them at once.
pub async fn create_account(
    store: &dyn Store, hasher: &PasswordHasherPool, input: NewAccount<'_>, now: Timestamp,
) -> Result<User, AccountError> {
    let mut errors = FieldErrors::default();
    let username = normalize_username(input.username).map_err(|e| errors.username = Some(e.into())).ok();
    let email = normalize_email(input.email).map_err(|e| errors.email = Some(e.into())).ok();
    if let Some(pw) = input.password {
        if let Err(e) = password::check_policy(pw, input.username.trim(), input.email.trim()) {
            errors.password = Some(e.into());
        }
    }
    let (Some(username), Some(email), true) = (username, email, errors.is_empty()) else {
        return Err(AccountError::Invalid(errors));
    };
    if store.find_user_by_login(&username).await?.is_some() {
        errors.username = Some("This username is taken.".into());
    }
    if store.find_user_by_login(&email).await?.is_some() {
        errors.email = Some("An account with this email already exists. Sign in instead.".into());
    }
    if !errors.is_empty() {
        return Err(AccountError::Invalid(errors));
    }
    let password_hash = match input.password {
        Some(pw) => Some(hasher.hash(pw).await?),
        None => None,
    };
    let user = User {
        // The subject identifier: random, stable, and unrelated to the
        // username (OpenID Connect Core §8: never reassigned).
        id: uuid::Uuid::new_v4().to_string(),
        username,
        email,
        email_verified: false,
        name: input.name.map(str::to_string).filter(|n| !n.trim().is_empty()),
        picture: None,
        password_hash,
        role: Role::User,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    match store.create_user(&user).await {
        Ok(()) => Ok(user),
        // Lost a race with another sign-up for the same name or email.
        Err(StoreError::Conflict(_)) => Err(AccountError::Invalid(FieldErrors {
            form: Some("That username or email was just taken. Try another.".into()),
            ..Default::default()
        })),
        Err(e) => Err(e.into()),
    }
}

/// Checks a username-or-email and password. Unknown accounts cost the same
/// argon2 work as wrong passwords. A stored hash with outdated parameters is
/// replaced after a successful check.
pub async fn authenticate(
    store: &dyn Store, hasher: &PasswordHasherPool, login: &str, password: &str, now: Timestamp,
) -> Result<Option<User>, AccountError> {
    let found = store.find_user_by_login(login).await?;
    Ok(authenticate_found(store, hasher, found, password, now).await?.filter(|u| !u.disabled))
}

/// What a disabled account is told once it has proved itself (the right
/// password, or GitHub): the same words on every path. Before that proof it
/// is told what any wrong attempt is told.
pub const DISABLED: (&str, &str) = (
    "This account is disabled",
    "An administrator has disabled it. If you think this is a mistake, contact the administrator of this service.",
);

/// Checks `password` against an account already looked up by its login (or
/// against nothing, at the same cost, when none was found); re-hashes it
/// when the parameters changed. A disabled account with the right password
/// comes back too: the caller refuses it, with [`DISABLED`].
pub async fn authenticate_found(
    store: &dyn Store, hasher: &PasswordHasherPool, user: Option<User>, password: &str, now: Timestamp,
) -> Result<Option<User>, AccountError> {
    if password.chars().count() > password::MAX_LENGTH {
        return Ok(None);
    }
    let stored = user.as_ref().and_then(|u| u.password_hash.as_deref());
    let verified = hasher.verify(password, stored).await?;
    let Some(user) = user.filter(|_| verified.ok) else {
        return Ok(None);
    };
    if verified.needs_rehash && !user.disabled {
        let hash = hasher.hash(password).await?;
        store.set_password_hash(&user.id, &hash, now).await?;
    }
    Ok(Some(user))
}

/// The account, while it may still act: a disabled account's tokens and
/// sessions mean nothing, even in the moment before their revocation lands.
pub async fn enabled(store: &dyn Store, user_id: &str) -> StoreResult<Option<User>> {
    Ok(store.get_user(user_id).await?.filter(|u| !u.disabled))
}

/// Ends every browser session of the account and every grant (its refresh
/// and access tokens), for `reason`. Returns the numbers of sessions and
/// grants ended.
pub async fn end_everything(
    store: &dyn Store, user_id: &str, reason: RevokeReason, now: Timestamp,
) -> StoreResult<(u64, usize)> {
    let ended = store.delete_user_sessions(user_id).await?;
    let grants = store.revoke_grants(GrantsOf::User(user_id), reason, now).await?;
    Ok((ended, grants.len()))
}

/// How disabling or enabling an account went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Done,
    NoSuchUser,
    /// An administrator may not disable their own account: the last one
    /// would lock everyone out of administration.
    OwnAccount,
}

/// Disables (or re-enables) an account. Disabling ends it at once: its
/// browser sessions and every grant, so all its tokens stop working on every
/// instance. Re-enabling brings none of them back.
pub async fn set_disabled(
    store: &dyn Store, user_id: &str, disabled: bool, actor: crate::audit::Actor<'_>, now: Timestamp,
) -> StoreResult<Toggle> {
    if disabled && actor.user_id == Some(user_id) {
        return Ok(Toggle::OwnAccount);
    }
    if !store.set_user_disabled(user_id, disabled, now).await? {
        return Ok(Toggle::NoSuchUser);
    }
    if disabled {
        store.delete_user_sessions(user_id).await?;
        store.revoke_grants(GrantsOf::User(user_id), RevokeReason::AccountDisabled, now).await?;
    }
    let event = if disabled { "admin.user_disable" } else { "admin.user_enable" };
    crate::audit::record(store, now, actor.event(event, format!("user {user_id}"))).await;
    Ok(Toggle::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(normalize_username(" Ada.L ").unwrap(), "ada.l");
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username("-ada").is_err());
        assert!(normalize_username("ada lovelace").is_err());
        assert!(normalize_username("adä").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(normalize_email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in ["ada", "ada@", "@example.com", "ada@example", "a b@example.com", "a@b@c.com", "ada@.com"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
