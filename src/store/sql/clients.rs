//! Clients and their origins (for CORS), and initial access tokens.

use super::*;

#[derive(FromRow)]
struct ClientRow {
    id: ClientId,
    secret_hash: Option<String>,
    name: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    scopes: String,
    public: bool,
    skip_consent: bool,
    created_at: i64,
    owner_id: Option<String>,
    app_type: Option<String>,
    homepage: Option<String>,
    logo_url: Option<String>,
    old_secret_hash: Option<String>,
    old_secret_expires_at: Option<i64>,
    registration_token_hash: Option<String>,
    token_endpoint_auth_method: Option<String>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> StoreResult<Client> {
        Ok(Client {
            redirect_uris: from_json(&r.redirect_uris, "clients.redirect_uris")?,
            post_logout_redirect_uris: from_json(&r.post_logout_redirect_uris, "clients.post_logout_redirect_uris")?,
            grant_types: from_json(&r.grant_types, "clients.grant_types")?,
            scopes: from_json(&r.scopes, "clients.scopes")?,
            id: r.id,
            secret_hash: r.secret_hash,
            name: r.name,
            public: r.public,
            skip_consent: r.skip_consent,
            created_at: r.created_at,
            owner_id: r.owner_id,
            app_type: r.app_type,
            homepage: r.homepage,
            logo_url: r.logo_url,
            old_secret_hash: r.old_secret_hash,
            old_secret_expires_at: r.old_secret_expires_at,
            registration_token_hash: r.registration_token_hash,
            token_endpoint_auth_method: r
                .token_endpoint_auth_method
                .unwrap_or_else(|| if r.public { "none" } else { "client_secret_basic" }.to_string()),
        })
    }
}

const CLIENT_COLUMNS: &str = "id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types, scopes, public, skip_consent, created_at, owner_id, app_type, homepage, logo_url, old_secret_hash, old_secret_expires_at, registration_token_hash, token_endpoint_auth_method";

const INSERT_CLIENT: &str = "INSERT INTO clients (id, secret_hash, name, redirect_uris, post_logout_redirect_uris, grant_types, scopes, public, skip_consent, created_at, owner_id, app_type, homepage, logo_url, old_secret_hash, old_secret_expires_at, registration_token_hash, token_endpoint_auth_method) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)";
/// Every field but the id (`$1`) and the creation time (`$10`, kept).
const UPDATE_CLIENT: &str = "UPDATE clients SET secret_hash = $2, name = $3, redirect_uris = $4, post_logout_redirect_uris = $5, grant_types = $6, scopes = $7, public = $8, skip_consent = $9, owner_id = $11, app_type = $12, homepage = $13, logo_url = $14, old_secret_hash = $15, old_secret_expires_at = $16, registration_token_hash = $17, token_endpoint_auth_method = $18 WHERE id = $1 AND created_at = $10";

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
        &c.token_endpoint_auth_method
    ]
    .to_vec()
}

impl SqlStore {
    async fn load_client(&self, id: &str) -> StoreResult<Option<Client>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE id = $1"));
        let row: Option<ClientRow> = self.fetch_optional(sql, args![id]).await?;
        row.map(Client::try_from).transpose()
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
        let rows: Vec<ClientRow> = self.fetch_all(sql, args![owner_id]).await?;
        rows.into_iter().map(Client::try_from).collect()
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
        let rows: Vec<ClientRow> = self.fetch_all(sql, args![]).await?;
        rows.into_iter().map(Client::try_from).collect()
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
