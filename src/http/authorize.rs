//! /authorize, its resumption after sign-in, and the consent screen.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::browser::Browser;
use super::extract::PageParams;
use super::pages::{render, see_other};
use super::routes;
use crate::app::AppState;
use crate::error::{ErrorCode, OAuthError, PageError};
use crate::oauth::authorize::{self, AuthorizationRequest, Next, Rejection};
use crate::oauth::grants::authorization_code::{self, CODE_TTL, CodeRecord};
use crate::oauth::scopes;
use crate::store::Session;
use crate::templates::{ConsentPage, ScopeLine, UserLine};

pub async fn authorize_get(state: State<AppState>, browser: Browser, params: PageParams) -> Response {
    authorize(state, browser, params).await
}

pub async fn authorize_post(state: State<AppState>, browser: Browser, params: PageParams) -> Response {
    authorize(state, browser, params).await
}

async fn authorize(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let now = state.now();
    let res = match authorize::validate(&state, &params, now).await {
        Ok((req, _client)) => proceed(&state, &browser, req, None).await,
        Err(Rejection::Page(e)) => e.into_response(),
        Err(Rejection::Redirect(url)) => see_other(&url),
    };
    browser.finish(res)
}

/// After sign-in or sign-up: continue the pending request.
pub async fn resume(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = match load_pending(&state, params.get("request")).await {
        Ok((id, req)) => proceed(&state, &browser, req, Some(id)).await,
        Err(e) => e.into_response(),
    };
    browser.finish(res)
}

pub async fn load_pending(state: &AppState, id: Option<&str>) -> Result<(String, AuthorizationRequest), PageError> {
    let id = id.ok_or_else(PageError::expired)?;
    let raw = state
        .ephemeral
        .get(&authorize::pending_key(id))
        .await?
        .ok_or_else(PageError::expired)?;
    let req: AuthorizationRequest = serde_json::from_str(&raw).map_err(PageError::server)?;
    if state.now() - req.created_at > authorize::PENDING_TTL {
        return Err(PageError::expired());
    }
    Ok((id.to_string(), req))
}

pub async fn save_pending(state: &AppState, id: &str, req: &AuthorizationRequest) -> Result<(), PageError> {
    let value = serde_json::to_string(req).map_err(PageError::server)?;
    state
        .ephemeral
        .put(
            &authorize::pending_key(id),
            &value,
            Duration::from_secs(authorize::PENDING_TTL as u64),
        )
        .await?;
    Ok(())
}

fn redirect_error(
    state: &AppState,
    req: &AuthorizationRequest,
    code: ErrorCode,
    description: &'static str,
) -> Response {
    see_other(&authorize::error_redirect(
        &req.redirect_uri,
        req.state.as_deref(),
        &state.config.issuer,
        &OAuthError::new(code, description),
    ))
}

/// A failure once the client and its redirect URI are proven: an unavailable
/// backend goes back to the client as `temporarily_unavailable` (RFC 6749
/// §4.1.2.1), so the app can say so in its own words; anything else is a
/// page.
fn failed(state: &AppState, req: &AuthorizationRequest, e: PageError) -> Response {
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        return redirect_error(
            state,
            req,
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; retry shortly",
        );
    }
    e.into_response()
}

/// Runs the decision and answers with the next step.
async fn proceed(
    state: &AppState,
    browser: &Browser,
    req: AuthorizationRequest,
    pending_id: Option<String>,
) -> Response {
    let now = state.now();
    let session = browser.session.as_ref();
    let consent = match session {
        Some(s) => match state.store.get_consent(&s.user_id, &req.client_id).await {
            Ok(c) => c,
            Err(e) => return failed(state, &req, e.into()),
        },
        None => None,
    };
    let can_mfa = match session {
        Some(s) if req.require_mfa => match state.store.get_totp(&s.user_id).await {
            Ok(t) => t.is_some(),
            Err(e) => return failed(state, &req, e.into()),
        },
        _ => false,
    };
    match authorize::decide(&req, session, consent.as_deref(), can_mfa, now) {
        Err(ErrorCode::LoginRequired) => {
            redirect_error(state, &req, ErrorCode::LoginRequired, "the user is not signed in")
        }
        Err(ErrorCode::ConsentRequired) => redirect_error(
            state,
            &req,
            ErrorCode::ConsentRequired,
            "the user has not approved this client",
        ),
        Err(ErrorCode::UnmetAuthenticationRequirements) => redirect_error(
            state,
            &req,
            ErrorCode::UnmetAuthenticationRequirements,
            "multi-factor authentication was requested and the user cannot provide it",
        ),
        Err(code) => redirect_error(state, &req, code, "the request needs interaction"),
        Ok(Next::Issue) => match session {
            Some(session) => {
                if let Some(id) = pending_id {
                    let _ = state.ephemeral.delete(&authorize::pending_key(&id)).await;
                }
                issue_code(state, &req, session).await
            }
            None => PageError::server("decide issued without a session").into_response(),
        },
        Ok(next) => {
            let id = pending_id.unwrap_or_else(|| crate::crypto::random_token(24));
            if let Err(e) = save_pending(state, &id, &req).await {
                return failed(state, &req, e);
            }
            let path = if next == Next::Login {
                routes::LOGIN
            } else {
                routes::CONSENT
            };
            see_other(&format!("{path}?request={id}"))
        }
    }
}

async fn issue_code(state: &AppState, req: &AuthorizationRequest, session: &Session) -> Response {
    let now = state.now();
    let mut scopes = req.scopes.clone();
    // The admin scope goes to administrators only; for others it is dropped
    // like any scope the client may not have.
    if scopes.iter().any(|s| s == scopes::ADMIN) {
        let is_admin = match state.store.get_user(&session.user_id).await {
            Ok(u) => u.is_some_and(|u| u.role == "admin"),
            Err(e) => return PageError::from(e).into_response(),
        };
        if !is_admin {
            scopes.retain(|s| s != scopes::ADMIN);
        }
    }
    let record = CodeRecord {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        redirect_uri_sent: req.redirect_uri_sent,
        user_id: session.user_id.clone(),
        scopes,
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        expires_at: now + CODE_TTL,
        grant_id: uuid::Uuid::new_v4().to_string(),
    };
    match authorization_code::mint(state, &record, now).await {
        Ok(code) => see_other(&authorize::success_redirect(
            &req.redirect_uri,
            &code,
            req.state.as_deref(),
            &state.config.issuer,
        )),
        Err(e) => redirect_error(state, req, e.code, "the server could not issue a code"),
    }
}

pub async fn consent_page(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = consent_page_inner(&state, &browser, params.get("request")).await;
    browser.finish(res)
}

async fn consent_page_inner(state: &AppState, browser: &Browser, request: Option<&str>) -> Response {
    let (id, req) = match load_pending(state, request).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(session) = &browser.session else {
        return see_other(&format!("{}?request={id}", routes::LOGIN));
    };
    let user = match state.store.get_user(&session.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return see_other(&format!("{}?request={id}", routes::LOGIN)),
        Err(e) => return PageError::from(e).into_response(),
    };
    let page = ConsentPage {
        csrf: browser.csrf.clone(),
        request_id: id.clone(),
        client_name: req.client_name.clone(),
        scopes: req
            .scopes
            .iter()
            // The admin scope is never granted to a non-admin: not asked either.
            .filter(|s| s.as_str() != scopes::ADMIN || user.role == "admin")
            .filter_map(|s| {
                scopes::describe(s).map(|d| ScopeLine {
                    name: s.clone(),
                    description: d.into(),
                })
            })
            .collect(),
        user: UserLine {
            username: user.username,
            email: Some(user.email),
            name: user.name,
        },
        switch_url: format!("{}?request={id}", routes::LOGIN),
    };
    render(state, StatusCode::OK, &page)
}

pub async fn consent_submit(
    State(state): State<AppState>,
    browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = consent_submit_inner(&state, &browser, &params).await;
    browser.finish(res)
}

async fn consent_submit_inner(state: &AppState, browser: &Browser, params: &crate::oauth::params::Params) -> Response {
    if !browser.csrf_ok(params.get("csrf")) {
        return PageError::new(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "For your safety we did not submit it. Go back, reload the page and try again.",
        )
        .into_response();
    }
    let (id, req) = match load_pending(state, params.get("request")).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(session) = &browser.session else {
        return see_other(&format!("{}?request={id}", routes::LOGIN));
    };
    let _ = state.ephemeral.delete(&authorize::pending_key(&id)).await;
    match params.get("decision") {
        Some("allow") => {
            let now = state.now();
            let mut granted = match state.store.get_consent(&session.user_id, &req.client_id).await {
                Ok(c) => c.unwrap_or_default(),
                Err(e) => return PageError::from(e).into_response(),
            };
            for s in &req.scopes {
                if !granted.contains(s) {
                    granted.push(s.clone());
                }
            }
            if let Err(e) = state
                .store
                .put_consent(&session.user_id, &req.client_id, &granted, now)
                .await
            {
                return PageError::from(e).into_response();
            }
            consent_event(state, browser, &req, &session.user_id, "success", granted.join(" ")).await;
            issue_code(state, &req, session).await
        }
        _ => {
            consent_event(state, browser, &req, &session.user_id, "denied", req.scopes.join(" ")).await;
            redirect_error(state, &req, ErrorCode::AccessDenied, "the user denied the request")
        }
    }
}

async fn consent_event(
    state: &AppState,
    browser: &Browser,
    req: &AuthorizationRequest,
    user_id: &str,
    outcome: &str,
    scopes: String,
) {
    crate::audit::record(
        state,
        crate::audit::Event {
            event: "consent.grant",
            outcome,
            user_id: Some(user_id),
            client_id: Some(&req.client_id),
            ip: browser.ip.as_deref(),
            user_agent: browser.user_agent.as_deref(),
            detail: Some(scopes),
        },
    )
    .await;
}
