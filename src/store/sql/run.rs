//! Running one statement, on whichever backend, within the store's
//! deadline: the few shapes every query takes (execute, fetch one row, an
//! optional row, all rows), in and out of a transaction. Values to bind are
//! [`Arg`]s, so the same call serves SQLite and PostgreSQL.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::{Query, QueryAs};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Postgres, SqlSafeStr, SqlStr, Sqlite, Transaction};

use super::{Db, SqlStore};
use crate::store::mirror::wall_ms;
use crate::store::{Change, ClientId, GrantId, StoreError, StoreResult};

/// A value bound to a statement: text, integer, boolean or bytes, each
/// possibly NULL.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    Text(Option<&'a str>),
    OwnedText(String),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Option<&'a [u8]>),
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}
impl<'a> From<&'a ClientId> for Arg<'a> {
    fn from(v: &'a ClientId) -> Self {
        Arg::Text(Some(v.as_str()))
    }
}
impl<'a> From<&'a GrantId> for Arg<'a> {
    fn from(v: &'a GrantId) -> Self {
        Arg::Text(Some(v.as_str()))
    }
}
impl<'a> From<Option<&'a GrantId>> for Arg<'a> {
    fn from(v: Option<&'a GrantId>) -> Self {
        Arg::Text(v.map(GrantId::as_str))
    }
}
impl<'a> From<&'a Option<GrantId>> for Arg<'a> {
    fn from(v: &'a Option<GrantId>) -> Self {
        Arg::Text(v.as_ref().map(GrantId::as_str))
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::OwnedText(v)
    }
}
impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(Some(v))
    }
}
impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Bytes(Some(v))
    }
}
impl<'a> From<&'a Option<Vec<u8>>> for Arg<'a> {
    fn from(v: &'a Option<Vec<u8>>) -> Self {
        Arg::Bytes(v.as_deref())
    }
}

/// `args![a, b, c]`: the values of a statement, in placeholder order.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$($crate::store::sql::run::Arg::from($a)),*][..]
    };
}
pub(crate) use args;

/// Binds `$args` onto a query or query_as of either backend.
macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(v) => q.bind(*v),
                Arg::OwnedText(v) => q.bind(v.as_str()),
                Arg::Int(v) => q.bind(*v),
                Arg::Bool(v) => q.bind(*v),
                Arg::Bytes(v) => q.bind(*v),
            };
        }
        q
    }};
}

fn lite<'q>(sql: SqlStr, args: &'q [Arg<'q>]) -> Query<'q, Sqlite, SqliteArguments> {
    bind_all!(sqlx::query(sql), args)
}
fn pg<'q>(sql: SqlStr, args: &'q [Arg<'q>]) -> Query<'q, Postgres, PgArguments> {
    bind_all!(sqlx::query(sql), args)
}
fn lite_as<'q, T>(sql: SqlStr, args: &'q [Arg<'q>]) -> QueryAs<'q, Sqlite, T, SqliteArguments>
where
    T: for<'r> sqlx::FromRow<'r, SqliteRow>,
{
    bind_all!(sqlx::query_as(sql), args)
}
fn pg_as<'q, T>(sql: SqlStr, args: &'q [Arg<'q>]) -> QueryAs<'q, Postgres, T, PgArguments>
where
    T: for<'r> sqlx::FromRow<'r, PgRow>,
{
    bind_all!(sqlx::query_as(sql), args)
}

/// A row type readable from both backends (any `#[derive(FromRow)]`
/// struct, or a tuple).
pub(crate) trait Row:
    for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Row for T where T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}

/// Bounds `work` by the store's deadline: a database that stopped answering
/// fails as unavailable instead of hanging the request.
async fn timed<T>(store: &SqlStore, work: impl Future<Output = Result<T, sqlx::Error>>) -> StoreResult<T> {
    match tokio::time::timeout(store.options.operation_timeout, work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Unavailable("the database did not answer in time".into())),
    }
}

/// A query method of [`SqlStore`] returning rows as `T`, named after (and
/// calling) the sqlx method of the same name on either backend.
macro_rules! fetch {
    ($(#[$doc:meta])* $name:ident -> $out:ty) => {
        $(#[$doc])*
        pub(crate) async fn $name<T: Row>(&self, sql: impl SqlSafeStr, args: &[Arg<'_>]) -> StoreResult<$out> {
            let sql = sql.into_sql_str();
            timed(self, async {
                match &self.db {
                    Db::Sqlite(pool) => lite_as(sql, args).$name(pool).await,
                    Db::Postgres(pool) => pg_as(sql, args).$name(pool).await,
                }
            })
            .await
        }
    };
}

impl SqlStore {
    /// Runs a statement; returns the rows it changed.
    pub(crate) async fn execute(&self, sql: impl SqlSafeStr, args: &[Arg<'_>]) -> StoreResult<u64> {
        let sql = sql.into_sql_str();
        timed(self, async {
            Ok(match &self.db {
                Db::Sqlite(pool) => lite(sql, args).execute(pool).await?.rows_affected(),
                Db::Postgres(pool) => pg(sql, args).execute(pool).await?.rows_affected(),
            })
        })
        .await
    }

    fetch!(
        /// At most one row.
        fetch_optional -> Option<T>
    );
    fetch!(fetch_all -> Vec<T>);

    /// The number a `SELECT COUNT(*)` answers.
    pub(crate) async fn count(&self, sql: impl SqlSafeStr, args: &[Arg<'_>]) -> StoreResult<i64> {
        Ok(self.fetch_optional::<(i64,)>(sql, args).await?.map_or(0, |(n,)| n))
    }

    /// Starts a transaction: committed by [`Tx::commit`], rolled back when
    /// dropped (an error or a deadline on the way).
    pub(crate) async fn begin(&self) -> StoreResult<Tx<'_>> {
        let inner = timed(self, async {
            Ok(match &self.db {
                Db::Sqlite(pool) => TxInner::Sqlite(pool.begin().await?),
                Db::Postgres(pool) => TxInner::Postgres(pool.begin().await?),
            })
        })
        .await?;
        Ok(Tx { store: self, inner, changes: Vec::new() })
    }
}

enum TxInner {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// A transaction, and the changes it logs to the feed.
pub(crate) struct Tx<'s> {
    store: &'s SqlStore,
    inner: TxInner,
    changes: Vec<Change>,
}

impl Tx<'_> {
    pub(crate) async fn execute(&mut self, sql: impl SqlSafeStr, args: &[Arg<'_>]) -> StoreResult<u64> {
        let sql = sql.into_sql_str();
        let store = self.store;
        timed(store, async {
            Ok(match &mut self.inner {
                TxInner::Sqlite(tx) => lite(sql, args).execute(&mut **tx).await?.rows_affected(),
                TxInner::Postgres(tx) => pg(sql, args).execute(&mut **tx).await?.rows_affected(),
            })
        })
        .await
    }

    pub(crate) async fn fetch_all<T: Row>(&mut self, sql: impl SqlSafeStr, args: &[Arg<'_>]) -> StoreResult<Vec<T>> {
        let sql = sql.into_sql_str();
        let store = self.store;
        timed(store, async {
            match &mut self.inner {
                TxInner::Sqlite(tx) => lite_as(sql, args).fetch_all(&mut **tx).await,
                TxInner::Postgres(tx) => pg_as(sql, args).fetch_all(&mut **tx).await,
            }
        })
        .await
    }

    /// Writes `change` to the feed in this transaction; this instance's
    /// mirror applies it once the transaction commits.
    pub(crate) async fn log(&mut self, change: Change) -> StoreResult<()> {
        let (kind, key, until) = super::feed::to_row(&change);
        let sql = "INSERT INTO changes (kind, key, until, at_ms) VALUES ($1, $2, $3, $4)";
        self.execute(sql, &[Arg::from(kind), Arg::from(key), Arg::from(until), Arg::from(wall_ms())]).await?;
        self.changes.push(change);
        Ok(())
    }

    /// Commits, then applies the logged changes here at once.
    pub(crate) async fn commit(self) -> StoreResult<()> {
        let store = self.store;
        timed(store, async {
            match self.inner {
                TxInner::Sqlite(tx) => tx.commit().await,
                TxInner::Postgres(tx) => tx.commit().await,
            }
        })
        .await?;
        for change in &self.changes {
            store.mirror.apply_local(change);
        }
        Ok(())
    }
}
