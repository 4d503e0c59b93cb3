//! The sign-in and sign-up pages.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::browser::Browser;
use super::extract::{Form, PageParams};
use super::pages::{render, see_other};
use super::respond::{after_first_factor, finish_sign_in, local_path, pending_request, with_request};
use super::routes;
use crate::accounts::password::MIN_LENGTH;
use crate::accounts::sign_in::{self, PasswordOutcome};
use crate::accounts::throttle;
use crate::accounts::users::{self, AccountError, NewAccount};
use crate::app::AppState;
use crate::error::PageError;
use crate::oauth::{authorize, consent};
use crate::templates::{LoginPage, SignupErrors, SignupPage, SignupValues, UserLine};

/// The "Continue with GitHub" link, when GitHub is configured.
fn github_url(state: &AppState, request: Option<&str>) -> Option<String> {
    state.github.as_ref().map(|_| with_request(routes::GITHUB_START, request))
}

/// GET /login[?request=ID][?next=PATH]
pub async fn login_page(
    State(state): State<AppState>, browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let request = params.get("request");
    let next = local_path(params.get("next"));
    let pending = pending_request(&state, request).await?;
    if pending.is_none() && browser.session.is_some() {
        return Ok(see_other(next.unwrap_or(routes::ACCOUNT)));
    }
    // Signed in already, and here for an app's request: choose this account
    // (prompt=select_account), or prove it is still you (prompt=login).
    let signed_in = match &browser.session {
        Some(s) if pending.is_some() => state.store.get_user(&s.user_id).await?.filter(|u| !u.disabled),
        _ => None,
    };
    let (mut continue_as, mut reauth_as) = (None, None);
    if let (Some((_, req)), Some(user), Some(session)) = (&pending, &signed_in, &browser.session) {
        if authorize::may_continue_as(req, session, state.now()) {
            continue_as =
                Some(UserLine { username: user.username.clone(), email: Some(user.email.clone()), name: None });
        } else if authorize::asks_to_sign_in_again(req, session, state.now()) {
            // Not for "Not you?" from the consent page: that is a switch.
            reauth_as = Some(user.username.clone());
        }
    }
    let hint = pending.as_ref().and_then(|(_, p)| p.login_hint.clone());
    let page = LoginPage {
        csrf: browser.csrf.clone(),
        request_id: request.map(str::to_string),
        next: next.map(str::to_string),
        username: hint.or_else(|| reauth_as.clone()),
        error: None,
        notice: None,
        continue_as,
        reauth_as,
        client_name: pending.map(|(_, p)| p.client_name),
        signup_url: with_request(routes::SIGNUP, request),
        github_url: github_url(&state, request),
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /login/continue: go on with the signed-in account
/// (prompt=select_account).
pub async fn continue_as(
    State(state): State<AppState>, browser: Browser, Form(params): Form,
) -> Result<Response, PageError> {
    let (id, mut req) = pending_request(&state, params.get("request")).await?.ok_or_else(PageError::expired)?;
    let Some(session) = &browser.session else {
        return Ok(see_other(&with_request(routes::LOGIN, Some(&id))));
    };
    if !authorize::may_continue_as(&req, session, state.now()) {
        return Ok(see_other(&with_request(routes::LOGIN, Some(&id))));
    }
    req.login_done = true;
    consent::save_pending(state.provider(), &id, &req).await?;
    Ok(see_other(&with_request(routes::AUTHORIZE_RESUME, Some(&id))))
}

/// POST /login
pub async fn login_submit(
    State(state): State<AppState>, mut browser: Browser, Form(params): Form,
) -> Result<Response, PageError> {
    let request = params.get("request");
    let next = local_path(params.get("next"));
    let pending = pending_request(&state, request).await?;
    let username = params.get("username").unwrap_or("").trim().to_string();
    let page = |error: String| LoginPage {
        csrf: browser.csrf.clone(),
        request_id: request.map(str::to_string),
        next: next.map(str::to_string),
        username: Some(username.clone()),
        error: Some(error),
        notice: None,
        continue_as: None,
        reauth_as: None,
        client_name: pending.as_ref().map(|(_, p)| p.client_name.clone()),
        signup_url: with_request(routes::SIGNUP, request),
        github_url: github_url(&state, request),
    };
    let password = params.get("password").unwrap_or("");
    let outcome = sign_in::password(state.accounts(), &username, password, browser.origin(), state.now()).await?;
    match outcome {
        PasswordOutcome::Passed(user) => {
            after_first_factor(&state, &mut browser, &user, request, next, vec!["pwd".into()]).await
        }
        PasswordOutcome::Refused { delay } => {
            tokio::time::sleep(delay).await;
            // The same words whether the account exists or not.
            Ok(render(&state, StatusCode::OK, &page("Incorrect username or password.".into())))
        }
        PasswordOutcome::Disabled => {
            let (heading, message) = users::DISABLED;
            Err(PageError::new(StatusCode::FORBIDDEN, heading, message).with_back(routes::LOGIN))
        }
        PasswordOutcome::Locked(wait) => {
            let text =
                format!("Too many failed attempts. Try again {}, or reset your password.", throttle::wait_words(wait));
            let mut res = render(&state, StatusCode::TOO_MANY_REQUESTS, &page(text));
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
            Ok(res)
        }
    }
}

/// GET /signup[?request=ID]
pub async fn signup_page(
    State(state): State<AppState>, browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let request = params.get("request");
    let pending = pending_request(&state, request).await?;
    let page = SignupPage {
        csrf: browser.csrf.clone(),
        request_id: request.map(str::to_string),
        values: SignupValues::default(),
        errors: SignupErrors::default(),
        client_name: pending.map(|(_, p)| p.client_name),
        login_url: with_request(routes::LOGIN, request),
        min_password: MIN_LENGTH,
    };
    Ok(render(&state, StatusCode::OK, &page))
}

/// POST /signup: a new account with a password, signed in at once (unless
/// the operator requires a verified email first); a verification link goes
/// to the address.
pub async fn signup_submit(
    State(state): State<AppState>, mut browser: Browser, Form(params): Form,
) -> Result<Response, PageError> {
    let request = params.get("request");
    let pending = pending_request(&state, request).await?;
    let username = params.get("username").unwrap_or("");
    let email = params.get("email").unwrap_or("");
    let input = NewAccount { username, email, password: Some(params.get("password").unwrap_or("")), name: None };
    let user = match users::create_account(&*state.store, &state.hasher, input, state.now()).await {
        Ok(u) => u,
        Err(AccountError::Invalid(errors)) => {
            let page = SignupPage {
                csrf: browser.csrf.clone(),
                request_id: request.map(str::to_string),
                values: SignupValues {
                    username: Some(username.trim().to_string()),
                    email: Some(email.trim().to_string()),
                },
                errors,
                client_name: pending.map(|(_, p)| p.client_name),
                login_url: with_request(routes::LOGIN, request),
                min_password: MIN_LENGTH,
            };
            return Ok(render(&state, StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(user_id = %user.id, "account created");
    if !state.config.require_verified_email {
        crate::accounts::recovery::send_verification(state.accounts(), &user, state.now()).await?;
    }
    finish_sign_in(&state, &mut browser, &user, vec!["pwd".into()], request, None).await
}
