//! The audit log.

use super::*;

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        let sql = "INSERT INTO audit_events (id, at, event, outcome, user_id, client_id, ip, user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let values =
            args![&e.id, e.at, &e.event, &e.outcome, &e.user_id, &e.client_id, &e.ip, &e.user_agent, &e.detail];
        self.execute(sql, values).await?;
        Ok(())
    }

    async fn list_audit(&self, user_id: Option<&str>, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let sql = "SELECT id, at, event, outcome, user_id, client_id, ip, user_agent, detail FROM audit_events WHERE ($1 IS NULL OR user_id = $1) ORDER BY at DESC, id DESC LIMIT $2";
        self.fetch_all(sql, args![user_id, limit]).await
    }
}
