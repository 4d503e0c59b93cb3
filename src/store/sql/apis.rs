//! Registered APIs, held whole in memory: they are few, and read on every
//! token request that names a resource.

use super::*;

const API_COLUMNS: &str =
    "id, identifier, name, scopes, access_token_ttl, access_token_alg, owner_id, client_id, created_at";

fn api_args(a: &Api) -> Vec<Arg<'_>> {
    args![
        &a.id,
        &a.identifier,
        &a.name,
        to_json(&a.scopes),
        a.access_token_ttl,
        &a.access_token_alg,
        &a.owner_id,
        a.client_id.as_ref().map(ClientId::as_str),
        a.created_at
    ]
    .to_vec()
}

#[async_trait]
impl ApiStore for SqlStore {
    async fn create_api(&self, api: &Api) -> StoreResult<()> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO apis ({API_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ));
        let mut tx = self.begin().await?;
        tx.execute(sql, &api_args(api)).await.map_err(conflict("API identifier"))?;
        tx.log(Change::Apis).await?;
        tx.commit().await
    }

    async fn update_api(&self, api: &Api) -> StoreResult<bool> {
        // The identifier stays: tokens already issued name it.
        let sql = "UPDATE apis SET name = $3, scopes = $4, access_token_ttl = $5, access_token_alg = $6, owner_id = $7, client_id = $8 WHERE id = $1 AND identifier = $2";
        let mut tx = self.begin().await?;
        let n = tx.execute(sql, &api_args(api)[..8]).await?;
        tx.log(Change::Apis).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn delete_api(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = tx.execute("DELETE FROM apis WHERE id = $1", args![id]).await?;
        tx.log(Change::Apis).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn list_apis(&self) -> StoreResult<Arc<Vec<Api>>> {
        if let Some(apis) = self.mirror.apis() {
            return Ok(apis);
        }
        let generation = self.mirror.apis_generation();
        let sql = sqlx::AssertSqlSafe(format!("SELECT {API_COLUMNS} FROM apis ORDER BY created_at, identifier"));
        let apis: Vec<Api> = self.fetch_all(sql, args![]).await?;
        Ok(self.mirror.keep_apis(apis, generation))
    }
}
