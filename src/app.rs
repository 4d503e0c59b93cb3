//! Application state, start-up, and serving.

use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::accounts::password::{HashError, PasswordHasherPool};
use crate::clock::Clock;
use crate::config::Config;
use crate::ephemeral::{Ephemeral, EphemeralError, MemoryStore, RedisStore};
use crate::federation::github::GithubClient;
use crate::keys::{self, KeyError, KeyRing};
use crate::store::mirror::{FEED_LOOKBACK_MS, wall_ms};
use crate::store::{SqlStore, Store, StoreError, StoreOptions};
use crate::templates::{RenderError, Templates};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("redis: {0}")]
    Ephemeral(#[from] EphemeralError),
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    #[error("templates: {0}")]
    Templates(#[from] RenderError),
    #[error("password hashing: {0}")]
    Hash(#[from] HashError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("TOTP key file {path}: {source}")]
    TotpKey { path: String, source: std::io::Error },
    #[error("email: {0}")]
    Email(#[from] crate::email::EmailError),
    #[error("GitHub sign-in: {0}")]
    Github(String),
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// Everything a request handler may need. Cloning is cheap.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// Durable data, with the in-memory mirror of clients, accounts and
    /// revocations that the change feed keeps current.
    pub store: Arc<dyn Store>,
    pub ephemeral: Arc<dyn Ephemeral>,
    pub keys: Arc<KeyRing>,
    pub templates: Templates,
    pub hasher: PasswordHasherPool,
    /// Set when "Sign in with GitHub" is configured.
    pub github: Option<Arc<GithubClient>>,
    pub mailer: Arc<crate::email::Mailer>,
    /// Seals secrets at rest (see `Shared::at_rest_key`).
    pub at_rest_key: crate::crypto::Secret,
    /// The clients' public keys, parsed or fetched, and cached.
    pub client_keys: crate::oauth::client_keys::ClientKeys,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn now(&self) -> crate::clock::Timestamp {
        self.clock.now()
    }

    /// Brute-force limits: counts in the short-lived state, locks in the
    /// database.
    pub fn throttle(&self) -> crate::accounts::throttle::Throttle<'_> {
        self.shared().throttle()
    }

    /// The narrow view the protocol rules take.
    pub fn provider(&self) -> crate::oauth::Provider<'_> {
        crate::oauth::Provider { shared: self.shared(), keys: &self.keys, client_keys: &self.client_keys }
    }

    /// What every rule may use.
    pub fn shared(&self) -> crate::shared::Shared<'_> {
        crate::shared::Shared {
            config: &self.config,
            store: &*self.store,
            ephemeral: &*self.ephemeral,
            at_rest_key: &self.at_rest_key,
        }
    }

    /// The view the account rules take.
    pub fn accounts(&self) -> crate::accounts::Accounts<'_> {
        crate::accounts::Accounts { shared: self.shared(), hasher: &self.hasher, mailer: &self.mailer }
    }
}

/// Connection limits and deadlines for the configured database.
pub fn store_options(config: &Config) -> StoreOptions {
    StoreOptions {
        acquire_timeout: Duration::from_millis(config.timeouts.database_acquire_ms),
        operation_timeout: Duration::from_secs(config.timeouts.database_operation),
        // An access token lives its lifetime past its issuance, plus a
        // minute for clocks that disagree.
        access_token_window: config.access_token_ttl + 60,
        ..StoreOptions::default()
    }
}

/// Opens the configured database (applying migrations) and returns it.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    let store = SqlStore::connect_with(config.database_url.expose(), store_options(config)).await?;
    store.migrate().await?;
    Ok(Arc::new(store))
}

pub async fn open_ephemeral(config: &Config, clock: Arc<dyn Clock>) -> Result<Arc<dyn Ephemeral>, EphemeralError> {
    Ok(match &config.redis_url {
        Some(url) => {
            Arc::new(RedisStore::connect(url.expose(), Duration::from_millis(config.timeouts.redis_ms)).await?)
        }
        None => Arc::new(MemoryStore::new(clock)),
    })
}

/// Reads a key file, or creates it (256 random bits, mode 0600) when
/// missing: the embedded default needs no setup. Instances sharing a
/// database must share the key (the same file, or LATCHKEY_TOTP_KEY).
/// The key material sealing secrets at rest: `LATCHKEY_TOTP_KEY`, or the
/// key file (created on first use).
pub fn at_rest_key(config: &Config) -> Result<crate::crypto::Secret, StartError> {
    match &config.totp_key {
        Some(k) => Ok(k.clone()),
        None => load_or_create_key(&config.totp_key_file)
            .map_err(|e| StartError::TotpKey { path: config.totp_key_file.display().to_string(), source: e }),
    }
}

fn load_or_create_key(path: &std::path::Path) -> std::io::Result<crate::crypto::Secret> {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => return Ok(crate::crypto::Secret::new(text.trim())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let key = crate::crypto::random_token(32);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options.open(path)?.write_all(format!("{key}\n").as_bytes())?;
    tracing::info!(path = %path.display(), "created a TOTP encryption key");
    Ok(crate::crypto::Secret::new(key))
}

/// A built application: state plus the background tasks it runs.
pub struct App {
    pub state: AppState,
}

impl App {
    /// Connects to the database and short-lived state, makes sure a signing
    /// key exists, and loads the key ring.
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let store = open_store(&config).await?;
        let ephemeral = open_ephemeral(&config, clock.clone()).await?;
        Self::from_parts(config, clock, store, ephemeral).await
    }

    pub async fn from_parts(
        config: Config, clock: Arc<dyn Clock>, store: Arc<dyn Store>, ephemeral: Arc<dyn Ephemeral>,
    ) -> Result<Self, StartError> {
        // Revocations in force are loaded before the first request is served.
        store.reload_revocations(clock.now()).await?;
        keys::ensure_keys(&*store, clock.now(), &config.signing_key_file, &config.access_token_alg).await?;
        let window = config.access_token_ttl.max(config.id_token_ttl) + 300;
        let keys = Arc::new(KeyRing::load(store.clone(), clock.clone(), window, &config.access_token_alg).await?);
        let templates = Templates::new(config.brand.clone())?;
        let hasher = PasswordHasherPool::new(config.argon2, config.password_hash_concurrency)?;
        let github = match &config.github {
            Some(gh) => Some(Arc::new(GithubClient::new(gh, &config.issuer).map_err(StartError::Github)?)),
            None => None,
        };
        let mailer = Arc::new(crate::email::Mailer::new(&config.email)?);
        let at_rest_key = at_rest_key(&config)?;
        let client_keys = crate::oauth::client_keys::ClientKeys::new(&config.issuer);
        Ok(Self {
            state: AppState(Arc::new(Inner {
                config,
                clock,
                store,
                ephemeral,
                keys,
                templates,
                hasher,
                github,
                mailer,
                at_rest_key,
                client_keys,
            })),
        })
    }

    pub fn router(&self) -> axum::Router {
        crate::http::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then finishes the
    /// requests in flight (see `server`).
    pub async fn serve(
        self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let tasks = spawn_background(self.state.clone());
        let limits = self.state.config.server;
        let router = self.router().layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes));
        let result = crate::server::serve(listener, router, limits, shutdown).await.map_err(StartError::Serve);
        for t in tasks {
            t.abort();
        }
        result
    }
}

/// The name of the change notification channel (Redis pub/sub).
pub const CHANGES_CHANNEL: &str = "changes";

/// Background work: following the change feed (and the notifications that
/// wake it), telling other instances of this one's changes, reloading
/// signing keys, and removing expired rows.
fn spawn_background(state: AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let wake = Arc::new(tokio::sync::Notify::new());
    // Notifications only make the feed faster; the poll alone keeps every
    // instance within a second. Redis pub/sub when Redis is configured,
    // PostgreSQL LISTEN/NOTIFY when it is not.
    if let Some(url) = &state.config.redis_url {
        tasks.push(tokio::spawn(crate::ephemeral::follow_channel(
            url.expose().to_string(),
            CHANGES_CHANNEL,
            wake.clone(),
        )));
        let (local, ephemeral) = (state.store.local_writes(), state.ephemeral.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                local.notified().await;
                if let Err(e) = ephemeral.publish(CHANGES_CHANNEL).await {
                    tracing::debug!(error = %e, "cannot announce a change (the others poll)");
                }
            }
        }));
    } else if state.store.backend() == "postgres" {
        tasks.push(tokio::spawn(crate::store::sql::feed::listen_postgres(
            state.config.database_url.expose().to_string(),
            wake.clone(),
        )));
    }
    tasks.push(tokio::spawn(follow_changes(state.clone(), wake)));

    let keys_state = state.clone();
    tasks.push(tokio::spawn(async move {
        let changed = keys_state.store.keys_changed();
        let mut tick = tokio::time::interval(Duration::from_secs(keys::KEY_RELOAD_INTERVAL as u64));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = changed.notified() => {}
            }
            if let Err(e) = keys_state.keys.reload().await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
        }
    }));
    tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        tick.tick().await;
        loop {
            tick.tick().await;
            cleanup(&state).await;
        }
    }));
    tasks
}

/// Applies what other instances (and the CLI) changed: on every
/// notification, and every `change_poll_ms` regardless. Each read goes back
/// [`FEED_LOOKBACK_MS`] before the last successful one, so a transaction
/// that committed late, or a read that failed, loses nothing.
async fn follow_changes(state: AppState, wake: Arc<tokio::sync::Notify>) {
    let poll = Duration::from_millis(state.config.change_poll_ms);
    let mut last_ok = wall_ms();
    let mut last_reload = tokio::time::Instant::now();
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = wake.notified() => {}
        }
        let started = wall_ms();
        match state.store.catch_up(last_ok - FEED_LOOKBACK_MS, state.now()).await {
            Ok(_) => {
                if failing {
                    tracing::info!("reading the change feed again");
                    failing = false;
                }
                last_ok = started;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read the change feed; retrying");
                    failing = true;
                }
                continue;
            }
        }
        // Now and then, rebuild from the grants themselves as well.
        if last_reload.elapsed() > Duration::from_secs(300) {
            match state.store.reload_revocations(state.now()).await {
                Ok(()) => last_reload = tokio::time::Instant::now(),
                Err(e) => tracing::warn!(error = %e, "reloading revocations failed"),
            }
        }
    }
}

/// Removes what can no longer matter: expired sessions, tokens, grants,
/// single-use values, revocations, lockouts, feed rows and retired keys.
async fn cleanup(state: &AppState) {
    let now = state.now();
    let window = state.config.access_token_ttl.max(state.config.id_token_ttl) + 300;
    let store = &state.store;
    let results = [
        ("sessions", store.delete_expired_sessions(now).await),
        ("refresh tokens", store.delete_expired_refresh_tokens(now).await),
        // Kept a while after expiry, so a replay is still recognised.
        ("single-use values", store.delete_expired_one_time(now - window).await),
        ("grants", store.delete_expired_grants(now - window).await),
        // Kept a while too: a device polling late hears "expired", and its
        // user code is not drawn again meanwhile.
        ("device authorizations", store.delete_expired_devices(now - window).await),
        ("access token revocations", store.delete_expired_access_token_revocations(now).await),
        ("lockouts", store.delete_expired_lockouts(now).await),
        ("change feed rows", store.prune_changes(wall_ms() - 3_600_000).await),
        ("retired keys", store.delete_keys_retired_before(now - window - 86400).await),
    ];
    for (what, result) in results {
        match result {
            Ok(n) if n > 0 => tracing::info!(removed = n, "expired {what} removed"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cleanup of {what} failed"),
        }
    }
    state.ephemeral.purge_expired().await;
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
