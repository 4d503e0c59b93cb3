//! The signed-in person's account page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::browser::Browser;
use super::extract::{Form, PageParams, SignedIn};
use super::pages::{render, see_other};
use super::routes;
use crate::accounts::profile::{self, PasswordChange, ProfileUpdate};
use crate::accounts::{password, recovery, sessions};
use crate::app::AppState;
use crate::audit;
use crate::error::PageError;
use crate::federation::{github, linking};
use crate::store::{ClientId, Role};
use crate::templates::{
    AccountPage, ActivityLine, AppLine, ConfirmPage, HiddenField, SessionLine, SignedOutPage, UserLine, When,
};

/// GET /: the account page, or the sign-in page.
pub async fn home(browser: Browser) -> Response {
    let target = if browser.session.is_some() { routes::ACCOUNT } else { routes::LOGIN };
    see_other(target)
}

fn back_to_account(done: &str) -> Response {
    see_other(&format!("{}?done={done}", routes::ACCOUNT))
}

/// Messages for `?done=…` after a redirect back to the account page (fixed
/// texts: nothing from the URL is shown).
fn outcome_message(done: Option<&str>) -> (Option<String>, Option<String>) {
    match done {
        Some("github-linked") => (Some("GitHub is now linked: you can sign in with it.".into()), None),
        Some("github-unlinked") => (Some("GitHub is no longer linked to your account.".into()), None),
        Some("password-changed") => {
            (Some("Your password is changed. Every other session and app sign-in has ended.".into()), None)
        }
        Some("password-wrong") => (None, Some("Your current password was not correct. Nothing changed.".into())),
        Some("password-weak") => (
            None,
            Some(format!(
                "That new password was not accepted: use {}–{} characters that are not a common password \
                 or your username.",
                password::MIN_LENGTH,
                password::MAX_LENGTH
            )),
        ),
        Some("profile-saved") => (Some("Your profile is saved.".into()), None),
        Some("email-changed") => {
            (Some("Saved. We sent a link to your new address: open it to confirm the address.".into()), None)
        }
        Some("email-invalid") => (None, Some("Enter an email address like name@example.com.".into())),
        Some("email-taken") => (None, Some("Another account uses that email address.".into())),
        Some("app-revoked") => (Some("The app's access is revoked. It will have to ask you again.".into()), None),
        Some("session-ended") => (Some("That session has ended.".into()), None),
        Some("verification-sent") => (
            Some(
                "If your address can get mail, a new link is on its way. Links are sent at most a few times an hour."
                    .into(),
            ),
            None,
        ),
        Some("mfa-off") => (Some("Two-step verification is off.".into()), None),
        Some("mfa-proof-wrong") => {
            (None, Some("That code or password was not correct. Two-step verification is still on.".into()))
        }
        Some("github-last-method") => {
            (None, Some("GitHub is the only way to sign in to this account, so it cannot be unlinked yet.".into()))
        }
        _ => (None, None),
    }
}

/// GET /account
pub async fn account_page(
    State(state): State<AppState>, me: SignedIn, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let SignedIn { browser, session, user } = me;
    let identities = state.store.user_identities(&user.id).await?;
    let github = identities.iter().find(|i| i.provider == github::PROVIDER);
    let (notice, error) = outcome_message(params.get("done"));
    let activity = state
        .store
        .list_audit(Some(&user.id), 15)
        .await?
        .into_iter()
        .map(|e| ActivityLine {
            what: audit::describe(&e.event, &e.outcome),
            when: When::at(state.now(), e.at),
            alert: audit::alarming(&e.event, &e.outcome),
            ip: e.ip,
        })
        .collect();
    let mut apps = Vec::new();
    for (client_id, scopes, granted_at) in state.store.list_user_consents(&user.id).await? {
        let Some(client) = state.store.get_client(&client_id).await? else {
            continue;
        };
        apps.push(AppLine {
            client_id,
            name: client.name.clone(),
            scopes: scopes.iter().filter_map(|s| crate::oauth::scopes::describe(s).map(str::to_string)).collect(),
            since: crate::clock::utc_text(granted_at),
        });
    }
    let sessions = state
        .store
        .list_user_sessions(&user.id, state.now())
        .await?
        .into_iter()
        .map(|s| SessionLine {
            current: s.id_hash == session.id_hash,
            device: sessions::describe_device(s.user_agent.as_deref()),
            last_seen: When::at(state.now(), s.last_seen_at),
            ip: s.ip,
            id: s.id_hash,
        })
        .collect();
    let page = AccountPage {
        is_admin: user.role == Role::Admin,
        email_verified: user.email_verified,
        apps,
        sessions,
        csrf: browser.csrf.clone(),
        session_count: state.store.count_user_sessions(&user.id, state.now()).await?,
        has_password: user.password_hash.is_some(),
        github_available: state.github.is_some(),
        github_login: github.map(|i| i.login.clone()),
        can_unlink: linking::may_unlink(&user, &identities),
        activity,
        mfa_enabled: state.store.get_totp(&user.id).await?.is_some(),
        backup_codes_left: state.store.backup_codes_left(&user.id).await?,
        user: UserLine { username: user.username, email: Some(user.email), name: user.name },
        notice,
        error,
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /account/password: change (or, for an account made through GitHub,
/// set) the password. Every other session and grant ends; this browser gets
/// a fresh session.
pub async fn change_password(
    State(state): State<AppState>, me: SignedIn, Form(params): Form,
) -> Result<Response, PageError> {
    let SignedIn { mut browser, session, user } = me;
    let outcome = profile::change_password(
        state.accounts(),
        &user,
        params.get("current_password").unwrap_or(""),
        params.get("new_password").unwrap_or(""),
        browser.origin(),
        state.now(),
    )
    .await?;
    match outcome {
        PasswordChange::WrongCurrent => Ok(back_to_account("password-wrong")),
        PasswordChange::Refused(_) => Ok(back_to_account("password-weak")),
        PasswordChange::Changed => {
            let mut amr = session.amr.clone();
            if !amr.iter().any(|a| a == "pwd") {
                amr.push("pwd".into());
            }
            browser.sign_in(&state, &user.id, amr).await?;
            Ok(back_to_account("password-changed"))
        }
    }
}

/// POST /account/profile: name and email. A new email is unverified until
/// the link sent to it is opened; the old address is told of the change.
pub async fn update_profile(
    State(state): State<AppState>, me: SignedIn, Form(params): Form,
) -> Result<Response, PageError> {
    let outcome = profile::update_profile(
        state.accounts(),
        &me.user,
        params.get("name"),
        params.get("email").unwrap_or(""),
        me.browser.origin(),
        state.now(),
    )
    .await?;
    Ok(back_to_account(match outcome {
        ProfileUpdate::InvalidEmail => "email-invalid",
        ProfileUpdate::EmailTaken => "email-taken",
        ProfileUpdate::Saved { email_changed: true } => "email-changed",
        ProfileUpdate::Saved { email_changed: false } => "profile-saved",
    }))
}

/// POST /account/apps/revoke: forget an app's consent and end every grant
/// the person gave it.
pub async fn revoke_app(
    State(state): State<AppState>, me: SignedIn, Form(params): Form,
) -> Result<Response, PageError> {
    let client_id = ClientId::from(params.get("client_id").unwrap_or(""));
    profile::revoke_app(state.accounts(), &me.user, &client_id, me.browser.origin(), state.now()).await?;
    Ok(back_to_account("app-revoked"))
}

/// POST /account/email/verify: a new verification link (throttled like
/// reset links to the address).
pub async fn resend_verification(
    State(state): State<AppState>, me: SignedIn, Form(_): Form,
) -> Result<Response, PageError> {
    if !me.user.email_verified {
        recovery::send_verification_throttled(state.accounts(), &me.user, me.browser.origin(), state.now()).await?;
    }
    Ok(back_to_account("verification-sent"))
}

/// POST /account/sessions/end: end one of the person's other sessions.
pub async fn end_session(
    State(state): State<AppState>, me: SignedIn, Form(params): Form,
) -> Result<Response, PageError> {
    let id = params.get("session").unwrap_or("");
    profile::end_session(state.accounts(), &me.user, id, me.browser.origin(), state.now()).await?;
    Ok(back_to_account("session-ended"))
}

/// POST /account/sign-out-everywhere: every session of the account ends,
/// this browser's included, and every grant.
pub async fn sign_out_everywhere(
    State(state): State<AppState>, me: SignedIn, Form(_): Form,
) -> Result<Response, PageError> {
    let SignedIn { mut browser, session, .. } = me;
    profile::sign_out_everywhere(state.accounts(), &session, browser.origin(), state.now()).await?;
    browser.sign_out(&state).await?;
    Ok(see_other(&format!("{}?reason=everywhere", routes::SIGNED_OUT)))
}

/// GET /account/sign-out-everywhere: what it does, to confirm.
pub async fn confirm_sign_out_everywhere(State(state): State<AppState>, me: SignedIn) -> Result<Response, PageError> {
    let sessions = state.store.list_user_sessions(&me.user.id, state.now()).await?.len();
    let page = ConfirmPage {
        csrf: me.browser.csrf.clone(),
        heading: "Sign out everywhere?".into(),
        question: format!("All {sessions} of your sessions end, this one included: you sign in again on every device."),
        consequence:
            "Every app you allowed is signed out too: their tokens end and they must ask you to sign in again. \
                      Do this if a device was lost or you think someone else is signed in."
                .into(),
        action: routes::SIGN_OUT_EVERYWHERE.into(),
        confirm_label: "Sign out everywhere".into(),
        cancel_href: routes::ACCOUNT.into(),
        fields: Vec::new(),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// GET /account/apps/revoke?client_id=…: what revoking does, to confirm.
pub async fn confirm_revoke_app(
    State(state): State<AppState>, me: SignedIn, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let client_id = ClientId::from(params.get("client_id").unwrap_or(""));
    let name = match state.store.get_client(&client_id).await? {
        Some(c) => c.name,
        None => return Ok(see_other(routes::ACCOUNT)),
    };
    let page = ConfirmPage {
        csrf: me.browser.csrf.clone(),
        heading: format!("Revoke access for {name}?"),
        question: format!("{name} is signed out of your account: its tokens end at once."),
        consequence: format!("To use {name} again, you sign in to it and allow it again."),
        action: routes::REVOKE_APP.into(),
        confirm_label: "Revoke access".into(),
        cancel_href: routes::ACCOUNT.into(),
        fields: vec![HiddenField { name: "client_id".into(), value: client_id.as_str().into() }],
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// GET /signed-out?reason=…: after a form that signed the person out.
pub async fn signed_out(State(state): State<AppState>, PageParams(params): PageParams) -> Response {
    let page = match params.get("reason") {
        Some("password-reset") => SignedOutPage {
            heading: "Password reset".into(),
            message: "Your new password is set, and every session and app sign-in of your account has ended. \
                      Sign in with the new password."
                .into(),
        },
        Some("everywhere") => SignedOutPage {
            heading: "Signed out everywhere".into(),
            message: "Every session of your account has ended, this one included, and every app you allowed \
                      must ask you to sign in again."
                .into(),
        },
        _ => SignedOutPage {
            heading: "You are signed out".into(),
            message: "You can close this window, or sign in again.".into(),
        },
    };
    render(&state, StatusCode::OK, &page)
}
