//! Signing keys: published, signing, retired (see `keys`).

use super::*;

#[derive(FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    private_der: Vec<u8>,
    created_at: i64,
    activates_at: Option<i64>,
    retired_at: Option<i64>,
}

const INSERT_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_der, created_at, activates_at, retired_at) VALUES ($1, $2, $3, $4, $5, $6)";

impl SqlStore {
    /// Adds `key`, first retiring the other keys of its algorithm at its
    /// activation when `retire_others`; every instance reloads.
    async fn add_key(&self, key: &StoredKey, retire_others: bool) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        if retire_others {
            let sql = "UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND kid <> $3 AND (retired_at IS NULL OR retired_at > $1)";
            tx.execute(sql, args![key.activates_at, &key.alg, &key.kid]).await?;
        }
        let values = args![&key.kid, &key.alg, &key.private_der, key.created_at, key.activates_at, key.retired_at];
        tx.execute(INSERT_KEY, values).await.map_err(conflict("key"))?;
        tx.log(Change::Keys).await?;
        tx.commit().await
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()> {
        self.add_key(key, false).await
    }

    async fn rotate_key(&self, key: &StoredKey) -> StoreResult<()> {
        self.add_key(key, true).await
    }

    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>> {
        let sql = "SELECT kid, alg, private_der, created_at, activates_at, retired_at FROM signing_keys ORDER BY COALESCE(activates_at, created_at) DESC, created_at DESC, kid DESC";
        let rows: Vec<KeyRow> = self.fetch_all(sql, args![]).await?;
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
        let mut tx = self.begin().await?;
        let n = tx.execute("DELETE FROM signing_keys WHERE kid = $1", args![kid]).await?;
        tx.log(Change::Keys).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn delete_keys_retired_before(&self, before: Timestamp) -> StoreResult<u64> {
        let sql = "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1";
        self.execute(sql, args![before]).await
    }
}
