//! Durable data. A trait per aggregate; one implementation ([`sql::SqlStore`])
//! runs the same portable SQL on SQLite and PostgreSQL.

pub mod cache;
pub mod ids;
pub mod mirror;
pub mod sql;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde::Serialize;

use crate::clock::Timestamp;

pub use ids::{ClientId, GrantId};
pub use sql::{SqlStore, StoreOptions};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The database could not be reached, or did not answer in time: the
    /// request may be retried later (503, never 500).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("unsupported DATABASE_URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) { StoreError::Unavailable(e.to_string()) } else { StoreError::Database(e) }
    }
}

/// Errors that say "not now" rather than "never": no connection to be had,
/// a connection lost, the server shutting down or refusing connections, or
/// SQLite's database locked past the busy timeout.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their
            // extended codes (the low byte is the primary code).
            let sqlite_busy = code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
            // PostgreSQL: class 08 (connection exception), 53300 (too many
            // connections), 57P01..57P03 (shutting down, cannot connect now).
            let pg = code.starts_with("08") || code == "53300" || code.starts_with("57P0");
            sqlite_busy || pg
        }
        _ => false,
    }
}

/// A signing key as stored: the private key as PKCS#8 DER.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub private_der: Vec<u8>,
    pub created_at: Timestamp,
    /// When it starts signing. Published in the JWKS from creation, so
    /// every verifier has it before the first token it signs.
    pub activates_at: Timestamp,
    /// When it stopped (or stops) signing; published until the tokens it
    /// signed have expired.
    pub retired_at: Option<Timestamp>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_der", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Client {
    pub id: ClientId,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub name: String,
    #[sqlx(try_from = "sql::JsonList")]
    pub redirect_uris: Vec<String>,
    #[sqlx(try_from = "sql::JsonList")]
    pub post_logout_redirect_uris: Vec<String>,
    #[sqlx(try_from = "sql::JsonList")]
    pub grant_types: Vec<String>,
    #[sqlx(try_from = "sql::JsonList")]
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
    /// RFC 7591 §2 `token_endpoint_auth_method`: the one way this client
    /// authenticates (`client_secret_basic`, `client_secret_post`,
    /// `client_secret_jwt`, `private_key_jwt`, `none`).
    pub token_endpoint_auth_method: String,
    /// RFC 7591 `jwks`: the client's public keys, a JWK set (JSON), checked
    /// when registered (public members only, keys of a safe size).
    #[serde(serialize_with = "json_text")]
    pub jwks: Option<String>,
    /// RFC 7591 `jwks_uri`: where its public keys are fetched from instead.
    pub jwks_uri: Option<String>,
    /// OIDC Dynamic Registration §2: the one algorithm its client assertions
    /// are signed with, when it names one.
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// The one algorithm its request objects are signed with, when it names
    /// one.
    pub request_object_signing_alg: Option<String>,
    /// RFC 9101 §10.5: every authorization request is a signed object.
    pub require_signed_request_object: bool,
    /// RFC 9126 §6: every authorization request is pushed first.
    pub require_pushed_authorization_requests: bool,
    /// RFC 9449 §5.2: every token request carries a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// A security profile the client is held to: `fapi2`, or none.
    pub security_profile: Option<String>,
    /// For `client_secret_jwt`: the secret itself, sealed (the hash cannot
    /// check an HMAC), and the previous one during a rotation's overlap.
    #[serde(skip)]
    pub secret_sealed: Option<Vec<u8>>,
    #[serde(skip)]
    pub old_secret_sealed: Option<Vec<u8>>,
    /// The APIs (identifiers) it may ask tokens for; empty: any registered
    /// API. This server's registration metadata `allowed_resources`.
    #[sqlx(try_from = "sql::JsonList")]
    pub allowed_resources: Vec<String>,
    /// The APIs it may exchange a person's token for (RFC 8693); empty:
    /// none. Registration metadata `token_exchange_targets`.
    #[sqlx(try_from = "sql::JsonList")]
    pub token_exchange_targets: Vec<String>,
    /// Its privacy policy and terms (`policy_uri`, `tos_uri`), linked from
    /// the consent page.
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// An administrator checked this app, registered by an ordinary user:
    /// the consent page drops its "unverified app" notice.
    pub verified: bool,
}

/// A JSON document kept as text, serialized as the document itself.
fn json_text<S: serde::Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    let value = text.as_deref().and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok());
    serde::Serialize::serialize(&value, s)
}

/// What an account may do here.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    /// Sees and manages every account and app (`/admin`, the admin API).
    Admin,
}

impl Role {
    pub const ALL: &[Role] = &[Role::User, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    pub role: Role,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    /// SHA-256 of the cookie value; the value itself is never stored.
    pub id_hash: String,
    pub user_id: String,
    pub auth_time: Timestamp,
    #[sqlx(try_from = "sql::JsonList")]
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
    /// Adds `key` and retires every other unretired key of its algorithm at
    /// `key.activates_at`, in one transaction: the old key signs until the
    /// new one starts.
    async fn rotate_key(&self, key: &StoredKey) -> StoreResult<()>;
    /// Newest first.
    async fn list_keys(&self) -> StoreResult<Vec<StoredKey>>;
    /// Removes a key at once (a compromised key): it stops signing and
    /// leaves the JWKS, so tokens it signed stop verifying.
    async fn delete_key(&self, kid: &str) -> StoreResult<bool>;
    /// Deletes keys retired before `before`.
    async fn delete_keys_retired_before(&self, before: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    async fn get_client(&self, id: &ClientId) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    async fn delete_client(&self, id: &ClientId) -> StoreResult<bool>;
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
    async fn set_user_role(&self, id: &str, role: Role, now: Timestamp) -> StoreResult<bool>;
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
        &self, id: &str, name: Option<&str>, picture: Option<&str>, now: Timestamp,
    ) -> StoreResult<()>;
}

/// An account at an upstream identity provider linked to a local account.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
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
    async fn get_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<Option<Vec<String>>>;
    /// Records (replacing) the scopes the user has granted the client.
    async fn put_consent(
        &self, user_id: &str, client_id: &ClientId, scopes: &[String], now: Timestamp,
    ) -> StoreResult<()>;
    /// Every client the user has allowed: (client id, scopes, granted at).
    async fn list_user_consents(&self, user_id: &str) -> StoreResult<Vec<(ClientId, Vec<String>, Timestamp)>>;
    async fn delete_consent(&self, user_id: &str, client_id: &ClientId) -> StoreResult<bool>;
}

/// An account's TOTP enrolment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshToken {
    pub id_hash: String,
    /// The grant it was issued under; shared by every rotation.
    pub grant_id: GrantId,
    pub client_id: ClientId,
    pub user_id: String,
    #[sqlx(try_from = "sql::JsonList")]
    pub scopes: Vec<String>,
    pub auth_time: Timestamp,
    #[sqlx(try_from = "sql::JsonList")]
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
    /// When the token, or its grant, was revoked.
    pub revoked_at: Option<Timestamp>,
    /// RFC 9449 §5: a public client's token is bound to its DPoP key (the
    /// key's SHA-256 thumbprint); rotations keep the binding.
    pub dpop_jkt: Option<String>,
    /// The APIs its grant reaches (RFC 8707); read with the grant, not
    /// stored with the token.
    #[sqlx(try_from = "sql::JsonList")]
    pub resources: Vec<String>,
}

/// How rotating a refresh token went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token is now used and the successor stored.
    Rotated,
    /// Another request used the presented token first.
    AlreadyUsed,
    /// The grant was revoked (before, or while, this ran): nothing stored.
    GrantRevoked,
}

#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// A refresh token by hash; `revoked_at` is set when the token or its
    /// grant was revoked.
    async fn get_refresh_token(&self, id_hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// Marks `old_hash` used (recording its successor) and inserts `new`, in
    /// one transaction that first takes the grant (see
    /// [`GrantStore::issue_from_grant`]), so no successor is ever stored
    /// under a revoked grant.
    async fn rotate_refresh_token(
        &self, old_hash: &str, used_at: Timestamp, successor_sealed: &[u8], new: &RefreshToken,
        grant_expires_at: Timestamp,
    ) -> StoreResult<Rotation>;
    /// Deletes tokens past their idle or family expiry.
    async fn delete_expired_refresh_tokens(&self, now: Timestamp) -> StoreResult<u64>;
}

/// Why a grant ended; recorded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    /// A rotated refresh token was presented again (RFC 9700 §4.14.2).
    RefreshTokenReuse,
    /// A used authorization code was presented again (RFC 6749 §4.1.2).
    CodeReplay,
    /// The client revoked a refresh token (RFC 7009 §2.1).
    TokenRevoked,
    /// The person revoked the app on the account page.
    AppRevoked,
    SignOutEverywhere,
    PasswordChanged,
    PasswordReset,
    AccountDisabled,
    ClientDeleted,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::RefreshTokenReuse => "refresh_token_reuse",
            RevokeReason::CodeReplay => "code_replay",
            RevokeReason::TokenRevoked => "token_revoked",
            RevokeReason::AppRevoked => "app_revoked",
            RevokeReason::SignOutEverywhere => "sign_out_everywhere",
            RevokeReason::PasswordChanged => "password_changed",
            RevokeReason::PasswordReset => "password_reset",
            RevokeReason::AccountDisabled => "account_disabled",
            RevokeReason::ClientDeleted => "client_deleted",
        }
    }
}

/// Which grants to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantsOf<'a> {
    Grant(&'a GrantId),
    User(&'a str),
    UserClient { user_id: &'a str, client_id: &'a ClientId },
    Client(&'a ClientId),
}

/// One authorization: a person allowed a client some scopes, once. Codes,
/// refresh tokens and access tokens issued under it name it, so ending it
/// ends them all.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Grant {
    pub id: GrantId,
    pub client_id: ClientId,
    pub user_id: String,
    #[sqlx(try_from = "sql::JsonList")]
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    /// When a token was last issued from it.
    pub last_issued_at: Timestamp,
    /// Nothing issued from it lives past this.
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
    /// The APIs (identifiers) the person allowed it to reach (RFC 8707).
    #[sqlx(try_from = "sql::JsonList")]
    pub resources: Vec<String>,
}

/// A single-use value (authorization code, email link) as stored: its hash,
/// what it carries, and whether it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    pub token_hash: String,
    /// `code`, `reset`, `verify`: a value of one purpose never passes for
    /// another.
    pub purpose: String,
    /// For a code: the grant it belongs to.
    pub grant_id: Option<GrantId>,
    /// JSON of what the value stands for.
    pub data: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What taking a single-use value found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// Unused and unexpired; now used. Only one caller ever gets this.
    Fresh { data: String, grant_id: Option<GrantId> },
    /// Used before: a replay.
    Replayed { grant_id: Option<GrantId> },
    /// Unknown or expired.
    Missing,
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new grant with its authorization code, together.
    async fn create_grant(&self, grant: &Grant, code: &OneTimeToken) -> StoreResult<()>;
    async fn get_grant(&self, id: &GrantId) -> StoreResult<Option<Grant>>;
    /// Records that tokens are issued from the grant at `now` (so its access
    /// tokens may live until `now` + their lifetime, and nothing past
    /// `expires_at`), storing `refresh` with it. The grant row is locked
    /// first, in the same transaction: a concurrent revocation either comes
    /// first (false, nothing stored) or waits and then ends what this stored.
    async fn issue_from_grant(
        &self, grant_id: &GrantId, now: Timestamp, expires_at: Timestamp, refresh: Option<&RefreshToken>,
    ) -> StoreResult<bool>;
    /// Ends grants, in one statement, with the reason; returns the ids of
    /// those that were live. Every instance refuses their access tokens
    /// within a second, and this one at once.
    async fn revoke_grants(
        &self, which: GrantsOf<'_>, reason: RevokeReason, at: Timestamp,
    ) -> StoreResult<Vec<GrantId>>;
    /// Deletes grants nothing can be alive from any more.
    async fn delete_expired_grants(&self, before: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait OneTimeStore: Send + Sync {
    async fn insert_one_time(&self, token: &OneTimeToken) -> StoreResult<()>;
    /// The data of an unused, unexpired value, leaving it usable.
    async fn peek_one_time(&self, purpose: &str, token_hash: &str, now: Timestamp) -> StoreResult<Option<String>>;
    /// Takes the value in one atomic step: of any number of concurrent
    /// callers on any instance, exactly one gets `Fresh`.
    async fn consume_one_time(&self, purpose: &str, token_hash: &str, now: Timestamp) -> StoreResult<Consumed>;
    /// Deletes values that expired before `before`.
    async fn delete_expired_one_time(&self, before: Timestamp) -> StoreResult<u64>;
}

/// Revocation as every instance sees it: durable in the database, answered
/// from memory (loaded at start, kept current by the change feed), so the
/// hot paths make no round trip.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Revokes one access token (RFC 7009) until it expires.
    async fn revoke_access_token(
        &self, jti: &str, client_id: &ClientId, at: Timestamp, expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Whether an access token with this `jti` (and grant) is revoked.
    fn access_token_revoked(&self, jti: &str, grant_id: Option<&GrantId>, now: Timestamp) -> bool;
    async fn delete_expired_access_token_revocations(&self, now: Timestamp) -> StoreResult<u64>;
}

/// Brute-force lockouts in force, durable so a restart lifts none.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// Locks `key` until `until` (a later lock wins).
    async fn lock(&self, key: &str, until: Timestamp) -> StoreResult<()>;
    /// The latest `until` among `keys` still in force at `now`.
    async fn locked_until(&self, keys: &[String], now: Timestamp) -> StoreResult<Option<Timestamp>>;
    async fn unlock(&self, key: &str) -> StoreResult<()>;
    async fn delete_expired_lockouts(&self, now: Timestamp) -> StoreResult<u64>;
}

/// What changed, as the change feed carries it to other instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A client was created, edited or deleted.
    Client(ClientId),
    /// An account was edited, disabled or deleted.
    User(String),
    /// A grant was revoked; its access tokens may live until the time given.
    Grant { id: GrantId, until: Timestamp },
    /// Grants were revoked in bulk (by user, client, or both): re-read them.
    Grants(String),
    /// An access token was revoked; it expires at the time given.
    AccessToken { jti: String, until: Timestamp },
    /// An API was registered, edited or deleted.
    Apis,
    /// Signing keys were added, scheduled or retired.
    Keys,
}

/// The change feed: every instance applies what any instance (or the CLI)
/// changed, within a second.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Reads changes committed since `since_ms` (wall clock, milliseconds)
    /// and applies those not applied yet; returns how many were new.
    async fn catch_up(&self, since_ms: i64, now: Timestamp) -> StoreResult<usize>;
    /// Rebuilds the in-memory revocation state from the database.
    async fn reload_revocations(&self, now: Timestamp) -> StoreResult<()>;
    /// Resolves when this instance wrote a change (to tell the others), or
    /// when signing keys changed (to reload them).
    fn local_writes(&self) -> std::sync::Arc<tokio::sync::Notify>;
    fn keys_changed(&self) -> std::sync::Arc<tokio::sync::Notify>;
    /// Deletes feed rows older than `before_ms`.
    async fn prune_changes(&self, before_ms: i64) -> StoreResult<u64>;
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
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

/// A registered API (resource server): access tokens meant for it carry its
/// identifier as their audience (RFC 8707).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, sqlx::FromRow)]
pub struct Api {
    pub id: String,
    /// An absolute URI without fragment: the resource indicator.
    pub identifier: String,
    pub name: String,
    #[sqlx(try_from = "sql::JsonList")]
    pub scopes: Vec<String>,
    /// Lifetime of its access tokens, seconds; None: the server's.
    pub access_token_ttl: Option<Timestamp>,
    /// Their signing algorithm; None: the server's.
    pub access_token_alg: Option<String>,
    /// The person who registered it in the developer portal, if any.
    pub owner_id: Option<String>,
    /// The API's own client: introspection tells it which tokens are meant
    /// for it, and it may exchange tokens (RFC 8693).
    pub client_id: Option<ClientId>,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait ApiStore: Send + Sync {
    /// `Conflict` when the identifier is taken.
    async fn create_api(&self, api: &Api) -> StoreResult<()>;
    async fn update_api(&self, api: &Api) -> StoreResult<bool>;
    async fn delete_api(&self, id: &str) -> StoreResult<bool>;
    /// Every API, from memory (APIs are few; the change feed keeps the copy
    /// current).
    async fn list_apis(&self) -> StoreResult<std::sync::Arc<Vec<Api>>>;
}

/// Where a device authorization stands (RFC 8628).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    /// Its tokens were issued.
    Used,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Used => "used",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeviceStatus::Pending,
            "approved" => DeviceStatus::Approved,
            "denied" => DeviceStatus::Denied,
            "used" => DeviceStatus::Used,
            _ => return None,
        })
    }
}

/// A device waiting for a person to approve it (RFC 8628).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// SHA-256 of the device code; the code itself is never stored.
    pub device_code_hash: String,
    /// Normalized: upper case, no dash.
    pub user_code: String,
    pub client_id: ClientId,
    pub scopes: Vec<String>,
    pub resources: Vec<String>,
    pub status: DeviceStatus,
    /// Set when approved.
    pub user_id: Option<String>,
    pub grant_id: Option<GrantId>,
    pub auth_time: Option<Timestamp>,
    pub amr: Vec<String>,
    pub poll_interval: i64,
    pub last_polled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What a device's poll found (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Unknown, or another client's.
    Unknown,
    Expired,
    /// Not decided yet.
    Pending,
    /// Polled faster than allowed: the interval grew by 5 s.
    SlowDown,
    Denied,
    /// Approved, and now taken: the tokens are issued from it, once.
    Approved(Box<DeviceAuthorization>),
    /// Its tokens were issued already.
    Used,
}

/// A person's decision on a device.
pub enum DeviceDecision<'a> {
    /// Approved: the grant made for it is stored with the decision.
    Approve {
        grant: &'a Grant,
        auth_time: Timestamp,
        amr: &'a [String],
    },
    Deny,
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// `Conflict` when the user code is taken.
    async fn create_device(&self, device: &DeviceAuthorization) -> StoreResult<()>;
    /// A pending, unexpired authorization by its (normalized) user code.
    async fn pending_device(&self, user_code: &str, now: Timestamp) -> StoreResult<Option<DeviceAuthorization>>;
    /// Records the person's decision, if the authorization is still pending
    /// and unexpired; false otherwise (decided already, or expired).
    async fn decide_device(
        &self, user_code: &str, user_id: &str, decision: DeviceDecision<'_>, now: Timestamp,
    ) -> StoreResult<bool>;
    /// A device's poll: answers, and takes an approved authorization once.
    async fn poll_device(&self, device_code_hash: &str, client_id: &ClientId, now: Timestamp) -> StoreResult<Poll>;
    async fn delete_expired_devices(&self, before: Timestamp) -> StoreResult<u64>;
}

/// Everything durable, behind one object the app holds as `Arc<dyn Store>`.
#[async_trait]
pub trait Store:
    KeyStore
    + ClientStore
    + ApiStore
    + DeviceStore
    + UserStore
    + IdentityStore
    + MfaStore
    + SessionStore
    + ConsentStore
    + RefreshTokenStore
    + GrantStore
    + OneTimeStore
    + RevocationStore
    + LockoutStore
    + ChangeFeed
    + AuditStore
{
    async fn ping(&self) -> StoreResult<()>;
    fn backend(&self) -> &'static str;
}
