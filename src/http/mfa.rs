//! Two-step verification pages: the second step at sign-in, and enrolment
//! and removal on the account page (rules in `accounts::two_step`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::browser::Browser;
use super::extract::{Form, PageParams, SignedIn};
use super::pages::{render, see_other};
use super::respond::{finish_sign_in, second_step_page};
use super::reveal::{self, Shown};
use super::routes;
use crate::accounts::throttle;
use crate::accounts::two_step::{self, Confirmation, Enrolment, StepOutcome};
use crate::app::AppState;
use crate::error::PageError;
use crate::templates::{BackupCodesPage, MfaSetupPage};

fn step_expired() -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "This sign-in has expired", "Please sign in again.")
        .with_back(routes::LOGIN)
}

/// Pages with a secret on them are never cached.
fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// POST /login/mfa: the code from the authenticator app, or a backup code.
pub async fn step_submit(
    State(state): State<AppState>, mut browser: Browser, Form(params): Form,
) -> Result<Response, PageError> {
    let id = params.get("step").ok_or_else(step_expired)?;
    let binding = browser.known_binding();
    let code = params.get("code").unwrap_or("");
    let outcome =
        two_step::submit(state.accounts(), id, binding.as_deref(), code, browser.origin(), state.now()).await?;
    match outcome {
        StepOutcome::Passed { user, amr, request_id } => {
            finish_sign_in(&state, &mut browser, &user, amr, request_id.as_deref(), None).await
        }
        StepOutcome::Wrong { delay } => {
            tokio::time::sleep(delay).await;
            let page = second_step_page(&browser, id, Some("That code is not correct, or was already used."));
            Ok(render(&state, StatusCode::OK, &page))
        }
        StepOutcome::Locked(wait) => Err(PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many wrong codes",
            format!("Try again {}.", throttle::wait_words(wait)),
        )
        .with_back(routes::LOGIN)
        .with_retry_after(wait)),
        StepOutcome::Expired => Err(step_expired()),
    }
}

fn setup_view(browser: &Browser, enrolment: Enrolment, error: Option<&str>) -> MfaSetupPage {
    MfaSetupPage {
        csrf: browser.csrf.clone(),
        qr_svg: enrolment.qr_svg,
        secret: enrolment.secret,
        error: error.map(str::to_string),
    }
}

/// GET /account/mfa: start enrolment (a new secret, shown as a QR code and
/// as text) or, if on, go back to the account page.
pub async fn setup_page(State(state): State<AppState>, me: SignedIn) -> Result<Response, PageError> {
    let Some(enrolment) = two_step::start_enrolment(state.accounts(), &me.user).await? else {
        return Ok(see_other(routes::ACCOUNT));
    };
    Ok(no_store(render(&state, StatusCode::OK, &setup_view(&me.browser, enrolment, None))))
}

/// POST /account/mfa: confirm enrolment with a first code; then show the
/// backup codes, once.
pub async fn setup_submit(
    State(state): State<AppState>, me: SignedIn, Form(params): Form,
) -> Result<Response, PageError> {
    let code = params.get("code").unwrap_or("");
    let outcome =
        two_step::confirm_enrolment(state.accounts(), &me.user, code, me.browser.origin(), state.now()).await?;
    match outcome {
        Confirmation::Enabled(codes) => {
            let id = reveal::hold(&state, &me, BACKUP_CODES, codes).await?;
            Ok(see_other(&format!("{}?reveal={id}", routes::BACKUP_CODES)))
        }
        Confirmation::WrongCode(enrolment) => {
            let view = setup_view(&me.browser, enrolment, Some("That code is not correct. Try the next one."));
            Ok(render(&state, StatusCode::OK, &view))
        }
        Confirmation::Expired => Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This set-up has expired",
            "Start setting up two-step verification again.",
        )
        .with_back(routes::ACCOUNT)),
    }
}

const BACKUP_CODES: &str = "backup-codes";

/// GET /account/mfa/backup-codes?reveal=…: the backup codes, once, after
/// two-step verification is turned on.
pub async fn backup_codes(
    State(state): State<AppState>, me: SignedIn, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    match reveal::take(&state, &me, params.get("reveal"), BACKUP_CODES).await? {
        Shown::Secrets(codes) => {
            let download = codes.join("\n") + "\n";
            Ok(no_store(render(&state, StatusCode::OK, &BackupCodesPage { codes, download })))
        }
        Shown::Gone | Shown::Nothing => Err(PageError::new(
            StatusCode::GONE,
            "These codes were shown once",
            "Backup codes are shown only once, right after two-step verification is turned on. If you did not \
             save them, turn two-step verification off and on again for new ones.",
        )
        .with_back(routes::ACCOUNT)),
    }
}

/// POST /account/mfa/disable: needs a current code (or backup code) or the
/// password.
pub async fn disable(State(state): State<AppState>, me: SignedIn, Form(params): Form) -> Result<Response, PageError> {
    let proof = params.get("proof").unwrap_or("");
    let off = two_step::disable(state.accounts(), &me.user, proof, me.browser.origin(), state.now()).await?;
    let done = if off { "mfa-off" } else { "mfa-proof-wrong" };
    Ok(see_other(&format!("{}?done={done}", routes::ACCOUNT)))
}
