//! Rendering pages, the headers every response carries, and errors for
//! people.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::app::AppState;
use crate::error::{ErrorCode, OAuthError, PageError};
use crate::templates::{self, ErrorPage, Page};

/// Renders `page` with `status`.
pub fn render<P: Page>(state: &AppState, status: StatusCode, page: &P) -> Response {
    match state.templates.render(page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// A 303 to `location`: after a POST, the browser follows with a GET and
/// never re-sends the form (RFC 9700 §4.11).
pub fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Turns a [`PageError`] left in a response into the error page.
pub async fn render_page_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let Some(err) = res.extensions_mut().remove::<PageError>() else {
        return res;
    };
    let page = ErrorPage {
        heading: err.heading.to_string(),
        message: err.message.to_string(),
        code: err.code.map(|c| c.into_owned()),
        back_url: err.back_url.clone(),
    };
    let html = state
        .templates
        .render(&page)
        .unwrap_or_else(|_| format!("<!doctype html><title>Error</title><h1>{}</h1>", err.status));
    let mut out = (err.status, Html(html)).into_response();
    if let Some(seconds) = err.retry_after {
        out.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    // Keep cookies the handler set (e.g. a fresh CSRF cookie).
    for v in res.headers().get_all(header::SET_COOKIE) {
        out.headers_mut().append(header::SET_COOKIE, v.clone());
    }
    out
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'";

/// Headers for every response. HTML gets a strict CSP (no inline script; one same-origin script file),
/// is never framed (clickjacking on credential pages) and never cached.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let is_html =
        h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("text/html"));
    if is_html {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

pub async fn not_found(headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        PageError::new(StatusCode::NOT_FOUND, "Page not found", "There is nothing at this address.")
            .with_back("/")
            .into_response()
    } else {
        OAuthError::new(ErrorCode::NotFound, "no such endpoint").into_response()
    }
}

pub async fn method_not_allowed(headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        PageError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "That did not work",
            "This address does not accept that kind of request.",
        )
        .into_response()
    } else {
        OAuthError::new(ErrorCode::MethodNotAllowed, "the HTTP method is not allowed on this endpoint").into_response()
    }
}

pub async fn stylesheet() -> Response {
    css(templates::STYLESHEET.to_string())
}

/// The copy buttons' script, the only one: same-origin, so the CSP allows it
/// without allowing inline script.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        templates::SCRIPT,
    )
        .into_response()
}

pub async fn theme(State(state): State<AppState>) -> Response {
    css(state.templates.theme_css().to_string())
}

fn css(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], body)
        .into_response()
}
