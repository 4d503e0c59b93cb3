//! Two-step verification with TOTP (RFC 6238): the second step at sign-in,
//! and enrolment and removal on the account page.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::browser::Browser;
use super::extract::PageParams;
use super::login::complete_sign_in;
use super::pages::{render, see_other};
use super::routes;
use crate::accounts::throttle::{self, Kind};
use crate::accounts::totp;
use crate::app::AppState;
use crate::audit;
use crate::crypto::{random_token, token_hash};
use crate::error::PageError;
use crate::store::{TotpRecord, User};
use crate::templates::{BackupCodesPage, MfaPage, MfaSetupPage};

/// How long the second step may take after the password.
const STEP_TTL: u64 = 300;

/// A sign-in waiting for its second step, under the hash of a random id.
#[derive(Debug, Serialize, Deserialize)]
struct PendingStep {
    user_id: String,
    request_id: Option<String>,
    binding: String,
    /// The `amr` of the first step (`pwd`, or `fed github`).
    first: Vec<String>,
}

fn step_key(id: &str) -> String {
    format!("mfa:step:{}", token_hash(id))
}

/// An enrolment in progress: the new secret (sealed), until confirmed.
fn setup_key(user_id: &str) -> String {
    format!("mfa:setup:{user_id}")
}

fn form_expired() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your safety we did not submit it. Reload the page and try again.",
    )
}

fn step_expired() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "Please sign in again.",
    )
    .with_back(routes::LOGIN)
}

fn key(state: &AppState) -> &[u8] {
    state.totp_key.expose().as_bytes()
}

/// After a first step (a password, or GitHub) for an account with TOTP: ask
/// for a code.
pub async fn begin(
    state: &AppState,
    browser: &Browser,
    user: &User,
    request: Option<&str>,
    first: Vec<String>,
) -> Result<Response, PageError> {
    let id = random_token(32);
    let pending = PendingStep {
        user_id: user.id.clone(),
        request_id: request.map(str::to_string),
        binding: browser.binding(),
        first,
    };
    state
        .ephemeral
        .put(
            &step_key(&id),
            &serde_json::to_string(&pending).map_err(PageError::server)?,
            Duration::from_secs(STEP_TTL),
        )
        .await?;
    Ok(render(state, StatusCode::OK, &step_page(browser, &id, None)))
}

fn step_page(browser: &Browser, id: &str, error: Option<&str>) -> MfaPage {
    MfaPage {
        csrf: browser.csrf.clone(),
        step: id.to_string(),
        error: error.map(str::to_string),
    }
}

/// POST /login/mfa: the code from the authenticator app, or a backup code.
pub async fn step_submit(
    State(state): State<AppState>,
    mut browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let id = params.get("step").ok_or_else(step_expired)?;
        let raw = state.ephemeral.get(&step_key(id)).await?.ok_or_else(step_expired)?;
        let pending: PendingStep = serde_json::from_str(&raw).map_err(PageError::server)?;
        if !browser.bound_to(&pending.binding) {
            return Err(step_expired());
        }
        let now = state.now();
        let ip = browser.ip.clone();
        let throttle = state.throttle();
        let locked_page = |wait: i64| {
            let mut res = PageError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many wrong codes",
                format!("Try again {}.", throttle::wait_words(wait)),
            )
            .with_back(routes::LOGIN)
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait.max(1)));
            res
        };
        if let Some(wait) = throttle
            .locked(Kind::SecondFactor, &pending.user_id, ip.as_deref(), now)
            .await?
        {
            return Ok(locked_page(wait));
        }
        let user = state
            .store
            .get_user(&pending.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or_else(step_expired)?;
        let code = params.get("code").unwrap_or("").trim();
        let used = check_code(&state, &user, code, now).await?;
        let event = |event, outcome| audit::Event {
            event,
            outcome,
            user_id: Some(&pending.user_id),
            ip: ip.as_deref(),
            user_agent: browser.user_agent.as_deref(),
            ..Default::default()
        };
        let Some(kind) = used else {
            audit::record(&state, event("mfa.use", "failure")).await;
            let failure = throttle.fail(Kind::SecondFactor, &user.id, ip.as_deref(), now).await?;
            if let Some(wait) = failure.locked_for {
                state.ephemeral.delete(&step_key(id)).await?;
                return Ok(locked_page(wait));
            }
            tokio::time::sleep(failure.delay).await;
            let page = step_page(&browser, id, Some("That code is not correct, or was already used."));
            return Ok(render(&state, StatusCode::OK, &page));
        };
        // The step is done once, even if the form is sent twice.
        if state.ephemeral.take(&step_key(id)).await?.is_none() {
            return Err(step_expired());
        }
        throttle.succeeded(Kind::SecondFactor, &user.id).await?;
        audit::record(&state, event(kind, "success")).await;
        let mut amr = pending.first.clone();
        amr.extend(["otp".to_string(), "mfa".to_string()]);
        complete_sign_in(&state, &mut browser, &user, amr, pending.request_id.as_deref()).await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// A current TOTP code (never one already used) or an unused backup code.
/// Returns the audit event name of what was used.
async fn check_code(state: &AppState, user: &User, code: &str, now: i64) -> Result<Option<&'static str>, PageError> {
    let Some(record) = state.store.get_totp(&user.id).await? else {
        return Ok(None);
    };
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == totp::DIGITS && digits.chars().all(|c| c.is_ascii_digit()) {
        let Some(secret) = totp::open(key(state), &user.id, &record.secret_sealed) else {
            return Err(PageError::server("a TOTP secret does not open with the configured key"));
        };
        let Some(step) = totp::verify(&secret, &digits, now, record.last_step) else {
            return Ok(None);
        };
        // Recorded atomically: of two uses of one code, one wins.
        return Ok(state
            .store
            .advance_totp_step(&user.id, step)
            .await?
            .then_some("mfa.use"));
    }
    let hash = totp::backup_code_hash(code);
    Ok(state
        .store
        .use_backup_code(&user.id, &hash, now)
        .await?
        .then_some("mfa.backup_code"))
}

fn signed_in_user_id(browser: &Browser) -> Option<String> {
    browser.session.as_ref().map(|s| s.user_id.clone())
}

/// GET /account/mfa: start enrolment (a new secret, shown as a QR code and
/// as text) or, if on, go back to the account page.
pub async fn setup_page(State(state): State<AppState>, browser: Browser) -> Response {
    let res = async {
        let Some(user_id) = signed_in_user_id(&browser) else {
            return Ok(see_other(routes::LOGIN));
        };
        let Some(user) = state.store.get_user(&user_id).await? else {
            return Ok(see_other(routes::LOGIN));
        };
        if state.store.get_totp(&user.id).await?.is_some() {
            return Ok(see_other(routes::ACCOUNT));
        }
        let secret = totp::generate_secret();
        let sealed = totp::seal(key(&state), &user.id, &secret);
        state
            .ephemeral
            .put(
                &setup_key(&user.id),
                &crate::crypto::b64url(&sealed),
                Duration::from_secs(900),
            )
            .await?;
        Ok::<_, PageError>(render(
            &state,
            StatusCode::OK,
            &setup_view(&state, &browser, &user, &secret, None),
        ))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    let mut res = browser.finish(res);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn setup_view(state: &AppState, browser: &Browser, user: &User, secret: &[u8], error: Option<&str>) -> MfaSetupPage {
    let uri = totp::otpauth_uri(&state.config.brand.name, &user.username, secret);
    MfaSetupPage {
        csrf: browser.csrf.clone(),
        qr_svg: totp::qr_svg(&uri),
        secret: totp::base32(secret)
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        error: error.map(str::to_string),
    }
}

/// POST /account/mfa: confirm enrolment with a first code; then show the
/// backup codes, once.
pub async fn setup_submit(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let Some(user_id) = signed_in_user_id(&browser) else {
            return Ok(see_other(routes::LOGIN));
        };
        let Some(user) = state.store.get_user(&user_id).await? else {
            return Ok(see_other(routes::LOGIN));
        };
        let expired = || {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "This set-up has expired",
                "Start setting up two-step verification again.",
            )
            .with_back(routes::ACCOUNT)
        };
        let sealed = state
            .ephemeral
            .get(&setup_key(&user.id))
            .await?
            .and_then(|s| crate::crypto::b64url_decode(&s))
            .ok_or_else(expired)?;
        let secret = totp::open(key(&state), &user.id, &sealed).ok_or_else(expired)?;
        let now = state.now();
        let code = params.get("code").unwrap_or("");
        let Some(step) = totp::verify(&secret, code, now, None) else {
            let view = setup_view(
                &state,
                &browser,
                &user,
                &secret,
                Some("That code is not correct. Try the next one."),
            );
            return Ok(render(&state, StatusCode::OK, &view));
        };
        let codes = totp::backup_codes();
        let hashes: Vec<String> = codes.iter().map(|c| totp::backup_code_hash(c)).collect();
        let record = TotpRecord {
            user_id: user.id.clone(),
            secret_sealed: sealed,
            // The confirming code is spent.
            last_step: Some(step),
            enabled_at: now,
        };
        state.store.enable_totp(&record, &hashes).await?;
        state.ephemeral.delete(&setup_key(&user.id)).await?;
        audit::record(
            &state,
            audit::Event {
                event: "mfa.enrol",
                outcome: "success",
                user_id: Some(&user.id),
                ip: browser.ip.as_deref(),
                user_agent: browser.user_agent.as_deref(),
                ..Default::default()
            },
        )
        .await;
        let mut res = render(&state, StatusCode::OK, &BackupCodesPage { codes });
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(res)
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// POST /account/mfa/disable: needs a current code (or backup code) or the
/// password.
pub async fn disable(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let Some(user_id) = signed_in_user_id(&browser) else {
            return Ok(see_other(routes::LOGIN));
        };
        let Some(user) = state.store.get_user(&user_id).await? else {
            return Ok(see_other(routes::LOGIN));
        };
        let now = state.now();
        let proof = params.get("proof").unwrap_or("").trim();
        let by_code = check_code(&state, &user, proof, now).await?.is_some();
        let by_password = !by_code
            && user.password_hash.is_some()
            && matches!(state.hasher.verify(proof, user.password_hash.as_deref()).await, Ok(v) if v.ok);
        let event = |outcome| audit::Event {
            event: "mfa.disable",
            outcome,
            user_id: Some(&user.id),
            ip: browser.ip.as_deref(),
            user_agent: browser.user_agent.as_deref(),
            ..Default::default()
        };
        if !(by_code || by_password) {
            state
                .throttle()
                .fail(Kind::SecondFactor, &user.id, browser.ip.as_deref(), now)
                .await?;
            audit::record(&state, event("failure")).await;
            return Ok(see_other(&format!("{}?done=mfa-proof-wrong", routes::ACCOUNT)));
        }
        state.store.disable_totp(&user.id).await?;
        audit::record(&state, event("success")).await;
        Ok(see_other(&format!("{}?done=mfa-off", routes::ACCOUNT)))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}
