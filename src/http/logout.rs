//! RP-Initiated Logout 1.0 at the `end_session_endpoint`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::browser::Browser;
use super::extract::PageParams;
use super::pages::{render, see_other};
use super::routes;
use crate::app::AppState;
use crate::error::PageError;
use crate::oauth::logout::{self, Answer, Decision, LogoutRequest, Refusal};
use crate::oauth::params::Params;
use crate::templates::{HiddenField, LogoutPage, UserLine};

/// GET /logout
pub async fn end_session_get(
    State(state): State<AppState>, mut browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    end_session(&state, &mut browser, &params, false).await
}

/// POST /logout (also the confirmation form)
pub async fn end_session_post(
    State(state): State<AppState>, mut browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    end_session(&state, &mut browser, &params, true).await
}

async fn end_session(
    state: &AppState, browser: &mut Browser, params: &Params, post: bool,
) -> Result<Response, PageError> {
    let request = logout::validate(state.provider(), params).await.map_err(|refusal| match refusal {
        Refusal::Invalid(message) => {
            PageError::new(StatusCode::BAD_REQUEST, "We could not sign you out from this link", message)
        }
        Refusal::Store(e) => e.into(),
    })?;
    let Some(session) = browser.session.clone() else {
        return Ok(signed_out(&request));
    };
    let answer = match (post, params.get("confirm")) {
        (true, Some("yes")) if browser.csrf_ok(params.get("csrf")) => Answer::Yes,
        (true, Some("no")) => Answer::No,
        _ => Answer::None,
    };
    match logout::decide(&request, &session.user_id, answer) {
        Decision::Stay => Ok(see_other(routes::ACCOUNT)),
        Decision::SignOut => {
            browser.sign_out(state).await?;
            let client_id = request.client.as_ref().map(|c| c.id.as_str());
            tracing::info!(user_id = %session.user_id, client_id = ?client_id, "signed out");
            Ok(signed_out(&request))
        }
        Decision::Ask => {
            // The confirmation form carries the request on.
            let client_id = request.client.as_ref().map(|c| c.id.to_string());
            let hidden = [
                ("client_id", client_id.as_deref()),
                ("post_logout_redirect_uri", params.get("post_logout_redirect_uri")),
                ("state", params.get("state")),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some(HiddenField { name: name.into(), value: value?.to_string() }))
            .collect();
            let user = state.store.get_user(&session.user_id).await?;
            let page = LogoutPage {
                csrf: browser.csrf.clone(),
                client_name: request.client.map(|c| c.name),
                hidden,
                user: user.map(|u| UserLine { username: u.username, email: Some(u.email), name: u.name }),
            };
            Ok(render(state, StatusCode::OK, &page))
        }
    }
}

/// Back to the app, or (post/redirect/get) to a page saying it is done.
fn signed_out(request: &LogoutRequest) -> Response {
    see_other(request.target.as_deref().unwrap_or(routes::SIGNED_OUT))
}
