//! "Sign in with GitHub": starting the round trip, the callback, the proof of
//! ownership when an account already uses the GitHub email, and linking and
//! unlinking from the account page.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::authorize::load_pending;
use super::browser::Browser;
use super::extract::PageParams;
use super::pages::{render, see_other};
use super::routes;
use crate::app::AppState;
use crate::audit;
use crate::crypto::random_token;
use crate::error::PageError;
use crate::federation::github::{GithubClient, GithubProfile, UpstreamError};
use crate::federation::linking::{self, Outcome, Purpose, Refusal};
use crate::federation::{self, PendingProof, RoundTrip};
use crate::oauth::params::Params;
use crate::store::User;
use crate::templates::LinkGithubPage;

fn github(state: &AppState) -> Result<&GithubClient, PageError> {
    state.github.as_deref().ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "GitHub sign-in is not available",
            "This server is not set up for signing in with GitHub.",
        )
    })
}

/// Where a person goes back to after a failed round trip.
fn back_url(request_id: Option<&str>, purpose: &Purpose) -> String {
    match (purpose, request_id) {
        (Purpose::Link { .. }, _) => routes::ACCOUNT.to_string(),
        (Purpose::SignIn, Some(id)) => format!("{}?request={id}", routes::LOGIN),
        (Purpose::SignIn, None) => routes::LOGIN.to_string(),
    }
}

/// Stores the round trip and answers with the redirect to GitHub.
async fn start(
    state: &AppState,
    browser: &Browser,
    request_id: Option<String>,
    purpose: Purpose,
) -> Result<Response, PageError> {
    let gh = github(state)?;
    let trip_state = random_token(32);
    let (url, verifier) = gh.authorize_url(&trip_state);
    let trip = RoundTrip {
        binding: browser.binding(),
        verifier,
        request_id,
        purpose,
    };
    state
        .ephemeral
        .put(
            &federation::round_trip_key(&trip_state),
            &serde_json::to_string(&trip).map_err(PageError::server)?,
            Duration::from_secs(federation::ROUND_TRIP_TTL),
        )
        .await?;
    let mut res = see_other(&url);
    // The GitHub URL carries our state: keep it out of other sites' logs.
    res.headers_mut()
        .insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(res)
}

/// GET /federation/github/start[?request=ID]: the "Continue with GitHub"
/// button on the sign-in page.
pub async fn start_sign_in(
    State(state): State<AppState>,
    browser: Browser,
    PageParams(params): PageParams,
) -> Response {
    let res = async {
        let request = params.get("request");
        if request.is_some() {
            load_pending(&state, request).await?;
        }
        start(&state, &browser, request.map(str::to_string), Purpose::SignIn).await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// POST /account/github/link: a signed-in person links GitHub.
pub async fn start_link(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let Some(session) = &browser.session else {
            return Ok(see_other(routes::LOGIN));
        };
        let purpose = Purpose::Link {
            user_id: session.user_id.clone(),
        };
        start(&state, &browser, None, purpose).await
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

fn form_expired() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your safety we did not submit it. Reload the page and try again.",
    )
}

fn upstream_page(e: &UpstreamError, back: &str) -> PageError {
    tracing::warn!(error = %e, "GitHub round trip failed");
    let page = match e {
        UpstreamError::Refused { code, .. } => PageError::new(
            StatusCode::BAD_GATEWAY,
            "GitHub did not accept this sign-in",
            "The sign-in with GitHub could not be completed, perhaps because it took too long. Please try again.",
        )
        .with_code_text(code.clone()),
        UpstreamError::RateLimited { retry_after } => {
            let when = match retry_after {
                Some(s) if *s > 90 => format!("in about {} minutes", (s + 59) / 60),
                Some(_) => "in a minute".to_string(),
                None => "in a few minutes".to_string(),
            };
            PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "GitHub is busy",
                format!("GitHub is limiting requests from this server right now. Please try again {when}."),
            )
            .with_code_text("rate_limited")
        }
        UpstreamError::Timeout => PageError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "GitHub did not answer",
            "GitHub took too long to answer. Please try again.",
        )
        .with_code_text("timeout"),
        UpstreamError::Unexpected(_) => PageError::new(
            StatusCode::BAD_GATEWAY,
            "GitHub sign-in failed",
            "GitHub answered in a way we did not expect. Please try again, or sign in another way.",
        ),
    };
    page.with_back(back)
}

/// GET /federation/github/callback: GitHub sends the browser back here.
pub async fn callback(State(state): State<AppState>, mut browser: Browser, PageParams(params): PageParams) -> Response {
    let res = callback_inner(&state, &mut browser, &params)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

async fn callback_inner(state: &AppState, browser: &mut Browser, params: &Params) -> Result<Response, PageError> {
    let gh = github(state)?;
    let not_valid = || {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "This GitHub sign-in is not valid",
            "It has expired, was already used, or was started in another browser. Please start again.",
        )
        .with_back(routes::LOGIN)
    };
    let trip_state = params.get("state").ok_or_else(not_valid)?;
    // Taken, not read: a state works once, even across instances.
    let raw = state
        .ephemeral
        .take(&federation::round_trip_key(trip_state))
        .await?
        .ok_or_else(not_valid)?;
    let trip: RoundTrip = serde_json::from_str(&raw).map_err(PageError::server)?;
    if !browser.bound_to(&trip.binding) {
        tracing::warn!(ip = ?browser.ip, "GitHub callback from a browser that did not start it");
        return Err(not_valid());
    }
    let back = back_url(trip.request_id.as_deref(), &trip.purpose);
    if let Some(error) = params.get("error") {
        return Err(if error == "access_denied" {
            PageError::new(
                StatusCode::OK,
                "GitHub sign-in cancelled",
                "You chose not to continue with GitHub. You can sign in another way, or try again.",
            )
            .with_back(back)
        } else {
            tracing::warn!(error, "GitHub answered the authorization with an error");
            PageError::new(
                StatusCode::BAD_GATEWAY,
                "GitHub sign-in failed",
                "GitHub could not complete the sign-in. Please try again, or sign in another way.",
            )
            .with_code_text(error.chars().take(64).collect::<String>())
            .with_back(back)
        });
    }
    let code = params
        .get("code")
        .ok_or_else(|| PageError::bad_request("GitHub sent no code.").with_back(back.clone()))?;
    let token = gh
        .exchange(code, &trip.verifier)
        .await
        .map_err(|e| upstream_page(&e, &back))?;
    let profile = gh.profile(&token).await.map_err(|e| upstream_page(&e, &back))?;
    let now = state.now();
    if !gh.org_allowed(&profile) {
        audit_refused(
            state,
            browser,
            None,
            &profile,
            "not a member of an allowed organization",
        )
        .await;
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "This GitHub account may not sign in here",
            "Signing in with GitHub is limited to members of certain GitHub organizations, and this account is not one of them.",
        )
        .with_back(back));
    }
    let outcome = linking::resolve(&*state.store, &profile, &trip.purpose, now).await?;
    finish(state, browser, outcome, &profile, trip.request_id, &back).await
}

/// Acts on what the linking rules decided.
async fn finish(
    state: &AppState,
    browser: &mut Browser,
    outcome: Outcome,
    profile: &GithubProfile,
    request_id: Option<String>,
    back: &str,
) -> Result<Response, PageError> {
    match outcome {
        Outcome::SignIn { user, created } => {
            if created {
                record(
                    state,
                    browser,
                    "federation.account_created",
                    "success",
                    &user.id,
                    profile,
                )
                .await;
            }
            sign_in(state, browser, &user, linking::amr(), request_id).await
        }
        Outcome::Linked { user } => {
            record(state, browser, "federation.link", "success", &user.id, profile).await;
            Ok(see_other(&format!("{}?done=github-linked", routes::ACCOUNT)))
        }
        Outcome::NeedsProof { user } => {
            let id = random_token(32);
            let pending = PendingProof {
                binding: browser.binding(),
                user_id: user.id.clone(),
                profile: profile.clone(),
                request_id,
                attempts: 0,
            };
            save_proof(state, &id, &pending).await?;
            Ok(render(
                state,
                StatusCode::OK,
                &proof_page(browser, &id, &user, &pending, None),
            ))
        }
        Outcome::Refused(why) => {
            let session_user = browser.session.as_ref().map(|s| s.user_id.clone());
            let (detail, message) = match why {
                Refusal::LinkedToAnother => (
                    "linked to another account",
                    "This GitHub account is already linked to a different account here. Sign in with that account, or unlink GitHub from it first.",
                ),
                Refusal::AccountHasOne => (
                    "account already links a GitHub identity",
                    "Your account is already linked to a different GitHub account. Unlink it first.",
                ),
                Refusal::Disabled => (
                    "account disabled",
                    "The account linked to this GitHub account is disabled.",
                ),
            };
            audit_refused(state, browser, session_user.as_deref(), profile, detail).await;
            Err(PageError::new(StatusCode::CONFLICT, "GitHub account not linked", message).with_back(back))
        }
    }
}

async fn save_proof(state: &AppState, id: &str, pending: &PendingProof) -> Result<(), PageError> {
    state
        .ephemeral
        .put(
            &federation::proof_key(id),
            &serde_json::to_string(pending).map_err(PageError::server)?,
            Duration::from_secs(federation::ROUND_TRIP_TTL),
        )
        .await?;
    Ok(())
}

fn proof_page(browser: &Browser, id: &str, user: &User, pending: &PendingProof, error: Option<&str>) -> LinkGithubPage {
    let profile = &pending.profile;
    LinkGithubPage {
        csrf: browser.csrf.clone(),
        proof: id.to_string(),
        github_login: profile.login.clone(),
        email: user.email.clone(),
        username: user.username.clone(),
        has_password: user.password_hash.is_some(),
        error: error.map(str::to_string),
        cancel_url: back_url(pending.request_id.as_deref(), &Purpose::SignIn),
    }
}

/// POST /federation/github/confirm: the password proving the person owns the
/// account that uses their GitHub email.
pub async fn confirm(State(state): State<AppState>, mut browser: Browser, PageParams(params): PageParams) -> Response {
    let res = confirm_inner(&state, &mut browser, &params)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

async fn confirm_inner(state: &AppState, browser: &mut Browser, params: &Params) -> Result<Response, PageError> {
    let expired = || {
        PageError::new(
            StatusCode::BAD_REQUEST,
            "This linking request has expired",
            "Please sign in with GitHub again.",
        )
        .with_back(routes::LOGIN)
    };
    if !browser.csrf_ok(params.get("csrf")) {
        return Err(form_expired());
    }
    let id = params.get("proof").ok_or_else(expired)?;
    let key = federation::proof_key(id);
    // Read first: a form submitted from another browser must not void it.
    let raw = state.ephemeral.get(&key).await?.ok_or_else(expired)?;
    let pending: PendingProof = serde_json::from_str(&raw).map_err(PageError::server)?;
    if !browser.bound_to(&pending.binding) {
        return Err(expired());
    }
    // Then taken while checked, so two submissions cannot race past the
    // attempt limit.
    let raw = state.ephemeral.take(&key).await?.ok_or_else(expired)?;
    let mut pending: PendingProof = serde_json::from_str(&raw).map_err(PageError::server)?;
    let user = state
        .store
        .get_user(&pending.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(expired)?;
    let password = params.get("password").unwrap_or("");
    let verified = state.hasher.verify(password, user.password_hash.as_deref()).await;
    let ok = matches!(&verified, Ok(v) if v.ok) && password.chars().count() <= crate::accounts::password::MAX_LENGTH;
    if !ok {
        pending.attempts += 1;
        audit::record(
            state,
            audit::Event {
                event: "federation.link_proof",
                outcome: "failure",
                user_id: Some(&user.id),
                ip: browser.ip.as_deref(),
                user_agent: browser.user_agent.as_deref(),
                detail: Some(format!("github id {} (@{})", pending.profile.id, pending.profile.login)),
                ..Default::default()
            },
        )
        .await;
        if pending.attempts >= federation::PROOF_ATTEMPTS {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "Too many attempts",
                "GitHub was not linked. Sign in with your password, then link GitHub from your account page.",
            )
            .with_back(routes::LOGIN));
        }
        save_proof(state, id, &pending).await?;
        let page = proof_page(browser, id, &user, &pending, Some("That password is not correct."));
        return Ok(render(state, StatusCode::OK, &page));
    }
    let back = back_url(pending.request_id.as_deref(), &Purpose::SignIn);
    match linking::link(&*state.store, &user, &pending.profile, state.now()).await? {
        Outcome::Linked { user } => {
            record(state, browser, "federation.link", "success", &user.id, &pending.profile).await;
            let mut amr = vec!["pwd".to_string()];
            amr.extend(linking::amr());
            sign_in(state, browser, &user, amr, pending.request_id).await
        }
        other => finish(state, browser, other, &pending.profile, pending.request_id, &back).await,
    }
}

/// POST /account/github/unlink.
pub async fn unlink(State(state): State<AppState>, browser: Browser, PageParams(params): PageParams) -> Response {
    let res = async {
        if !browser.csrf_ok(params.get("csrf")) {
            return Err(form_expired());
        }
        let Some(session) = &browser.session else {
            return Ok(see_other(routes::LOGIN));
        };
        let Some(user) = state.store.get_user(&session.user_id).await? else {
            return Ok(see_other(routes::LOGIN));
        };
        let identities = state.store.user_identities(&user.id).await?;
        let Some(github) = identities
            .iter()
            .find(|i| i.provider == crate::federation::github::PROVIDER)
        else {
            return Ok(see_other(routes::ACCOUNT));
        };
        let event = |outcome, detail: String| audit::Event {
            event: "federation.unlink",
            outcome,
            user_id: Some(&session.user_id),
            ip: browser.ip.as_deref(),
            user_agent: browser.user_agent.as_deref(),
            detail: Some(detail),
            ..Default::default()
        };
        if !linking::may_unlink(&user, &identities) {
            let detail = format!("github id {}: the last way to sign in", github.subject);
            audit::record(&state, event("refused", detail)).await;
            return Ok(see_other(&format!("{}?done=github-last-method", routes::ACCOUNT)));
        }
        state.store.unlink_identity(&user.id, github.provider.as_str()).await?;
        let detail = format!("github id {} (@{})", github.subject, github.login);
        audit::record(&state, event("success", detail)).await;
        Ok(see_other(&format!("{}?done=github-unlinked", routes::ACCOUNT)))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response);
    browser.finish(res)
}

/// Signs the person in (after the second step, when the account has one).
async fn sign_in(
    state: &AppState,
    browser: &mut Browser,
    user: &User,
    amr: Vec<String>,
    request_id: Option<String>,
) -> Result<Response, PageError> {
    // GitHub is a first factor like a password: it does not skip TOTP.
    if state.store.get_totp(&user.id).await?.is_some() {
        return super::mfa::begin(state, browser, user, request_id.as_deref(), amr).await;
    }
    super::login::complete_sign_in(state, browser, user, amr, request_id.as_deref()).await
}

async fn record(state: &AppState, browser: &Browser, event: &str, outcome: &str, user_id: &str, p: &GithubProfile) {
    audit::record(
        state,
        audit::Event {
            event,
            outcome,
            user_id: Some(user_id),
            ip: browser.ip.as_deref(),
            user_agent: browser.user_agent.as_deref(),
            detail: Some(format!("github id {} (@{})", p.id, p.login)),
            ..Default::default()
        },
    )
    .await;
}

async fn audit_refused(state: &AppState, browser: &Browser, user_id: Option<&str>, p: &GithubProfile, why: &str) {
    audit::record(
        state,
        audit::Event {
            event: "federation.link",
            outcome: "refused",
            user_id,
            ip: browser.ip.as_deref(),
            user_agent: browser.user_agent.as_deref(),
            detail: Some(format!("github id {} (@{}): {why}", p.id, p.login)),
            ..Default::default()
        },
    )
    .await;
}
