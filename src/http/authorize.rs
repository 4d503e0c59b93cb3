//! /authorize, its resumption after sign-in, and the consent screen (rules
//! in `oauth::authorize` and `oauth::consent`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::browser::Browser;
use super::extract::{Form, PageParams};
use super::pages::{render, see_other};
use super::respond::{pending_request, with_request};
use super::routes;
use crate::app::AppState;
use crate::error::{ErrorCode, PageError};
use crate::oauth::authorize::{self, AuthorizationRequest, Rejection};
use crate::oauth::consent::{self, Decision};
use crate::templates::{ConsentPage, ScopeLine, UserLine};

/// GET or POST /authorize: check the request, then go on.
pub async fn authorize(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    match authorize::validate(state.provider(), &params, state.now()).await {
        Ok((req, _client)) => proceed(&state, &browser, req, None).await,
        Err(Rejection::Page(e)) => e.into_response(),
        Err(Rejection::Redirect(url)) => see_other(&url),
    }
}

/// GET /authorize/resume?request=ID: after sign-in or sign-up.
pub async fn resume(
    State(state): State<AppState>, browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let (id, req) = pending_request(&state, params.get("request")).await?.ok_or_else(PageError::expired)?;
    Ok(proceed(&state, &browser, req, Some(id)).await)
}

/// A failure once the client and its redirect URI are proven: an unavailable
/// backend goes back to the client as `temporarily_unavailable` (RFC 6749
/// §4.1.2.1), so the app can say so in its own words; anything else is a
/// page.
fn failed(state: &AppState, req: &AuthorizationRequest, e: PageError) -> Response {
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        let url = consent::error_redirect(
            state.provider(),
            req,
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; retry shortly",
        );
        return see_other(&url);
    }
    e.into_response()
}

/// Decides and answers with the next step: a code, a refusal sent back to
/// the client, or the sign-in or consent page (the request waits meanwhile).
async fn proceed(state: &AppState, browser: &Browser, req: AuthorizationRequest, pending: Option<String>) -> Response {
    let p = state.provider();
    let now = state.now();
    let session = browser.session.as_ref();
    let decision = match consent::decide(p, &req, session, now).await {
        Ok(d) => d,
        Err(e) => return failed(state, &req, e.into()),
    };
    match (decision, session) {
        (Decision::Refuse(code, why), _) => see_other(&consent::error_redirect(p, &req, code, why)),
        (Decision::Issue, Some(session)) => {
            if let Some(id) = &pending {
                let _ = consent::forget_pending(p, id).await;
            }
            match consent::issue_code(p, &req, session, now).await {
                Ok(url) => see_other(&url),
                Err(e) => see_other(&consent::error_redirect(p, &req, e.code, "the server could not issue a code")),
            }
        }
        (Decision::Issue, None) => PageError::server("decide issued without a session").into_response(),
        (next, _) => {
            let id = pending.unwrap_or_else(|| crate::crypto::random_token(24));
            if let Err(e) = consent::save_pending(p, &id, &req).await {
                return failed(state, &req, e.into());
            }
            let path = if next == Decision::SignIn { routes::LOGIN } else { routes::CONSENT };
            see_other(&with_request(path, Some(&id)))
        }
    }
}

/// GET /consent?request=ID
pub async fn consent_page(
    State(state): State<AppState>, browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let (id, req) = pending_request(&state, params.get("request")).await?.ok_or_else(PageError::expired)?;
    let sign_in = || see_other(&with_request(routes::LOGIN, Some(&id)));
    let Some(session) = &browser.session else {
        return Ok(sign_in());
    };
    let Some(user) = state.store.get_user(&session.user_id).await? else {
        return Ok(sign_in());
    };
    let facts = consent::app_facts(state.provider(), &req, &user.id).await?;
    let page = ConsentPage {
        csrf: browser.csrf.clone(),
        request_id: id.clone(),
        client_name: req.client_name.clone(),
        allowed_since: facts.allowed_since.map(crate::clock::utc_text),
        app: facts,
        scopes: consent::describe(state.provider(), &consent::scopes_to_ask(&req, user.role), &req.resources)
            .await?
            .into_iter()
            .map(|(name, description)| ScopeLine { name, description })
            .collect(),
        user: UserLine { username: user.username, email: Some(user.email), name: user.name },
        switch_url: with_request(routes::LOGIN, Some(&id)),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /consent: allow (a code goes back to the app) or deny
/// (`access_denied`).
pub async fn consent_submit(
    State(state): State<AppState>, browser: Browser, Form(params): Form,
) -> Result<Response, PageError> {
    let (id, req) = pending_request(&state, params.get("request")).await?.ok_or_else(PageError::expired)?;
    let Some(session) = &browser.session else {
        return Ok(see_other(&with_request(routes::LOGIN, Some(&id))));
    };
    let p = state.provider();
    let now = state.now();
    let _ = consent::forget_pending(p, &id).await;
    if params.get("decision") != Some("allow") {
        consent::refuse(p, &session.user_id, &req, browser.origin(), now).await;
        let url = consent::error_redirect(p, &req, ErrorCode::AccessDenied, "the user denied the request");
        return Ok(see_other(&url));
    }
    consent::allow(p, &session.user_id, &req, browser.origin(), now).await?;
    Ok(match consent::issue_code(p, &req, session, now).await {
        Ok(url) => see_other(&url),
        Err(e) => see_other(&consent::error_redirect(p, &req, e.code, "the server could not issue a code")),
    })
}
