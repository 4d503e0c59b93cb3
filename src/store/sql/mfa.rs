//! TOTP enrolments and backup codes.

use super::*;

#[async_trait]
impl MfaStore for SqlStore {
    async fn get_totp(&self, user_id: &str) -> StoreResult<Option<TotpRecord>> {
        let sql = "SELECT user_id, secret_sealed, last_step, enabled_at FROM user_totp WHERE user_id = $1";
        self.fetch_optional(sql, args![user_id]).await
    }

    async fn enable_totp(&self, r: &TotpRecord, backup_code_hashes: &[String]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM user_totp WHERE user_id = $1", args![&r.user_id]).await?;
        tx.execute("DELETE FROM backup_codes WHERE user_id = $1", args![&r.user_id]).await?;
        let sql = "INSERT INTO user_totp (user_id, secret_sealed, last_step, enabled_at) VALUES ($1, $2, $3, $4)";
        tx.execute(sql, args![&r.user_id, &r.secret_sealed, r.last_step, r.enabled_at]).await?;
        for hash in backup_code_hashes {
            let sql = "INSERT INTO backup_codes (user_id, code_hash, used_at) VALUES ($1, $2, NULL)";
            tx.execute(sql, args![&r.user_id, hash]).await?;
        }
        tx.commit().await
    }

    async fn advance_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool> {
        let sql = "UPDATE user_totp SET last_step = $1 WHERE user_id = $2 AND (last_step IS NULL OR last_step < $1)";
        Ok(self.execute(sql, args![step, user_id]).await? == 1)
    }

    async fn use_backup_code(&self, user_id: &str, code_hash: &str, now: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE backup_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL";
        Ok(self.execute(sql, args![now, user_id, code_hash]).await? == 1)
    }

    async fn backup_codes_left(&self, user_id: &str) -> StoreResult<i64> {
        let sql = "SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL";
        let n = self.count(sql, args![user_id]).await?;
        Ok(n)
    }

    async fn disable_totp(&self, user_id: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        tx.execute("DELETE FROM backup_codes WHERE user_id = $1", args![user_id]).await?;
        let n = tx.execute("DELETE FROM user_totp WHERE user_id = $1", args![user_id]).await?;
        tx.commit().await?;
        Ok(n > 0)
    }
}
