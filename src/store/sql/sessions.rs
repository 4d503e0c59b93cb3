//! Browser sessions and remembered consents.

use super::*;

const SESSION_COLUMNS: &str = "id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent";

#[async_trait]
impl SessionStore for SqlStore {
    async fn create_session(&self, s: &Session) -> StoreResult<()> {
        let sql = "INSERT INTO sessions (id_hash, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let values = args![
            &s.id_hash,
            &s.user_id,
            s.auth_time,
            to_json(&s.amr),
            s.created_at,
            s.last_seen_at,
            s.expires_at,
            &s.ip,
            &s.user_agent
        ];
        self.execute(sql, values).await?;
        Ok(())
    }

    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<Session>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = $1"));
        self.fetch_optional(sql, args![id_hash]).await
    }

    async fn touch_session(&self, id_hash: &str, last_seen_at: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2";
        self.execute(sql, args![last_seen_at, id_hash]).await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.execute("DELETE FROM sessions WHERE id_hash = $1", args![id_hash]).await?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64> {
        self.execute("DELETE FROM sessions WHERE user_id = $1", args![user_id]).await
    }

    async fn count_user_sessions(&self, user_id: &str, now: Timestamp) -> StoreResult<i64> {
        let sql = "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2";
        let n = self.count(sql, args![user_id, now]).await?;
        Ok(n)
    }

    async fn list_user_sessions(&self, user_id: &str, now: Timestamp) -> StoreResult<Vec<Session>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC"
        ));
        self.fetch_all(sql, args![user_id, now]).await
    }

    async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64> {
        self.execute("DELETE FROM sessions WHERE expires_at <= $1", args![now]).await
    }
}

#[async_trait]
impl ConsentStore for SqlStore {
    async fn get_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<Option<Vec<String>>> {
        let sql = "SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2";
        let row: Option<(JsonList,)> = self.fetch_optional(sql, args![user_id, client_id]).await?;
        Ok(row.map(|(scopes,)| scopes.into()))
    }

    async fn put_consent(
        &self, user_id: &str, client_id: &ClientId, scopes: &[String], now: Timestamp,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at";
        self.execute(sql, args![user_id, client_id, to_json(scopes), now]).await?;
        Ok(())
    }

    async fn list_user_consents(&self, user_id: &str) -> StoreResult<Vec<(ClientId, Vec<String>, Timestamp)>> {
        let sql = "SELECT client_id, scopes, granted_at FROM consents WHERE user_id = $1 ORDER BY granted_at DESC";
        let rows: Vec<(ClientId, JsonList, i64)> = self.fetch_all(sql, args![user_id]).await?;
        Ok(rows.into_iter().map(|(client, scopes, at)| (client, scopes.into(), at)).collect())
    }

    async fn delete_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<bool> {
        let sql = "DELETE FROM consents WHERE user_id = $1 AND client_id = $2";
        Ok(self.execute(sql, args![user_id, client_id]).await? > 0)
    }
}
