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

use super::mirror::Mirror;
use super::*;

#[derive(Clone, Debug)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

mod apis;
mod audit;
mod clients;
mod devices;
pub mod feed;
mod grants;
mod json_list;
mod keys;
mod mfa;
pub(in crate::store) mod run;
mod sessions;
mod users;

pub use json_list::JsonList;
use run::{Arg, Tx, args};

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
        let store = Self { db, options, mirror: Arc::default() };
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

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`] on
/// `what`.
fn conflict(what: &'static str) -> impl Fn(StoreError) -> StoreError {
    move |e| match &e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => e,
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

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        self.execute("SELECT 1", args![]).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}
