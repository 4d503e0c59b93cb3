//! Answers shared by the sign-in paths (password, GitHub, the second step):
//! turning the outcomes of `accounts::sign_in` and `accounts::two_step` into
//! pages, a session, and the way back into a pending authorization or to the
//! page the person asked for. No handlers here.

use axum::http::StatusCode;
use axum::response::Response;

use super::browser::Browser;
use super::pages::{render, see_other};
use super::routes;
use crate::accounts::sign_in::{self, Completion};
use crate::accounts::two_step;
use crate::app::AppState;
use crate::error::PageError;
use crate::oauth::consent;
use crate::store::User;
use crate::templates::{MfaPage, SignedOutPage};

/// `path?request=ID`: a page that keeps a pending authorization request.
pub fn with_request(path: &str, request: Option<&str>) -> String {
    match request {
        Some(id) => format!("{path}?request={id}"),
        None => path.to_string(),
    }
}

/// A path on this server to come back to after signing in; anything else
/// (another site, `//host`, a backslash trick) is ignored.
pub fn local_path(next: Option<&str>) -> Option<&str> {
    next.filter(|n| {
        n.starts_with('/')
            && !n.starts_with("//")
            && !n.starts_with("/\\")
            && n.len() <= 512
            && !n.chars().any(|c| c.is_control() || c == '\\')
    })
}

/// The second-step form.
pub fn second_step_page(browser: &Browser, id: &str, error: Option<&str>) -> MfaPage {
    MfaPage { csrf: browser.csrf.clone(), step: id.to_string(), error: error.map(str::to_string) }
}

/// After a first factor (a password, or GitHub): the second step for an
/// account that has one, else the last step.
pub async fn after_first_factor(
    state: &AppState, browser: &mut Browser, user: &User, request: Option<&str>, next: Option<&str>, amr: Vec<String>,
) -> Result<Response, PageError> {
    if sign_in::needs_second_factor(state.accounts(), user).await? {
        let id = two_step::begin(state.accounts(), user, request, browser.binding(), amr).await?;
        return Ok(render(state, StatusCode::OK, &second_step_page(browser, &id, None)));
    }
    finish_sign_in(state, browser, user, amr, request, next).await
}

/// The last step: the account's rules (a verified email when required),
/// then a session, and back into the pending authorization, to `next`, or
/// to the account page.
pub async fn finish_sign_in(
    state: &AppState, browser: &mut Browser, user: &User, amr: Vec<String>, request: Option<&str>, next: Option<&str>,
) -> Result<Response, PageError> {
    let now = state.now();
    match sign_in::complete(state.accounts(), user, &amr, browser.origin(), now).await? {
        Completion::VerifyEmailFirst => {
            let page = SignedOutPage {
                heading: "Confirm your email first".into(),
                message: format!(
                    "We sent a link to {}. Open it to confirm the address, then sign in again.",
                    user.email
                ),
            };
            Ok(render(state, StatusCode::FORBIDDEN, &page))
        }
        Completion::SignedIn => {
            browser.sign_in(state, &user.id, amr).await?;
            let Some(id) = request else {
                return Ok(see_other(local_path(next).unwrap_or(routes::ACCOUNT)));
            };
            // The app's request may have expired meanwhile; the person is
            // signed in all the same, and lands on the account page.
            let p = state.provider();
            let Some(mut req) = consent::load_pending(p, id, now).await? else {
                return Ok(see_other(routes::ACCOUNT));
            };
            req.login_done = true;
            consent::save_pending(p, id, &req).await?;
            Ok(see_other(&with_request(routes::AUTHORIZE_RESUME, Some(id))))
        }
    }
}

/// The pending authorization request a sign-in page serves, or the page
/// saying it has expired.
pub async fn pending_request(
    state: &AppState, id: Option<&str>,
) -> Result<Option<(String, crate::oauth::authorize::AuthorizationRequest)>, PageError> {
    let Some(id) = id else {
        return Ok(None);
    };
    match consent::load_pending(state.provider(), id, state.now()).await? {
        Some(req) => Ok(Some((id.to_string(), req))),
        None => Err(PageError::expired()),
    }
}
