//! Typed configuration from environment variables and an optional TOML file.
//!
//! Precedence: environment variable, then the TOML file, then the default.
//! Every key is listed in README.md; the TOML key is the environment variable's
//! name without the `LATCHKEY_` prefix, in lower case (`DATABASE_URL` →
//! `database_url`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use url::Url;

use crate::crypto::Secret;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid TOML: {message}")]
    Toml { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Operator branding shown on every page.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Brand {
    pub name: String,
    pub logo_url: Option<String>,
    pub accent: String,
}

/// argon2id cost parameters. Defaults follow the OWASP Password Storage Cheat
/// Sheet: m = 19 MiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// "Sign in with GitHub": an OAuth app registered at GitHub (or GitHub
/// Enterprise Server) whose callback is `{issuer}/federation/github/callback`.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    pub client_id: String,
    pub client_secret: Secret,
    /// Where people sign in: `https://github.com`, or `https://HOST` for
    /// Enterprise Server.
    pub web_url: String,
    /// The REST API: `https://api.github.com`, or `https://HOST/api/v3`.
    pub api_url: String,
    /// When not empty, only members of one of these organizations may sign in.
    pub allowed_orgs: Vec<String>,
    /// Limit on each call to GitHub, seconds.
    pub timeout: u64,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub issuer: String,
    pub listen: SocketAddr,
    pub database_url: Secret,
    pub redis_url: Option<Secret>,
    pub log_format: LogFormat,
    /// Lifetime of access tokens, seconds. Defaults to 900 (15 min).
    pub access_token_ttl: i64,
    /// Algorithm of access-token signatures: RS256 (default), ES256 or
    /// EdDSA. ID tokens are always RS256.
    pub access_token_alg: String,
    /// Lifetime of ID tokens, seconds. Defaults to 3600.
    pub id_token_ttl: i64,
    /// A refresh token unused this long expires, seconds. Defaults to 30 days.
    pub refresh_token_idle_ttl: i64,
    /// A refresh token family ends this long after the authorization,
    /// however often it is used, seconds. Defaults to 90 days.
    pub refresh_token_absolute_ttl: i64,
    /// How long after a rotation the previous refresh token may be presented
    /// again and get the same successor (a lost response on a flaky network),
    /// seconds. 0 turns the grace off: any reuse revokes the family.
    /// Defaults to 10.
    pub refresh_token_grace: i64,
    /// Browser session idle lifetime, seconds. Defaults to 3 days.
    pub session_idle_ttl: i64,
    /// Browser session absolute lifetime, seconds. Defaults to 14 days.
    pub session_absolute_ttl: i64,
    /// An RSA private key (PEM) imported when the store holds no signing key.
    pub signing_key_file: PathBuf,
    pub brand: Brand,
    pub argon2: Argon2Params,
    /// How many password hashes may be computed at once (each takes
    /// `argon2.memory_kib` of memory). Defaults to the number of cores.
    pub password_hash_concurrency: usize,
    /// Set when GitHub sign-in is configured.
    pub github: Option<GithubConfig>,
    /// Brute-force limits for sign-in, second factors, resets and clients.
    pub throttle: crate::accounts::throttle::Policy,
    /// Peers whose X-Forwarded-For is believed (a load balancer).
    pub trusted_proxies: Vec<IpAddr>,
    /// Sign-in completes only once the email is verified.
    pub require_verified_email: bool,
    pub email: crate::email::EmailConfig,
    /// Key material for encrypting TOTP secrets at rest; None: read or
    /// create `totp_key_file`.
    pub totp_key: Option<Secret>,
    pub totp_key_file: PathBuf,
    /// How long a rotated client secret keeps working, seconds.
    pub secret_rotation_overlap: i64,
    /// RFC 7591 registration without an initial access token.
    pub registration_open: bool,
    /// Scopes a dynamically registered client may ask for (RFC 7591 §2
    /// `scope`); anything else is refused. Defaults to the OpenID scopes.
    pub registration_scopes: Vec<String>,
    /// Deadlines that make an unreachable backend answer 503 at once.
    pub timeouts: Timeouts,
    /// How often each instance reads the change feed, milliseconds (a
    /// notification wakes it sooner). Defaults to 500.
    pub change_poll_ms: u64,
    /// How long a rotated-in signing key is published before it signs,
    /// seconds. Defaults to `keys::ACTIVATION_DELAY` (360).
    pub key_activation_delay: i64,
    /// Connection handling: limits and timeouts against slow clients.
    pub server: ServerLimits,
    /// Every client must push its authorization requests (RFC 9126 §5
    /// `require_pushed_authorization_requests`).
    pub require_par: bool,
    /// Every client is held to the FAPI 2.0 Security Profile.
    pub fapi2: bool,
    /// DPoP proofs must carry a nonce this server issued (RFC 9449 §8).
    pub dpop_nonce: bool,
    /// How old a DPoP proof may be (its `iat`), seconds; also how long its
    /// `jti` is remembered.
    pub dpop_proof_lifetime: i64,
    /// Wrong device user codes accepted across all IPs in a minute, after
    /// which code entry pauses until the next minute (RFC 8628 §5.1).
    pub device_code_guesses_per_minute: i64,
}

/// Deadlines for the backends.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Waiting for a database connection (SQLite: for the write lock),
    /// milliseconds. Defaults to 500.
    pub database_acquire_ms: u64,
    /// The most one database call may take, seconds. Defaults to 5.
    pub database_operation: u64,
    /// Connecting to Redis and each Redis command, milliseconds. Defaults
    /// to 500.
    pub redis_ms: u64,
}

/// Protection against slow and abundant clients.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// A connection must send its request headers within this, seconds.
    /// Defaults to 10.
    pub header_read_timeout: u64,
    /// A request body must arrive within this, seconds. Defaults to 30.
    pub body_timeout: u64,
    /// An idle keep-alive connection is closed after this, seconds.
    /// Defaults to 60.
    pub idle_timeout: u64,
    /// Open connections at most; beyond it the idlest connection is closed
    /// to make room, or the new one answered 503. Defaults to 10,000, and
    /// never more than the file descriptor limit allows.
    pub max_connections: usize,
    /// On SIGTERM, how long requests in flight may take to finish, seconds.
    /// Defaults to 30.
    pub shutdown_grace: u64,
    /// The largest request body accepted, bytes. Defaults to 1 MiB.
    pub max_body_bytes: usize,
}

impl Config {
    /// Reads the process environment and the file named by `path` (if any).
    pub fn load(path: Option<PathBuf>) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let path = path.or_else(|| env.get("LATCHKEY_CONFIG").map(PathBuf::from));
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                Some(
                    toml::from_str::<toml::Table>(&text)
                        .map_err(|e| ConfigError::Toml { path, message: e.to_string() })?,
                )
            }
            None => None,
        };
        Self::from_sources(&env, file.as_ref())
    }

    /// Builds a config from explicit sources; no globals are read.
    pub fn from_sources(env: &HashMap<String, String>, file: Option<&toml::Table>) -> Result<Self, ConfigError> {
        let src = Sources { env, file };
        let issuer: String = src.get("LATCHKEY_ISSUER")?.unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let issuer = validate_issuer(&issuer)?;
        let listen = src.parse("LATCHKEY_LISTEN", "127.0.0.1:8080".parse().ok())?;
        let database_url: String = src.get("DATABASE_URL")?.unwrap_or_else(|| "sqlite://data/latchkey.db".into());
        let redis_url = src.get("REDIS_URL")?.filter(|s: &String| !s.is_empty()).map(Secret::new);
        let log_format = match src.get("LATCHKEY_LOG_FORMAT")?.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "LATCHKEY_LOG_FORMAT",
                    message: format!("expected `text` or `json`, got `{other}`"),
                });
            }
        };
        let accent: String = src.get("LATCHKEY_BRAND_ACCENT")?.unwrap_or_else(|| "#4f46e5".into());
        if !is_hex_colour(&accent) {
            return Err(ConfigError::Invalid {
                key: "LATCHKEY_BRAND_ACCENT",
                message: format!("expected a colour like #4f46e5, got `{accent}`"),
            });
        }
        let logo_url: Option<String> = src.get("LATCHKEY_BRAND_LOGO_URL")?.filter(|s: &String| !s.is_empty());
        if let Some(logo) = &logo_url {
            let ok = Url::parse(logo).map(|u| u.scheme() == "https").unwrap_or(false) || logo.starts_with('/');
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "LATCHKEY_BRAND_LOGO_URL",
                    message: "must be an https URL or a path on this server".into(),
                });
            }
        }
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let config = Config {
            issuer,
            listen,
            database_url: Secret::new(database_url),
            redis_url,
            log_format,
            access_token_ttl: src.positive("LATCHKEY_ACCESS_TOKEN_TTL", 900)?,
            access_token_alg: match src.get("LATCHKEY_ACCESS_TOKEN_ALG")?.as_deref() {
                None | Some("RS256") => "RS256".into(),
                Some("ES256") => "ES256".into(),
                Some("EdDSA") => "EdDSA".into(),
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        key: "LATCHKEY_ACCESS_TOKEN_ALG",
                        message: format!("expected RS256, ES256 or EdDSA, got `{other}`"),
                    });
                }
            },
            id_token_ttl: src.positive("LATCHKEY_ID_TOKEN_TTL", 3600)?,
            refresh_token_idle_ttl: src.positive("LATCHKEY_REFRESH_TOKEN_IDLE_TTL", 30 * 86400)?,
            refresh_token_absolute_ttl: src.positive("LATCHKEY_REFRESH_TOKEN_ABSOLUTE_TTL", 90 * 86400)?,
            refresh_token_grace: src.non_negative("LATCHKEY_REFRESH_TOKEN_GRACE", 10)?,
            session_idle_ttl: src.positive("LATCHKEY_SESSION_IDLE_TTL", 3 * 86400)?,
            session_absolute_ttl: src.positive("LATCHKEY_SESSION_ABSOLUTE_TTL", 14 * 86400)?,
            signing_key_file: src
                .get("LATCHKEY_SIGNING_KEY_FILE")?
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("keys/signing.pem")),
            brand: Brand {
                name: src.get("LATCHKEY_BRAND_NAME")?.unwrap_or_else(|| "Latchkey".into()),
                logo_url,
                accent: accent.to_ascii_lowercase(),
            },
            argon2: Argon2Params {
                memory_kib: src.positive("LATCHKEY_ARGON2_MEMORY_KIB", 19 * 1024)? as u32,
                iterations: src.positive("LATCHKEY_ARGON2_ITERATIONS", 2)? as u32,
                parallelism: src.positive("LATCHKEY_ARGON2_PARALLELISM", 1)? as u32,
            },
            password_hash_concurrency: src.positive("LATCHKEY_PASSWORD_HASH_CONCURRENCY", cores as i64)? as usize,
            github: github_config(&src)?,
            throttle: crate::accounts::throttle::Policy {
                max_failures: src.positive("LATCHKEY_LOCKOUT_THRESHOLD", 10)?,
                max_ip_failures: src.positive("LATCHKEY_IP_FAILURE_LIMIT", 100)?,
                lock_seconds: src.positive("LATCHKEY_LOCKOUT_DURATION", 900)?,
                delay_ms: src.non_negative("LATCHKEY_THROTTLE_DELAY_MS", 250)? as u64,
            },
            trusted_proxies: src
                .get("LATCHKEY_TRUSTED_PROXIES")?
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpAddr>().map_err(|e| ConfigError::Invalid {
                        key: "LATCHKEY_TRUSTED_PROXIES",
                        message: format!("`{s}`: {e}"),
                    })
                })
                .collect::<Result<_, _>>()?,
            require_verified_email: src.parse("LATCHKEY_REQUIRE_VERIFIED_EMAIL", Some(false))?,
            email: crate::email::EmailConfig {
                smtp_url: src.get("LATCHKEY_SMTP_URL")?.filter(|s| !s.is_empty()).map(Secret::new),
                from: src.get("LATCHKEY_EMAIL_FROM")?.unwrap_or_else(|| "Latchkey <no-reply@localhost>".into()),
                outbox_dir: src
                    .get("LATCHKEY_OUTBOX_DIR")?
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("data/outbox")),
            },
            totp_key: src.get("LATCHKEY_TOTP_KEY")?.filter(|s| !s.is_empty()).map(Secret::new),
            totp_key_file: src
                .get("LATCHKEY_TOTP_KEY_FILE")?
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("data/totp.key")),
            secret_rotation_overlap: src.non_negative("LATCHKEY_SECRET_ROTATION_OVERLAP", 86400)?,
            registration_open: src.parse("LATCHKEY_REGISTRATION_OPEN", Some(false))?,
            registration_scopes: src
                .get("LATCHKEY_REGISTRATION_SCOPES")?
                .unwrap_or_else(|| "openid profile email offline_access".into())
                .split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            timeouts: Timeouts {
                database_acquire_ms: src.positive("LATCHKEY_DATABASE_TIMEOUT_MS", 500)? as u64,
                database_operation: src.positive("LATCHKEY_DATABASE_OPERATION_TIMEOUT", 5)? as u64,
                redis_ms: src.positive("LATCHKEY_REDIS_TIMEOUT_MS", 500)? as u64,
            },
            change_poll_ms: src.positive("LATCHKEY_CHANGE_POLL_MS", 500)? as u64,
            key_activation_delay: src.non_negative("LATCHKEY_KEY_ACTIVATION_DELAY", crate::keys::ACTIVATION_DELAY)?,
            server: ServerLimits {
                header_read_timeout: src.positive("LATCHKEY_HEADER_READ_TIMEOUT", 10)? as u64,
                body_timeout: src.positive("LATCHKEY_BODY_TIMEOUT", 30)? as u64,
                idle_timeout: src.positive("LATCHKEY_IDLE_TIMEOUT", 60)? as u64,
                max_connections: src.positive("LATCHKEY_MAX_CONNECTIONS", 10_000)? as usize,
                shutdown_grace: src.non_negative("LATCHKEY_SHUTDOWN_GRACE", 30)? as u64,
                max_body_bytes: src.positive("LATCHKEY_MAX_BODY_BYTES", 1 << 20)? as usize,
            },
            require_par: src.parse("LATCHKEY_REQUIRE_PAR", Some(false))?,
            fapi2: src.parse("LATCHKEY_FAPI2", Some(false))?,
            dpop_nonce: src.parse("LATCHKEY_DPOP_NONCE", Some(false))?,
            dpop_proof_lifetime: src.positive("LATCHKEY_DPOP_PROOF_LIFETIME", 60)?,
            device_code_guesses_per_minute: src.positive("LATCHKEY_DEVICE_CODE_GUESSES_PER_MINUTE", 100)?,
        };
        Ok(config)
    }

    /// Cookies get the `__Host-` prefix and `Secure` when the issuer is https.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// A config for tests and tools: defaults everywhere but the given keys.
    pub fn with(pairs: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::from_sources(&env, None)
    }
}

struct Sources<'a> {
    env: &'a HashMap<String, String>,
    file: Option<&'a toml::Table>,
}

impl Sources<'_> {
    fn file_key(key: &str) -> String {
        key.strip_prefix("LATCHKEY_").unwrap_or(key).to_ascii_lowercase()
    }

    fn get(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        if let Some(v) = self.env.get(key) {
            return Ok(Some(v.clone()));
        }
        let Some(value) = self.file.and_then(|t| t.get(&Self::file_key(key))) else {
            return Ok(None);
        };
        match value {
            toml::Value::String(s) => Ok(Some(s.clone())),
            toml::Value::Integer(i) => Ok(Some(i.to_string())),
            toml::Value::Boolean(b) => Ok(Some(b.to_string())),
            _ => Err(ConfigError::Invalid { key, message: "expected a string, number or boolean".into() }),
        }
    }

    fn parse<T: FromStr>(&self, key: &'static str, default: Option<T>) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key)? {
            Some(raw) => {
                raw.trim().parse().map_err(|e: T::Err| ConfigError::Invalid { key, message: format!("`{raw}`: {e}") })
            }
            None => default.ok_or(ConfigError::Invalid { key, message: "is required".into() }),
        }
    }

    fn non_negative(&self, key: &'static str, default: i64) -> Result<i64, ConfigError> {
        let v: i64 = self.parse(key, Some(default))?;
        if v < 0 {
            return Err(ConfigError::Invalid { key, message: format!("must not be negative, got {v}") });
        }
        Ok(v)
    }

    fn positive(&self, key: &'static str, default: i64) -> Result<i64, ConfigError> {
        let v: i64 = self.parse(key, Some(default))?;
        if v <= 0 {
            return Err(ConfigError::Invalid { key, message: format!("must be greater than zero, got {v}") });
        }
        Ok(v)
    }
}

fn github_config(src: &Sources<'_>) -> Result<Option<GithubConfig>, ConfigError> {
    let client_id = src.get("LATCHKEY_GITHUB_CLIENT_ID")?.filter(|s| !s.trim().is_empty());
    let inline = src.get("LATCHKEY_GITHUB_CLIENT_SECRET")?.filter(|s| !s.is_empty());
    let file = src.get("LATCHKEY_GITHUB_CLIENT_SECRET_FILE")?.filter(|s| !s.is_empty());
    let secret = match (inline, file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "LATCHKEY_GITHUB_CLIENT_SECRET",
                message: "set either this or LATCHKEY_GITHUB_CLIENT_SECRET_FILE, not both".into(),
            });
        }
        (Some(s), None) => Some(s),
        (None, Some(path)) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::Invalid {
                    key: "LATCHKEY_GITHUB_CLIENT_SECRET_FILE",
                    message: format!("cannot read {path}: {e}"),
                })?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let (client_id, secret) = match (client_id, secret) {
        (None, None) => return Ok(None),
        (Some(id), Some(secret)) if !secret.is_empty() => (id.trim().to_string(), secret),
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "LATCHKEY_GITHUB_CLIENT_ID",
                message: "is required when a GitHub client secret is set".into(),
            });
        }
        (Some(_), _) => {
            return Err(ConfigError::Invalid {
                key: "LATCHKEY_GITHUB_CLIENT_SECRET",
                message:
                    "is required when LATCHKEY_GITHUB_CLIENT_ID is set (or use LATCHKEY_GITHUB_CLIENT_SECRET_FILE)"
                        .into(),
            });
        }
    };
    let url = |key: &'static str, default: &str| -> Result<String, ConfigError> {
        let raw = src.get(key)?.unwrap_or_else(|| default.to_string());
        let raw = raw.trim_end_matches('/').to_string();
        let ok = Url::parse(&raw)
            .map(|u| u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)))
            .unwrap_or(false);
        if !ok {
            return Err(ConfigError::Invalid {
                key,
                message: format!("`{raw}`: expected an https URL (http only for loopback hosts)"),
            });
        }
        Ok(raw)
    };
    let allowed_orgs = src
        .get("LATCHKEY_GITHUB_ALLOWED_ORGS")?
        .unwrap_or_default()
        .split(',')
        .map(|o| o.trim().to_ascii_lowercase())
        .filter(|o| !o.is_empty())
        .collect();
    Ok(Some(GithubConfig {
        client_id,
        client_secret: Secret::new(secret),
        web_url: url("LATCHKEY_GITHUB_WEB_URL", "https://github.com")?,
        api_url: url("LATCHKEY_GITHUB_API_URL", "https://api.github.com")?,
        allowed_orgs,
        timeout: src.positive("LATCHKEY_GITHUB_TIMEOUT", 10)? as u64,
    }))
}

/// The issuer is an https URL with no query, fragment or trailing slash
/// (OpenID Connect Discovery §3); plain http is allowed for loopback hosts only.
fn validate_issuer(raw: &str) -> Result<String, ConfigError> {
    let invalid =
        |message: &str| ConfigError::Invalid { key: "LATCHKEY_ISSUER", message: format!("`{raw}`: {message}") };
    let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    if raw.ends_with('/') {
        return Err(invalid("must not end with a slash"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(invalid("https is required unless the host is loopback")),
        _ => return Err(invalid("scheme must be https")),
    }
    Ok(raw.to_string())
}

pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

fn is_hex_colour(s: &str) -> bool {
    let Some(hex) = s.strip_prefix('#') else { return false };
    (hex.len() == 6 || hex.len() == 3) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::with(&[]).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url.expose(), "sqlite://data/latchkey.db");
        assert!(c.redis_url.is_none());
        assert_eq!(c.access_token_ttl, 900);
        assert!(!c.secure_cookies());
    }

    #[test]
    fn issuer_rules() {
        for bad in
            ["http://example.com", "https://example.com/", "https://example.com?x=1", "ftp://example.com", "not a url"]
        {
            assert!(Config::with(&[("LATCHKEY_ISSUER", bad)]).is_err(), "{bad} accepted");
        }
        for good in ["https://id.example.com", "https://example.com/auth", "http://localhost:3000", "http://[::1]:8080"]
        {
            assert!(Config::with(&[("LATCHKEY_ISSUER", good)]).is_ok(), "{good} refused");
        }
    }

    #[test]
    fn env_overrides_file() {
        let file: toml::Table =
            toml::from_str("issuer = \"https://file.example\"\naccess_token_ttl = 60\nbrand_name = \"Acme\"").unwrap();
        let env = HashMap::from([("LATCHKEY_ISSUER".to_string(), "https://env.example".to_string())]);
        let c = Config::from_sources(&env, Some(&file)).unwrap();
        assert_eq!(c.issuer, "https://env.example");
        assert_eq!(c.access_token_ttl, 60);
        assert_eq!(c.brand.name, "Acme");
    }

    #[test]
    fn github_is_optional_and_complete() {
        assert!(Config::with(&[]).unwrap().github.is_none());
        let c = Config::with(&[
            ("LATCHKEY_GITHUB_CLIENT_ID", "Iv1.abc"),
            ("LATCHKEY_GITHUB_CLIENT_SECRET", "s3cret"),
            ("LATCHKEY_GITHUB_ALLOWED_ORGS", "Acme, rust-lang"),
        ])
        .unwrap();
        let gh = c.github.unwrap();
        assert_eq!(gh.web_url, "https://github.com");
        assert_eq!(gh.api_url, "https://api.github.com");
        assert_eq!(gh.allowed_orgs, ["acme", "rust-lang"]);
        assert!(!format!("{gh:?}").contains("s3cret"), "secret in Debug output");
        let err = Config::with(&[("LATCHKEY_GITHUB_CLIENT_ID", "Iv1.abc")]).unwrap_err();
        assert!(err.to_string().contains("LATCHKEY_GITHUB_CLIENT_SECRET"));
        let err = Config::with(&[
            ("LATCHKEY_GITHUB_CLIENT_ID", "Iv1.abc"),
            ("LATCHKEY_GITHUB_CLIENT_SECRET", "s"),
            ("LATCHKEY_GITHUB_WEB_URL", "http://github.example"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("LATCHKEY_GITHUB_WEB_URL"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").unwrap();
        let c = Config::with(&[
            ("LATCHKEY_GITHUB_CLIENT_ID", "Iv1.abc"),
            ("LATCHKEY_GITHUB_CLIENT_SECRET_FILE", path.to_str().unwrap()),
            ("LATCHKEY_GITHUB_API_URL", "https://ghe.example/api/v3/"),
        ])
        .unwrap();
        let gh = c.github.unwrap();
        assert_eq!(gh.client_secret.expose(), "from-file");
        assert_eq!(gh.api_url, "https://ghe.example/api/v3");
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::with(&[("LATCHKEY_ACCESS_TOKEN_TTL", "-5")]).unwrap_err();
        assert!(err.to_string().contains("LATCHKEY_ACCESS_TOKEN_TTL"));
        let err = Config::with(&[("LATCHKEY_BRAND_ACCENT", "red")]).unwrap_err();
        assert!(err.to_string().contains("LATCHKEY_BRAND_ACCENT"));
        let err = Config::with(&[("LATCHKEY_LISTEN", "nowhere")]).unwrap_err();
        assert!(err.to_string().contains("LATCHKEY_LISTEN"));
    }
}
