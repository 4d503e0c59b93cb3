//! The SQL store: one body of portable SQL (`$1` placeholders work on both
//! backends) run on SQLite or PostgreSQL. We dispatch on an enum rather than
//! use `sqlx::Any` so each backend keeps its own types and migrations.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, PgPool, SqlitePool};

use super::mirror::{Mirror, wall_ms};
use super::*;

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool backs the store, within
/// the store's deadline: a database that does not answer makes the call fail
/// with [`StoreError::Unavailable`] instead of hanging the request.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {{
        let store = $store;
        let work = async {
            Ok::<_, StoreError>(match &store.db {
                Db::Sqlite($pool) => $body,
                Db::Postgres($pool) => $body,
            })
        };
        match tokio::time::timeout(store.options.operation_timeout, work).await {
            Ok(result) => result?,
            Err(_) => return Err(StoreError::Unavailable("the database did not answer in time".into())),
        }
    }};
}

/// Appends a change to the feed inside the transaction `$tx`.
macro_rules! log_change {
    ($tx:expr, $change:expr) => {{
        let (kind, key, until) = $crate::store::sql::feed::to_row($change);
        sqlx::query("INSERT INTO changes (kind, key, until, at_ms) VALUES ($1, $2, $3, $4)")
            .bind(kind)
            .bind(key)
            .bind(until)
            .bind(wall_ms())
            .execute(&mut *$tx)
            .await?;
    }};
}

pub mod feed;
mod grants;

/// Connection limits and deadlines.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// How long a call waits for a connection (PostgreSQL) or for the write
    /// lock (SQLite) before failing as unavailable. Short, so an outage
    /// answers 503 at once rather than piling up requests.
    pub acquire_timeout: Duration,
    /// The most any one call may take, all statements included, before it
    /// fails as unavailable (a connection that stopped answering).
    pub operation_timeout: Duration,
    /// How long to wait for the database at start-up.
    pub startup_wait: Duration,
    /// Seconds an access token may live after it was issued (its lifetime
    /// plus clock skew): how long a revocation must be remembered in memory.
    pub access_token_window: i64,
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_millis(500),
            operation_timeout: Duration::from_secs(5),
            startup_wait: Duration::from_secs(10),
            access_token_window: 900 + 60,
            max_connections: 16,
        }
    }
}

#[derive(Clone)]
pub struct SqlStore {
    db: Db,
    options: StoreOptions,
    mirror: Arc<Mirror>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore").field("backend", &self.backend()).finish()
    }
}

impl SqlStore {
    /// Connects with the default options.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, StoreOptions::default()).await
    }

    /// Connects to `url` (`sqlite:PATH`, `sqlite://PATH` or `postgres://…`);
    /// a SQLite file and its folder are created when missing. Waits up to
    /// `startup_wait` for a database that is still starting.
    pub async fn connect_with(url: &str, options: StoreOptions) -> StoreResult<Self> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_lazy(url)?;
            Db::Postgres(pool)
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            if !path.is_empty() && path != ":memory:" {
                if let Some(parent) = std::path::Path::new(path).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
                    }
                }
            }
            let options = SqliteConnectOptions::from_str(url)
                .map_err(StoreError::Database)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Waiting for another writer is SQLite's form of waiting for
                // a connection: bounded the same way.
                .busy_timeout(options.acquire_timeout.max(Duration::from_millis(250)));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await
                .map_err(StoreError::Database)?;
            Db::Sqlite(pool)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let store = Self {
            db,
            options,
            mirror: Arc::default(),
        };
        let deadline = tokio::time::Instant::now() + options.startup_wait;
        loop {
            match store.ping().await {
                Ok(()) => break,
                Err(StoreError::Unavailable(e)) if tokio::time::Instant::now() < deadline => {
                    tracing::info!(error = %e, "waiting for the database");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(store)
    }

    /// Applies the migrations of this backend (migrations/sqlite or
    /// migrations/postgres); already-applied ones are skipped.
    pub async fn migrate(&self) -> StoreResult<()> {
        match &self.db {
            Db::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }
}

impl SqlStore {
    async fn load_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let row: Option<ClientRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1")))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(Client::try_from).transpose()
    }

    async fn load_user(&self, id: &str) -> StoreResult<Option<User>> {
        let row: Option<UserRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(User::try_from).transpose()
    }
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn from_json(text: &str, what: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn unique_violation(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

/// The origin (`scheme://host[:port]`) of a URL, as browsers send it.
pub fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

#[derive(FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    private_der: Vec<u8>,
    created_at: i64,
    activates_at: Option<i64>,
    retired_at: Option<i64>,
}

#[derive(FromRow)]
struct ClientRow {
    id: String,
    secret_hash: Option<String>,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    public: bool,
    skip_consent: bool,
    created_at: i64,
    owner_id: Option<String>,
    app_type: Option<String>,
    homepage: Option<String>,
    logo_url: Option<String>,
    old_secret_hash: Option<String>,
    old_secret_expires_at: Option<i64>,
    registration_token_hash: Option<String>,
    token_endpoint_auth_method: Option<String>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> StoreResult<Client> {
        Ok(Client {
            redirect_uris: from_json(&r.redirect_uris, "clients.redirect_uris")?,
            post_logout_redirect_uris: from_json(&r.post_logout_redirect_uris, "clients.post_logout_redirect_uris")?,
            grant_types: from_json(&r.grant_types, "clients.grant_types")?,
            scopes: from_json(&r.scopes, "clients.scopes")?,
            id: r.id,
            secret_hash: r.secret_hash,
            name: r.name,
            public: r.public,
            skip_consent: r.skip_consent,
            created_at: r.created_at,
            owner_id: r.owner_id,
            app_type: r.app_type,
            homepage: r.homepage,
            logo_url: r.logo_url,
            old_secret_hash: r.old_secret_hash,
            old_secret_expires_at: r.old_secret_expires_at,
            registration_token_hash: r.registration_token_hash,
            token_endpoint_auth_method: r
                .token_endpoint_auth_method
                .unwrap_or_else(|| if r.public { "none" } else { "client_secret_basic" }.to_string()),
        })
    }
}

#[derive(FromRow)]
struct UserRow {
    id: String,
    username: String,
    email: String,
    email_verified: bool,
    name: Option<String>,
    picture: Option<String>,
    password_hash: Option<String>,
    role: String,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<User> {
        Ok(User {
            id: r.id,
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            name: r.name,
            picture: r.picture,
            password_hash: r.password_hash,
            role: Role::parse(&r.role).ok_or_else(|| StoreError::Corrupt(format!("users.role: `{}`", r.role)))?,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(FromRow)]
struct SessionRow {
    id_hash: String,
    user_id: String,
    auth_time: i64,
    amr: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> StoreResult<Session> {
        Ok(Session {
            amr: from_json(&r.amr, "sessions.amr")?,
            id_hash: r.id_hash,
            user_id: r.user_id,
            auth_time: r.auth_time,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
            ip: r.ip,
            user_agent: r.user_agent,
        })
    }
}

const USER_COLUMNS: &str =
    "id, username, email, email_verified, name, picture, password_hash, role, disabled, created_at, updated_at";
const INSERT_USER: &str = "INSERT INTO users (id, username, email, email_verified, name, picture, password_hash, role, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const INSERT_IDENTITY: &str = "INSERT INTO federated_identities (provider, subject, user_id, login, email, linked_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Binds a user's fields in the order of `INSERT_USER`.
macro_rules! bind_user {
    ($q:expr, $u:expr) => {
        $q.bind(&$u.id)
            .bind(&$u.username)
            .bind(&$u.email)
            .bind($u.email_verified)
            .bind(&$u.name)
            .bind(&$u.picture)
            .bind(&$u.password_hash)
            .bind($u.role.as_str())
            .bind($u.disabled)
            .bind($u.created_at)
            .bind($u.updated_at)
    };
}

/// Binds an identity's fields in the order of `INSERT_IDENTITY`.
macro_rules! bind_identity {
    ($q:expr, $i:expr) => {
        $q.bind(&$i.provider)
            .bind(&$i.subject)
            .bind(&$i.user_id)
            .bind(&$i.login)
            .bind(&$i.email)
            .bind($i.linked_at)
            .bind($i.last_used_at)
    };
}

#[derive(FromRow)]
struct IdentityRow {
    provider: String,
    subject: String,
    user_id: String,
    login: String,
    email: Option<String>,
    linked_at: i64,
    last_used_at: i64,
}

impl From<IdentityRow> for Identity {
    fn from(r: IdentityRow) -> Identity {
        Identity {
            provider: r.provider,
            subject: r.subject,
            user_id: r.user_id,
            login: r.login,
            email: r.email,
            linked_at: r.linked_at,
            last_used_at: r.last_used_at,
        }
    }
}

const IDENTITY_COLUMNS: &str = "provider, subject, user_id, login, email, linked_at, last_used_at";
const CLIENT_COLUMNS: &str = "id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types, scopes, public, skip_consent, created_at, owner_id, app_type, homepage, logo_url, old_secret_hash, old_secret_expires_at, registration_token_hash, token_endpoint_auth_method";

/// Replaces a client's origins (for CORS) with those of its redirect URIs.
macro_rules! write_origins {
    ($tx:expr, $c:expr) => {{
        let mut origins: Vec<String> = $c.redirect_uris.iter().filter_map(|u| origin_of(u)).collect();
        origins.sort();
        origins.dedup();
        sqlx::query("DELETE FROM client_origins WHERE client_id = $1")
            .bind(&$c.id)
            .execute(&mut *$tx)
            .await?;
        for origin in &origins {
            sqlx::query("INSERT INTO client_origins (origin, client_id) VALUES ($1, $2)")
                .bind(origin)
                .bind(&$c.id)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_der, created_at, activates_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)";

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(INSERT_KEY)
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.private_der)
                .bind(key.created_at)
                .bind(key.activates_at)
                .bind(key.retired_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_violation(e, "key"))?;
            log_change!(tx, &Change::Keys);
            tx.commit().await?;
        });
        self.mirror.apply_local(&Change::Keys);
        Ok(())
    }

    async fn rotate_key(&self, key: &StoredKey) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND kid <> $3 AND (retired_at IS NULL OR retired_at > $1)")
                .bind(key.activates_at)
                .bind(&key.alg)
                .bind(&key.kid)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_KEY)
                .bind(&key.kid)
                .bind(&key.alg)
                .bind(&key.private_der)
                .bind(key.created_at)
                .bind(key.activates_at)
                .bind(key.retired_at)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_violation(e, "key"))?;
            log_change!(tx, &Change::Keys);
            tx.commit().await?;
        });
        self.mirror.apply_local(&Change::Keys);
        Ok(())
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let rows: Vec<KeyRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT kid, alg, private_der, created_at, activates_at, retired_at FROM signing_keys ORDER BY COALESCE(activates_at, created_at) DESC, created_at DESC, kid DESC")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| StoredKey {
                kid: r.kid,
                alg: r.alg,
                private_der: r.private_der,
                created_at: r.created_at,
                activates_at: r.activates_at.unwrap_or(r.created_at),
                retired_at: r.retired_at,
            })
            .collect())
    }

    async fn delete_key(&self, kid: &str) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            log_change!(tx, &Change::Keys);
            tx.commit().await?;
            n
        });
        self.mirror.apply_local(&Change::Keys);
        Ok(n > 0)
    }

    async fn delete_keys_retired_before(&self, before: Timestamp) -> StoreResult<u64> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn create_client(&self, c: &Client) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO clients (id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types, scopes, public, skip_consent, created_at, owner_id, app_type, homepage, logo_url, old_secret_hash, old_secret_expires_at, registration_token_hash, token_endpoint_auth_method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)")
                .bind(&c.id)
                .bind(&c.secret_hash)
                .bind(&c.name)
                .bind(to_json(&c.redirect_uris))
                .bind(to_json(&c.post_logout_redirect_uris))
                .bind(to_json(&c.grant_types))
                .bind(to_json(&c.scopes))
                .bind(c.public)
                .bind(c.skip_consent)
                .bind(c.created_at)
                .bind(&c.owner_id)
                .bind(&c.app_type)
                .bind(&c.homepage)
                .bind(&c.logo_url)
                .bind(&c.old_secret_hash)
                .bind(c.old_secret_expires_at)
                .bind(&c.registration_token_hash)
                .bind(&c.token_endpoint_auth_method)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_violation(e, "client"))?;
            write_origins!(tx, c);
            tx.commit().await?;
        });
        Ok(())
    }

    async fn update_client(&self, c: &Client) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE clients SET secret_hash = $1, name = $2, redirect_uris = $3, post_logout_redirect_uris = $4, grant_types = $5, scopes = $6, public = $7, skip_consent = $8, owner_id = $9, app_type = $10, homepage = $11, logo_url = $12, old_secret_hash = $13, old_secret_expires_at = $14, registration_token_hash = $15, token_endpoint_auth_method = $16 WHERE id = $17")
                .bind(&c.secret_hash)
                .bind(&c.name)
                .bind(to_json(&c.redirect_uris))
                .bind(to_json(&c.post_logout_redirect_uris))
                .bind(to_json(&c.grant_types))
                .bind(to_json(&c.scopes))
                .bind(c.public)
                .bind(c.skip_consent)
                .bind(&c.owner_id)
                .bind(&c.app_type)
                .bind(&c.homepage)
                .bind(&c.logo_url)
                .bind(&c.old_secret_hash)
                .bind(c.old_secret_expires_at)
                .bind(&c.registration_token_hash)
                .bind(&c.token_endpoint_auth_method)
                .bind(&c.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                write_origins!(tx, c);
                log_change!(tx, &Change::Client(c.id.clone()));
            }
            tx.commit().await?;
            n
        });
        if n == 1 {
            self.mirror.apply_local(&Change::Client(c.id.clone()));
        }
        Ok(n == 1)
    }

    async fn list_clients_by_owner(&self, owner_id: &str) -> StoreResult<Vec<Client>> {
        let rows: Vec<ClientRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE owner_id = $1 ORDER BY created_at, id")))
                .bind(owner_id)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn insert_initial_access_token(&self, hash: &str, now: Timestamp, expires_at: Timestamp) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO initial_access_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)")
                .bind(hash)
                .bind(now)
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn use_initial_access_token(&self, hash: &str, now: Timestamp) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM initial_access_tokens WHERE token_hash = $1 AND expires_at > $2")
                .bind(hash)
                .bind(now)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let cached = self.mirror.clients.get_or_load(id, || self.load_client(id)).await?;
        Ok(cached.map(|c| (*c).clone()))
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let rows: Vec<ClientRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, id")))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(Client::try_from).collect()
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("DELETE FROM clients WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
            log_change!(tx, &Change::Client(id.to_string()));
            tx.commit().await?;
            n
        });
        self.mirror.apply_local(&Change::Client(id.to_string()));
        Ok(n > 0)
    }

    async fn origin_allowed(&self, origin: &str) -> StoreResult<bool> {
        let row: Option<(i32,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT 1 FROM client_origins WHERE origin = $1 LIMIT 1")
                .bind(origin)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.is_some())
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, u: &User) -> StoreResult<()> {
        on_pool!(self, pool => {
            bind_user!(sqlx::query(INSERT_USER), u)
                .execute(pool)
                .await
                .map_err(|e| unique_violation(e, "username or email"))?;
        });
        Ok(())
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let cached = self.mirror.users.get_or_load(id, || self.load_user(id)).await?;
        Ok(cached.map(|u| (*u).clone()))
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let login = login.trim().to_lowercase();
        let row: Option<UserRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1 OR email = $1 LIMIT 1")))
                .bind(&login)
                .fetch_optional(pool)
                .await?
        });
        row.map(User::try_from).transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let rows: Vec<UserRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id")))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(User::try_from).collect()
    }

    async fn set_user_role(&self, id: &str, role: Role, now: Timestamp) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE users SET role = $1, updated_at = $2 WHERE id = $3")
                .bind(role.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            log_change!(tx, &Change::User(id.to_string()));
            tx.commit().await?;
            n
        });
        self.mirror.apply_local(&Change::User(id.to_string()));
        Ok(n > 0)
    }

    async fn fill_profile(
        &self,
        id: &str,
        name: Option<&str>,
        picture: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET name = COALESCE(name, $1), picture = COALESCE(picture, $2), updated_at = $3 WHERE id = $4 AND ((name IS NULL AND $1 IS NOT NULL) OR (picture IS NULL AND $2 IS NOT NULL))")
                .bind(name)
                .bind(picture)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            log_change!(tx, &Change::User(id.to_string()));
            tx.commit().await?;
        });
        self.mirror.apply_local(&Change::User(id.to_string()));
        Ok(())
    }

    async fn set_email_verified(&self, id: &str, email: &str, now: Timestamp) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE users SET email_verified = $1, updated_at = $2 WHERE id = $3 AND email = $4")
                .bind(true)
                .bind(now)
                .bind(id)
                .bind(email)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            log_change!(tx, &Change::User(id.to_string()));
            tx.commit().await?;
            n
        });
        self.mirror.apply_local(&Change::User(id.to_string()));
        Ok(n > 0)
    }

    async fn update_profile(&self, id: &str, name: Option<&str>, email: &str, now: Timestamp) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET name = $1, email_verified = CASE WHEN email = $2 THEN email_verified ELSE $3 END, email = $2, updated_at = $4 WHERE id = $5")
                .bind(name)
                .bind(email)
                .bind(false)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_violation(e, "email"))?;
            log_change!(tx, &Change::User(id.to_string()));
            tx.commit().await?;
        });
        self.mirror.apply_local(&Change::User(id.to_string()));
        Ok(())
    }

    async fn set_user_disabled(&self, id: &str, disabled: bool, now: Timestamp) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
                .bind(disabled)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            log_change!(tx, &Change::User(id.to_string()));
            tx.commit().await?;
            n
        });
        self.mirror.apply_local(&Change::User(id.to_string()));
        Ok(n > 0)
    }

    async fn set_password_hash(&self, id: &str, hash: &str, now: Timestamp) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            log_change!(tx, &Change::User(id.to_string()));
            tx.commit().await?;
        });
        self.mirror.apply_local(&Change::User(id.to_string()));
        Ok(())
    }
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn find_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<Identity>> {
        let row: Option<IdentityRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {IDENTITY_COLUMNS} FROM federated_identities WHERE provider = $1 AND subject = $2")))
                .bind(provider)
                .bind(subject)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(Identity::from))
    }

    async fn user_identities(&self, user_id: &str) -> StoreResult<Vec<Identity>> {
        let rows: Vec<IdentityRow> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {IDENTITY_COLUMNS} FROM federated_identities WHERE user_id = $1 ORDER BY provider")))
                .bind(user_id)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(Identity::from).collect())
    }

    async fn link_identity(&self, i: &Identity) -> StoreResult<()> {
        on_pool!(self, pool => {
            bind_identity!(sqlx::query(INSERT_IDENTITY), i)
                .execute(pool)
                .await
                .map_err(|e| unique_violation(e, "linked identity"))?;
        });
        Ok(())
    }

    async fn create_user_with_identity(&self, u: &User, i: &Identity) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            bind_user!(sqlx::query(INSERT_USER), u)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_violation(e, "username or email"))?;
            bind_identity!(sqlx::query(INSERT_IDENTITY), i)
                .execute(&mut *tx)
                .await
                .map_err(|e| unique_violation(e, "linked identity"))?;
            tx.commit().await?;
        });
        Ok(())
    }

    async fn touch_identity(&self, i: &Identity) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE federated_identities SET login = $1, email = $2, last_used_at = $3 WHERE provider = $4 AND subject = $5")
                .bind(&i.login)
                .bind(&i.email)
                .bind(i.last_used_at)
                .bind(&i.provider)
                .bind(&i.subject)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn unlink_identity(&self, user_id: &str, provider: &str) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM federated_identities WHERE user_id = $1 AND provider = $2")
                .bind(user_id)
                .bind(provider)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}

#[derive(FromRow)]
struct TotpRow {
    user_id: String,
    secret_sealed: Vec<u8>,
    last_step: Option<i64>,
    enabled_at: i64,
}

#[async_trait]
impl MfaStore for SqlStore {
    async fn get_totp(&self, user_id: &str) -> StoreResult<Option<TotpRecord>> {
        let row: Option<TotpRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT user_id, secret_sealed, last_step, enabled_at FROM user_totp WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|r| TotpRecord {
            user_id: r.user_id,
            secret_sealed: r.secret_sealed,
            last_step: r.last_step,
            enabled_at: r.enabled_at,
        }))
    }

    async fn enable_totp(&self, record: &TotpRecord, backup_code_hashes: &[String]) -> StoreResult<()> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
                .bind(&record.user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
                .bind(&record.user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO user_totp (user_id, secret_sealed, last_step, enabled_at) VALUES ($1, $2, $3, $4)")
                .bind(&record.user_id)
                .bind(&record.secret_sealed)
                .bind(record.last_step)
                .bind(record.enabled_at)
                .execute(&mut *tx)
                .await?;
            for hash in backup_code_hashes {
                sqlx::query("INSERT INTO backup_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)")
                    .bind(&record.user_id)
                    .bind(hash)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    async fn advance_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            sqlx::query("UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND (last_step IS NULL OR last_step < $1)")
                .bind(step)
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    async fn use_backup_code(&self, user_id: &str, code_hash: &str, now: Timestamp) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            sqlx::query("UPDATE backup_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
                .bind(now)
                .bind(user_id)
                .bind(code_hash)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    async fn backup_codes_left(&self, user_id: &str) -> StoreResult<i64> {
        let n: i64 = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL")
                .bind(user_id)
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    async fn disable_totp(&self, user_id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM backup_codes WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let n = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            n
        });
        Ok(n > 0)
    }
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO sessions (id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(&s.id_hash)
                .bind(&s.user_id)
                .bind(s.auth_time)
                .bind(to_json(&s.amr))
                .bind(s.created_at)
                .bind(s.last_seen_at)
                .bind(s.expires_at)
                .bind(&s.ip)
                .bind(&s.user_agent)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent FROM sessions WHERE id_hash = $1")
                .bind(id_hash)
                .fetch_optional(pool)
                .await?
        });
        row.map(Session::try_from).transpose()
    }

    async fn touch_session(&self, id_hash: &str, last_seen_at: Timestamp) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(last_seen_at)
                .bind(id_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(pool).await?;
        });
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(pool).await?.rows_affected()
        });
        Ok(n)
    }

    async fn count_user_sessions(&self, user_id: &str, now: Timestamp) -> StoreResult<i64> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2")
                .bind(user_id)
                .bind(now)
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    async fn list_user_sessions(&self, user_id: &str, now: Timestamp) -> StoreResult<Vec<Session>> {
        let rows: Vec<SessionRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC")
                .bind(user_id)
                .bind(now)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(Session::try_from).collect()
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(pool).await?.rows_affected()
        });
        Ok(n)
    }
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Option<Vec<String>>> {
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(s,)| from_json(&s, "consents.scopes")).transpose()
    }

    async fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String], now: Timestamp) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at")
                .bind(user_id)
                .bind(client_id)
                .bind(to_json(scopes))
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn list_user_consents(&self, user_id: &str) -> StoreResult<Vec<(String, Vec<String>, Timestamp)>> {
        let rows: Vec<(String, String, i64)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT client_id, scopes, granted_at FROM consents WHERE user_id = $1 ORDER BY granted_at DESC")
                .bind(user_id)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(c, s, at)| Ok((c, from_json(&s, "consents.scopes")?, at)))
            .collect()
    }

    async fn delete_consent(&self, user_id: &str, client_id: &str) -> StoreResult<bool> {
        let n = on_pool!(self, pool => {
            sqlx::query("DELETE FROM consents WHERE user_id = $1 AND client_id = $2")
                .bind(user_id)
                .bind(client_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }
}

#[derive(FromRow)]
struct AuditRow {
    id: String,
    at: i64,
    event: String,
    outcome: String,
    user_id: Option<String>,
    client_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO audit_events (id, at, event, outcome, user_id, client_id, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
                .bind(&e.id)
                .bind(e.at)
                .bind(&e.event)
                .bind(&e.outcome)
                .bind(&e.user_id)
                .bind(&e.client_id)
                .bind(&e.ip)
                .bind(&e.user_agent)
                .bind(&e.detail)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn list_audit(&self, user_id: Option<&str>, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let rows: Vec<AuditRow> = on_pool!(self, pool => {
            sqlx::query_as("SELECT id, at, event, outcome, user_id, client_id, ip, user_agent, detail FROM audit_events WHERE ($1 IS NULL OR user_id = $1) ORDER BY at DESC, id DESC LIMIT $2")
                .bind(user_id)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| AuditEvent {
                id: r.id,
                at: r.at,
                event: r.event,
                outcome: r.outcome,
                user_id: r.user_id,
                client_id: r.client_id,
                ip: r.ip,
                user_agent: r.user_agent,
                detail: r.detail,
            })
            .collect())
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}
