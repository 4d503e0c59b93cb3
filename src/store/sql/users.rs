//! Accounts and the upstream identities linked to them.

use super::*;

#[derive(FromRow)]
struct UserRow {
    id: String,
    username: String,
    email: String,
    email_verified: bool,
    name: Option<String>,
    picture: Option<String>,
    password_hash: Option<String>,
    role: String,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> StoreResult<User> {
        Ok(User {
            id: r.id,
            username: r.username,
            email: r.email,
            email_verified: r.email_verified,
            name: r.name,
            picture: r.picture,
            password_hash: r.password_hash,
            role: Role::parse(&r.role).ok_or_else(|| StoreError::Corrupt(format!("users.role: `{}`", r.role)))?,
            disabled: r.disabled,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const USER_COLUMNS: &str =
    "id, username, email, email_verified, name, picture, password_hash, role, disabled, created_at, updated_at";
const INSERT_USER: &str = "INSERT INTO users (id, username, email, email_verified, name, picture, password_hash, role, disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const IDENTITY_COLUMNS: &str = "provider, subject, user_id, login, email, linked_at, last_used_at";
const INSERT_IDENTITY: &str = "INSERT INTO federated_identities (provider, subject, user_id, login, email, linked_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// A user's fields in the order of [`INSERT_USER`].
fn user_args(u: &User) -> Vec<Arg<'_>> {
    args![
        &u.id,
        &u.username,
        &u.email,
        u.email_verified,
        &u.name,
        &u.picture,
        &u.password_hash,
        u.role.as_str(),
        u.disabled,
        u.created_at,
        u.updated_at
    ]
    .to_vec()
}

/// An identity's fields in the order of [`INSERT_IDENTITY`].
fn identity_args(i: &Identity) -> Vec<Arg<'_>> {
    args![&i.provider, &i.subject, &i.user_id, &i.login, &i.email, i.linked_at, i.last_used_at].to_vec()
}

impl SqlStore {
    async fn load_user(&self, id: &str) -> StoreResult<Option<User>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"));
        let row: Option<UserRow> = self.fetch_optional(sql, args![id]).await?;
        row.map(User::try_from).transpose()
    }

    /// One UPDATE of the account `id` (bound last), with the change logged
    /// in the same transaction (every instance forgets its copy).
    async fn update_user(&self, id: &str, sql: &'static str, values: &[Arg<'_>]) -> StoreResult<u64> {
        let mut all = values.to_vec();
        all.push(Arg::from(id));
        let mut tx = self.begin().await?;
        let n = tx.execute(sql, &all).await?;
        if n > 0 {
            tx.log(Change::User(id.to_string())).await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, u: &User) -> StoreResult<()> {
        self.execute(INSERT_USER, &user_args(u)).await.map_err(conflict("username or email"))?;
        Ok(())
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let cached = self.mirror.users.get_or_load(id, || self.load_user(id)).await?;
        Ok(cached.map(|u| (*u).clone()))
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        let login = login.trim().to_lowercase();
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1 OR email = $1 LIMIT 1"));
        let row: Option<UserRow> = self.fetch_optional(sql, args![&login]).await?;
        row.map(User::try_from).transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id"));
        let rows: Vec<UserRow> = self.fetch_all(sql, args![]).await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn set_user_role(&self, id: &str, role: Role, now: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3";
        Ok(self.update_user(id, sql, args![role.as_str(), now]).await? > 0)
    }

    async fn fill_profile(
        &self, id: &str, name: Option<&str>, picture: Option<&str>, now: Timestamp,
    ) -> StoreResult<()> {
        let sql = "UPDATE users SET name = COALESCE(name, $1), picture = COALESCE(picture, $2), updated_at = $3 WHERE id = $4 AND ((name IS NULL AND $1 IS NOT NULL) OR (picture IS NULL AND $2 IS NOT NULL))";
        self.update_user(id, sql, args![name, picture, now]).await?;
        Ok(())
    }

    async fn set_email_verified(&self, id: &str, email: &str, now: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE users SET email_verified = $1, updated_at = $2 WHERE email = $3 AND id = $4";
        Ok(self.update_user(id, sql, args![true, now, email]).await? > 0)
    }

    async fn update_profile(&self, id: &str, name: Option<&str>, email: &str, now: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE users SET name = $1, email_verified = CASE WHEN email = $2 THEN email_verified ELSE $3 END, email = $2, updated_at = $4 WHERE id = $5";
        self.update_user(id, sql, args![name, email, false, now]).await.map_err(conflict("email"))?;
        Ok(())
    }

    async fn set_user_disabled(&self, id: &str, disabled: bool, now: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3";
        Ok(self.update_user(id, sql, args![disabled, now]).await? > 0)
    }

    async fn set_password_hash(&self, id: &str, hash: &str, now: Timestamp) -> StoreResult<()> {
        let sql = "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3";
        self.update_user(id, sql, args![hash, now]).await?;
        Ok(())
    }
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn find_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<Identity>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IDENTITY_COLUMNS} FROM federated_identities WHERE provider = $1 AND subject = $2"
        ));
        self.fetch_optional(sql, args![provider, subject]).await
    }

    async fn user_identities(&self, user_id: &str) -> StoreResult<Vec<Identity>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {IDENTITY_COLUMNS} FROM federated_identities WHERE user_id = $1 ORDER BY provider"
        ));
        self.fetch_all(sql, args![user_id]).await
    }

    async fn link_identity(&self, i: &Identity) -> StoreResult<()> {
        self.execute(INSERT_IDENTITY, &identity_args(i)).await.map_err(conflict("linked identity"))?;
        Ok(())
    }

    async fn create_user_with_identity(&self, u: &User, i: &Identity) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        tx.execute(INSERT_USER, &user_args(u)).await.map_err(conflict("username or email"))?;
        tx.execute(INSERT_IDENTITY, &identity_args(i)).await.map_err(conflict("linked identity"))?;
        tx.commit().await
    }

    async fn touch_identity(&self, i: &Identity) -> StoreResult<()> {
        let sql = "UPDATE federated_identities SET login = $1, email = $2, last_used_at = $3 WHERE provider = $4 AND subject = $5";
        self.execute(sql, args![&i.login, &i.email, i.last_used_at, &i.provider, &i.subject]).await?;
        Ok(())
    }

    async fn unlink_identity(&self, user_id: &str, provider: &str) -> StoreResult<bool> {
        let sql = "DELETE FROM federated_identities WHERE user_id = $1 AND provider = $2";
        Ok(self.execute(sql, args![user_id, provider]).await? > 0)
    }
}
