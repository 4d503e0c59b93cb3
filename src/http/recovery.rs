//! Email link pages: "forgot password", the reset it leads to, and email
//! verification (rules in `accounts::recovery`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::browser::Browser;
use super::extract::{Form, PageParams};
use super::pages::{render, see_other};
use super::routes;
use crate::accounts::password;
use crate::accounts::recovery::{self, ResetOutcome, ResetRequest, Verification};
use crate::accounts::throttle;
use crate::app::AppState;
use crate::error::PageError;
use crate::templates::{ForgotPage, ResetPage, SignedOutPage};

fn link_invalid() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "This link has expired",
        "It was already used, or it is too old. You can ask for a new one.",
    )
    .with_back(routes::FORGOT_PASSWORD)
}

/// GET /password/forgot
pub async fn forgot_page(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let page = ForgotPage { csrf: browser.csrf.clone(), sent: params.get("sent") == Some("1"), error: None };
    render(&state, StatusCode::OK, &page)
}

/// POST /password/forgot: the same answer whether or not the address has
/// an account.
pub async fn forgot_submit(
    State(state): State<AppState>, browser: Browser, Form(params): Form,
) -> Result<Response, PageError> {
    let email = params.get("email").unwrap_or("");
    let page =
        |sent, error: Option<&str>| ForgotPage { csrf: browser.csrf.clone(), sent, error: error.map(str::to_string) };
    match recovery::request_reset(state.accounts(), email, browser.origin(), state.now()).await? {
        ResetRequest::Invalid => Ok(render(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(false, Some("Enter an email address like name@example.com.")),
        )),
        ResetRequest::Locked(wait) => Err(PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            format!("Too many reset requests. Try again {}.", throttle::wait_words(wait)),
        )
        .with_retry_after(wait)),
        ResetRequest::Accepted => Ok(see_other(&format!("{}?sent=1", routes::FORGOT_PASSWORD))),
    }
}

fn reset_form(state: &AppState, browser: &Browser, token: &str, status: StatusCode, error: Option<&str>) -> Response {
    let page = ResetPage {
        csrf: browser.csrf.clone(),
        token: token.to_string(),
        error: error.map(str::to_string),
        min_password: password::MIN_LENGTH,
    };
    let mut res = render(state, status, &page);
    // The token is in this page's URL: keep it out of Referer headers.
    res.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

/// GET /password/reset?token=…
pub async fn reset_page(
    State(state): State<AppState>, browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let token = params.get("token").ok_or_else(link_invalid)?;
    if recovery::reset_target(state.accounts(), token, state.now()).await?.is_none() {
        return Err(link_invalid());
    }
    Ok(reset_form(&state, &browser, token, StatusCode::OK, None))
}

/// POST /password/reset
pub async fn reset_submit(
    State(state): State<AppState>, browser: Browser, Form(params): Form,
) -> Result<Response, PageError> {
    let token = params.get("token").ok_or_else(link_invalid)?;
    let new = params.get("password").unwrap_or("");
    match recovery::reset(state.accounts(), token, new, browser.origin(), state.now()).await? {
        ResetOutcome::LinkInvalid => Err(link_invalid()),
        ResetOutcome::Refused(why) => {
            Ok(reset_form(&state, &browser, token, StatusCode::UNPROCESSABLE_ENTITY, Some(why)))
        }
        ResetOutcome::Done => Ok(see_other(&format!("{}?reason=password-reset", routes::SIGNED_OUT))),
    }
}

/// GET /email/verify?token=…
pub async fn verify_email(
    State(state): State<AppState>, browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let token = params.get("token").ok_or_else(link_invalid)?;
    match recovery::verify_email(state.accounts(), token, browser.origin(), state.now()).await? {
        Verification::LinkInvalid => Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This link has expired",
            "It was already used, or it is too old. On your account page, choose \"Send a new link\" next to your email.",
        )
        .with_back(routes::ACCOUNT)),
        Verification::AddressChanged => Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This address is no longer on the account",
            "The account's email changed after this link was sent.",
        )),
        Verification::Verified(email) => {
            let page = SignedOutPage {
                heading: "Email verified".into(),
                message: format!("Thank you: {email} is confirmed."),
            };
            Ok(render(&state, StatusCode::OK, &page))
        }
    }
}
