//! The linking rules: which local account a person coming back from GitHub
//! becomes. They are a security boundary (README, "Sign in with GitHub"):
//!
//! - an identity is keyed by GitHub's numeric id, never by login or email;
//! - an unknown id whose email no local account uses creates an account;
//! - an unknown id whose email a local account uses is never linked
//!   silently: the person proves they own that account first;
//! - an identity linked to one account is refused for any other.

use serde::{Deserialize, Serialize};

use super::github::{GithubProfile, PROVIDER};
use crate::clock::Timestamp;
use crate::crypto::random_token;
use crate::store::{Identity, Store, StoreError, User};

/// The `amr` of a session started through GitHub: `fed` (federated sign-in,
/// as other providers use it) and the upstream provider's name.
pub fn amr() -> Vec<String> {
    vec!["fed".into(), PROVIDER.into()]
}

/// Why the round trip was started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    SignIn,
    /// A signed-in person links GitHub to their account.
    Link {
        user_id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The GitHub identity is linked to a different local account.
    LinkedToAnother,
    /// The account already links a (different) GitHub identity.
    AccountHasOne,
    /// The linked account is disabled.
    Disabled,
}

#[derive(Debug)]
pub enum Outcome {
    /// Sign this account in. `created` when it was made just now.
    SignIn {
        user: User,
        created: bool,
    },
    /// The identity is now linked to the account that asked.
    Linked {
        user: User,
    },
    /// A local account uses this email: its owner must prove it is theirs.
    NeedsProof {
        user: User,
    },
    Refused(Refusal),
}

/// The identity row for `profile` (not yet stored).
pub fn identity_for(profile: &GithubProfile, user_id: &str, now: Timestamp) -> Identity {
    Identity {
        provider: PROVIDER.into(),
        subject: profile.id.to_string(),
        user_id: user_id.to_string(),
        login: profile.login.clone(),
        email: profile.email.clone(),
        linked_at: now,
        last_used_at: now,
    }
}

/// Decides, and does, what the rules say for a person back from GitHub.
pub async fn resolve(
    store: &dyn Store, profile: &GithubProfile, purpose: &Purpose, now: Timestamp,
) -> Result<Outcome, StoreError> {
    let subject = profile.id.to_string();
    if let Some(known) = store.find_identity(PROVIDER, &subject).await? {
        if let Purpose::Link { user_id } = purpose {
            if *user_id != known.user_id {
                return Ok(Outcome::Refused(Refusal::LinkedToAnother));
            }
        }
        let Some(user) = store.get_user(&known.user_id).await? else {
            return Err(StoreError::Corrupt(format!("identity {subject} links a missing account")));
        };
        if user.disabled {
            return Ok(Outcome::Refused(Refusal::Disabled));
        }
        let mut seen = identity_for(profile, &user.id, now);
        seen.linked_at = known.linked_at;
        store.touch_identity(&seen).await?;
        store.fill_profile(&user.id, profile.name.as_deref(), profile.avatar_url.as_deref(), now).await?;
        let user = store.get_user(&user.id).await?.unwrap_or(user);
        return Ok(match purpose {
            Purpose::SignIn => Outcome::SignIn { user, created: false },
            Purpose::Link { .. } => Outcome::Linked { user },
        });
    }

    if let Purpose::Link { user_id } = purpose {
        let Some(user) = store.get_user(user_id).await? else {
            return Err(StoreError::Corrupt(format!("account {user_id} is gone")));
        };
        return link(store, &user, profile, now).await;
    }

    // Unknown identity, signing in. A verified GitHub email that a local
    // account uses means "prove that account is yours". An unverified one
    // proves nothing, so it neither links nor reveals that the account
    // exists: the new account gets GitHub's no-reply address instead.
    let mut email = profile.email.clone();
    if let Some(e) = &email {
        if let Some(existing) = store.find_user_by_login(e).await? {
            if profile.email_verified {
                return Ok(Outcome::NeedsProof { user: existing });
            }
            email = None;
        }
    }
    let (email, email_verified) = match email {
        Some(e) => (e, profile.email_verified),
        None => (noreply_email(profile), false),
    };
    let base = username_base(&profile.login);
    for attempt in 0..6 {
        let username = match attempt {
            0 => base.clone(),
            1..=3 => suffixed(&base, &(attempt + 1).to_string()),
            _ => suffixed(&base, &random_token(3).to_lowercase().replace(['-', '_'], "x")),
        };
        if store.find_user_by_login(&username).await?.is_some() {
            continue;
        }
        let user = User {
            id: uuid::Uuid::new_v4().to_string(),
            username,
            email: email.clone(),
            email_verified,
            name: profile.name.clone(),
            picture: profile.avatar_url.clone(),
            password_hash: None,
            role: crate::store::Role::User,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        match store.create_user_with_identity(&user, &identity_for(profile, &user.id, now)).await {
            Ok(()) => return Ok(Outcome::SignIn { user, created: true }),
            // A concurrent sign-in with the same GitHub account won the race:
            // sign in to the account it made.
            Err(StoreError::Conflict(_)) => {
                if let Some(known) = store.find_identity(PROVIDER, &profile.id.to_string()).await? {
                    if let Some(user) = store.get_user(&known.user_id).await? {
                        return Ok(Outcome::SignIn { user, created: false });
                    }
                }
                // Otherwise the username or email was taken meanwhile; retry.
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict("username"))
}

/// Links `profile` to `user` (after a password proof, or from the account
/// page), applying the one-identity-per-account rule.
pub async fn link(
    store: &dyn Store, user: &User, profile: &GithubProfile, now: Timestamp,
) -> Result<Outcome, StoreError> {
    if user.disabled {
        return Ok(Outcome::Refused(Refusal::Disabled));
    }
    let has = store.user_identities(&user.id).await?;
    if has.iter().any(|i| i.provider == PROVIDER) {
        return Ok(Outcome::Refused(Refusal::AccountHasOne));
    }
    match store.link_identity(&identity_for(profile, &user.id, now)).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Ok(Outcome::Refused(match store.find_identity(PROVIDER, &profile.id.to_string()).await? {
                Some(i) if i.user_id != user.id => Refusal::LinkedToAnother,
                _ => Refusal::AccountHasOne,
            }));
        }
        Err(e) => return Err(e),
    }
    store.fill_profile(&user.id, profile.name.as_deref(), profile.avatar_url.as_deref(), now).await?;
    let user = store.get_user(&user.id).await?.unwrap_or_else(|| user.clone());
    Ok(Outcome::Linked { user })
}

/// Whether the account may drop its GitHub link: not when it is the last
/// way to sign in.
pub fn may_unlink(user: &User, identities: &[Identity]) -> bool {
    user.password_hash.is_some() || identities.iter().filter(|i| i.provider != PROVIDER).count() > 0
}

/// GitHub's own no-reply address for the account, used when GitHub shares
/// no usable email.
fn noreply_email(profile: &GithubProfile) -> String {
    format!("{}+{}@users.noreply.github.com", profile.id, profile.login.to_lowercase())
}

/// A valid local username from a GitHub login (letters, digits and single
/// hyphens, up to 39 characters): lower case, padded to our minimum of 3.
fn username_base(login: &str) -> String {
    let mut name: String =
        login.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    name = name.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    if name.chars().count() < 3 {
        name = format!("{name}-gh").trim_start_matches('-').to_string();
        if name.len() < 3 {
            name = "github-user".into();
        }
    }
    name.chars().take(32).collect()
}

fn suffixed(base: &str, suffix: &str) -> String {
    let keep = 32 - suffix.len() - 1;
    format!("{}-{suffix}", base.chars().take(keep).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::users::normalize_username;

    #[test]
    fn usernames_from_logins_are_valid() {
        for login in ["Octocat", "ab", "x", "a-very-long-login-name-that-github-allows-39", "-", "Mona_Lisa"] {
            let base = username_base(login);
            assert!(normalize_username(&base).is_ok(), "{login} -> {base}");
            assert!(normalize_username(&suffixed(&base, "2")).is_ok(), "{base}-2");
            assert!(normalize_username(&suffixed(&base, "ab3x")).is_ok());
        }
        assert_eq!(username_base("Octocat"), "octocat");
        assert_eq!(username_base("ab"), "ab-gh");
    }
}
