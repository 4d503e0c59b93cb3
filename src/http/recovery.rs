//! Email links: "forgot password" and password reset, and email
//! verification. Answers never say whether an address has an account.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::account::end_everything;
use super::browser::Browser;
use super::extract::PageParams;
use super::pages::render;
use super::routes;
use crate::accounts::email_links::{self, Purpose};
use crate::accounts::password;
use crate::accounts::throttle::{self, Kind};
use crate::accounts::users::normalize_email;
use crate::app::AppState;
use crate::audit;
use crate::email::Email;
use crate::error::PageError;
use crate::store::{RevokeReason, User};
use crate::templates::{ForgotPage, ResetPage, SignedOutPage};

fn form_expired() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your safety we did not submit it. Reload the page and try again.",
    )
}

fn link_invalid() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "This link has expired",
        "It was already used, or it is too old. You can ask for a new one.",
    )
    .with_back(routes::FORGOT_PASSWORD)
}

/// Sends in the background: the answer must take as long for an unknown
/// address as for a known one, and a slow mail server must not hold the page.
fn send_later(state: &AppState, email: Email) {
    let mailer = state.mailer.clone();
    tokio::spawn(async move {
        if let Err(e) = mailer.send(&email).await {
            tracing::warn!(error = %e, "sending an email failed");
        }
    });
}

/// Mints a verification link for the account's address and sends it.
pub async fn send_verification(state: &AppState, user: &User) -> Result<(), PageError> {
    let token = email_links::mint(&*state.store, Purpose::Verify, &user.id, &user.email, state.now()).await?;
    let link = format!("{}{}?token={token}", state.config.issuer, routes::VERIFY_EMAIL);
    let brand = &state.config.brand.name;
    send_later(
        state,
        Email {
            to: user.email.clone(),
            subject: format!("Confirm your email for {brand}"),
            text: format!(
                "Hello {},\n\nConfirm that this address is yours by opening this link within 24 hours:\n\n{link}\n\n\
                 If you did not create a {brand} account, ignore this message.\n",
                user.username
            ),
        },
    );
    Ok(())
}

/// Tells the old address that the account's email changed, so a takeover
/// through a changed address does not go unnoticed.
pub fn notify_email_change(state: &AppState, user: &User, new_email: &str) {
    let brand = &state.config.brand.name;
    send_later(
        state,
        Email {
            to: user.email.clone(),
            subject: format!("Your {brand} email address changed"),
            text: format!(
                "Hello {},\n\nThe email address of your {brand} account was changed to {new_email}.\n\n\
                 If you did not do this, reset your password and sign out everywhere.\n",
                user.username
            ),
        },
    );
}

pub async fn forgot_page(State(state): State<AppState>, browser: Browser) -> Response {
    let page = ForgotPage {
        csrf: browser.csrf.clone(),
        sent: false,
        error: None,
    };
    let res = render(&state, StatusCode::OK, &page);
    browser.finish(res)
}

pub async fn forgot_submit(
    State(state): State<AppState>,
    browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let raw = params.get("email").unwrap_or("");
        let Ok(email) = normalize_email(raw) else {
            let page = ForgotPage {
                csrf: browser.csrf.clone(),
                sent: false,
                error: Some("Enter an email address like name@example.com.".into()),
            };
            return Ok(render(&state, StatusCode::UNPROCESSABLE_ENTITY, &page));
        };
        let now = state.now();
        let ip = browser.ip.as_deref();
        let throttle = state.throttle();
        // Every request counts, found or not: the limit is on mail sent to
        // one address and on requests from one IP.
        if let Some(wait) = throttle.locked(Kind::Reset, &email, ip, now).await? {
            let mut res = PageError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                format!("Too many reset requests. Try again {}.", throttle::wait_words(wait)),
            )
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
            return Ok(res);
        }
        throttle.fail(Kind::Reset, &email, ip, now).await?;
        let user = state.store.find_user_by_login(&email).await?;
        if let Some(user) = user.filter(|u| u.email == email && !u.disabled) {
            let token = email_links::mint(&*state.store, Purpose::Reset, &user.id, &user.email, now).await?;
            let link = format!("{}{}?token={token}", state.config.issuer, routes::RESET_PASSWORD);
            let brand = &state.config.brand.name;
            send_later(
                &state,
                Email {
                    to: user.email.clone(),
                    subject: format!("Reset your {brand} password"),
                    text: format!(
                        "Hello {},\n\nSomeone asked to reset the password of your {brand} account. If it was you, \
                         open this link within 30 minutes to choose a new password:\n\n{link}\n\n\
                         The link works once. If it was not you, ignore this message: your password stays as it is.\n",
                        user.username
                    ),
                },
            );
            audit::record(
                &state,
                audit::Event {
                    event: "password.reset_requested",
                    outcome: "success",
                    user_id: Some(&user.id),
                    ip,
                    user_agent: browser.user_agent.as_deref(),
                    ..Default::default()
                },
            )
            .await;
        }
        let page = ForgotPage {
            csrf: browser.csrf.clone(),
            sent: true,
            error: None,
        };
        Ok(render(&state, StatusCode::OK, &page))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

pub async fn reset_page(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        let token = params.get("token").ok_or_else(link_invalid)?;
        email_links::peek(&*state.store, Purpose::Reset, token, state.now())
            .await?
            .ok_or_else(link_invalid)?;
        let page = ResetPage {
            csrf: browser.csrf.clone(),
            token: token.to_string(),
            error: None,
            min_password: password::MIN_LENGTH,
        };
        let mut res = render(&state, StatusCode::OK, &page);
        // The token is in this page's URL: keep it out of Referer headers.
        res.headers_mut()
            .insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        Ok::<_, PageError>(res)
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

pub async fn reset_submit(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let token = params.get("token").ok_or_else(link_invalid)?;
        let now = state.now();
        let link = email_links::peek(&*state.store, Purpose::Reset, token, now)
            .await?
            .ok_or_else(link_invalid)?;
        let user = state
            .store
            .get_user(&link.user_id)
            .await?
            .filter(|u| !u.disabled && u.email == link.email)
            .ok_or_else(link_invalid)?;
        let new = params.get("password").unwrap_or("");
        if let Err(why) = password::check_policy(new, &user.username, &user.email) {
            let page = ResetPage {
                csrf: browser.csrf.clone(),
                token: token.to_string(),
                error: Some(why.to_string()),
                min_password: password::MIN_LENGTH,
            };
            return Ok(render(&state, StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
        // Used only now, so a refused password leaves the link usable.
        email_links::take(&*state.store, Purpose::Reset, token, now)
            .await?
            .ok_or_else(link_invalid)?;
        let hash = state.hasher.hash(new).await.map_err(PageError::server)?;
        state.store.set_password_hash(&user.id, &hash, now).await?;
        let (ended, grants) = end_everything(&state, &user.id, RevokeReason::PasswordReset).await?;
        // The owner proved themselves through their mailbox: a sign-in lock
        // from someone guessing at the account no longer applies.
        state
            .throttle()
            .release(Kind::SignIn, &throttle::account_subject(&user.id))
            .await?;
        audit::record(
            &state,
            audit::Event {
                event: "password.reset",
                outcome: "success",
                user_id: Some(&user.id),
                ip: browser.ip.as_deref(),
                user_agent: browser.user_agent.as_deref(),
                detail: Some(format!("{ended} sessions ended, {grants} grants revoked")),
                ..Default::default()
            },
        )
        .await;
        let page = SignedOutPage {
            heading: "Password reset".into(),
            message: "Your new password is set, and every session and app sign-in of your account has ended. \
                      Sign in with the new password."
                .into(),
        };
        Ok(render(&state, StatusCode::OK, &page))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// GET /email/verify?token=…
pub async fn verify_email(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        let token = params.get("token").ok_or_else(link_invalid)?;
        let now = state.now();
        let link = email_links::take(&*state.store, Purpose::Verify, token, now)
            .await?
            .ok_or_else(|| {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    "This link has expired",
                    "It was already used, or it is too old. Sign in to get a new one.",
                )
                .with_back(routes::LOGIN)
            })?;
        if !state.store.set_email_verified(&link.user_id, &link.email, now).await? {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "This address is no longer on the account",
                "The account's email changed after this link was sent.",
            ));
        }
        audit::record(
            &state,
            audit::Event {
                event: "email.verified",
                outcome: "success",
                user_id: Some(&link.user_id),
                ip: browser.ip.as_deref(),
                user_agent: browser.user_agent.as_deref(),
                ..Default::default()
            },
        )
        .await;
        let page = SignedOutPage {
            heading: "Email verified".into(),
            message: format!("Thank you: {} is confirmed.", link.email),
        };
        Ok::<_, PageError>(render(&state, StatusCode::OK, &page))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}
