//! "Sign in with GitHub" pages: the start of the round trip, GitHub's
//! callback, the proof of ownership, and linking and unlinking on the
//! account page (rules in `federation::flow` and `federation::linking`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::browser::Browser;
use super::extract::{Form, PageParams, SignedIn};
use super::pages::{render, see_other};
use super::respond::{after_first_factor, pending_request};
use super::routes;
use crate::app::AppState;
use crate::error::PageError;
use crate::federation::PendingProof;
use crate::federation::flow::{self, Callback, CallbackParams, Decided, Proof, Unlink};
use crate::federation::github::{GithubClient, UpstreamError};
use crate::federation::linking::{self, Outcome, Purpose, Refusal};
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

/// The redirect to GitHub. Its URL carries our state: keep it out of other
/// sites' logs.
fn to_github(url: &str) -> Response {
    let mut res = see_other(url);
    res.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

/// GET /federation/github/start[?request=ID]: the "Continue with GitHub"
/// button on the sign-in page.
pub async fn start_sign_in(
    State(state): State<AppState>, browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let gh = github(&state)?;
    let request = pending_request(&state, params.get("request")).await?.map(|(id, _)| id);
    let url = flow::start(state.accounts(), gh, browser.binding(), request, Purpose::SignIn).await?;
    Ok(to_github(&url))
}

/// POST /account/github/link: a signed-in person links GitHub.
pub async fn start_link(State(state): State<AppState>, me: SignedIn, Form(_): Form) -> Result<Response, PageError> {
    let gh = github(&state)?;
    let purpose = Purpose::Link { user_id: me.user.id.clone() };
    let url = flow::start(state.accounts(), gh, me.browser.binding(), None, purpose).await?;
    Ok(to_github(&url))
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
pub async fn callback(
    State(state): State<AppState>, mut browser: Browser, PageParams(params): PageParams,
) -> Result<Response, PageError> {
    let gh = github(&state)?;
    let callback_params =
        CallbackParams { state: params.get("state"), code: params.get("code"), error: params.get("error") };
    let binding = browser.known_binding();
    let outcome =
        flow::callback(state.accounts(), gh, callback_params, binding.as_deref(), browser.origin(), state.now())
            .await?;
    match outcome {
        Callback::Invalid => Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "This GitHub sign-in is not valid",
            "It has expired, was already used, or was started in another browser. Please start again.",
        )
        .with_back(routes::LOGIN)),
        Callback::Cancelled { back } => Err(PageError::new(
            StatusCode::OK,
            "GitHub sign-in cancelled",
            "You chose not to continue with GitHub. You can sign in another way, or try again.",
        )
        .with_back(back)),
        Callback::Failed { error, back } => Err(PageError::new(
            StatusCode::BAD_GATEWAY,
            "GitHub sign-in failed",
            "GitHub could not complete the sign-in. Please try again, or sign in another way.",
        )
        .with_code_text(error)
        .with_back(back)),
        Callback::NoCode { back } => Err(PageError::bad_request("GitHub sent no code.").with_back(back)),
        Callback::Upstream { error, back } => Err(upstream_page(&error, &back)),
        Callback::NotAllowed { back } => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "This GitHub account may not sign in here",
            "Signing in with GitHub is limited to members of certain GitHub organizations, and this account is not one of them.",
        )
        .with_back(back)),
        Callback::Decided(decided) => act(&state, &mut browser, decided).await,
    }
}

/// Acts on what the linking rules decided.
async fn act(state: &AppState, browser: &mut Browser, decided: Box<Decided>) -> Result<Response, PageError> {
    let Decided { outcome, profile, request_id, back } = *decided;
    match outcome {
        Outcome::SignIn { user, .. } => {
            after_first_factor(state, browser, &user, request_id.as_deref(), None, linking::amr()).await
        }
        Outcome::Linked { .. } => Ok(see_other(&format!("{}?done=github-linked", routes::ACCOUNT))),
        Outcome::NeedsProof { user } => {
            let (id, pending) =
                flow::begin_proof(state.accounts(), &user, &profile, browser.binding(), request_id).await?;
            Ok(render(state, StatusCode::OK, &proof_page(browser, &id, &user, &pending, None)))
        }
        Outcome::Refused(why) => {
            let message = match why {
                Refusal::LinkedToAnother => {
                    "This GitHub account is already linked to a different account here. Sign in with that account, or unlink GitHub from it first."
                }
                Refusal::AccountHasOne => {
                    "Your account is already linked to a different GitHub account. Unlink it first."
                }
                Refusal::Disabled => {
                    let (heading, message) = crate::accounts::users::DISABLED;
                    return Err(PageError::new(StatusCode::FORBIDDEN, heading, message).with_back(back));
                }
            };
            Err(PageError::new(StatusCode::CONFLICT, "GitHub account not linked", message).with_back(back))
        }
    }
}

fn proof_page(browser: &Browser, id: &str, user: &User, pending: &PendingProof, error: Option<&str>) -> LinkGithubPage {
    LinkGithubPage {
        csrf: browser.csrf.clone(),
        proof: id.to_string(),
        github_login: pending.profile.login.clone(),
        email: user.email.clone(),
        username: user.username.clone(),
        has_password: user.password_hash.is_some(),
        error: error.map(str::to_string),
        cancel_url: flow::back_url(pending.request_id.as_deref(), &Purpose::SignIn),
    }
}

/// POST /federation/github/confirm: the password proving the person owns the
/// account that uses their GitHub email.
pub async fn confirm(
    State(state): State<AppState>, mut browser: Browser, Form(params): Form,
) -> Result<Response, PageError> {
    let expired = || {
        PageError::new(StatusCode::BAD_REQUEST, "This linking request has expired", "Please sign in with GitHub again.")
            .with_back(routes::LOGIN)
    };
    let id = params.get("proof").ok_or_else(expired)?;
    let binding = browser.known_binding();
    let password = params.get("password").unwrap_or("");
    let proof =
        flow::confirm_proof(state.accounts(), id, binding.as_deref(), password, browser.origin(), state.now()).await?;
    match proof {
        Proof::Expired => Err(expired()),
        Proof::Wrong { user, pending } => {
            let page = proof_page(&browser, id, &user, &pending, Some("That password is not correct."));
            Ok(render(&state, StatusCode::OK, &page))
        }
        Proof::TooManyAttempts => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Too many attempts",
            "GitHub was not linked. Sign in with your password, then link GitHub from your account page.",
        )
        .with_back(routes::LOGIN)),
        Proof::Linked { user, amr, request_id } => {
            after_first_factor(&state, &mut browser, &user, request_id.as_deref(), None, amr).await
        }
        Proof::Decided(decided) => act(&state, &mut browser, decided).await,
    }
}

/// POST /account/github/unlink.
pub async fn unlink(State(state): State<AppState>, me: SignedIn, Form(_): Form) -> Result<Response, PageError> {
    let done = match flow::unlink(state.accounts(), &me.user, me.browser.origin(), state.now()).await? {
        Unlink::NotLinked => return Ok(see_other(routes::ACCOUNT)),
        Unlink::LastMethod => "github-last-method",
        Unlink::Unlinked => "github-unlinked",
    };
    Ok(see_other(&format!("{}?done={done}", routes::ACCOUNT)))
}
