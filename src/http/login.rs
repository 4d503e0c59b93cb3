//! Sign-in and sign-up pages.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::authorize::{load_pending, save_pending};
use super::browser::Browser;
use super::extract::PageParams;
use super::pages::{render, see_other};
use super::routes;
use crate::accounts::password::MIN_LENGTH;
use crate::accounts::throttle::{self, Kind};
use crate::accounts::users::{self, AccountError, NewAccount};
use crate::app::AppState;
use crate::audit;
use crate::error::PageError;
use crate::oauth::params::Params;
use crate::store::User;
use crate::templates::{LoginPage, SignedOutPage, SignupErrors, SignupPage, SignupValues};

fn with_request(path: &str, request: Option<&str>) -> String {
    match request {
        Some(id) => format!("{path}?request={id}"),
        None => path.to_string(),
    }
}

/// Where to go once signed in: back into the pending authorization, or to
/// the account page.
fn after_sign_in(request: Option<&str>) -> String {
    match request {
        Some(id) => format!("{}?request={id}", routes::AUTHORIZE_RESUME),
        None => routes::ACCOUNT.to_string(),
    }
}

/// The "Continue with GitHub" link, when GitHub is configured.
fn github_url(state: &AppState, request: Option<&str>) -> Option<String> {
    state
        .github
        .as_ref()
        .map(|_| with_request(routes::GITHUB_START, request))
}

fn csrf_expired() -> &'static str {
    "This form expired. For your safety it was not submitted; please try again."
}

pub async fn login_page(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let request = params.get("request");
    let res = async {
        let pending = match request {
            Some(_) => Some(load_pending(&state, request).await?.1),
            None => {
                if browser.session.is_some() {
                    return Ok(see_other(routes::ACCOUNT));
                }
                None
            }
        };
        let notice = pending.as_ref().and_then(|p| {
            (p.prompt.select_account && browser.session.is_some())
                .then(|| "Choose the account to continue with.".to_string())
        });
        let page = LoginPage {
            csrf: browser.csrf.clone(),
            request_id: request.map(str::to_string),
            username: pending.as_ref().and_then(|p| p.login_hint.clone()),
            error: None,
            notice,
            client_name: pending.map(|p| p.client_name),
            signup_url: with_request(routes::SIGNUP, request),
            github_url: github_url(&state, request),
        };
        Ok::<_, PageError>(render(&state, StatusCode::OK, &page))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

pub async fn login_submit(
    State(state): State<AppState>,
    mut browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = login_submit_inner(&state, &mut browser, &params)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

async fn login_submit_inner(state: &AppState, browser: &mut Browser, params: &Params) -> Result<Response, PageError> {
    let request = params.get("request");
    let pending = match request {
        Some(_) => Some(load_pending(state, request).await?),
        None => None,
    };
    let username = params.get("username").unwrap_or("").trim().to_string();
    let page = |error: &str| LoginPage {
        csrf: browser.csrf.clone(),
        request_id: request.map(str::to_string),
        username: Some(username.clone()),
        error: Some(error.to_string()),
        notice: None,
        client_name: pending.as_ref().map(|(_, p)| p.client_name.clone()),
        signup_url: with_request(routes::SIGNUP, request),
        github_url: github_url(state, request),
    };
    if !browser.csrf_ok(params.get("csrf")) {
        return Ok(render(state, StatusCode::FORBIDDEN, &page(csrf_expired())));
    }
    let password = params.get("password").unwrap_or("");
    let now = state.now();
    let ip = browser.ip.clone();
    let throttle = state.throttle();
    let locked_page = |wait: i64| {
        let text = format!(
            "Too many failed attempts. Try again {}, or reset your password.",
            throttle::wait_words(wait)
        );
        let mut res = render(state, StatusCode::TOO_MANY_REQUESTS, &page(&text));
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
        res
    };
    // Failures count against the account the login names, by username or
    // email alike, and against the login itself when it names none.
    let found = state.store.find_user_by_login(&username).await?;
    let subject = throttle::sign_in_subject(found.as_ref(), &username);
    // Checked before the password: a locked account refuses even the right
    // one, and unknown logins lock the same way, so nothing is revealed.
    if let Some(wait) = throttle.locked(Kind::SignIn, &subject, ip.as_deref(), now).await? {
        return Ok(locked_page(wait));
    }
    let known = found.clone();
    let user = match users::authenticate_found(&*state.store, &state.hasher, found, password, now).await {
        Ok(u) => u,
        Err(e) => return Err(PageError::server(e)),
    };
    let Some(user) = user else {
        let failure = throttle.fail(Kind::SignIn, &subject, ip.as_deref(), now).await?;
        audit::record(
            state,
            audit::Event {
                event: "sign_in",
                outcome: "failure",
                user_id: known.as_ref().map(|u| u.id.as_str()),
                ip: ip.as_deref(),
                user_agent: browser.user_agent.as_deref(),
                detail: Some(format!("{} failure(s) in the window", failure.count)),
                ..Default::default()
            },
        )
        .await;
        if let Some(wait) = failure.locked_for {
            audit::record(
                state,
                audit::Event {
                    event: "sign_in.lockout",
                    outcome: "locked",
                    user_id: known.as_ref().map(|u| u.id.as_str()),
                    ip: ip.as_deref(),
                    user_agent: browser.user_agent.as_deref(),
                    detail: Some(format!("locked for {wait} s")),
                    ..Default::default()
                },
            )
            .await;
            return Ok(locked_page(wait));
        }
        tokio::time::sleep(failure.delay).await;
        // The same words whether the account exists or not.
        return Ok(render(state, StatusCode::OK, &page("Incorrect username or password.")));
    };
    throttle.succeeded(Kind::SignIn, &subject).await?;
    // With TOTP on, the password is only the first step.
    if state.store.get_totp(&user.id).await?.is_some() {
        return super::mfa::begin(state, browser, &user, request, vec!["pwd".into()]).await;
    }
    complete_sign_in(state, browser, &user, vec!["pwd".into()], request).await
}

/// The last step of every sign-in: the verified-email rule, the audit row,
/// a new session, and back into the pending authorization (or the account).
pub async fn complete_sign_in(
    state: &AppState,
    browser: &mut Browser,
    user: &User,
    amr: Vec<String>,
    request: Option<&str>,
) -> Result<Response, PageError> {
    if state.config.require_verified_email && !user.email_verified {
        return verify_first(state, browser, user).await;
    }
    audit::record(
        state,
        audit::Event {
            event: "sign_in",
            outcome: "success",
            user_id: Some(&user.id),
            ip: browser.ip.as_deref(),
            user_agent: browser.user_agent.as_deref(),
            detail: Some(amr.join(" ")),
            ..Default::default()
        },
    )
    .await;
    tracing::info!(user_id = %user.id, ip = ?browser.ip, "signed in");
    let cookie = browser.sign_in(state, &user.id, amr).await?;
    if request.is_some() {
        // The app's request may have expired meanwhile; the person is
        // signed in all the same, and lands on the account page.
        if let Ok((id, mut req)) = load_pending(state, request).await {
            req.login_done = true;
            save_pending(state, &id, &req).await?;
        } else {
            let mut res = see_other(routes::ACCOUNT);
            res.headers_mut().append(header::SET_COOKIE, cookie);
            return Ok(res);
        }
    }
    let mut res = see_other(&after_sign_in(request));
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}

/// The operator requires a verified email: no session until the link in
/// the email is opened. A new link is sent, at most as often as reset links.
async fn verify_first(state: &AppState, browser: &Browser, user: &User) -> Result<Response, PageError> {
    let now = state.now();
    let throttle = state.throttle();
    let ip = browser.ip.as_deref();
    if throttle.locked(Kind::Reset, &user.email, ip, now).await?.is_none() {
        throttle.fail(Kind::Reset, &user.email, ip, now).await?;
        super::recovery::send_verification(state, user).await?;
    }
    let page = SignedOutPage {
        heading: "Confirm your email first".into(),
        message: format!(
            "We sent a link to {}. Open it to confirm the address, then sign in again.",
            user.email
        ),
    };
    Ok(render(state, StatusCode::FORBIDDEN, &page))
}

pub async fn signup_page(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let request = params.get("request");
    let res = async {
        let pending = match request {
            Some(_) => Some(load_pending(&state, request).await?.1),
            None => None,
        };
        let page = SignupPage {
            csrf: browser.csrf.clone(),
            request_id: request.map(str::to_string),
            values: SignupValues::default(),
            errors: SignupErrors::default(),
            client_name: pending.map(|p| p.client_name),
            login_url: with_request(routes::LOGIN, request),
            min_password: MIN_LENGTH,
        };
        Ok::<_, PageError>(render(&state, StatusCode::OK, &page))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

pub async fn signup_submit(
    State(state): State<AppState>,
    mut browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = signup_submit_inner(&state, &mut browser, &params)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

async fn signup_submit_inner(state: &AppState, browser: &mut Browser, params: &Params) -> Result<Response, PageError> {
    let request = params.get("request");
    let pending = match request {
        Some(_) => Some(load_pending(state, request).await?),
        None => None,
    };
    let username = params.get("username").unwrap_or("");
    let email = params.get("email").unwrap_or("");
    let page = |errors: SignupErrors| SignupPage {
        csrf: browser.csrf.clone(),
        request_id: request.map(str::to_string),
        values: SignupValues {
            username: Some(username.trim().to_string()),
            email: Some(email.trim().to_string()),
        },
        errors,
        client_name: pending.as_ref().map(|(_, p)| p.client_name.clone()),
        login_url: with_request(routes::LOGIN, request),
        min_password: MIN_LENGTH,
    };
    if !browser.csrf_ok(params.get("csrf")) {
        let errors = SignupErrors {
            form: Some(csrf_expired().into()),
            ..Default::default()
        };
        return Ok(render(state, StatusCode::FORBIDDEN, &page(errors)));
    }
    let input = NewAccount {
        username,
        email,
        password: Some(params.get("password").unwrap_or("")),
        name: None,
    };
    let user = match users::create_account(&*state.store, &state.hasher, input, state.now()).await {
        Ok(u) => u,
        Err(AccountError::Invalid(errors)) => {
            return Ok(render(state, StatusCode::UNPROCESSABLE_ENTITY, &page(errors)));
        }
        Err(e) => return Err(PageError::server(e)),
    };
    tracing::info!(user_id = %user.id, "account created");
    if state.config.require_verified_email {
        return verify_first(state, browser, &user).await;
    }
    super::recovery::send_verification(state, &user).await?;
    let cookie = browser.sign_in(state, &user.id, vec!["pwd".into()]).await?;
    if let Some((id, mut req)) = pending {
        req.login_done = true;
        save_pending(state, &id, &req).await?;
    }
    let mut res = see_other(&after_sign_in(request));
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}
