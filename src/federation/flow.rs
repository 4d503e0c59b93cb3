//! The round trip to GitHub and what follows it: the callback (state, code,
//! profile, organization rule, linking rules), and the password proof when a
//! local account already uses the person's GitHub email. Each step returns
//! an outcome and records its audit events; the HTTP layer shows pages.

use super::github::{GithubClient, GithubProfile, UpstreamError};
use super::linking::{self, Outcome, Purpose, Refusal};
use super::{PROOF_ATTEMPTS, PendingProof, RoundTrip};
use crate::accounts::Accounts;
use crate::accounts::alerts::{self, Alert};
use crate::accounts::users::{self, AccountError};
use crate::audit::{self, Origin};
use crate::clock::Timestamp;
use crate::crypto::random_token;
use crate::ephemeral::kinds::{GITHUB_PROOF, GITHUB_ROUND_TRIP, same_browser};
use crate::http::routes;
use crate::store::User;

/// Where a person goes back to after a failed round trip.
pub fn back_url(request_id: Option<&str>, purpose: &Purpose) -> String {
    match (purpose, request_id) {
        (Purpose::Link { .. }, _) => routes::ACCOUNT.to_string(),
        (Purpose::SignIn, Some(id)) => format!("{}?request={id}", routes::LOGIN),
        (Purpose::SignIn, None) => routes::LOGIN.to_string(),
    }
}

/// Starts a round trip from the browser with `binding`; returns the URL at
/// GitHub to send it to.
pub async fn start(
    a: Accounts<'_>, gh: &GithubClient, binding: String, request_id: Option<String>, purpose: Purpose,
) -> Result<String, AccountError> {
    let state = random_token(32);
    let (url, verifier) = gh.authorize_url(&state);
    let trip = RoundTrip { binding, verifier, request_id, purpose };
    GITHUB_ROUND_TRIP.put(a.ephemeral, &state, &trip).await?;
    Ok(url)
}

/// What GitHub's callback came to.
#[derive(Debug)]
pub enum Callback {
    /// Unknown, used, expired, or started in another browser.
    Invalid,
    /// The person chose not to continue at GitHub.
    Cancelled { back: String },
    /// GitHub answered the authorization with another error.
    Failed { error: String, back: String },
    /// GitHub sent no code.
    NoCode { back: String },
    /// Exchanging the code or reading the profile failed.
    Upstream { error: UpstreamError, back: String },
    /// Sign-in is limited to organizations this account is not in.
    NotAllowed { back: String },
    /// The linking rules decided.
    Decided(Box<Decided>),
}

/// A decision of the linking rules, with what the page needs.
#[derive(Debug)]
pub struct Decided {
    pub outcome: Outcome,
    pub profile: GithubProfile,
    pub request_id: Option<String>,
    pub back: String,
}

/// The callback's parameters.
pub struct CallbackParams<'p> {
    pub state: Option<&'p str>,
    pub code: Option<&'p str>,
    pub error: Option<&'p str>,
}

/// Finishes the round trip: the state is taken (single use, any instance)
/// and must come back to the browser that started it.
pub async fn callback(
    a: Accounts<'_>, gh: &GithubClient, params: CallbackParams<'_>, binding: Option<&str>, origin: Origin<'_>,
    now: Timestamp,
) -> Result<Callback, AccountError> {
    let Some(state) = params.state else {
        return Ok(Callback::Invalid);
    };
    let Some(trip) = GITHUB_ROUND_TRIP.take(a.ephemeral, state).await? else {
        return Ok(Callback::Invalid);
    };
    if !same_browser(&trip, binding) {
        tracing::warn!(ip = ?origin.ip, "GitHub callback from a browser that did not start it");
        return Ok(Callback::Invalid);
    }
    let back = back_url(trip.request_id.as_deref(), &trip.purpose);
    if let Some(error) = params.error {
        if error == "access_denied" {
            return Ok(Callback::Cancelled { back });
        }
        tracing::warn!(error, "GitHub answered the authorization with an error");
        return Ok(Callback::Failed { error: error.chars().take(64).collect(), back });
    }
    let Some(code) = params.code else {
        return Ok(Callback::NoCode { back });
    };
    let profile = match exchange(gh, code, &trip.verifier).await {
        Ok(p) => p,
        Err(error) => return Ok(Callback::Upstream { error, back }),
    };
    if !gh.org_allowed(&profile) {
        refused(a, origin, None, &profile, "not a member of an allowed organization", now).await;
        return Ok(Callback::NotAllowed { back });
    }
    let outcome = linking::resolve(a.store, &profile, &trip.purpose, now).await?;
    let session_user = match &trip.purpose {
        Purpose::Link { user_id } => Some(user_id.clone()),
        Purpose::SignIn => None,
    };
    record_outcome(a, &outcome, &profile, session_user.as_deref(), origin, now).await;
    Ok(Callback::Decided(Box::new(Decided { outcome, profile, request_id: trip.request_id, back })))
}

async fn exchange(gh: &GithubClient, code: &str, verifier: &str) -> Result<GithubProfile, UpstreamError> {
    let token = gh.exchange(code, verifier).await?;
    gh.profile(&token).await
}

/// The audit events of a linking decision.
async fn record_outcome(
    a: Accounts<'_>, outcome: &Outcome, p: &GithubProfile, session_user: Option<&str>, origin: Origin<'_>,
    now: Timestamp,
) {
    let detail = format!("github id {} (@{})", p.id, p.login);
    match outcome {
        Outcome::SignIn { user, created: true } => {
            let event = origin.event("federation.account_created", "success", Some(&user.id)).detail(detail);
            audit::record(a.store, now, event).await;
        }
        Outcome::Linked { user } => {
            let event = origin.event("federation.link", "success", Some(&user.id)).detail(detail);
            audit::record(a.store, now, event).await;
            alerts::send(a, user, Alert::GithubLinked(&p.login), origin, now);
        }
        Outcome::Refused(why) => {
            let why = match why {
                Refusal::LinkedToAnother => "linked to another account",
                Refusal::AccountHasOne => "account already links a GitHub identity",
                Refusal::Disabled => "account disabled",
            };
            refused(a, origin, session_user, p, why, now).await;
        }
        Outcome::SignIn { created: false, .. } | Outcome::NeedsProof { .. } => {}
    }
}

async fn refused(
    a: Accounts<'_>, origin: Origin<'_>, user_id: Option<&str>, p: &GithubProfile, why: &str, now: Timestamp,
) {
    let event =
        origin.event("federation.link", "refused", user_id).detail(format!("github id {} (@{}): {why}", p.id, p.login));
    audit::record(a.store, now, event).await;
}

/// Asks for the password of `user`, whose account uses the GitHub email;
/// returns the id for the proof form.
pub async fn begin_proof(
    a: Accounts<'_>, user: &User, profile: &GithubProfile, binding: String, request_id: Option<String>,
) -> Result<(String, PendingProof), AccountError> {
    let id = random_token(32);
    let pending = PendingProof { binding, user_id: user.id.clone(), profile: profile.clone(), request_id, attempts: 0 };
    GITHUB_PROOF.put(a.ephemeral, &id, &pending).await?;
    Ok((id, pending))
}

/// How a proof went.
#[derive(Debug)]
pub enum Proof {
    /// Unknown, expired, another browser's, or the account is gone.
    Expired,
    /// Not the password: the form again (attempts left).
    Wrong { user: User, pending: PendingProof },
    /// The last attempt failed: nothing was linked.
    TooManyAttempts,
    /// Linked: sign in with `amr` (password, then GitHub).
    Linked { user: User, amr: Vec<String>, request_id: Option<String> },
    /// The linking rules decided otherwise (a race with another link).
    Decided(Box<Decided>),
}

/// Checks the password proving the person owns the account that uses their
/// GitHub email, and links on success.
pub async fn confirm_proof(
    a: Accounts<'_>, id: &str, binding: Option<&str>, password: &str, origin: Origin<'_>, now: Timestamp,
) -> Result<Proof, AccountError> {
    // Read first: a form submitted from another browser must not void it.
    if GITHUB_PROOF.get_bound(a.ephemeral, id, binding).await?.is_none() {
        return Ok(Proof::Expired);
    }
    // Then taken while checked, so two submissions cannot race past the
    // attempt limit.
    let Some(mut pending) = GITHUB_PROOF.take(a.ephemeral, id).await? else {
        return Ok(Proof::Expired);
    };
    let Some(user) = users::enabled(a.store, &pending.user_id).await? else {
        return Ok(Proof::Expired);
    };
    let verified = a.hasher.verify(password, user.password_hash.as_deref()).await;
    let ok = matches!(&verified, Ok(v) if v.ok) && password.chars().count() <= crate::accounts::password::MAX_LENGTH;
    if !ok {
        pending.attempts += 1;
        let event = origin
            .event("federation.link_proof", "failure", Some(&user.id))
            .detail(format!("github id {} (@{})", pending.profile.id, pending.profile.login));
        audit::record(a.store, now, event).await;
        if pending.attempts >= PROOF_ATTEMPTS {
            return Ok(Proof::TooManyAttempts);
        }
        GITHUB_PROOF.put(a.ephemeral, id, &pending).await?;
        return Ok(Proof::Wrong { user, pending });
    }
    let back = back_url(pending.request_id.as_deref(), &Purpose::SignIn);
    let outcome = linking::link(a.store, &user, &pending.profile, now).await?;
    record_outcome(a, &outcome, &pending.profile, None, origin, now).await;
    Ok(match outcome {
        Outcome::Linked { user } => {
            let mut amr = vec!["pwd".to_string()];
            amr.extend(linking::amr());
            Proof::Linked { user, amr, request_id: pending.request_id }
        }
        outcome => Proof::Decided(Box::new(Decided {
            outcome,
            profile: pending.profile,
            request_id: pending.request_id,
            back,
        })),
    })
}

/// Unlinking GitHub from the account page.
#[derive(Debug, PartialEq, Eq)]
pub enum Unlink {
    /// Nothing to unlink.
    NotLinked,
    /// Refused: GitHub is the account's last way to sign in.
    LastMethod,
    Unlinked,
}

pub async fn unlink(a: Accounts<'_>, user: &User, origin: Origin<'_>, now: Timestamp) -> Result<Unlink, AccountError> {
    let identities = a.store.user_identities(&user.id).await?;
    let Some(github) = identities.iter().find(|i| i.provider == super::github::PROVIDER) else {
        return Ok(Unlink::NotLinked);
    };
    if !linking::may_unlink(user, &identities) {
        let event = origin
            .event("federation.unlink", "refused", Some(&user.id))
            .detail(format!("github id {}: the last way to sign in", github.subject));
        audit::record(a.store, now, event).await;
        return Ok(Unlink::LastMethod);
    }
    a.store.unlink_identity(&user.id, github.provider.as_str()).await?;
    let event = origin
        .event("federation.unlink", "success", Some(&user.id))
        .detail(format!("github id {} (@{})", github.subject, github.login));
    audit::record(a.store, now, event).await;
    alerts::send(a, user, Alert::GithubUnlinked(&github.login), origin, now);
    Ok(Unlink::Unlinked)
}
