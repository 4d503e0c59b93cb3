//! The device authorization grant (RFC 8628): the endpoint a device asks
//! at, and the pages where its person enters the code and answers (rules in
//! `oauth::device`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::extract::{AuthenticatedClient, Form, NoStore, PageParams, SignedIn};
use super::pages::{render, see_other};
use super::routes;
use crate::accounts::throttle::wait_words;
use crate::app::AppState;
use crate::error::{OAuthError, PageError};
use crate::oauth::consent;
use crate::oauth::device::{self, Lookup};
use crate::templates::{DeviceConfirmPage, DeviceDonePage, DevicePage, ScopeLine, UserLine};

/// POST /device_authorization
pub async fn start(
    State(state): State<AppState>, AuthenticatedClient { client, params }: AuthenticatedClient,
) -> Result<Response, OAuthError> {
    let verification_uri = format!("{}{}", state.config.issuer, routes::DEVICE);
    let answer = device::start(state.provider(), &client, &params, &verification_uri, state.now()).await?;
    Ok(NoStore(answer).into_response())
}

/// GET /device: the code form, prefilled from the link a device shows
/// (never submitted for the person: they confirm).
pub async fn page(State(state): State<AppState>, me: SignedIn, PageParams(params): PageParams) -> Response {
    let user_code = params.get("user_code").and_then(device::normalize).map(|c| device::display(&c));
    let page = DevicePage { csrf: me.browser.csrf.clone(), user_code: user_code.unwrap_or_default(), error: None };
    render(&state, StatusCode::OK, &page)
}

/// POST /device: the code entered; the device's request is shown to
/// confirm, or the form again with the reason.
pub async fn enter(State(state): State<AppState>, me: SignedIn, Form(params): Form) -> Result<Response, PageError> {
    let typed = params.get("user_code").unwrap_or("");
    let again = |status: StatusCode, error: String| {
        let page = DevicePage { csrf: me.browser.csrf.clone(), user_code: typed.to_string(), error: Some(error) };
        render(&state, status, &page)
    };
    let p = state.provider();
    match device::lookup(p, typed, me.browser.origin(), state.now()).await? {
        Lookup::Malformed => {
            Ok(again(StatusCode::BAD_REQUEST, "That is not a device code: it has 8 letters, like BCDF-GHJK.".into()))
        }
        Lookup::Unknown => Ok(again(
            StatusCode::BAD_REQUEST,
            "That code is wrong, expired, or was used already. Check the device, or start again there.".into(),
        )),
        Lookup::Locked(wait) => {
            Ok(again(StatusCode::TOO_MANY_REQUESTS, format!("Too many wrong codes. Try again {}.", wait_words(wait))))
        }
        Lookup::Found(found, client) => {
            let scopes = consent::describe(p, &found.scopes, &found.resources).await?;
            let confirmation = device::hold(p, &found, &me.user, me.browser.binding()).await?;
            let page = DeviceConfirmPage {
                csrf: me.browser.csrf.clone(),
                confirmation,
                user_code: device::display(&found.user_code),
                client_name: client.name.clone(),
                scopes: scopes.into_iter().map(|(name, description)| ScopeLine { name, description }).collect(),
                user: UserLine { username: me.user.username.clone(), email: Some(me.user.email.clone()), name: None },
            };
            Ok(render(&state, StatusCode::OK, &page))
        }
    }
}

/// POST /device/decide: the person's answer, then the result page.
pub async fn decide(State(state): State<AppState>, me: SignedIn, Form(params): Form) -> Result<Response, PageError> {
    let confirmation = params.get("confirmation").ok_or_else(expired)?;
    let approve = params.get("decision") == Some("allow");
    let (p, binding) = (state.provider(), me.browser.known_binding());
    let origin = me.browser.origin();
    let decided =
        device::decide(p, confirmation, binding.as_deref(), &me.user, &me.session, approve, origin, state.now())
            .await?;
    if !decided {
        return Err(expired());
    }
    let result = if approve { "approved" } else { "denied" };
    Ok(see_other(&format!("{}?result={result}", routes::DEVICE_DONE)))
}

/// GET /device/done
pub async fn done(State(state): State<AppState>, _me: SignedIn, PageParams(params): PageParams) -> Response {
    render(&state, StatusCode::OK, &DeviceDonePage { approved: params.get("result") == Some("approved") })
}

fn expired() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "This device code is no longer valid",
        "It expired, or was answered already. Start again on the device.",
    )
    .with_back(routes::DEVICE)
}
