//! A fake github.com, in the test process, that speaks GitHub's real wire
//! format, so "Sign in with GitHub" can be tested end to end without the
//! network.
//!
//! What it copies from the real service, because clients trip over exactly
//! these things:
//! - the token endpoint answers errors with HTTP 200 and an `error` body, and
//!   answers JSON only when asked with `Accept: application/json` (otherwise a
//!   form-encoded body);
//! - the granted scopes come back joined with a comma, not a space;
//! - `/user` carries no email when the person keeps it private, so the client
//!   must read `/user/emails` (which needs the `user:email` scope);
//! - the REST API refuses requests without a User-Agent, and signals its rate
//!   limit with a 403 and `x-ratelimit-remaining: 0`;
//! - GitHub Enterprise Server serves the same REST API under `/api/v3`.
//!
//! Where GitHub's behaviour is not documented (an unsupported PKCE method, a
//! missing redirect_uri), the fake refuses with a plain 400 rather than guess.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use latchkey::crypto::{b64url, random_token, sha256};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// How long an authorization code lives at GitHub.
const CODE_TTL: Duration = Duration::from_secs(600);

const DENIED_DESCRIPTION: &str = "The user has denied your application access.";
const DENIED_URI: &str =
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied";
const TOKEN_ERRORS_URI: &str =
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/";
const NO_USER_AGENT: &str = "Request forbidden by administrative rules. Please make sure your request has a User-Agent \
                             header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). \
                             Check https://developer.github.com for other possible causes.\n";

/// A person with a GitHub account.
#[derive(Clone, Debug)]
pub struct GithubUser {
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    pub avatar_url: String,
    pub emails: Vec<GithubEmail>,
    /// Logins of the organizations the person belongs to.
    pub orgs: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct GithubEmail {
    pub email: String,
    pub primary: bool,
    pub verified: bool,
}

/// How the fake misbehaves, to test the client's error paths.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Normal,
    /// The person clicks "Cancel" on GitHub's consent page.
    Deny,
    /// The token exchange answers 200 with {"error":"bad_verification_code",...} (as GitHub does).
    BadVerificationCode,
    /// The token exchange answers with this HTTP status and a JSON body {"message": ...}.
    ExchangeStatus(u16),
    /// The REST API answers 403 with x-ratelimit-remaining: 0 (GitHub's primary rate limit).
    RateLimited,
    /// The token exchange waits this long before answering.
    Slow(Duration),
}

/// A person with the typical shape: a display name, GitHub's avatar URL, one
/// primary verified email (kept private), no organizations.
pub fn github_user(id: u64, login: &str, email: &str) -> GithubUser {
    GithubUser {
        id,
        login: login.to_string(),
        name: Some(format!("{login} Name")),
        avatar_url: format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        emails: vec![GithubEmail { email: email.to_string(), primary: true, verified: true }],
        orgs: Vec::new(),
    }
}

/// What an authorization code stands for, until it is exchanged.
#[derive(Clone, Debug)]
struct Grant {
    user_id: u64,
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    expires: Instant,
}

#[derive(Clone, Debug)]
struct Token {
    user_id: u64,
    scopes: Vec<String>,
}

struct Inner {
    mode: Mode,
    signed_in: Option<u64>,
    users: HashMap<u64, GithubUser>,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Token>,
    requests: Vec<String>,
    last_exchange: Option<HashMap<String, String>>,
    last_authorize: Option<HashMap<String, String>>,
    /// REST calls answered so far, for a rate-limit counter that moves.
    api_calls: u64,
}

#[derive(Clone)]
struct Shared {
    base: String,
    inner: Arc<Mutex<Inner>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub struct FakeGithub {
    /// Where the fake listens, e.g. "http://127.0.0.1:PORT". The OAuth
    /// endpoints live at `/login/oauth/...`; the REST API at the root (as
    /// api.github.com) and under `/api/v3` (as GitHub Enterprise Server).
    pub base: String,
    shared: Shared,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeGithub {
    pub const CLIENT_ID: &'static str = "Iv1.fakeclientid0001";
    pub const CLIENT_SECRET: &'static str = "fake-github-client-secret-0123456789abcdef";

    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://127.0.0.1:{}", addr.port());
        let shared = Shared {
            base: base.clone(),
            inner: Arc::new(Mutex::new(Inner {
                mode: Mode::Normal,
                signed_in: None,
                users: HashMap::new(),
                codes: HashMap::new(),
                tokens: HashMap::new(),
                requests: Vec::new(),
                last_exchange: None,
                last_authorize: None,
                api_calls: 0,
            })),
        };
        let rest = Router::new()
            .route("/user", get(user))
            .route("/user/emails", get(user_emails))
            .route("/user/orgs", get(user_orgs));
        let app = Router::new()
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(access_token))
            .merge(rest.clone())
            .nest("/api/v3", rest)
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(shared.clone(), record))
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self { base, shared, shutdown: Some(tx) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The person signed in at GitHub who will approve the next authorization.
    pub fn sign_in_as(&self, user: GithubUser) {
        let mut inner = self.shared.lock();
        inner.signed_in = Some(user.id);
        inner.users.insert(user.id, user);
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.lock().mode = mode;
    }

    /// Every request the fake received, as "METHOD path?query" strings, oldest first.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// The form fields of the last POST /login/oauth/access_token.
    pub fn last_exchange(&self) -> Option<HashMap<String, String>> {
        self.shared.lock().last_exchange.clone()
    }

    /// The query of the last GET /login/oauth/authorize.
    pub fn last_authorize(&self) -> Option<HashMap<String, String>> {
        self.shared.lock().last_authorize.clone()
    }

    /// Changes the login of an existing user (GitHub lets people rename).
    /// The account id stays: that is what a client must key on.
    pub fn rename(&self, id: u64, new_login: &str) {
        let mut inner = self.shared.lock();
        let user = inner.users.get_mut(&id).unwrap_or_else(|| panic!("fake GitHub has no user {id}"));
        user.login = new_login.to_string();
    }

    /// Makes every outstanding authorization code expired, as if ten minutes
    /// had passed (the fake runs on the real clock).
    pub fn expire_codes(&self) {
        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap_or_else(Instant::now);
        for grant in self.shared.lock().codes.values_mut() {
            grant.expires = past;
        }
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Logs every request before it is handled.
async fn record(State(shared): State<Shared>, req: Request, next: Next) -> Response {
    let line = format!("{} {}", req.method(), req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    shared.lock().requests.push(line);
    next.run(req).await
}

async fn not_found() -> Response {
    api_error(StatusCode::NOT_FOUND, "Not Found", "https://docs.github.com/rest")
}

fn parse_pairs(s: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

/// Scopes as GitHub reads them: space- or comma-separated, deduplicated, in
/// the order asked.
fn parse_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in s.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !out.iter().any(|have| have == scope) {
            out.push(scope.to_string());
        }
    }
    out
}

/// `n` random lowercase hex digits.
fn random_hex(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        for b in sha256(random_token(32).as_bytes()) {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out.truncate(n);
    out
}

/// A token in GitHub's format: `gho_` and 36 alphanumerics.
fn new_access_token() -> String {
    let mut body = String::new();
    while body.len() < 36 {
        body.extend(random_token(48).chars().filter(|c| c.is_ascii_alphanumeric()));
    }
    body.truncate(36);
    format!("gho_{body}")
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body.to_string()).into_response()
}

// --- GET /login/oauth/authorize ------------------------------------------

/// The real GitHub shows a page here; the fake acts as if the signed-in
/// person had already clicked.
async fn authorize(State(shared): State<Shared>, RawQuery(query): RawQuery) -> Response {
    let params = parse_pairs(query.as_deref().unwrap_or(""));
    let mut inner = shared.lock();
    inner.last_authorize = Some(params.clone());

    if params.get("client_id").map(String::as_str) != Some(FakeGithub::CLIENT_ID) {
        let page = "<!DOCTYPE html><html><head><title>Page not found · GitHub</title></head>\
                    <body><h1>404</h1><p>This is not the web page you are looking for.</p></body></html>";
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response();
    }
    // GitHub falls back to the app's registered callback; the fake has none.
    let Some(redirect_uri) = params.get("redirect_uri").cloned() else {
        return text(StatusCode::BAD_REQUEST, "fake GitHub: redirect_uri is required\n");
    };
    let Ok(mut target) = url::Url::parse(&redirect_uri) else {
        return text(StatusCode::BAD_REQUEST, "fake GitHub: redirect_uri is not a URL\n");
    };
    let Some(user_id) = inner.signed_in else {
        return text(StatusCode::BAD_REQUEST, "fake GitHub: nobody is signed in; call FakeGithub::sign_in_as first\n");
    };
    let code_challenge = params.get("code_challenge").cloned();
    let code_challenge_method = params.get("code_challenge_method").cloned();
    // GitHub accepts only S256.
    if code_challenge.is_some() && code_challenge_method.as_deref() != Some("S256") {
        return text(StatusCode::BAD_REQUEST, "fake GitHub: only the S256 code challenge method is accepted\n");
    }
    let state = params.get("state").cloned();

    if inner.mode == Mode::Deny {
        {
            let mut q = target.query_pairs_mut();
            q.append_pair("error", "access_denied")
                .append_pair("error_description", DENIED_DESCRIPTION)
                .append_pair("error_uri", DENIED_URI);
            if let Some(state) = &state {
                q.append_pair("state", state);
            }
        }
        return redirect(target.as_str());
    }

    let code = random_hex(20);
    inner.codes.insert(
        code.clone(),
        Grant {
            user_id,
            client_id: FakeGithub::CLIENT_ID.to_string(),
            redirect_uri,
            scopes: parse_scopes(params.get("scope").map(String::as_str).unwrap_or("")),
            code_challenge,
            code_challenge_method,
            expires: Instant::now() + CODE_TTL,
        },
    );
    {
        let mut q = target.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(state) = &state {
            q.append_pair("state", state);
        }
    }
    redirect(target.as_str())
}

fn redirect(location: &str) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.to_string()), (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string())],
        format!("<html><body>You are being <a href=\"{location}\">redirected</a>.</body></html>"),
    )
        .into_response()
}

// --- POST /login/oauth/access_token --------------------------------------

/// Answers in JSON or form encoding, following the Accept header as GitHub
/// does. Errors are HTTP 200 with an `error` field.
fn token_answer(json_wanted: bool, fields: &[(&str, &str)]) -> Response {
    if json_wanted {
        let map: serde_json::Map<String, Value> =
            fields.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect();
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], Value::Object(map).to_string())
            .into_response()
    } else {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8")], ser.finish())
            .into_response()
    }
}

fn token_error(json_wanted: bool, error: &str) -> Response {
    let (description, anchor) = match error {
        "incorrect_client_credentials" => {
            ("The client_id and/or client_secret passed are incorrect.", "#incorrect-client-credentials")
        }
        "redirect_uri_mismatch" => {
            ("The redirect_uri MUST match the registered callback URL for this application.", "#redirect-uri-mismatch2")
        }
        _ => ("The code passed is incorrect or expired.", "#bad-verification-code"),
    };
    let uri = if error == "redirect_uri_mismatch" {
        format!(
            "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/{anchor}"
        )
    } else {
        format!("{TOKEN_ERRORS_URI}{anchor}")
    };
    token_answer(json_wanted, &[("error", error), ("error_description", description), ("error_uri", &uri)])
}

/// Client credentials from HTTP Basic auth. Per RFC 6749 §2.3.1 (what the
/// `oauth2` crate does) each part is form-urlencoded before base64.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

async fn access_token(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_pairs(&String::from_utf8_lossy(&body));
    let json_wanted =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/json"));
    let mode = {
        let mut inner = shared.lock();
        inner.last_exchange = Some(form.clone());
        inner.mode.clone()
    };
    match mode {
        Mode::ExchangeStatus(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = status.canonical_reason().unwrap_or("Something went wrong");
            return (
                status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                json!({ "message": message }).to_string(),
            )
                .into_response();
        }
        Mode::Slow(delay) => tokio::time::sleep(delay).await,
        _ => {}
    }

    let (client_id, client_secret) = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => match basic_credentials(&headers) {
            Some(pair) => pair,
            None => (
                form.get("client_id").cloned().unwrap_or_default(),
                form.get("client_secret").cloned().unwrap_or_default(),
            ),
        },
    };
    if client_id != FakeGithub::CLIENT_ID || client_secret != FakeGithub::CLIENT_SECRET {
        return token_error(json_wanted, "incorrect_client_credentials");
    }
    if mode == Mode::BadVerificationCode {
        return token_error(json_wanted, "bad_verification_code");
    }

    let mut inner = shared.lock();
    // Any attempt burns the code: it is single-use whatever the outcome.
    let Some(grant) = form.get("code").and_then(|c| inner.codes.remove(c)) else {
        return token_error(json_wanted, "bad_verification_code");
    };
    if grant.client_id != client_id || grant.expires <= Instant::now() {
        return token_error(json_wanted, "bad_verification_code");
    }
    if let Some(redirect_uri) = form.get("redirect_uri") {
        if *redirect_uri != grant.redirect_uri {
            return token_error(json_wanted, "redirect_uri_mismatch");
        }
    }
    if let Some(challenge) = &grant.code_challenge {
        let ok = form.get("code_verifier").is_some_and(|v| b64url(&sha256(v.as_bytes())) == *challenge);
        if !ok {
            return token_error(json_wanted, "bad_verification_code");
        }
    }
    let token = new_access_token();
    let scope = grant.scopes.join(",");
    inner.tokens.insert(token.clone(), Token { user_id: grant.user_id, scopes: grant.scopes });
    drop(inner);
    token_answer(json_wanted, &[("access_token", &token), ("token_type", "bearer"), ("scope", &scope)])
}

// --- The REST API ---------------------------------------------------------

fn api_error(status: StatusCode, message: &str, documentation_url: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({
            "message": message,
            "documentation_url": documentation_url,
            "status": status.as_u16().to_string(),
        })
        .to_string(),
    )
        .into_response()
}

/// The caller of a REST endpoint, once GitHub has let the request through.
struct Caller {
    user: GithubUser,
    scopes: Vec<String>,
    /// The REST root the request came in under: `{base}` or `{base}/api/v3`.
    api_root: String,
    /// Where the person's profile lives on the web.
    web_root: String,
    remaining: u64,
}

impl Caller {
    fn has_any(&self, scopes: &[&str]) -> bool {
        self.scopes.iter().any(|s| scopes.contains(&s.as_str()))
    }
}

/// What GitHub checks before any REST handler: a User-Agent, a valid token,
/// the rate limit.
fn admit(shared: &Shared, headers: &HeaderMap, uri: &axum::http::Uri) -> Result<Caller, Box<Response>> {
    if headers.get(header::USER_AGENT).is_none_or(|v| v.is_empty()) {
        return Err(Box::new(text(StatusCode::FORBIDDEN, NO_USER_AGENT)));
    }
    let bad_credentials = || api_error(StatusCode::UNAUTHORIZED, "Bad credentials", "https://docs.github.com/rest");
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .map(|(_, token)| token.trim().to_string());
    let Some(presented) = presented else {
        return Err(Box::new(bad_credentials()));
    };
    let mut inner = shared.lock();
    let Some(token) = inner.tokens.get(&presented).cloned() else {
        return Err(Box::new(bad_credentials()));
    };
    let Some(user) = inner.users.get(&token.user_id).cloned() else {
        return Err(Box::new(bad_credentials()));
    };
    if inner.mode == Mode::RateLimited {
        let reset = (unix_now() + 600).to_string();
        let mut res = api_error(
            StatusCode::FORBIDDEN,
            &format!("API rate limit exceeded for user ID {}.", user.id),
            "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        );
        let h = res.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("60"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-used", HeaderValue::from_static("60"));
        h.insert("x-ratelimit-reset", HeaderValue::from_str(&reset).expect("header"));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
        return Err(Box::new(res));
    }
    inner.api_calls += 1;
    let remaining = 5000u64.saturating_sub(inner.api_calls);
    let enterprise = uri.path().starts_with("/api/v3/");
    let api_root = if enterprise { format!("{}/api/v3", shared.base) } else { shared.base.clone() };
    Ok(Caller { user, scopes: token.scopes, api_root, web_root: shared.base.clone(), remaining })
}

/// A successful REST answer with GitHub's headers.
fn api_ok(caller: &Caller, accepted_scopes: &str, body: Value) -> Response {
    let mut res =
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response();
    let h = res.headers_mut();
    let value = |s: &str| HeaderValue::from_str(s).expect("header");
    h.insert("x-oauth-scopes", value(&caller.scopes.join(", ")));
    h.insert("x-accepted-oauth-scopes", value(accepted_scopes));
    h.insert("x-github-media-type", HeaderValue::from_static("github.v3; format=json"));
    h.insert("x-github-api-version-selected", HeaderValue::from_static("2022-11-28"));
    h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    h.insert("x-ratelimit-remaining", value(&caller.remaining.to_string()));
    h.insert("x-ratelimit-used", value(&(5000 - caller.remaining).to_string()));
    h.insert("x-ratelimit-reset", value(&(unix_now() + 3600).to_string()));
    h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    h.insert("x-github-request-id", value(&random_hex(8).to_uppercase()));
    res
}

/// GitHub's legacy global node id: base64 of "<len>:<Type><id>".
fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{:02}:{kind}{id}", kind.len()))
}

async fn user(State(shared): State<Shared>, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let caller = match admit(&shared, &headers, &uri) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    let u = &caller.user;
    let api = format!("{}/users/{}", caller.api_root, u.login);
    let body = json!({
        "login": u.login,
        "id": u.id,
        "node_id": node_id("User", u.id),
        "avatar_url": u.avatar_url,
        "gravatar_id": "",
        "url": api,
        "html_url": format!("{}/{}", caller.web_root, u.login),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": "User",
        "user_view_type": "private",
        "site_admin": false,
        "name": u.name,
        "company": null,
        "blog": "",
        "location": null,
        // The fake's people keep their email private, as many do: the
        // client has to ask /user/emails.
        "email": null,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "notification_email": null,
        "public_repos": 8,
        "public_gists": 0,
        "followers": 3,
        "following": 1,
        "created_at": "2014-03-18T09:12:44Z",
        "updated_at": "2025-01-06T17:40:02Z",
    });
    api_ok(&caller, "", body)
}

async fn user_emails(State(shared): State<Shared>, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let caller = match admit(&shared, &headers, &uri) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    if !caller.has_any(&["user", "user:email"]) {
        return api_error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user",
        );
    }
    let body: Vec<Value> = caller
        .user
        .emails
        .iter()
        .map(|e| {
            json!({
                "email": e.email,
                "primary": e.primary,
                "verified": e.verified,
                "visibility": if e.primary { Some("private") } else { None },
            })
        })
        .collect();
    api_ok(&caller, "user, user:email", Value::Array(body))
}

async fn user_orgs(State(shared): State<Shared>, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let caller = match admit(&shared, &headers, &uri) {
        Ok(c) => c,
        Err(res) => return *res,
    };
    // Without read:org, GitHub shows only public memberships; the fake's
    // memberships are all private.
    let orgs: &[String] = if caller.has_any(&["read:org", "write:org", "admin:org"]) { &caller.user.orgs } else { &[] };
    let body: Vec<Value> = orgs
        .iter()
        .map(|login| {
            let digest = sha256(login.as_bytes());
            let id = u64::from(u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) >> 1);
            let api = format!("{}/orgs/{login}", caller.api_root);
            json!({
                "login": login,
                "id": id,
                "node_id": node_id("Organization", id),
                "url": api,
                "repos_url": format!("{api}/repos"),
                "events_url": format!("{api}/events"),
                "hooks_url": format!("{api}/hooks"),
                "issues_url": format!("{api}/issues"),
                "members_url": format!("{api}/members{{/member}}"),
                "public_members_url": format!("{api}/public_members{{/member}}"),
                "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
                "description": null,
            })
        })
        .collect();
    api_ok(&caller, "admin:org, read:org, repo, user, write:org", Value::Array(body))
}

// --- Self-test ------------------------------------------------------------

#[tokio::test]
async fn fake_github_speaks_the_wire_format() {
    const REDIRECT: &str = "https://latchkey.example/federation/github/callback?x=1";
    let gh = FakeGithub::start().await;
    let mut octo = github_user(583231, "octocat", "octocat@example.com");
    octo.orgs = vec!["octo-org".into()];
    gh.sign_in_as(octo);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    let authorize = |challenge: &str, state: &str, scope: &str| {
        let mut url = url::Url::parse(&gh.url("/login/oauth/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", FakeGithub::CLIENT_ID)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("allow_signup", "true");
        url.to_string()
    };
    let location = |res: &reqwest::Response| -> url::Url {
        assert_eq!(res.status(), 302);
        url::Url::parse(res.headers()[reqwest::header::LOCATION].to_str().unwrap()).unwrap()
    };
    let param = |url: &url::Url, name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let pkce = || {
        let verifier = random_token(32);
        let challenge = b64url(&sha256(verifier.as_bytes()));
        (verifier, challenge)
    };

    // Authorize with PKCE: straight back to the redirect URI, its query kept.
    let (verifier, challenge) = pkce();
    let res = http.get(authorize(&challenge, "st-1", "read:user user:email,read:user")).send().await.unwrap();
    let back = location(&res);
    assert!(back.as_str().starts_with("https://latchkey.example/federation/github/callback?x=1&code="));
    assert_eq!(param(&back, "state").as_deref(), Some("st-1"));
    let code = param(&back, "code").expect("code");
    assert_eq!(gh.last_authorize().unwrap()["scope"], "read:user user:email,read:user");

    // Unknown client: GitHub's 404 page.
    let res = http
        .get(gh.url("/login/oauth/authorize?client_id=nope&redirect_uri=https://x.example/cb"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Exchange, JSON: scopes deduplicated and joined with a comma.
    let exchange = |code: &str, verifier: &str| {
        vec![
            ("client_id", FakeGithub::CLIENT_ID.to_string()),
            ("client_secret", FakeGithub::CLIENT_SECRET.to_string()),
            ("code", code.to_string()),
            ("redirect_uri", REDIRECT.to_string()),
            ("code_verifier", verifier.to_string()),
        ]
    };
    let res = http
        .post(gh.url("/login/oauth/access_token"))
        .header("accept", "application/json")
        .form(&exchange(&code, &verifier))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().expect("access_token").to_string();
    assert!(token.starts_with("gho_") && token.len() == 40, "{token}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "read:user,user:email");
    assert_eq!(gh.last_exchange().unwrap()["code"], code);

    // The same code again: HTTP 200 carrying the error.
    let res = http
        .post(gh.url("/login/oauth/access_token"))
        .header("accept", "application/json")
        .form(&exchange(&code, &verifier))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "bad_verification_code");
    assert_eq!(body["error_description"], "The code passed is incorrect or expired.");

    // A wrong PKCE verifier is a bad code too.
    let (_, challenge2) = pkce();
    let res = http.get(authorize(&challenge2, "st-2", "read:user")).send().await.unwrap();
    let code2 = param(&location(&res), "code").unwrap();
    let res = http
        .post(gh.url("/login/oauth/access_token"))
        .header("accept", "application/json")
        .form(&exchange(&code2, &verifier))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "bad_verification_code");

    // Without Accept: JSON, a form-encoded body; credentials by Basic auth.
    let (verifier3, challenge3) = pkce();
    let res = http.get(authorize(&challenge3, "st-3", "read:user")).send().await.unwrap();
    let code3 = param(&location(&res), "code").unwrap();
    let res = http
        .post(gh.url("/login/oauth/access_token"))
        .basic_auth(FakeGithub::CLIENT_ID, Some(FakeGithub::CLIENT_SECRET))
        .form(&[("code", code3.as_str()), ("code_verifier", verifier3.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/x-www-form-urlencoded"));
    let form = parse_pairs(&res.text().await.unwrap());
    assert!(form["access_token"].starts_with("gho_"));
    assert_eq!(form["token_type"], "bearer");
    assert_eq!(form["scope"], "read:user");
    let narrow_token = form["access_token"].clone();

    // Wrong secret.
    let res = http
        .post(gh.url("/login/oauth/access_token"))
        .header("accept", "application/json")
        .form(&[("client_id", FakeGithub::CLIENT_ID), ("client_secret", "wrong"), ("code", "whatever")])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "incorrect_client_credentials");

    // The REST API wants a User-Agent.
    let res = http.get(gh.url("/user")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("User-Agent"));

    // No token or a wrong one: 401.
    let res = http.get(gh.url("/user")).header("user-agent", "latchkey-test").send().await.unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["message"], "Bad credentials");

    // /user: the account, with no public email.
    for path in ["/user", "/api/v3/user"] {
        let res = http
            .get(gh.url(path))
            .header("user-agent", "latchkey-test")
            .header("authorization", format!("token {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["x-oauth-scopes"], "read:user, user:email");
        assert_ne!(res.headers()["x-ratelimit-remaining"], "0");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["id"], 583231);
        assert_eq!(body["login"], "octocat");
        assert_eq!(body["name"], "octocat Name");
        assert_eq!(body["avatar_url"], "https://avatars.githubusercontent.com/u/583231?v=4");
        assert_eq!(body["type"], "User");
        assert!(body["email"].is_null());
        if path.starts_with("/api/v3") {
            assert_eq!(body["url"], format!("{}/api/v3/users/octocat", gh.base));
        }
    }

    // /user/emails with user:email; 404 without.
    let res = http
        .get(gh.url("/user/emails"))
        .header("user-agent", "latchkey-test")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!([{"email": "octocat@example.com", "primary": true, "verified": true, "visibility": "private"}])
    );
    let res = http
        .get(gh.url("/api/v3/user/emails"))
        .header("user-agent", "latchkey-test")
        .bearer_auth(&narrow_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // /user/orgs without read:org: private memberships hidden.
    let res =
        http.get(gh.url("/user/orgs")).header("user-agent", "latchkey-test").bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!([]));

    // Renames show on the next /user.
    gh.rename(583231, "octocat-renamed");
    let res = http.get(gh.url("/user")).header("user-agent", "latchkey-test").bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["login"], "octocat-renamed");

    // Rate limited.
    gh.set_mode(Mode::RateLimited);
    let res = http.get(gh.url("/user")).header("user-agent", "latchkey-test").bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.headers()["x-ratelimit-remaining"], "0");

    // Deny: back with access_denied and the state.
    gh.set_mode(Mode::Deny);
    let (_, challenge4) = pkce();
    let res = http.get(authorize(&challenge4, "st-4", "read:user")).send().await.unwrap();
    let back = location(&res);
    assert_eq!(param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&back, "state").as_deref(), Some("st-4"));
    assert!(param(&back, "code").is_none());
    assert!(back.as_str().contains(
        "error_description=The+user+has+denied+your+application+access.&error_uri=https%3A%2F%2Fdocs.github.com%2F"
    ));

    // Forced errors on the exchange.
    gh.set_mode(Mode::ExchangeStatus(503));
    let res = http
        .post(gh.url("/login/oauth/access_token"))
        .header("accept", "application/json")
        .form(&exchange("x", "y"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.json::<Value>().await.unwrap()["message"].is_string());

    let requests = gh.requests();
    assert!(requests[0].starts_with("GET /login/oauth/authorize?client_id="), "{requests:?}");
    assert!(requests.iter().any(|r| r == "GET /api/v3/user"), "{requests:?}");
    assert!(requests.iter().any(|r| r == "POST /login/oauth/access_token"), "{requests:?}");
}
