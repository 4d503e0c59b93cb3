//! The browser side of a request: the session cookie, the CSRF cookie, and
//! where the request came from.
//!
//! Cookies decided while a request is handled (a fresh CSRF cookie, a new
//! session, a cleared one) go into a per-request [`CookieJar`]; the
//! [`cookies`] middleware adds them to whatever the handler answers, error
//! pages included. Handlers never carry cookies themselves.

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::accounts::sessions::{self, Lifetimes, TOUCH_EVERY};
use crate::app::AppState;
use crate::crypto::{constant_time_eq, random_token, token_hash};
use crate::error::PageError;
use crate::store::Session;

pub struct CookieNames {
    pub session: &'static str,
    pub csrf: &'static str,
}

/// `__Host-` cookies must be Secure, so the prefix is used on https issuers
/// only (RFC 6265bis §4.1.3.2).
pub fn cookie_names(secure: bool) -> CookieNames {
    if secure {
        CookieNames { session: "__Host-latchkey_session", csrf: "__Host-latchkey_csrf" }
    } else {
        CookieNames { session: "latchkey_session", csrf: "latchkey_csrf" }
    }
}

pub fn lifetimes(state: &AppState) -> Lifetimes {
    Lifetimes { idle: state.config.session_idle_ttl, absolute: state.config.session_absolute_ttl }
}

fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure on https.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

/// The cookies a request decided to set, by name: a later decision about
/// the same cookie replaces an earlier one (a session cleared, then started).
#[derive(Clone, Default)]
pub struct CookieJar(Arc<Mutex<Vec<(&'static str, HeaderValue)>>>);

impl CookieJar {
    fn set(&self, name: &'static str, value: HeaderValue) {
        let mut cookies = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cookies.retain(|(n, _)| *n != name);
        cookies.push((name, value));
    }

    fn take(&self) -> Vec<HeaderValue> {
        let mut cookies = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cookies.drain(..).map(|(_, v)| v).collect()
    }
}

/// Gives each request a cookie jar and sets what it holds on the response.
pub async fn cookies(mut req: Request, next: Next) -> Response {
    let jar = CookieJar::default();
    req.extensions_mut().insert(jar.clone());
    let mut res = next.run(req).await;
    for cookie in jar.take() {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    res
}

/// What a page request knows of the browser. Extracted once per request
/// (later extractions reuse it).
#[derive(Clone)]
pub struct Browser {
    pub session: Option<Session>,
    /// The cookie value of the current session (needed to end it).
    session_cookie: Option<String>,
    pub csrf: String,
    csrf_is_new: bool,
    secure: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    jar: CookieJar,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        if let Some(known) = parts.extensions.get::<Browser>() {
            return Ok(known.clone());
        }
        let secure = state.config.secure_cookies();
        let names = cookie_names(secure);
        let now = state.now();
        let jar = parts.extensions.get::<CookieJar>().cloned().unwrap_or_default();
        let mut session = None;
        let mut session_cookie = read_cookie(&parts.headers, names.session).map(str::to_string);
        if let Some(cookie) = &session_cookie {
            let hash = token_hash(cookie);
            match state.store.get_session(&hash).await? {
                Some(s) if sessions::is_live(&s, now, lifetimes(state)) => {
                    if now - s.last_seen_at >= TOUCH_EVERY {
                        state.store.touch_session(&hash, now).await?;
                    }
                    session = Some(s);
                }
                stale => {
                    if stale.is_some() {
                        state.store.delete_session(&hash).await?;
                    }
                    jar.set(names.session, set_cookie(names.session, "", Some(0), secure));
                }
            }
        }
        if session.is_none() {
            session_cookie = None;
        }
        let (csrf, csrf_is_new) = match read_cookie(&parts.headers, names.csrf) {
            Some(v) if v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
                (v.to_string(), false)
            }
            _ => {
                let fresh = random_token(32);
                jar.set(names.csrf, set_cookie(names.csrf, &fresh, None, secure));
                (fresh, true)
            }
        };
        let browser = Self {
            session,
            session_cookie,
            csrf,
            csrf_is_new,
            secure,
            ip: super::extract::client_ip(parts, &state.config.trusted_proxies),
            user_agent: parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string),
            jar,
        };
        parts.extensions.insert(browser.clone());
        Ok(browser)
    }
}

impl Browser {
    /// Double-submit check: the form's token must equal the cookie's. A
    /// token made for this very request never matches, since the browser did
    /// not send it.
    pub fn csrf_ok(&self, submitted: Option<&str>) -> bool {
        !self.csrf_is_new && submitted.is_some_and(|s| constant_time_eq(s.as_bytes(), self.csrf.as_bytes()))
    }

    /// A value that ties server-side state to this browser: the hash of its
    /// CSRF cookie (never the cookie itself).
    pub fn binding(&self) -> String {
        token_hash(&self.csrf)
    }

    /// This browser's binding, when it sent its CSRF cookie (a browser that
    /// gets a new cookie now cannot be the one that made a binding).
    pub fn known_binding(&self) -> Option<String> {
        (!self.csrf_is_new).then(|| self.binding())
    }

    /// Where the request came from, for the audit log.
    pub fn origin(&self) -> crate::audit::Origin<'_> {
        crate::audit::Origin { ip: self.ip.as_deref(), user_agent: self.user_agent.as_deref() }
    }

    /// Signs the person in: ends any current session (a new id at every
    /// sign-in prevents session fixation) and starts a new one, whose cookie
    /// goes with the response.
    pub async fn sign_in(&mut self, state: &AppState, user_id: &str, amr: Vec<String>) -> Result<(), PageError> {
        if let Some(cookie) = self.session_cookie.take() {
            state.store.delete_session(&token_hash(&cookie)).await?;
        }
        let (cookie, session) =
            sessions::start(user_id, amr, state.now(), lifetimes(state), self.ip.clone(), self.user_agent.clone());
        state.store.create_session(&session).await?;
        self.session = Some(session);
        let name = cookie_names(self.secure).session;
        self.jar.set(name, set_cookie(name, &cookie, None, self.secure));
        Ok(())
    }

    /// Ends the current session, if any, and clears its cookie.
    pub async fn sign_out(&mut self, state: &AppState) -> Result<(), PageError> {
        if let Some(cookie) = self.session_cookie.take() {
            state.store.delete_session(&token_hash(&cookie)).await?;
        }
        self.session = None;
        let name = cookie_names(self.secure).session;
        self.jar.set(name, set_cookie(name, "", Some(0), self.secure));
        Ok(())
    }
}
