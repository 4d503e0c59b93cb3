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
use crate::oauth::params::Params;
use crate::store::ClientId;
use crate::templates::{HiddenField, LogoutPage, SignedOutPage, UserLine};

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

fn bad(message: &'static str) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "We could not sign you out from this link", message)
}

async fn end_session(
    state: &AppState, browser: &mut Browser, params: &Params, post: bool,
) -> Result<Response, PageError> {
    if params.check_unique().is_err() {
        return Err(bad("A parameter appears more than once in the request."));
    }
    // The hint proves which app and which person asked; an expired ID token
    // is still a valid hint.
    let hint: Option<serde_json::Value> = match params.get("id_token_hint") {
        Some(token) => Some(
            state
                .keys
                .verify(token, None, &state.config.issuer)
                .await
                .map_err(|_| bad("The app sent an ID token that this server did not issue."))?,
        ),
        None => None,
    };
    let hint_aud = hint.as_ref().and_then(|h| match h.get("aud") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Array(a)) => a.first().and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    });
    let hint_sub = hint.as_ref().and_then(|h| h.get("sub")).and_then(|s| s.as_str()).map(str::to_string);
    let client_id = match (params.get("client_id"), hint_aud.as_deref()) {
        (Some(a), Some(b)) if a != b => return Err(bad("The app's client_id does not match its ID token.")),
        (Some(a), _) => Some(ClientId::from(a)),
        (None, b) => b.map(ClientId::from),
    };
    let client = match &client_id {
        Some(id) => Some(
            state.store.get_client(id).await?.ok_or_else(|| bad("The app that sent you here is not registered."))?,
        ),
        None => None,
    };
    let target = match params.get("post_logout_redirect_uri") {
        Some(uri) => {
            let client = client
                .as_ref()
                .ok_or_else(|| bad("The app did not say who it is, so we cannot send you back to it."))?;
            // Exact match against the registered list (RP-Initiated Logout §3).
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(bad("The address to return to after signing out is not registered for this app."));
            }
            let mut url = url::Url::parse(uri).map_err(|_| bad("The return address is not valid."))?;
            if let Some(s) = params.get("state") {
                url.query_pairs_mut().append_pair("state", s);
            }
            Some(url.to_string())
        }
        None => None,
    };
    let finish = |state: &AppState| match &target {
        Some(url) => see_other(url),
        None => render(
            state,
            StatusCode::OK,
            &SignedOutPage {
                heading: "You are signed out".into(),
                message: "You can close this window, or sign in again.".into(),
            },
        ),
    };

    let Some(session) = browser.session.clone() else {
        return Ok(finish(state));
    };
    let confirmed = post && params.get("confirm") == Some("yes") && browser.csrf_ok(params.get("csrf"));
    let hinted_same_user = hint_sub.as_deref() == Some(session.user_id.as_str());
    if post && params.get("confirm") == Some("no") {
        return Ok(see_other(routes::ACCOUNT));
    }
    if confirmed || hinted_same_user {
        browser.sign_out(state).await?;
        tracing::info!(user_id = %session.user_id, client_id = ?client_id, "signed out");
        return Ok(finish(state));
    }
    // Without proof that the person's own app asked, ask them (RP-Initiated
    // Logout §2: the OP SHOULD ask the End-User whether to log out).
    let mut hidden = Vec::new();
    for name in ["client_id", "post_logout_redirect_uri", "state"] {
        let value = if name == "client_id" {
            client_id.as_ref().map(ClientId::to_string)
        } else {
            params.get(name).map(str::to_string)
        };
        if let Some(value) = value {
            hidden.push(HiddenField { name: name.into(), value });
        }
    }
    let user = state.store.get_user(&session.user_id).await?;
    let page = LogoutPage {
        csrf: browser.csrf.clone(),
        client_name: client.map(|c| c.name),
        hidden,
        user: user.map(|u| UserLine { username: u.username, email: Some(u.email), name: u.name }),
    };
    Ok(render(state, StatusCode::OK, &page))
}
