//! The browser side of a request: the session cookie, the CSRF cookie, and
//! where the request came from.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
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
        CookieNames {
            session: "__Host-latchkey_session",
            csrf: "__Host-latchkey_csrf",
        }
    } else {
        CookieNames {
            session: "latchkey_session",
            csrf: "latchkey_csrf",
        }
    }
}

pub fn lifetimes(state: &AppState) -> Lifetimes {
    Lifetimes {
        idle: state.config.session_idle_ttl,
        absolute: state.config.session_absolute_ttl,
    }
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

pub struct Browser {
    pub session: Option<Session>,
    /// The cookie value of the current session (needed to end it).
    session_cookie: Option<String>,
    pub csrf: String,
    csrf_is_new: bool,
    clear_session: bool,
    secure: bool,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let secure = state.config.secure_cookies();
        let names = cookie_names(secure);
        let now = state.now();
        let mut session = None;
        let mut clear_session = false;
        let session_cookie = read_cookie(&parts.headers, names.session).map(str::to_string);
        if let Some(cookie) = &session_cookie {
            let hash = token_hash(cookie);
            match state.store.get_session(&hash).await? {
                Some(s) if sessions::is_live(&s, now, lifetimes(state)) => {
                    if now - s.last_seen_at >= TOUCH_EVERY {
                        state.store.touch_session(&hash, now).await?;
                    }
                    session = Some(s);
                }
                Some(_) => {
                    state.store.delete_session(&hash).await?;
                    clear_session = true;
                }
                None => clear_session = true,
            }
        }
        let (csrf, csrf_is_new) = match read_cookie(&parts.headers, names.csrf) {
            Some(v) if v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
                (v.to_string(), false)
            }
            _ => (random_token(32), true),
        };
        let ip = super::extract::client_ip(parts, &state.config.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Self {
            session,
            session_cookie: if clear_session { None } else { session_cookie },
            csrf,
            csrf_is_new,
            clear_session,
            secure,
            ip,
            user_agent,
        })
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

    /// Whether `binding` was made by this browser (and the browser sent its
    /// cookie, rather than getting a new one now).
    pub fn bound_to(&self, binding: &str) -> bool {
        !self.csrf_is_new && constant_time_eq(self.binding().as_bytes(), binding.as_bytes())
    }

    /// Adds the cookies this request decided on to `res`.
    pub fn finish(&self, mut res: Response) -> Response {
        let names = cookie_names(self.secure);
        if self.csrf_is_new {
            res.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(names.csrf, &self.csrf, None, self.secure),
            );
        }
        if self.clear_session {
            res.headers_mut()
                .append(header::SET_COOKIE, set_cookie(names.session, "", Some(0), self.secure));
        }
        res
    }

    /// Signs the person in: ends any current session (a new id at every
    /// sign-in prevents session fixation) and starts a new one.
    pub async fn sign_in(
        &mut self,
        state: &AppState,
        user_id: &str,
        amr: Vec<String>,
    ) -> Result<HeaderValue, PageError> {
        if let Some(cookie) = self.session_cookie.take() {
            state.store.delete_session(&token_hash(&cookie)).await?;
        }
        let (cookie, session) = sessions::start(
            user_id,
            amr,
            state.now(),
            lifetimes(state),
            self.ip.clone(),
            self.user_agent.clone(),
        );
        state.store.create_session(&session).await?;
        self.session = Some(session);
        self.clear_session = false;
        let names = cookie_names(self.secure);
        Ok(set_cookie(names.session, &cookie, None, self.secure))
    }

    /// Ends the current session, if any, and returns the cookie that clears it.
    pub async fn sign_out(&mut self, state: &AppState) -> Result<HeaderValue, PageError> {
        if let Some(cookie) = self.session_cookie.take() {
            state.store.delete_session(&token_hash(&cookie)).await?;
        }
        self.session = None;
        self.clear_session = false;
        Ok(set_cookie(cookie_names(self.secure).session, "", Some(0), self.secure))
    }
}
