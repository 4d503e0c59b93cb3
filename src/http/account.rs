//! The signed-in person's account page.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::browser::Browser;
use super::extract::PageParams;
use super::pages::{render, see_other};
use super::routes;
use crate::accounts::password;
use crate::accounts::sessions;
use crate::accounts::throttle::{self, Kind};
use crate::app::AppState;
use crate::audit;
use crate::error::PageError;
use crate::federation::{github, linking};
use crate::store::{GrantsOf, RevokeReason};
use crate::templates::{AccountPage, ActivityLine, AppLine, SessionLine, SignedOutPage, UserLine};

pub async fn home(browser: Browser) -> Response {
    let target = if browser.session.is_some() {
        routes::ACCOUNT
    } else {
        routes::LOGIN
    };
    browser.finish(see_other(target))
}

/// Messages for `?done=…` after a redirect back to the account page (fixed
/// texts: nothing from the URL is shown).
fn outcome_message(done: Option<&str>) -> (Option<String>, Option<String>) {
    match done {
        Some("github-linked") => (Some("GitHub is now linked: you can sign in with it.".into()), None),
        Some("github-unlinked") => (Some("GitHub is no longer linked to your account.".into()), None),
        Some("password-changed") => (
            Some("Your password is changed. Every other session and app sign-in has ended.".into()),
            None,
        ),
        Some("password-wrong") => (
            None,
            Some("Your current password was not correct. Nothing changed.".into()),
        ),
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
        Some("email-changed") => (
            Some("Saved. We sent a link to your new address: open it to confirm the address.".into()),
            None,
        ),
        Some("email-invalid") => (None, Some("Enter an email address like name@example.com.".into())),
        Some("email-taken") => (None, Some("Another account uses that email address.".into())),
        Some("app-revoked") => (
            Some("The app's access is revoked. It will have to ask you again.".into()),
            None,
        ),
        Some("session-ended") => (Some("That session has ended.".into()), None),
        Some("mfa-off") => (Some("Two-step verification is off.".into()), None),
        Some("mfa-proof-wrong") => (
            None,
            Some("That code or password was not correct. Two-step verification is still on.".into()),
        ),
        Some("github-last-method") => (
            None,
            Some("GitHub is the only way to sign in to this account, so it cannot be unlinked yet.".into()),
        ),
        _ => (None, None),
    }
}

pub async fn account_page(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        let Some(session) = &browser.session else {
            return Ok(see_other(routes::LOGIN));
        };
        let Some(user) = state.store.get_user(&session.user_id).await? else {
            return Ok(see_other(routes::LOGIN));
        };
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
                when: crate::clock::utc_text(e.at),
                alert: e.outcome != "success",
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
                scopes: scopes
                    .iter()
                    .filter_map(|s| crate::oauth::scopes::describe(s).map(str::to_string))
                    .collect(),
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
                last_seen: crate::clock::utc_text(s.last_seen_at),
                ip: s.ip,
                id: s.id_hash,
            })
            .collect();
        let page = AccountPage {
            is_admin: user.role == "admin",
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
            user: UserLine {
                username: user.username,
                email: Some(user.email),
                name: user.name,
            },
            notice,
            error,
        };
        Ok::<_, PageError>(render(&state, StatusCode::OK, &page))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// Ends every browser session of the account and every grant (its refresh
/// and access tokens), for `reason`. Returns the numbers of sessions and
/// grants ended.
pub async fn end_everything(state: &AppState, user_id: &str, reason: RevokeReason) -> Result<(u64, usize), PageError> {
    let ended = state.store.delete_user_sessions(user_id).await?;
    let grants = state
        .store
        .revoke_grants(GrantsOf::User(user_id), reason, state.now())
        .await?;
    Ok((ended, grants.len()))
}

/// POST /account/password: change (or, for an account made through GitHub,
/// set) the password. Every other session and refresh token ends; this
/// browser gets a fresh session.
pub async fn change_password(
    State(state): State<AppState>,
    mut browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let Some(session) = browser.session.clone() else {
            return Ok(see_other(routes::LOGIN));
        };
        let Some(user) = state.store.get_user(&session.user_id).await? else {
            return Ok(see_other(routes::LOGIN));
        };
        let event = |outcome, detail: &str| audit::Event {
            event: "password.change",
            outcome,
            user_id: Some(&session.user_id),
            ip: browser.ip.as_deref(),
            user_agent: browser.user_agent.as_deref(),
            detail: Some(detail.to_string()),
            ..Default::default()
        };
        let back = |code: &str| Ok(see_other(&format!("{}?done={code}", routes::ACCOUNT)));
        if user.password_hash.is_some() {
            let current = params.get("current_password").unwrap_or("");
            let verified = state.hasher.verify(current, user.password_hash.as_deref()).await;
            if !matches!(verified, Ok(v) if v.ok) {
                let now = state.now();
                let ip = browser.ip.as_deref();
                let subject = throttle::account_subject(&user.id);
                state.throttle().fail(Kind::SignIn, &subject, ip, now).await?;
                audit::record(&state, event("failure", "wrong current password")).await;
                return back("password-wrong");
            }
        }
        let new = params.get("new_password").unwrap_or("");
        if let Err(why) = password::check_policy(new, &user.username, &user.email) {
            tracing::info!(user_id = %user.id, reason = why, "new password refused");
            return back("password-weak");
        }
        let hash = state.hasher.hash(new).await.map_err(PageError::server)?;
        state.store.set_password_hash(&user.id, &hash, state.now()).await?;
        let (ended, grants) = end_everything(&state, &user.id, RevokeReason::PasswordChanged).await?;
        let detail = format!("{ended} sessions ended, {grants} grants revoked");
        audit::record(&state, event("success", &detail)).await;
        let mut amr = session.amr.clone();
        if !amr.iter().any(|a| a == "pwd") {
            amr.push("pwd".into());
        }
        let cookie = browser.sign_in(&state, &user.id, amr).await?;
        let mut res = see_other(&format!("{}?done=password-changed", routes::ACCOUNT));
        res.headers_mut().append(header::SET_COOKIE, cookie);
        Ok(res)
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

fn form_expired() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your safety we did not submit it. Reload the page and try again.",
    )
}

/// POST /account/profile: name and email. A new email is unverified until
/// the link sent to it is opened; the old address is told of the change.
pub async fn update_profile(
    State(state): State<AppState>,
    browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let Some(session) = &browser.session else {
            return Ok(see_other(routes::LOGIN));
        };
        let Some(user) = state.store.get_user(&session.user_id).await? else {
            return Ok(see_other(routes::LOGIN));
        };
        let name = params
            .get("name")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(100).collect::<String>());
        let Ok(email) = crate::accounts::users::normalize_email(params.get("email").unwrap_or("")) else {
            return Ok(see_other(&format!("{}?done=email-invalid", routes::ACCOUNT)));
        };
        match state
            .store
            .update_profile(&user.id, name.as_deref(), &email, state.now())
            .await
        {
            Ok(()) => {}
            Err(crate::store::StoreError::Conflict(_)) => {
                return Ok(see_other(&format!("{}?done=email-taken", routes::ACCOUNT)));
            }
            Err(e) => return Err(e.into()),
        }
        let changed = email != user.email;
        if changed {
            if let Some(updated) = state.store.get_user(&user.id).await? {
                super::recovery::send_verification(&state, &updated).await?;
            }
            super::recovery::notify_email_change(&state, &user, &email);
        }
        audit::record(
            &state,
            audit::Event {
                event: "profile.update",
                outcome: "success",
                user_id: Some(&user.id),
                ip: browser.ip.as_deref(),
                user_agent: browser.user_agent.as_deref(),
                detail: Some(if changed {
                    "name and email".into()
                } else {
                    "name".into()
                }),
                ..Default::default()
            },
        )
        .await;
        let done = if changed { "email-changed" } else { "profile-saved" };
        Ok(see_other(&format!("{}?done={done}", routes::ACCOUNT)))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// POST /account/apps/revoke: forget an app's consent and revoke its
/// refresh tokens (and the access tokens of those grants).
pub async fn revoke_app(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let Some(session) = &browser.session else {
            return Ok(see_other(routes::LOGIN));
        };
        let client_id = params.get("client_id").unwrap_or("");
        let removed = state.store.delete_consent(&session.user_id, client_id).await?;
        let grants = state
            .store
            .revoke_grants(
                GrantsOf::UserClient {
                    user_id: &session.user_id,
                    client_id,
                },
                RevokeReason::AppRevoked,
                state.now(),
            )
            .await?;
        if removed || !grants.is_empty() {
            audit::record(
                &state,
                audit::Event {
                    event: "consent.revoke",
                    outcome: "success",
                    user_id: Some(&session.user_id),
                    client_id: Some(client_id),
                    ip: browser.ip.as_deref(),
                    user_agent: browser.user_agent.as_deref(),
                    detail: Some(format!("{} grants revoked", grants.len())),
                },
            )
            .await;
        }
        Ok(see_other(&format!("{}?done=app-revoked", routes::ACCOUNT)))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// POST /account/sessions/end: end one of the person's other sessions.
pub async fn end_session(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let Some(session) = &browser.session else {
            return Ok(see_other(routes::LOGIN));
        };
        let id = params.get("session").unwrap_or("");
        // Only the person's own sessions: the hash is looked up first.
        if let Some(target) = state.store.get_session(id).await? {
            if target.user_id == session.user_id {
                state.store.delete_session(id).await?;
                audit::record(
                    &state,
                    audit::Event {
                        event: "session.end",
                        outcome: "success",
                        user_id: Some(&session.user_id),
                        ip: browser.ip.as_deref(),
                        user_agent: browser.user_agent.as_deref(),
                        detail: Some(sessions::describe_device(target.user_agent.as_deref())),
                        ..Default::default()
                    },
                )
                .await;
            }
        }
        Ok(see_other(&format!("{}?done=session-ended", routes::ACCOUNT)))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// Ends every session of the account, this browser's included.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    mut browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "For your safety we did not submit it. Reload the page and try again.",
            ));
        }
        let Some(session) = browser.session.clone() else {
            return Ok(see_other(routes::LOGIN));
        };
        let (ended, grants) = end_everything(&state, &session.user_id, RevokeReason::SignOutEverywhere).await?;
        audit::record(
            &state,
            audit::Event {
                event: "session.sign_out_everywhere",
                outcome: "success",
                user_id: Some(&session.user_id),
                ip: browser.ip.as_deref(),
                user_agent: browser.user_agent.as_deref(),
                detail: Some(format!("{ended} sessions ended, {grants} grants revoked")),
                ..Default::default()
            },
        )
        .await;
        let cookie = browser.sign_out(&state).await?;
        let mut res = render(
            &state,
            StatusCode::OK,
            &SignedOutPage {
                heading: "Signed out everywhere".into(),
                message: format!("{ended} session(s) on your devices have ended, this one included."),
            },
        );
        res.headers_mut().append(header::SET_COOKIE, cookie);
        Ok(res)
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}
