//! Clients and their origins (for CORS), and initial access tokens.

use super::*;

/// The columns of [`Client`]; a row from before `token_endpoint_auth_method`
/// existed reads as the RFC 7591 default for its type.
const CLIENT_COLUMNS: &str = "id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types, scopes, public, skip_consent, created_at, owner_id, app_type, homepage, logo_url, old_secret_hash, old_secret_expires_at, registration_token_hash, COALESCE(token_endpoint_auth_method, CASE WHEN public THEN 'none' ELSE 'client_secret_basic' END) AS token_endpoint_auth_method, jwks, jwks_uri, token_endpoint_auth_signing_alg, request_object_signing_alg, require_signed_request_object, require_pushed_authorization_requests, dpop_bound_access_tokens, security_profile, secret_sealed, old_secret_sealed, allowed_resources, token_exchange_targets, policy_uri, tos_uri, verified";

const INSERT_CLIENT: &str = "INSERT INTO clients (id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types, scopes, public, skip_consent, created_at, owner_id, app_type, homepage, logo_url, old_secret_hash, old_secret_expires_at, registration_token_hash, token_endpoint_auth_method, jwks, jwks_uri, token_endpoint_auth_signing_alg, request_object_signing_alg, require_signed_request_object, require_pushed_authorization_requests, dpop_bound_access_tokens, security_profile, secret_sealed, old_secret_sealed, allowed_resources, token_exchange_targets, policy_uri, tos_uri, verified) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)";
/// Every field but the id (`$1`) and the creation time (`$10`, kept).
const UPDATE_CLIENT: &str = "UPDATE clients SET secret_hash = $2, name = $3, redirect_uris = $4, post_logout_redirect_uris = $5, grant_types = $6, scopes = $7, public = $8, skip_consent = $9, owner_id = $11, app_type = $12, homepage = $13, logo_url = $14, old_secret_hash = $15, old_secret_expires_at = $16, registration_token_hash = $17, token_endpoint_auth_method = $18, jwks = $19, jwks_uri = $20, token_endpoint_auth_signing_alg = $21, request_object_signing_alg = $22, require_signed_request_object = $23, require_pushed_authorization_requests = $24, dpop_bound_access_tokens = $25, security_profile = $26, secret_sealed = $27, old_secret_sealed = $28, allowed_resources = $29, token_exchange_targets = $30, policy_uri = $31, tos_uri = $32, verified = $33 WHERE id = $1 AND created_at = $10";

/// A client's fields in the order of [`INSERT_CLIENT`] and [`UPDATE_CLIENT`].
fn client_args(c: &Client) -> Vec<Arg<'_>> {
    args![
        &c.id,
        &c.secret_hash,
        &c.name,
        to_json(&c.redirect_uris),
        to_json(&c.post_logout_redirect_uris),
        to_json(&c.grant_types),
        to_json(&c.scopes),
        c.public,
        c.skip_consent,
        c.created_at,
        &c.owner_id,
        &c.app_type,
        &c.homepage,
        &c.logo_url,
        &c.old_secret_hash,
        c.old_secret_expires_at,
        &c.registration_token_hash,
        &c.token_endpoint_auth_method,
        &c.jwks,
        &c.jwks_uri,
        &c.token_endpoint_auth_signing_alg,
        &c.request_object_signing_alg,
        c.require_signed_request_object,
        c.require_pushed_authorization_requests,
        c.dpop_bound_access_tokens,
        &c.security_profile,
        &c.secret_sealed,
        &c.old_secret_sealed,
        to_json(&c.allowed_resources),
        to_json(&c.token_exchange_targets),
        &c.policy_uri,
        &c.tos_uri,
        c.verified
    ]
    .to_vec()
}

impl SqlStore {
    async fn load_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1"));
        self.fetch_optional(sql, args![id]).await
    }
}

impl Tx<'_> {
    /// Replaces a client's origins (for CORS) with those of its redirect URIs.
    async fn write_origins(&mut self, c: &Client) -> StoreResult<()> {
        let mut origins: Vec<String> = c.redirect_uris.iter().filter_map(|u| origin_of(u)).collect();
        origins.sort();
        origins.dedup();
        self.execute("DELETE FROM client_origins WHERE client_id = $1", args![&c.id]).await?;
        for origin in &origins {
            let sql = "INSERT INTO client_origins (origin, client_id) VALUES ($1, $2)";
            self.execute(sql, args![origin, &c.id]).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn create_client(&self, c: &Client) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.execute(INSERT_CLIENT, &client_args(c)).await.map_err(conflict("client"))?;
        tx.write_origins(c).await?;
        tx.commit().await
    }

    async fn update_client(&self, c: &Client) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = tx.execute(UPDATE_CLIENT, &client_args(c)).await?;
        if n == 1 {
            tx.write_origins(c).await?;
            tx.log(Change::Client(c.id.clone())).await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn list_clients_by_owner(&self, owner_id: &str) -> StoreResult<Vec<Client>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE owner_id = $1 ORDER BY created_at, id"
        ));
        self.fetch_all(sql, args![owner_id]).await
    }

    async fn insert_initial_access_token(&self, hash: &str, now: Timestamp, expires_at: Timestamp) -> StoreResult<()> {
        let sql = "INSERT INTO initial_access_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)";
        self.execute(sql, args![hash, now, expires_at]).await?;
        Ok(())
    }

    async fn use_initial_access_token(&self, hash: &str, now: Timestamp) -> StoreResult<bool> {
        let sql = "DELETE FROM initial_access_tokens WHERE token_hash = $1 AND expires_at > $2";
        Ok(self.execute(sql, args![hash, now]).await? == 1)
    }

    async fn get_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        let cached = self.mirror.clients.get_or_load(id, || self.load_client(id)).await?;
        Ok(cached.map(|c| (*c).clone()))
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, id"));
        self.fetch_all(sql, args![]).await
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let n = tx.execute("DELETE FROM clients WHERE id = $1", args![id]).await?;
        tx.log(Change::Client(id.clone())).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    async fn origin_allowed(&self, origin: &str) -> StoreResult<bool> {
        let sql = "SELECT 1 FROM client_origins WHERE origin = $1 LIMIT 1";
        let row: Option<(i32,)> = self.fetch_optional(sql, args![origin]).await?;
        Ok(row.is_some())
    }
}
