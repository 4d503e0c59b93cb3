//! One error type for protocol endpoints ([`OAuthError`], spelled as RFC 6749,
//! RFC 6750 and OpenID Connect Core spell their codes) and one for pages meant
//! for people ([`PageError`], rendered as a friendly HTML page).

use std::borrow::Cow;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Error codes from RFC 6749 §4.1.2.1 / §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1
/// and OpenID Connect Core §3.1.2.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    InteractionRequired,
    /// OpenID Connect Core §3.1.2.6 (errata 2): the requested `acr` cannot be met.
    UnmetAuthenticationRequirements,
    LoginRequired,
    ConsentRequired,
    AccountSelectionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    InvalidClientMetadata,
    InvalidToken,
    InsufficientScope,
    /// RFC 9101 §6.3.
    InvalidRequestObject,
    /// RFC 9101 §6.3, RFC 9126 §4.
    InvalidRequestUri,
    /// RFC 9449 §5, §7.1.
    InvalidDpopProof,
    /// RFC 9449 §8, §9.
    UseDpopNonce,
    /// RFC 8707 §2.
    InvalidTarget,
    /// RFC 8628 §3.5.
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    NotFound,
    MethodNotAllowed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            UnsupportedResponseType => "unsupported_response_type",
            UnsupportedTokenType => "unsupported_token_type",
            InvalidScope => "invalid_scope",
            AccessDenied => "access_denied",
            ServerError => "server_error",
            TemporarilyUnavailable => "temporarily_unavailable",
            InteractionRequired => "interaction_required",
            UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            LoginRequired => "login_required",
            ConsentRequired => "consent_required",
            AccountSelectionRequired => "account_selection_required",
            RequestNotSupported => "request_not_supported",
            RequestUriNotSupported => "request_uri_not_supported",
            RegistrationNotSupported => "registration_not_supported",
            InvalidRedirectUri => "invalid_redirect_uri",
            InvalidClientMetadata => "invalid_client_metadata",
            InvalidToken => "invalid_token",
            InsufficientScope => "insufficient_scope",
            InvalidRequestObject => "invalid_request_object",
            InvalidRequestUri => "invalid_request_uri",
            InvalidDpopProof => "invalid_dpop_proof",
            UseDpopNonce => "use_dpop_nonce",
            InvalidTarget => "invalid_target",
            AuthorizationPending => "authorization_pending",
            SlowDown => "slow_down",
            ExpiredToken => "expired_token",
            NotFound => "not_found",
            MethodNotAllowed => "method_not_allowed",
        }
    }

    /// The HTTP status used when this error is the body of a direct response.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidClient | InvalidToken => StatusCode::UNAUTHORIZED,
            AccessDenied | InsufficientScope => StatusCode::FORBIDDEN,
            ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error answered to an OAuth client. `description` is sent; `detail` is
/// logged and never sent.
#[derive(Debug)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    pub detail: Option<String>,
    /// For `invalid_client`: the client tried HTTP Basic, so answer with a
    /// Basic challenge (RFC 6749 §5.2).
    pub basic_challenge: bool,
    /// Sent as Retry-After: when throttled (429), or when a backend is
    /// unavailable (503).
    pub retry_after: Option<i64>,
    /// Throttled: 429 instead of the code's own status.
    pub too_many: bool,
    /// A fresh nonce for the client's next DPoP proof, sent as the
    /// `DPoP-Nonce` header (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
    /// At a protected resource that takes DPoP tokens: the challenge is the
    /// DPoP scheme, and proof and token errors are 401 (RFC 9449 §7.1).
    pub dpop_challenge: bool,
}

/// Seconds a client is asked to wait when a backend is unavailable.
pub const UNAVAILABLE_RETRY_AFTER: i64 = 2;

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            detail: None,
            basic_challenge: false,
            retry_after: None,
            too_many: false,
            dpop_nonce: None,
            dpop_challenge: false,
        }
    }

    /// Too many failed attempts: 429 with Retry-After (RFC 6585 §4). The
    /// body keeps an RFC 6749 code a client already understands.
    pub fn too_many_attempts(retry_after: i64) -> Self {
        let mut e = Self::new(ErrorCode::TemporarilyUnavailable, "too many failed attempts; retry later");
        e.retry_after = Some(retry_after.max(1));
        e.too_many = true;
        e
    }

    /// A backend (the database, Redis) cannot be reached: 503 with
    /// Retry-After, spelled as RFC 6749 §4.1.2.1 spells it. The detail goes
    /// to the log only.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        let mut e =
            Self::new(ErrorCode::TemporarilyUnavailable, "the service is temporarily unavailable; retry shortly");
        e.detail = Some(detail.to_string());
        e.retry_after = Some(UNAVAILABLE_RETRY_AFTER);
        e
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_token(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }

    /// A failure of ours; the detail goes to the log only.
    pub fn server(detail: impl std::fmt::Display) -> Self {
        let mut e = Self::new(ErrorCode::ServerError, "the server could not complete the request");
        e.detail = Some(detail.to_string());
        e
    }

    pub fn with_basic_challenge(mut self, yes: bool) -> Self {
        self.basic_challenge = yes;
        self
    }

    pub fn with_dpop_nonce(mut self, nonce: Option<String>) -> Self {
        self.dpop_nonce = nonce;
        self
    }

    /// Answered by a resource that takes DPoP-bound tokens.
    pub fn at_dpop_resource(mut self) -> Self {
        self.dpop_challenge = true;
        self
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.detail {
            if self.code == ErrorCode::TemporarilyUnavailable {
                tracing::warn!(error = self.code.as_str(), detail = %detail, "backend unavailable");
            } else {
                tracing::error!(error = self.code.as_str(), detail = %detail, "request failed");
            }
        }
        let resource_dpop = self.dpop_challenge
            && matches!(self.code, ErrorCode::InvalidToken | ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce);
        let status = if self.too_many {
            StatusCode::TOO_MANY_REQUESTS
        } else if resource_dpop {
            StatusCode::UNAUTHORIZED
        } else {
            self.code.status()
        };
        let mut res = (status, Json(ErrorBody { error: self.code.as_str(), error_description: &self.description }))
            .into_response();
        let headers = res.headers_mut();
        // RFC 6749 §5.1: token-endpoint answers are never cached; the same
        // holds for every other protocol error we send.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(nonce) = self.dpop_nonce.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
            headers.insert("dpop-nonce", nonce);
        }
        if self.dpop_challenge && (resource_dpop || self.code == ErrorCode::InsufficientScope) {
            // RFC 9449 §7.1: the DPoP scheme, with the algorithms we accept.
            let value = format!(
                "DPoP algs=\"{}\", error=\"{}\", error_description=\"{}\"",
                crate::oauth::jose::SIGNING_ALGS.join(" "),
                self.code.as_str(),
                self.description.replace(['"', '\\'], "'")
            );
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(header::WWW_AUTHENTICATE, v);
            }
            return res;
        }
        match self.code {
            ErrorCode::InvalidClient => {
                let value = if self.basic_challenge {
                    "Basic realm=\"latchkey\""
                } else {
                    "Basic realm=\"latchkey\", error=\"invalid_client\""
                };
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
            }
            ErrorCode::InvalidToken => {
                // RFC 6750 §3: the challenge names the error; the description
                // is ours and contains no quote characters.
                let value = format!(
                    "Bearer realm=\"latchkey\", error=\"invalid_token\", error_description=\"{}\"",
                    self.description.replace(['"', '\\'], "'")
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ErrorCode::InsufficientScope => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"latchkey\", error=\"insufficient_scope\""),
                );
            }
            _ => {}
        }
        res
    }
}

/// An error shown to a person in the browser. The response carries this value
/// as an extension; a middleware renders it with the `error.html` template, so
/// handlers need no access to the templates to fail.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub heading: Cow<'static, str>,
    pub message: Cow<'static, str>,
    pub code: Option<Cow<'static, str>>,
    pub back_url: Option<String>,
    /// Sent as Retry-After (a backend is unavailable).
    pub retry_after: Option<i64>,
}

impl PageError {
    pub fn new(
        status: StatusCode, heading: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self { status, heading: heading.into(), message: message.into(), code: None, back_url: None, retry_after: None }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Something is wrong with this request", message)
    }

    pub fn with_code(mut self, code: ErrorCode) -> Self {
        self.code = Some(code.as_str().into());
        self
    }

    /// An error code from elsewhere (an upstream provider's), shown as is.
    pub fn with_code_text(mut self, code: impl Into<Cow<'static, str>>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn with_back(mut self, url: impl Into<String>) -> Self {
        self.back_url = Some(url.into());
        self
    }

    /// A form whose CSRF token did not match: the one page for it, with a
    /// way back to `back`.
    pub fn form_expired(back: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "For your safety we did not submit it. Go back, reload the page and try again.",
        )
        .with_back(back)
    }

    pub fn expired() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "This sign-in request has expired",
            "Go back to the app you came from and start signing in again.",
        )
    }

    /// A backend cannot be reached: a page that says so kindly, 503 with
    /// Retry-After. The detail goes to the log only.
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(detail = %detail, "backend unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "We'll be right back",
            "Part of our service is not answering at the moment. Nothing you entered was lost or changed. Please try again in a few seconds.",
        )
        .with_code(ErrorCode::TemporarilyUnavailable);
        e.retry_after = Some(UNAVAILABLE_RETRY_AFTER);
        e
    }

    pub fn server(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "page failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side",
            "Please try again in a moment.",
        )
        .with_code(ErrorCode::ServerError)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut res = (self.status, self.message.to_string()).into_response();
        res.extensions_mut().insert(self);
        res
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => OAuthError::unavailable(e),
            e => OAuthError::server(e),
        }
    }
}

/// A rule's failure on a page: an unavailable backend is the friendly
/// 503 page, anything else the error page (the protocol detail logged).
impl From<OAuthError> for PageError {
    fn from(e: OAuthError) -> Self {
        let detail = e.detail.clone().unwrap_or_else(|| e.to_string());
        match e.code {
            ErrorCode::TemporarilyUnavailable => PageError::unavailable(detail),
            _ => PageError::server(detail),
        }
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => PageError::unavailable(e),
            e => PageError::server(e),
        }
    }
}

/// Short-lived state fails only by not being reachable (Redis).
impl From<crate::ephemeral::EphemeralError> for OAuthError {
    fn from(e: crate::ephemeral::EphemeralError) -> Self {
        OAuthError::unavailable(e)
    }
}

impl From<crate::oauth::apis::StoreErrorOr> for PageError {
    fn from(e: crate::oauth::apis::StoreErrorOr) -> Self {
        match e {
            crate::oauth::apis::StoreErrorOr::Store(e) => e.into(),
            e => PageError::server(e),
        }
    }
}

impl From<crate::ephemeral::EphemeralError> for PageError {
    fn from(e: crate::ephemeral::EphemeralError) -> Self {
        PageError::unavailable(e)
    }
}

impl From<crate::accounts::throttle::ThrottleError> for OAuthError {
    fn from(e: crate::accounts::throttle::ThrottleError) -> Self {
        match e {
            crate::accounts::throttle::ThrottleError::State(e) => e.into(),
            crate::accounts::throttle::ThrottleError::Store(e) => e.into(),
        }
    }
}

impl From<crate::accounts::throttle::ThrottleError> for PageError {
    fn from(e: crate::accounts::throttle::ThrottleError) -> Self {
        match e {
            crate::accounts::throttle::ThrottleError::State(e) => e.into(),
            crate::accounts::throttle::ThrottleError::Store(e) => e.into(),
        }
    }
}

impl From<crate::accounts::users::AccountError> for PageError {
    fn from(e: crate::accounts::users::AccountError) -> Self {
        use crate::accounts::users::AccountError;
        match e {
            AccountError::Store(e) => e.into(),
            AccountError::State(e) => e.into(),
            AccountError::Invalid(_) => PageError::bad_request("Please check what you entered."),
            AccountError::Hash(e) => PageError::server(e),
            AccountError::Key(e) => PageError::server(e),
        }
    }
}

impl From<crate::templates::RenderError> for PageError {
    fn from(e: crate::templates::RenderError) -> Self {
        PageError::server(e)
    }
}
