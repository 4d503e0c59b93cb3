//! Grants, the refresh tokens issued under them, and single-use values.
//!
//! Every statement that issues from a grant first takes the grant row with
//! `UPDATE grants … WHERE id = $1 AND revoked_at IS NULL`. On PostgreSQL that
//! locks the row and re-checks it after any concurrent revocation commits;
//! on SQLite it takes the write lock. So a revocation and an issuance are
//! ordered: either the revocation comes first and nothing is issued, or the
//! issuance comes first and the revocation (which refuses every refresh
//! token of the grant through the join below) ends what it issued.

use super::*;

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (id_hash, grant_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at, family_expires_at, used_at, successor_hash, successor_sealed, revoked_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// A refresh token's fields in the order of [`INSERT_REFRESH`].
fn refresh_args(t: &RefreshToken) -> Vec<Arg<'_>> {
    args![
        &t.id_hash,
        &t.grant_id,
        &t.client_id,
        &t.user_id,
        to_json(&t.scopes),
        t.auth_time,
        to_json(&t.amr),
        t.created_at,
        t.expires_at,
        t.family_expires_at,
        t.used_at,
        &t.successor_hash,
        &t.successor_sealed,
        t.revoked_at,
        &t.dpop_jkt
    ]
    .to_vec()
}

impl Tx<'_> {
    /// Takes the grant for issuing at `now` (see the module comment): true
    /// when it is live. `expires_at` only ever extends the grant.
    async fn take_grant(&mut self, grant_id: &GrantId, now: Timestamp, expires_at: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE grants SET last_issued_at = $1, expires_at = CASE WHEN expires_at < $2 THEN $2 ELSE expires_at END WHERE id = $3 AND revoked_at IS NULL";
        Ok(self.execute(sql, args![now, expires_at, grant_id]).await? == 1)
    }

    pub(super) async fn insert_grant(&mut self, g: &Grant) -> StoreResult<()> {
        let sql = "INSERT INTO grants (id, client_id, user_id, scopes, created_at, last_issued_at, expires_at, revoked_at, revoked_reason, resources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        let values = args![
            &g.id,
            &g.client_id,
            &g.user_id,
            to_json(&g.scopes),
            g.created_at,
            g.last_issued_at,
            g.expires_at,
            g.revoked_at,
            &g.revoked_reason,
            to_json(&g.resources)
        ];
        self.execute(sql, values).await.map_err(conflict("grant"))?;
        Ok(())
    }

    async fn insert_one_time(&mut self, t: &OneTimeToken) -> StoreResult<()> {
        let sql = "INSERT INTO one_time_tokens (token_hash, purpose, grant_id, data, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)";
        let values = args![&t.token_hash, &t.purpose, &t.grant_id, &t.data, t.created_at, t.expires_at];
        self.execute(sql, values).await.map_err(conflict("single-use value"))?;
        Ok(())
    }
}

#[async_trait]
impl RefreshTokenStore for SqlStore {
    async fn get_refresh_token(&self, id_hash: &str) -> StoreResult<Option<RefreshToken>> {
        // A token is as revoked as its grant.
        let sql = "SELECT rt.id_hash, rt.grant_id, rt.client_id, rt.user_id, rt.scopes, rt.auth_time, rt.amr, rt.created_at, rt.expires_at, rt.family_expires_at, rt.used_at, rt.successor_hash, rt.successor_sealed, COALESCE(rt.revoked_at, g.revoked_at) AS revoked_at, rt.dpop_jkt, g.resources FROM refresh_tokens rt JOIN grants g ON g.id = rt.grant_id WHERE rt.id_hash = $1";
        self.fetch_optional(sql, args![id_hash]).await
    }

    async fn rotate_refresh_token(
        &self, old_hash: &str, used_at: Timestamp, successor_sealed: &[u8], new: &RefreshToken,
        grant_expires_at: Timestamp,
    ) -> StoreResult<Rotation> {
        // Dropping the transaction without committing rolls it back.
        let mut tx = self.begin().await?;
        if !tx.take_grant(&new.grant_id, used_at, grant_expires_at).await? {
            return Ok(Rotation::GrantRevoked);
        }
        let sql = "UPDATE refresh_tokens SET used_at = $1, successor_hash = $2, successor_sealed = $3 WHERE id_hash = $4 AND used_at IS NULL AND revoked_at IS NULL";
        if tx.execute(sql, args![used_at, &new.id_hash, successor_sealed, old_hash]).await? != 1 {
            return Ok(Rotation::AlreadyUsed);
        }
        tx.execute(INSERT_REFRESH, &refresh_args(new)).await?;
        tx.commit().await?;
        Ok(Rotation::Rotated)
    }

    async fn delete_expired_refresh_tokens(&self, now: Timestamp) -> StoreResult<u64> {
        let sql = "DELETE FROM refresh_tokens WHERE expires_at <= $1 OR family_expires_at <= $1";
        self.execute(sql, args![now]).await
    }
}

impl SqlStore {
    /// One attempt at [`GrantStore::revoke_grants`].
    async fn revoke_grants_once(
        &self, which: GrantsOf<'_>, reason: RevokeReason, at: Timestamp,
    ) -> StoreResult<Vec<(GrantId, i64)>> {
        let (filter, a, b): (_, Arg, _) = match which {
            GrantsOf::Grant(id) => ("id = $3", id.into(), None),
            GrantsOf::User(user) => ("user_id = $3", user.into(), None),
            GrantsOf::UserClient { user_id, client_id } => {
                ("user_id = $3 AND client_id = $4", user_id.into(), Some(client_id))
            }
            GrantsOf::Client(client) => ("client_id = $3", client.into(), None),
        };
        let sql = format!(
            "UPDATE grants SET revoked_at = $1, revoked_reason = $2 WHERE {filter} AND revoked_at IS NULL RETURNING id, last_issued_at"
        );
        let mut values = args![at, reason.as_str(), a].to_vec();
        values.extend(b.map(Arg::from));
        let mut tx = self.begin().await?;
        let ended: Vec<(GrantId, i64)> = tx.fetch_all(sqlx::AssertSqlSafe(sql), &values).await?;
        if !ended.is_empty() {
            let change = match which {
                GrantsOf::Grant(id) => {
                    Change::Grant { id: id.clone(), until: ended[0].1 + self.options.access_token_window }
                }
                other => Change::Grants(super::feed::grants_filter(other)),
            };
            tx.log(change).await?;
        }
        tx.commit().await?;
        Ok(ended)
    }
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn create_grant(&self, g: &Grant, code: &OneTimeToken) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.insert_grant(g).await?;
        tx.insert_one_time(code).await?;
        tx.commit().await
    }

    async fn get_grant(&self, id: &GrantId) -> StoreResult<Option<Grant>> {
        let sql = "SELECT id, client_id, user_id, scopes, created_at, last_issued_at, expires_at, revoked_at, revoked_reason, resources FROM grants WHERE id = $1";
        self.fetch_optional(sql, args![id]).await
    }

    async fn issue_from_grant(
        &self, grant_id: &GrantId, now: Timestamp, expires_at: Timestamp, refresh: Option<&RefreshToken>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        if !tx.take_grant(grant_id, now, expires_at).await? {
            return Ok(false);
        }
        if let Some(t) = refresh {
            tx.execute(INSERT_REFRESH, &refresh_args(t)).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_grants(
        &self, which: GrantsOf<'_>, reason: RevokeReason, at: Timestamp,
    ) -> StoreResult<Vec<GrantId>> {
        // Two bulk revocations over the same rows in different orders can
        // deadlock on PostgreSQL; it aborts one, which simply tries again.
        let mut attempt = 0;
        let ended = loop {
            match self.revoke_grants_once(which, reason, at).await {
                Err(StoreError::Database(sqlx::Error::Database(e)))
                    if attempt < 3 && matches!(e.code().as_deref(), Some("40P01" | "40001")) =>
                {
                    attempt += 1;
                }
                other => break other?,
            }
        };
        let window = self.options.access_token_window;
        for (id, last_issued_at) in &ended {
            // Access tokens of a grant live at most `window` past its last
            // issuance: older grants need no entry.
            if last_issued_at + window >= at {
                self.mirror.revoke_grant(id, last_issued_at + window);
            }
        }
        Ok(ended.into_iter().map(|(id, _)| id).collect())
    }

    async fn delete_expired_grants(&self, before: Timestamp) -> StoreResult<u64> {
        self.execute("DELETE FROM grants WHERE expires_at < $1", args![before]).await
    }
}

#[async_trait]
impl OneTimeStore for SqlStore {
    async fn insert_one_time(&self, t: &OneTimeToken) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.insert_one_time(t).await?;
        tx.commit().await
    }

    async fn peek_one_time(&self, purpose: &str, token_hash: &str, now: Timestamp) -> StoreResult<Option<String>> {
        let sql = "SELECT data FROM one_time_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3";
        let row: Option<(String,)> = self.fetch_optional(sql, args![token_hash, purpose, now]).await?;
        Ok(row.map(|(d,)| d))
    }

    async fn consume_one_time(&self, purpose: &str, token_hash: &str, now: Timestamp) -> StoreResult<Consumed> {
        // One UPDATE decides: only one caller can move used_at from NULL.
        let sql = "UPDATE one_time_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING data, grant_id";
        let taken: Option<(String, Option<GrantId>)> =
            self.fetch_optional(sql, args![now, token_hash, purpose]).await?;
        if let Some((data, grant_id)) = taken {
            return Ok(Consumed::Fresh { data, grant_id });
        }
        // Not taken: used before (a replay), or unknown, or expired unused.
        let sql = "SELECT used_at, grant_id FROM one_time_tokens WHERE token_hash = $1 AND purpose = $2";
        let row: Option<(Option<i64>, Option<GrantId>)> = self.fetch_optional(sql, args![token_hash, purpose]).await?;
        Ok(match row {
            Some((Some(_), grant_id)) => Consumed::Replayed { grant_id },
            _ => Consumed::Missing,
        })
    }

    async fn delete_expired_one_time(&self, before: Timestamp) -> StoreResult<u64> {
        self.execute("DELETE FROM one_time_tokens WHERE expires_at < $1", args![before]).await
    }
}
