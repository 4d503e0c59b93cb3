//! Durable data. A trait per aggregate; one implementation ([`sql::SqlStore`])
//! runs the same portable SQL on SQLite and PostgreSQL.

pub mod cache;
pub mod sql;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::Serialize;

use crate::clock::Timestamp;

pub use cache::{ClientCache, UserCache};
pub use sql::SqlStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("unsupported DATABASE_URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A signing key as stored: the private key as PKCS#8 DER.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub private_der: Vec<u8>,
    pub created_at: Timestamp,
    pub retired_at: Option<Timestamp>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_der", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub public: bool,
    pub skip_consent: bool,
    pub created_at: Timestamp,
    /// The person who registered it in the developer portal, if any.
    pub owner_id: Option<String>,
    /// `web`, `spa`, `native` or `machine` when registered by type.
    pub app_type: Option<String>,
    pub homepage: Option<String>,
    pub logo_url: Option<String>,
    /// After a rotation, the previous secret's hash, valid until
    /// `old_secret_expires_at`.
    #[serde(skip)]
    pub old_secret_hash: Option<String>,
    #[serde(skip)]
    pub old_secret_expires_at: Option<Timestamp>,
    /// RFC 7592 registration access token (hash).
    #[serde(skip)]
    pub registration_token_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub email: String,
    pub email_verified: bool,
    pub name: Option<String>,
    /// A picture URL for the `picture` claim.
    pub picture: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub role: String,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie value; the value itself is never stored.
    pub id_hash: String,
    pub user_id: String,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()>;
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// Marks every key of algorithm `alg` but `keep` retired at `at` (if not
    /// retired already).
    async fn retire_keys_except(&self, alg: &str, keep: &str, at: Timestamp) -> StoreResult<u64>;
    /// Deletes keys retired before `before`.
    async fn delete_keys_retired_before(&self, before: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    async fn get_client(&self, id: &str) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    async fn delete_client(&self, id: &str) -> StoreResult<bool>;
    /// Replaces every field of the client but its id and creation time.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    async fn list_clients_by_owner(&self, owner_id: &str) -> StoreResult<Vec<Client>>;
    async fn insert_initial_access_token(&self, hash: &str, now: Timestamp, expires_at: Timestamp) -> StoreResult<()>;
    /// Uses an initial access token once; false when unknown, used or expired.
    async fn use_initial_access_token(&self, hash: &str, now: Timestamp) -> StoreResult<bool>;
    /// Whether `origin` (scheme://host[:port]) is the origin of some client's
    /// registered redirect URI.
    async fn origin_allowed(&self, origin: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the username or email is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// Finds by username or email (both stored lower case).
    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    async fn set_user_role(&self, id: &str, role: &str, now: Timestamp) -> StoreResult<bool>;
    async fn set_user_disabled(&self, id: &str, disabled: bool, now: Timestamp) -> StoreResult<bool>;
    /// Sets name and email; a changed email is unverified. Fails with
    /// [`StoreError::Conflict`] when another account has the email.
    async fn update_profile(&self, id: &str, name: Option<&str>, email: &str, now: Timestamp) -> StoreResult<()>;
    async fn set_password_hash(&self, id: &str, hash: &str, now: Timestamp) -> StoreResult<()>;
    /// Marks the account's email verified, if it is still `email`; false
    /// when the address has changed since.
    async fn set_email_verified(&self, id: &str, email: &str, now: Timestamp) -> StoreResult<bool>;
    /// Sets name and picture where the account has none (values from an
    /// upstream provider never overwrite the person's own).
    async fn fill_profile(
        &self,
        id: &str,
        name: Option<&str>,
        picture: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()>;
}

/// An account at an upstream identity provider linked to a local account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Identity {
    /// `github`.
    pub provider: String,
    /// The provider's stable user id (GitHub's numeric id, as a string).
    pub subject: String,
    pub user_id: String,
    /// The provider login at the last sign-in (for display only).
    pub login: String,
    pub email: Option<String>,
    pub linked_at: Timestamp,
    pub last_used_at: Timestamp,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn find_identity(&self, provider: &str, subject: &str) -> StoreResult<Option<Identity>>;
    async fn user_identities(&self, user_id: &str) -> StoreResult<Vec<Identity>>;
    /// Fails with [`StoreError::Conflict`] when the identity is linked
    /// already, or the account already links one of this provider.
    async fn link_identity(&self, identity: &Identity) -> StoreResult<()>;
    /// Creates the account and links the identity in one transaction: both
    /// or neither. Conflicts as `create_user` and `link_identity` do.
    async fn create_user_with_identity(&self, user: &User, identity: &Identity) -> StoreResult<()>;
    /// Records a sign-in: the login and email as the provider reports them now.
    async fn touch_identity(&self, identity: &Identity) -> StoreResult<()>;
    async fn unlink_identity(&self, user_id: &str, provider: &str) -> StoreResult<bool>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, id_hash: &str) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, id_hash: &str, last_seen_at: Timestamp) -> StoreResult<()>;
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    async fn delete_user_sessions(&self, user_id: &str) -> StoreResult<u64>;
    async fn count_user_sessions(&self, user_id: &str, now: Timestamp) -> StoreResult<i64>;
    /// The user's unexpired sessions, most recently seen first.
    async fn list_user_sessions(&self, user_id: &str, now: Timestamp) -> StoreResult<Vec<Session>>;
    async fn delete_expired_sessions(&self, now: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn get_consent(&self, user_id: &str, client_id: &str) -> StoreResult<Option<Vec<String>>>;
    /// Records (replacing) the scopes the user has granted the client.
    async fn put_consent(&self, user_id: &str, client_id: &str, scopes: &[String], now: Timestamp) -> StoreResult<()>;
    /// Every client the user has allowed: (client id, scopes, granted at).
    async fn list_user_consents(&self, user_id: &str) -> StoreResult<Vec<(String, Vec<String>, Timestamp)>>;
    async fn delete_consent(&self, user_id: &str, client_id: &str) -> StoreResult<bool>;
}

/// An account's TOTP enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub user_id: String,
    /// The secret, encrypted (see `accounts::totp::seal`).
    pub secret_sealed: Vec<u8>,
    /// The newest time step accepted.
    pub last_step: Option<i64>,
    pub enabled_at: Timestamp,
}

#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn get_totp(&self, user_id: &str) -> StoreResult<Option<TotpRecord>>;
    /// Turns TOTP on (replacing any earlier enrolment) with a fresh set of
    /// backup code hashes, in one transaction.
    async fn enable_totp(&self, record: &TotpRecord, backup_code_hashes: &[String]) -> StoreResult<()>;
    /// Records that `step` was used; false, changing nothing, when it is not
    /// newer than the last one (a replay), even under concurrent use.
    async fn advance_totp_step(&self, user_id: &str, step: i64) -> StoreResult<bool>;
    /// Uses a backup code once; false when unknown or already used.
    async fn use_backup_code(&self, user_id: &str, code_hash: &str, now: Timestamp) -> StoreResult<bool>;
    async fn backup_codes_left(&self, user_id: &str) -> StoreResult<i64>;
    /// Turns TOTP off and drops the backup codes.
    async fn disable_totp(&self, user_id: &str) -> StoreResult<bool>;
}

/// A refresh token as stored: its hash, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id_hash: String,
    /// The grant (authorization) it descends from; shared by every rotation.
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub auth_time: Timestamp,
    pub amr: Vec<String>,
    pub created_at: Timestamp,
    /// Idle expiry: a token unused this long is dead.
    pub expires_at: Timestamp,
    /// Absolute expiry of the whole family.
    pub family_expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub successor_hash: Option<String>,
    /// The successor's value sealed with a key derived from this token's
    /// value, so only a holder of this token can recover it (grace window).
    pub successor_sealed: Option<Vec<u8>>,
    pub revoked_at: Option<Timestamp>,
}

#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;
    async fn get_refresh_token(&self, id_hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// Marks `old_hash` used (recording its successor) and inserts `new`, in
    /// one transaction. False, with nothing changed, when `old_hash` was
    /// already used or revoked: a concurrent rotation won.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        used_at: Timestamp,
        successor_sealed: &[u8],
        new: &RefreshToken,
    ) -> StoreResult<bool>;
    async fn revoke_refresh_family(&self, family_id: &str, at: Timestamp) -> StoreResult<u64>;
    /// Revokes every live refresh token of the user; returns their family ids.
    async fn revoke_user_refresh_tokens(&self, user_id: &str, at: Timestamp) -> StoreResult<Vec<String>>;
    /// Revokes every live refresh token the user granted the client; returns
    /// their family ids.
    async fn revoke_user_client_refresh_tokens(
        &self,
        user_id: &str,
        client_id: &str,
        at: Timestamp,
    ) -> StoreResult<Vec<String>>;
    /// Revokes every live refresh token of the client; returns their family ids.
    async fn revoke_client_refresh_tokens(&self, client_id: &str, at: Timestamp) -> StoreResult<Vec<String>>;
    /// Deletes tokens past their idle or family expiry.
    async fn delete_expired_refresh_tokens(&self, now: Timestamp) -> StoreResult<u64>;
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: String,
    pub at: Timestamp,
    pub event: String,
    pub outcome: String,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Newest first; all users when `user_id` is None.
    async fn list_audit(&self, user_id: Option<&str>, limit: i64) -> StoreResult<Vec<AuditEvent>>;
}

/// Everything durable, behind one object the app holds as `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    KeyStore
    + ClientStore
    + UserStore
    + IdentityStore
    + MfaStore
    + SessionStore
    + ConsentStore
    + RefreshTokenStore
    + AuditStore
{
    async fn ping(&self) -> StoreResult<()>;
    fn backend(&self) -> &'static str;
}
