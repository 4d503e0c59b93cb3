//! Our client toward GitHub (or GitHub Enterprise Server): the authorization
//! code flow with PKCE through the `oauth2` crate, then the REST API for the
//! profile, the verified email and, when sign-in is restricted, the
//! organizations.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap};
use serde::{Deserialize, Serialize};

use crate::config::GithubConfig;

pub const PROVIDER: &str = "github";
pub const CALLBACK_PATH: &str = "/federation/github/callback";

/// What went wrong upstream, in terms a person can be told.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// GitHub refused the code exchange (`bad_verification_code`,
    /// `incorrect_client_credentials`, ...); it answers these with HTTP 200.
    #[error("GitHub refused the code exchange: {code}")]
    Refused { code: String, description: Option<String> },
    /// GitHub's rate limit; `retry_after` in seconds when GitHub said.
    #[error("GitHub rate limit reached")]
    RateLimited { retry_after: Option<i64> },
    #[error("GitHub did not answer in time")]
    Timeout,
    #[error("GitHub answered unexpectedly: {0}")]
    Unexpected(String),
}

/// The person as GitHub knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubProfile {
    /// GitHub's numeric user id: stable across renames.
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    /// The primary email when verified; else another verified one; else an
    /// unverified one (then `email_verified` is false).
    pub email: Option<String>,
    pub email_verified: bool,
    /// Organization logins (lower case); read only when sign-in is restricted.
    pub orgs: Vec<String>,
}

type OAuthClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

pub struct GithubClient {
    oauth: OAuthClient,
    http: reqwest::Client,
    api_url: String,
    allowed_orgs: Vec<String>,
}

#[derive(Deserialize)]
struct UserBody {
    id: u64,
    login: String,
    name: Option<String>,
    avatar_url: Option<String>,
    email: Option<String>,
}

#[derive(Deserialize)]
struct EmailBody {
    email: String,
    primary: bool,
    verified: bool,
}

#[derive(Deserialize)]
struct OrgBody {
    login: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    error_description: Option<String>,
}

impl GithubClient {
    pub fn new(config: &GithubConfig, issuer: &str) -> Result<Self, String> {
        let oauth = BasicClient::new(ClientId::new(config.client_id.clone()))
            .set_client_secret(ClientSecret::new(config.client_secret.expose().to_string()))
            .set_auth_uri(AuthUrl::new(format!("{}/login/oauth/authorize", config.web_url)).map_err(|e| e.to_string())?)
            .set_token_uri(
                TokenUrl::new(format!("{}/login/oauth/access_token", config.web_url)).map_err(|e| e.to_string())?,
            )
            .set_redirect_uri(RedirectUrl::new(format!("{issuer}{CALLBACK_PATH}")).map_err(|e| e.to_string())?)
            // GitHub documents the client credentials as body parameters.
            .set_auth_type(AuthType::RequestBody);
        let http = reqwest::Client::builder()
            // No redirects: a token endpoint or API that redirects is either
            // misconfigured or an SSRF attempt (the oauth2 crate's advice).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(config.timeout))
            // GitHub refuses API calls without a User-Agent.
            .user_agent(concat!("Latchkey/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { oauth, http, api_url: config.api_url.clone(), allowed_orgs: config.allowed_orgs.clone() })
    }

    /// `read:user user:email`, plus `read:org` when sign-in is limited to
    /// organizations (without it GitHub lists public memberships only).
    pub fn scopes(&self) -> Vec<&'static str> {
        let mut scopes = vec!["read:user", "user:email"];
        if !self.allowed_orgs.is_empty() {
            scopes.push("read:org");
        }
        scopes
    }

    /// The URL to send the browser to, and the PKCE verifier to keep.
    pub fn authorize_url(&self, state: &str) -> (String, String) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_string();
        let mut req = self.oauth.authorize_url(move || CsrfToken::new(state));
        for s in self.scopes() {
            req = req.add_scope(Scope::new(s.to_string()));
        }
        let (url, _) = req.set_pkce_challenge(challenge).url();
        (url.to_string(), verifier.secret().clone())
    }

    /// Exchanges the code for a GitHub access token.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<String, UpstreamError> {
        let result = self
            .oauth
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&self.http)
            .await;
        match result {
            Ok(token) => Ok(token.access_token().secret().clone()),
            Err(e) => Err(exchange_error(e)),
        }
    }

    /// Reads `/user`, `/user/emails` and (when restricted) `/user/orgs`.
    pub async fn profile(&self, token: &str) -> Result<GithubProfile, UpstreamError> {
        let user: UserBody = self.get(token, "/user").await?;
        let emails: Vec<EmailBody> = self.get(token, "/user/emails").await?;
        let (email, email_verified) = choose_email(&emails, user.email.as_deref());
        let orgs = if self.allowed_orgs.is_empty() {
            Vec::new()
        } else {
            let orgs: Vec<OrgBody> = self.get(token, "/user/orgs?per_page=100").await?;
            orgs.into_iter().map(|o| o.login.to_ascii_lowercase()).collect()
        };
        Ok(GithubProfile {
            id: user.id,
            login: user.login,
            name: user.name.filter(|n| !n.trim().is_empty()),
            avatar_url: user.avatar_url.filter(|u| u.starts_with("https://")),
            email,
            email_verified,
            orgs,
        })
    }

    /// Whether the organization rule lets this person in.
    pub fn org_allowed(&self, profile: &GithubProfile) -> bool {
        self.allowed_orgs.is_empty() || profile.orgs.iter().any(|o| self.allowed_orgs.contains(o))
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, token: &str, path: &str) -> Result<T, UpstreamError> {
        let res = self
            .http
            .get(format!("{}{path}", self.api_url))
            .bearer_auth(token)
            .header(ACCEPT, "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(request_error)?;
        let status = res.status();
        if status == StatusCode::OK {
            return res.json().await.map_err(|e| UpstreamError::Unexpected(format!("GET {path}: {e}")));
        }
        if let Some(retry_after) = rate_limited(status, res.headers()) {
            return Err(UpstreamError::RateLimited { retry_after });
        }
        Err(UpstreamError::Unexpected(format!("GET {path}: HTTP {status}")))
    }
}

/// GitHub signals its rate limits with 403 or 429 and either `retry-after`
/// (secondary limits) or `x-ratelimit-remaining: 0` with the reset time.
fn rate_limited(status: StatusCode, headers: &HeaderMap) -> Option<Option<i64>> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let number = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
    if let Some(after) = number("retry-after") {
        return Some(Some(after.max(0)));
    }
    if number("x-ratelimit-remaining") == Some(0) {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        return Some(number("x-ratelimit-reset").map(|reset| (reset - now).max(0)));
    }
    (status == StatusCode::TOO_MANY_REQUESTS).then_some(None)
}

fn request_error(e: reqwest::Error) -> UpstreamError {
    if e.is_timeout() { UpstreamError::Timeout } else { UpstreamError::Unexpected(e.without_url().to_string()) }
}

fn exchange_error(e: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>) -> UpstreamError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            UpstreamError::Refused { code: r.error().as_ref().to_string(), description: r.error_description().cloned() }
        }
        // GitHub answers a refused exchange with 200 and an error body, which
        // the oauth2 crate reads as a token response that fails to parse.
        RequestTokenError::Parse(_, body) => match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) => UpstreamError::Refused { code: b.error, description: b.error_description },
            Err(_) => UpstreamError::Unexpected("the token endpoint answered something that is not a token".into()),
        },
        RequestTokenError::Request(HttpClientError::Reqwest(e)) => request_error(*e),
        RequestTokenError::Request(e) => UpstreamError::Unexpected(e.to_string()),
        RequestTokenError::Other(m) => UpstreamError::Unexpected(m),
    }
}

/// The primary verified address; else any verified one; else the primary
/// or public one, unverified.
fn choose_email(emails: &[EmailBody], public: Option<&str>) -> (Option<String>, bool) {
    let pick = emails.iter().find(|e| e.primary && e.verified).or_else(|| emails.iter().find(|e| e.verified));
    if let Some(e) = pick {
        return (Some(e.email.to_lowercase()), true);
    }
    let unverified = emails.iter().find(|e| e.primary).map(|e| e.email.as_str()).or(public);
    (unverified.map(str::to_lowercase), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(e: &str, primary: bool, verified: bool) -> EmailBody {
        EmailBody { email: e.into(), primary, verified }
    }

    #[test]
    fn email_choice_prefers_primary_verified() {
        let list = [email("old@example.com", false, true), email("Main@Example.com", true, true)];
        assert_eq!(choose_email(&list, None), (Some("main@example.com".into()), true));
        let list = [email("main@example.com", true, false), email("other@example.com", false, true)];
        assert_eq!(choose_email(&list, None), (Some("other@example.com".into()), true));
        let list = [email("main@example.com", true, false)];
        assert_eq!(choose_email(&list, None), (Some("main@example.com".into()), false));
        assert_eq!(choose_email(&[], Some("pub@example.com")), (Some("pub@example.com".into()), false));
        assert_eq!(choose_email(&[], None), (None, false));
    }

    #[test]
    fn rate_limits_are_recognised() {
        let mut h = HeaderMap::new();
        assert_eq!(rate_limited(StatusCode::FORBIDDEN, &h), None, "a plain 403 is not a rate limit");
        h.insert("retry-after", "30".parse().unwrap());
        assert_eq!(rate_limited(StatusCode::FORBIDDEN, &h), Some(Some(30)));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        assert!(matches!(rate_limited(StatusCode::FORBIDDEN, &h), Some(None)));
        assert_eq!(rate_limited(StatusCode::OK, &h), None);
    }
}
