//! Starting servers and acting as a browser.

#![allow(dead_code)]

use std::sync::Arc;

use latchkey::app::{App, AppState};
use latchkey::clock::{Clock, OffsetClock};
use latchkey::config::Config;
use latchkey::oauth::clients::{self, ClientSpec};
use reqwest::header::LOCATION;
use tokio::sync::oneshot;

/// Which durable and short-lived stores a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file + in-process state: the embedded default.
    Embedded,
    /// PostgreSQL + Redis, from TEST_DATABASE_URL and TEST_REDIS_URL.
    Shared,
}

/// The backends to run each end-to-end test against. With
/// LATCHKEY_REQUIRE_BACKENDS set (CI), missing URLs are a failure.
pub fn backends() -> Vec<Backend> {
    let pg = std::env::var("TEST_DATABASE_URL").ok().filter(|s| !s.is_empty());
    let redis = std::env::var("TEST_REDIS_URL").ok().filter(|s| !s.is_empty());
    match (pg, redis) {
        (Some(_), Some(_)) => vec![Backend::Embedded, Backend::Shared],
        _ => {
            assert!(
                std::env::var("LATCHKEY_REQUIRE_BACKENDS").is_err(),
                "LATCHKEY_REQUIRE_BACKENDS is set but TEST_DATABASE_URL / TEST_REDIS_URL are missing"
            );
            vec![Backend::Embedded]
        }
    }
}

pub struct TestServer {
    /// Where this instance listens.
    pub base: String,
    /// The database it uses: a SQLite file, or its own PostgreSQL schema.
    pub database_url: String,
    /// The issuer it speaks for: its own address, or its first sibling's.
    pub issuer: String,
    pub state: AppState,
    pub clock: OffsetClock,
    pub backend: Backend,
    pub dir: Arc<tempfile::TempDir>,
    /// The extra configuration it was started with (kept for a restart).
    pub extra: Vec<(String, String)>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts a server with extra config keys.
    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
        let db = match backend {
            Backend::Embedded => format!("sqlite://{}/latchkey.db", dir.path().display()),
            Backend::Shared => fresh_schema().await,
        };
        Self::spawn_on(backend, extra, dir, &db, None).await
    }

    /// Another instance on the same database (and Redis, when shared).
    pub async fn sibling(&self) -> Self {
        self.sibling_with(&[]).await
    }

    /// Another instance, with extra config keys.
    pub async fn sibling_with(&self, extra: &[(&str, &str)]) -> Self {
        let db = self.database_url.clone();
        Self::spawn_on(self.backend, extra, self.dir.clone(), &db, Some(&self.issuer)).await
    }

    async fn spawn_on(
        backend: Backend, extra: &[(&str, &str)], dir: Arc<tempfile::TempDir>, database_url: &str, issuer: Option<&str>,
    ) -> Self {
        latchkey::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://127.0.0.1:{}", addr.port());
        let issuer = issuer.map(str::to_string).unwrap_or_else(|| base.clone());
        let db = database_url.to_string();
        let redis = match backend {
            Backend::Embedded => String::new(),
            Backend::Shared => std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL"),
        };
        let key_file = dir.path().join("no-such-key.pem");
        let key_file = key_file.to_string_lossy().to_string();
        let outbox = dir.path().join("outbox").to_string_lossy().to_string();
        let totp_key = dir.path().join("totp.key").to_string_lossy().to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("LATCHKEY_ISSUER", &issuer),
            ("DATABASE_URL", &db),
            ("LATCHKEY_SIGNING_KEY_FILE", &key_file),
            ("LATCHKEY_OUTBOX_DIR", &outbox),
            ("LATCHKEY_TOTP_KEY_FILE", &totp_key),
            // Every test server shares 127.0.0.1, and on the shared backend
            // one Redis, across runs: the per-IP limit is tested in the unit
            // tests of accounts::throttle, and kept out of the way here.
            ("LATCHKEY_IP_FAILURE_LIMIT", "1000000"),
        ];
        if !redis.is_empty() {
            pairs.push(("REDIS_URL", &redis));
        }
        pairs.extend_from_slice(extra);
        let config = Config::with(&pairs).expect("config");
        let clock = OffsetClock::default();
        let app = App::build(config, Arc::new(clock.clone()) as Arc<dyn Clock>).await.expect("app");
        let state = app.state.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            app.serve(listener, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Self {
            base,
            extra: extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            database_url: db,
            issuer,
            state,
            clock,
            backend,
            dir,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The messages in the dev outbox (no SMTP configured), oldest first.
    pub fn outbox(&self) -> Vec<String> {
        let dir = self.dir.path().join("outbox");
        let mut files: Vec<_> =
            std::fs::read_dir(&dir).map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
        files.sort();
        files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect()
    }

    /// Registers a client directly through the library, as the CLI does.
    pub async fn client(&self, spec: ClientSpec) -> (String, Option<String>) {
        let new = clients::build(spec, self.state.now()).expect("client spec");
        let actor = latchkey::audit::Actor::cli();
        let store = &*self.state.store;
        clients::create(store, &self.state.at_rest_key, &new, actor, self.state.now()).await.expect("create client");
        (new.client.id.into_string(), new.secret)
    }

    pub async fn confidential(&self, redirect: &str) -> (String, String) {
        let (id, secret) = self
            .client(ClientSpec {
                name: "Test App".into(),
                redirect_uris: vec![redirect.into()],
                post_logout_redirect_uris: vec!["https://app.example/bye".into()],
                ..Default::default()
            })
            .await;
        (id, secret.expect("secret"))
    }

    pub async fn public(&self, redirect: &str) -> String {
        self.client(ClientSpec {
            name: "Test SPA".into(),
            redirect_uris: vec![redirect.into()],
            public: true,
            ..Default::default()
        })
        .await
        .0
    }

    /// Creates an account with a password; returns its subject.
    pub async fn user(&self, username: &str, password: &str) -> String {
        let input = latchkey::accounts::users::NewAccount {
            username,
            email: &format!("{username}@example.com"),
            password: Some(password),
            name: Some("Test Person"),
        };
        latchkey::accounts::users::create_account(&*self.state.store, &self.state.hasher, input, self.state.now())
            .await
            .expect("create user")
            .id
    }

    /// Stops this instance and starts it again on the same database (a new
    /// process would see the same: in-process state is gone, the database
    /// stays), with the same issuer on a new port. `extra` replaces or adds
    /// configuration.
    pub async fn restart(self, extra: &[(&str, &str)]) -> Self {
        let (backend, dir, db, issuer) =
            (self.backend, self.dir.clone(), self.database_url.clone(), self.issuer.clone());
        let mut config = self.extra.clone();
        self.stop().await;
        for (k, v) in extra {
            config.retain(|(key, _)| key != k);
            config.push((k.to_string(), v.to_string()));
        }
        let pairs: Vec<(&str, &str)> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Self::spawn_on(backend, &pairs, dir, &db, Some(&issuer)).await
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A PostgreSQL schema of its own for one test's servers, so tests running
/// at once on the shared database cannot see each other's keys, lockouts or
/// feed. Schemas from runs over an hour old are dropped on the way.
pub async fn fresh_schema() -> String {
    use sqlx::Connection;
    let url = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let schema = format!("lk_{now}_{}", unique("").to_lowercase());
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let mut sweep = false;
    SWEPT.call_once(|| sweep = true);
    if sweep {
        let old: Vec<(String,)> = sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'lk\\_%'")
            .fetch_all(&mut conn)
            .await
            .expect("schemas");
        for (name,) in old {
            let born: u64 = name.split('_').nth(1).and_then(|t| t.parse().ok()).unwrap_or(0);
            if born + 3600 < now {
                let _ =
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {name} CASCADE"))).execute(&mut conn).await;
            }
        }
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options[search_path]={schema}")
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", latchkey::crypto::random_token(6).to_lowercase().replace(['-', '_'], "x"))
}

/// A browser: cookies kept, redirects not followed (tests read Location).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// An HTTP client without cookies, for protocol calls.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The value of `<input name=NAME value=...>` in a page.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    for tag in html.split("<input").skip(1) {
        let tag = tag.split('>').next().unwrap_or("");
        if attr(tag, "name").as_deref() == Some(name) {
            return Some(attr(tag, "value").unwrap_or_default());
        }
    }
    None
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let mut rest = tag;
    while let Some(i) = rest.find(&needle) {
        let before = rest[..i].chars().last();
        let value_start = i + needle.len();
        if before.is_none_or(|c| c.is_whitespace()) {
            let end = rest[value_start..].find('"')?;
            return Some(html_unescape(&rest[value_start..value_start + end]));
        }
        rest = &rest[value_start..];
    }
    None
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location header (status {})", res.status()))
        .to_str()
        .expect("location")
        .to_string()
}

/// Follows redirects inside the server; stops at a page (returned as status
/// and body, with its URL) or at a redirect leaving the server (returned as
/// its Location).
pub enum Stop {
    Page { url: String, status: u16, body: String },
    Left(String),
}

pub async fn follow(b: &reqwest::Client, base: &str, start: &str) -> Stop {
    let mut url = start.to_string();
    for _ in 0..10 {
        let res = b.get(&url).send().await.expect("request");
        if res.status().is_redirection() {
            let loc = location(&res);
            if loc.starts_with('/') {
                url = format!("{base}{loc}");
                continue;
            }
            if loc.starts_with(base) {
                url = loc;
                continue;
            }
            return Stop::Left(loc);
        }
        let status = res.status().as_u16();
        return Stop::Page { url, status, body: res.text().await.expect("body") };
    }
    panic!("redirect loop from {start}");
}

impl Stop {
    pub fn page(self) -> (String, String) {
        match self {
            Stop::Page { url, body, .. } => (url, body),
            Stop::Left(loc) => panic!("expected a page, left for {loc}"),
        }
    }
    pub fn left(self) -> String {
        match self {
            Stop::Left(loc) => loc,
            Stop::Page { url, status, body } => panic!("expected a redirect away, got {status} at {url}: {body}"),
        }
    }
}

/// Submits a form on the server and follows where it leads.
pub async fn submit(b: &reqwest::Client, base: &str, path: &str, fields: &[(&str, &str)]) -> Stop {
    let res = b.post(format!("{base}{path}")).form(fields).send().await.expect("post");
    if res.status().is_redirection() {
        let loc = location(&res);
        if loc.starts_with('/') {
            return follow(b, base, &format!("{base}{loc}")).await;
        }
        return Stop::Left(loc);
    }
    let status = res.status().as_u16();
    Stop::Page { url: path.to_string(), status, body: res.text().await.expect("body") }
}

/// Query parameter `name` of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Signs in on a login page reached at `login_html`, then follows.
pub async fn sign_in(b: &reqwest::Client, base: &str, login_html: &str, username: &str, password: &str) -> Stop {
    let csrf = input_value(login_html, "csrf").expect("csrf field");
    let mut fields = vec![("csrf", csrf.as_str()), ("username", username), ("password", password)];
    let request = input_value(login_html, "request");
    if let Some(r) = &request {
        fields.push(("request", r));
    }
    // The page asked for before sign-in, as the form carries it on.
    let next = input_value(login_html, "next");
    if let Some(n) = &next {
        fields.push(("next", n));
    }
    submit(b, base, "/login", &fields).await
}

/// Allows on a consent page, then follows.
pub async fn consent(b: &reqwest::Client, base: &str, consent_html: &str, decision: &str) -> Stop {
    let csrf = input_value(consent_html, "csrf").expect("csrf field");
    let request = input_value(consent_html, "request").expect("request field");
    submit(b, base, "/consent", &[("csrf", &csrf), ("request", &request), ("decision", decision)]).await
}

pub const PASSWORD: &str = "violet-Harbor-93";

/// PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = latchkey::crypto::random_token(32);
    let challenge = latchkey::crypto::b64url(&latchkey::crypto::sha256(verifier.as_bytes()));
    (verifier, challenge)
}

/// Runs sign-in and consent for a fresh authorization request and returns
/// the code. The user must exist.
pub async fn get_code(
    server: &TestServer, b: &reqwest::Client, client_id: &str, redirect: &str, challenge: Option<&str>, username: &str,
) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid profile email")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1");
    if let Some(c) = challenge {
        url.query_pairs_mut().append_pair("code_challenge", c).append_pair("code_challenge_method", "S256");
    }
    let mut stop = follow(b, &server.base, url.as_str()).await;
    for _ in 0..3 {
        match stop {
            Stop::Left(loc) => {
                assert!(loc.starts_with(redirect), "left for {loc}");
                return query_param(&loc, "code").unwrap_or_else(|| panic!("no code in {loc}"));
            }
            Stop::Page { ref url, ref body, .. } if url.contains("/login") => {
                stop = sign_in(b, &server.base, body, username, PASSWORD).await;
            }
            Stop::Page { ref url, ref body, .. } if url.contains("/consent") => {
                stop = consent(b, &server.base, body, "allow").await;
            }
            Stop::Page { url, status, body } => panic!("unexpected page {url} ({status}): {body}"),
        }
    }
    panic!("no code after sign-in and consent");
}

/// Redeems a code at the token endpoint with client_secret_basic.
pub async fn redeem(
    server: &TestServer, client_id: &str, secret: Option<&str>, code: &str, redirect: &str, verifier: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirect)];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let mut req = http().post(server.url("/token"));
    match secret {
        Some(s) => req = req.basic_auth(client_id, Some(s)),
        None => form.push(("client_id", client_id)),
    }
    req.form(&form).send().await.expect("token request")
}

pub async fn json(res: reqwest::Response) -> serde_json::Value {
    res.json().await.expect("json body")
}

/// A TCP proxy to `target` that can be cut: after `cut()`, open connections
/// are dropped and new ones refused, as when a database or Redis goes away.
pub struct Proxy {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        Self::start_on(0, target).await
    }

    /// A proxy on a given port: to bring a cut one back where clients look.
    pub async fn start_on(port: u16, target: std::net::SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let held = conns.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().expect("lock").push(conn);
            }
        });
        Self { port, task, conns }
    }

    pub fn cut(&self) {
        self.task.abort();
        for c in self.conns.lock().expect("lock").drain(..) {
            c.abort();
        }
    }
}

/// host:port of a URL such as postgres://user@127.0.0.1:5432/db.
pub fn socket_of(url: &str) -> std::net::SocketAddr {
    let parsed = url::Url::parse(url).expect("url");
    let host = parsed.host_str().expect("host");
    let port = parsed.port_or_known_default().unwrap_or(match parsed.scheme() {
        "redis" => 6379,
        _ => 5432,
    });
    format!("{host}:{port}").parse().expect("socket address")
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
pub fn via_port(url: &str, port: u16) -> String {
    let mut parsed = url::Url::parse(url).expect("url");
    parsed.set_host(Some("127.0.0.1")).expect("host");
    parsed.set_port(Some(port)).expect("port");
    parsed.to_string()
}

/// The first link to this server in an email, with quoted-printable soft
/// line breaks and escapes undone.
pub fn link_in_email(raw: &str, base: &str) -> Option<String> {
    let text = raw.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = text.find(base)?;
    let end = text[start..].find(|c: char| c.is_whitespace()).map(|i| start + i).unwrap_or(text.len());
    Some(text[start..end].to_string())
}

/// A Redis server of a test's own, on a free port: stopped and started
/// again, it comes back empty, as Redis without persistence does after a
/// restart. None when no redis-server is installed (fails under
/// LATCHKEY_REQUIRE_BACKENDS).
pub struct RedisProcess {
    pub port: u16,
    child: std::process::Child,
}

impl RedisProcess {
    pub async fn start() -> Option<Self> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
            l.local_addr().ok()?.port()
        };
        Self::start_on(port).await
    }

    async fn start_on(port: u16) -> Option<Self> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var("LATCHKEY_REQUIRE_BACKENDS").is_err(),
                    "LATCHKEY_REQUIRE_BACKENDS is set but redis-server cannot start: {e}"
                );
                return None;
            }
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Some(Self { port, child });
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {port}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it and starts a fresh one on the same port: everything it held
    /// is gone.
    pub async fn restart(mut self) -> Self {
        let port = self.port;
        let _ = self.child.kill();
        let _ = self.child.wait();
        Self::start_on(port).await.expect("redis-server restarts")
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
