//! The signed-in person's account page.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::browser::Browser;
use super::extract::PageParams;
use super::pages::{render, see_other};
use super::routes;
use crate::app::AppState;
use crate::audit;
use crate::error::PageError;
use crate::federation::{github, linking};
use crate::oauth::refresh;
use crate::templates::{AccountPage, SignedOutPage, UserLine};

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
        let page = AccountPage {
            csrf: browser.csrf.clone(),
            session_count: state.store.count_user_sessions(&user.id, state.now()).await?,
            has_password: user.password_hash.is_some(),
            github_available: state.github.is_some(),
            github_login: github.map(|i| i.login.clone()),
            can_unlink: linking::may_unlink(&user, &identities),
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
        let now = state.now();
        let ended = state.store.delete_user_sessions(&session.user_id).await?;
        // Apps lose their refresh tokens, and the access tokens of those
        // grants stop working at once.
        let families = state.store.revoke_user_refresh_tokens(&session.user_id, now).await?;
        for family in &families {
            refresh::deny_grant(&state, family).await.map_err(PageError::server)?;
        }
        audit::record(
            &state,
            audit::Event {
                event: "session.sign_out_everywhere",
                outcome: "success",
                user_id: Some(&session.user_id),
                ip: browser.ip.as_deref(),
                user_agent: browser.user_agent.as_deref(),
                detail: Some(format!("{ended} sessions ended, {} grants revoked", families.len())),
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
