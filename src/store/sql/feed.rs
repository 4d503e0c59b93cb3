//! The change feed, access-token revocations and lockouts: the durable side
//! of what every instance holds in memory (see `store::mirror`).

use super::*;

/// How a change is written to the `changes` table: kind, key, until.
pub(crate) fn to_row(change: &Change) -> (&'static str, String, Option<i64>) {
    match change {
        Change::Client(id) => ("client", id.to_string(), None),
        Change::User(id) => ("user", id.clone(), None),
        Change::Grant { id, until } => ("grant", id.to_string(), Some(*until)),
        Change::Grants(filter) => ("grants", filter.clone(), None),
        Change::AccessToken { jti, until } => ("jti", jti.clone(), Some(*until)),
        Change::Keys => ("keys", String::new(), None),
        Change::Apis => ("apis", String::new(), None),
    }
}

fn from_row(kind: &str, key: String, until: Option<i64>) -> Option<Change> {
    Some(match kind {
        "client" => Change::Client(key.into()),
        "user" => Change::User(key),
        "grant" => Change::Grant { id: key.into(), until: until.unwrap_or(0) },
        "grants" => Change::Grants(key),
        "jti" => Change::AccessToken { jti: key, until: until.unwrap_or(0) },
        "keys" => Change::Keys,
        "apis" => Change::Apis,
        _ => return None,
    })
}

/// A bulk revocation as the feed names it: `user:ID`, `client:ID`, or
/// `user_client:USER CLIENT` (ids never contain spaces).
pub(crate) fn grants_filter(which: GrantsOf<'_>) -> String {
    match which {
        GrantsOf::Grant(id) => format!("grant:{id}"),
        GrantsOf::User(id) => format!("user:{id}"),
        GrantsOf::Client(id) => format!("client:{id}"),
        GrantsOf::UserClient { user_id, client_id } => format!("user_client:{user_id} {client_id}"),
    }
}

impl SqlStore {
    /// Revoked grants that may still have live access tokens at `now`,
    /// limited to those named by a feed filter (all when None).
    async fn revoked_grants(&self, filter: Option<&str>, now: Timestamp) -> StoreResult<Vec<(String, i64)>> {
        let window = self.options.access_token_window;
        let (clause, named): (&str, Vec<&str>) = match filter.and_then(|f| f.split_once(':')) {
            None => ("", vec![]),
            Some(("grant", id)) => ("AND id = $2", vec![id]),
            Some(("user", id)) => ("AND user_id = $2", vec![id]),
            Some(("client", id)) => ("AND client_id = $2", vec![id]),
            Some(("user_client", pair)) => {
                let (user, client) = pair.split_once(' ').unwrap_or((pair, ""));
                ("AND user_id = $2 AND client_id = $3", vec![user, client])
            }
            Some(_) => return Ok(Vec::new()),
        };
        let sql = format!(
            "SELECT id, last_issued_at FROM grants WHERE revoked_at IS NOT NULL AND last_issued_at > $1 {clause}"
        );
        let mut values = vec![Arg::from(now - window)];
        values.extend(named.into_iter().map(Arg::from));
        let rows: Vec<(String, i64)> = self.fetch_all(sqlx::AssertSqlSafe(sql), &values).await?;
        Ok(rows.into_iter().map(|(id, at)| (id, at + window)).collect())
    }
}

#[async_trait]
impl ChangeFeed for SqlStore {
    async fn catch_up(&self, since_ms: i64, now: Timestamp) -> StoreResult<usize> {
        let sql = "SELECT seq, kind, key, until, at_ms FROM changes WHERE at_ms > $1 ORDER BY seq";
        let rows: Vec<(i64, String, String, Option<i64>, i64)> = self.fetch_all(sql, args![since_ms]).await?;
        let mut applied = 0;
        for (seq, kind, key, until, at_ms) in rows {
            if self.mirror.seen(seq) {
                continue;
            }
            match from_row(&kind, key, until) {
                Some(Change::Grants(filter)) => {
                    let grants = self.revoked_grants(Some(&filter), now).await?;
                    self.mirror.merge_revocations(grants, Vec::new());
                }
                Some(change) => self.mirror.apply(&change),
                None => tracing::warn!(kind = %kind, "unknown change in the feed"),
            }
            // Marked only once applied: a failure above reads it again.
            self.mirror.mark_seen(seq, at_ms);
            applied += 1;
        }
        self.mirror.forget_applied_before(since_ms);
        self.mirror.prune(now);
        Ok(applied)
    }

    async fn reload_revocations(&self, now: Timestamp) -> StoreResult<()> {
        let grants = self.revoked_grants(None, now).await?;
        let sql = "SELECT jti, expires_at FROM revoked_access_tokens WHERE expires_at >= $1";
        let jtis: Vec<(String, i64)> = self.fetch_all(sql, args![now]).await?;
        self.mirror.merge_revocations(grants, jtis);
        self.mirror.prune(now);
        let (grants, jtis) = self.mirror.sizes();
        tracing::debug!(grants, access_tokens = jtis, "revocations loaded");
        Ok(())
    }

    fn local_writes(&self) -> Arc<tokio::sync::Notify> {
        self.mirror.local_writes()
    }

    fn keys_changed(&self) -> Arc<tokio::sync::Notify> {
        self.mirror.keys_changed()
    }

    async fn prune_changes(&self, before_ms: i64) -> StoreResult<u64> {
        self.execute("DELETE FROM changes WHERE at_ms < $1", args![before_ms]).await
    }
}

#[async_trait]
impl RevocationStore for SqlStore {
    async fn revoke_access_token(
        &self, jti: &str, client_id: &ClientId, at: Timestamp, expires_at: Timestamp,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO revoked_access_tokens (jti, client_id, revoked_at, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING";
        let mut tx = self.begin().await?;
        tx.execute(sql, args![jti, client_id, at, expires_at]).await?;
        let change = Change::AccessToken { jti: jti.to_string(), until: expires_at };
        tx.log(change).await?;
        tx.commit().await
    }

    fn access_token_revoked(&self, jti: &str, grant_id: Option<&GrantId>, now: Timestamp) -> bool {
        self.mirror.revoked(jti, grant_id.map(GrantId::as_str), now)
    }

    async fn delete_expired_access_token_revocations(&self, now: Timestamp) -> StoreResult<u64> {
        self.execute("DELETE FROM revoked_access_tokens WHERE expires_at < $1", args![now]).await
    }
}

#[async_trait]
impl LockoutStore for SqlStore {
    async fn lock(&self, key: &str, until: Timestamp) -> StoreResult<()> {
        let sql = "INSERT INTO lockouts (key, until) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET until = CASE WHEN lockouts.until > excluded.until THEN lockouts.until ELSE excluded.until END";
        self.execute(sql, args![key, until]).await?;
        Ok(())
    }

    async fn locked_until(&self, keys: &[String], now: Timestamp) -> StoreResult<Option<Timestamp>> {
        let mut latest: Option<Timestamp> = None;
        for key in keys {
            let sql = "SELECT until FROM lockouts WHERE key = $1 AND until > $2";
            if let Some((until,)) = self.fetch_optional::<(i64,)>(sql, args![key, now]).await? {
                latest = Some(latest.map_or(until, |l| l.max(until)));
            }
        }
        Ok(latest)
    }

    async fn unlock(&self, key: &str) -> StoreResult<()> {
        self.execute("DELETE FROM lockouts WHERE key = $1", args![key]).await?;
        Ok(())
    }

    async fn delete_expired_lockouts(&self, now: Timestamp) -> StoreResult<u64> {
        self.execute("DELETE FROM lockouts WHERE until <= $1", args![now]).await
    }
}

/// The PostgreSQL channel a trigger notifies on every committed change.
pub const PG_CHANNEL: &str = "latchkey_changes";

/// Wakes `wake` whenever a change is committed on the PostgreSQL database at
/// `url` (LISTEN/NOTIFY); reconnects by itself. Runs until dropped.
pub async fn listen_postgres(url: String, wake: Arc<tokio::sync::Notify>) {
    let mut delay = Duration::from_millis(250);
    loop {
        match sqlx::postgres::PgListener::connect(&url).await {
            Ok(mut listener) => match listener.listen(PG_CHANNEL).await {
                Ok(()) => {
                    delay = Duration::from_millis(250);
                    // A reconnect may have missed notifications: catch up.
                    wake.notify_one();
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(_)) => wake.notify_one(),
                            // The connection dropped; the next try_recv
                            // reconnects, and changes in between are caught
                            // up by the poll.
                            Ok(None) => wake.notify_one(),
                            Err(e) => {
                                tracing::warn!(error = %e, "change notifications from PostgreSQL stopped");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for changes"),
            },
            Err(e) => tracing::debug!(error = %e, "cannot connect to listen for changes"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
