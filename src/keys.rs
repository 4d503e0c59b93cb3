//! Signing keys: creation, import, rotation, the JWKS, and signing and
//! verifying JWTs.
//!
//! Keys live in the store so every instance on one database signs with and
//! publishes the same set. Instances reload the set every 30 s, and at once
//! (at most every 5 s) when they meet a `kid` they do not know, so a rotation
//! reaches them without a restart.
//!
//! Signing uses an aws-lc-rs key pair parsed once and kept: re-parsing the
//! key per token (as `jsonwebtoken::encode` does) costs about two thirds of
//! the signing rate.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::{Clock, Timestamp};
use crate::crypto::{b64url, sha256};
use crate::store::{Store, StoreError, StoredKey};

pub const RS256: &str = "RS256";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("key rejected: {0}")]
    Rejected(String),
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("signing failed")]
    Sign,
    #[error("no signing key in the store")]
    NoKey,
}

/// Why a presented JWT was refused. Details are for logs, not for clients.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key id")]
    UnknownKey,
    #[error("wrong token type")]
    WrongType,
    #[error("bad signature")]
    BadSignature,
    #[error("wrong issuer")]
    WrongIssuer,
}

/// One RSA key ready to sign, with its public JWK.
pub struct SigningKey {
    pub kid: String,
    pair: KeyPair,
    jwk: serde_json::Value,
    decoding: DecodingKey,
}

impl SigningKey {
    pub fn from_stored(stored: &StoredKey) -> Result<Self, KeyError> {
        let pair = KeyPair::from_pkcs8(&stored.private_der).map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(Self::from_pair(stored.kid.clone(), pair))
    }

    fn from_pair(kid: String, pair: KeyPair) -> Self {
        let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let jwk = serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": RS256,
            "kid": kid,
            "n": b64url(&public.n),
            "e": b64url(&public.e),
        });
        let decoding = DecodingKey::from_rsa_raw_components(&public.n, &public.e);
        Self {
            kid,
            pair,
            jwk,
            decoding,
        }
    }

    /// Signs `claims` as a compact JWS with header `{alg, kid, typ}`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let header = serde_json::json!({ "alg": RS256, "kid": self.kid, "typ": typ });
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut token = engine.encode(serde_json::to_vec(&header).map_err(|_| KeyError::Sign)?);
        token.push('.');
        engine.encode_string(serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?, &mut token);
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                token.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyError::Sign)?;
        token.push('.');
        engine.encode_string(&signature, &mut token);
        Ok(token)
    }
}

/// A fresh RSA-2048 key with its RFC 7638 thumbprint as `kid`.
pub fn generate(now: Timestamp) -> Result<StoredKey, KeyError> {
    let pair =
        KeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError::Rejected("RSA key generation failed".into()))?;
    stored_from_pair(&pair, now)
}

fn stored_from_pair(pair: &KeyPair, now: Timestamp) -> Result<StoredKey, KeyError> {
    let der = AsDer::<Pkcs8V1Der>::as_der(pair).map_err(|_| KeyError::Rejected("cannot encode key".into()))?;
    Ok(StoredKey {
        kid: thumbprint(pair),
        alg: RS256.into(),
        private_der: der.as_ref().to_vec(),
        created_at: now,
        retired_at: None,
    })
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in order.
fn thumbprint(pair: &KeyPair) -> String {
    let public = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        b64url(&public.e),
        b64url(&public.n)
    );
    b64url(&sha256(canonical.as_bytes()))
}

/// Reads an RSA private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
/// (`BEGIN RSA PRIVATE KEY`). At least 2048 bits.
pub fn import_pem(pem: &str, now: Timestamp) -> Result<StoredKey, KeyError> {
    let (label, der) = pem_decode(pem).ok_or_else(|| KeyError::Rejected("not a PEM private key".into()))?;
    let pair = match label.as_str() {
        "PRIVATE KEY" => KeyPair::from_pkcs8(&der),
        "RSA PRIVATE KEY" => KeyPair::from_der(&der),
        other => return Err(KeyError::Rejected(format!("unsupported PEM block `{other}`"))),
    }
    .map_err(|e| KeyError::Rejected(e.to_string()))?;
    if pair.public_modulus_len() < 256 {
        return Err(KeyError::Rejected("RSA keys must have at least 2048 bits".into()));
    }
    stored_from_pair(&pair, now)
}

fn pem_decode(pem: &str) -> Option<(String, Vec<u8>)> {
    let begin = pem.find("-----BEGIN ")?;
    let rest = &pem[begin + 11..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body_start = label_end + 5;
    let end = rest.find("-----END ")?;
    let body: String = rest[body_start..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    Some((label, der))
}

/// PKCS#8 PEM text of a stored key, for `latchkey keys generate --out`.
pub fn to_pem(key: &StoredKey) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key.private_der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

/// Writes `text` to `path` readable by its owner only (0600).
pub fn write_private_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Makes sure the store holds an active key: imports `import_file` when it
/// exists, else generates one.
pub async fn ensure_key(store: &dyn Store, now: Timestamp, import_file: &Path) -> Result<(), KeyError> {
    let keys = store.list_keys().await?;
    if keys.iter().any(|k| k.retired_at.is_none()) {
        return Ok(());
    }
    let key = if import_file.exists() {
        let pem = std::fs::read_to_string(import_file).map_err(|source| KeyError::Io {
            path: import_file.display().to_string(),
            source,
        })?;
        let key = import_pem(&pem, now)?;
        tracing::info!(kid = %key.kid, file = %import_file.display(), "imported signing key");
        key
    } else {
        let key = tokio::task::spawn_blocking(move || generate(now))
            .await
            .map_err(|_| KeyError::Rejected("key generation task failed".into()))??;
        tracing::info!(kid = %key.kid, "generated signing key");
        key
    };
    match store.insert_key(&key).await {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Makes a new key active; the previous ones stay published until tokens they
/// signed have expired.
pub async fn rotate(store: &dyn Store, now: Timestamp) -> Result<StoredKey, KeyError> {
    let key = tokio::task::spawn_blocking(move || generate(now))
        .await
        .map_err(|_| KeyError::Rejected("key generation task failed".into()))??;
    store.insert_key(&key).await?;
    store.retire_keys_except(&key.kid, now).await?;
    Ok(key)
}

struct KeySet {
    active: Arc<SigningKey>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    jwks: Arc<[u8]>,
}

/// The keys an instance signs with and publishes.
pub struct KeyRing {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// How long a retired key stays published: the longest token lifetime
    /// plus a margin for clock skew.
    publish_window: i64,
    current: RwLock<Arc<KeySet>>,
    last_reload: Mutex<Option<Instant>>,
}

impl KeyRing {
    pub async fn load(store: Arc<dyn Store>, clock: Arc<dyn Clock>, publish_window: i64) -> Result<Self, KeyError> {
        let set = Self::build(&*store, clock.now(), publish_window).await?;
        Ok(Self {
            store,
            clock,
            publish_window,
            current: RwLock::new(Arc::new(set)),
            last_reload: Mutex::new(None),
        })
    }

    async fn build(store: &dyn Store, now: Timestamp, window: i64) -> Result<KeySet, KeyError> {
        let stored = store.list_keys().await?;
        let mut by_kid = HashMap::new();
        let mut active = None;
        let mut jwks = Vec::new();
        // Newest first: the newest key not retired signs.
        for key in &stored {
            let published = key.retired_at.is_none_or(|at| at + window > now);
            if !published || key.alg != RS256 {
                continue;
            }
            let signing = Arc::new(SigningKey::from_stored(key)?);
            if active.is_none() && key.retired_at.is_none() {
                active = Some(signing.clone());
            }
            jwks.push(signing.jwk.clone());
            by_kid.insert(key.kid.clone(), signing);
        }
        let active = active.ok_or(KeyError::NoKey)?;
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": jwks })).map_err(|_| KeyError::Sign)?;
        Ok(KeySet {
            active,
            by_kid,
            jwks: jwks.into(),
        })
    }

    fn set(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the key set from the store.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let set = Self::build(&*self.store, self.clock.now(), self.publish_window).await?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Ok(())
    }

    /// The JWKS document, serialized once per reload.
    pub fn jwks(&self) -> Arc<[u8]> {
        self.set().jwks.clone()
    }

    pub fn active_kid(&self) -> String {
        self.set().active.kid.clone()
    }

    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        self.set().active.sign(typ, claims)
    }

    /// Verifies an RS256 JWT's signature, its `typ` header (when `typ` is
    /// given) and its `iss`. Expiry is the caller's rule, checked against the
    /// app clock.
    pub async fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: Option<&str>,
        issuer: &str,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::Malformed);
        }
        if let Some(expected) = typ {
            // RFC 9068 §4: the resource server MUST check typ, so an ID token
            // ("JWT") can never pass for an access token ("at+jwt").
            let got = header.typ.as_deref().unwrap_or("");
            if !got.eq_ignore_ascii_case(expected) && !got.eq_ignore_ascii_case(&format!("application/{expected}")) {
                return Err(VerifyError::WrongType);
            }
        }
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let mut key = self.set().by_kid.get(&kid).cloned();
        if key.is_none() && self.may_reload() {
            let _ = self.reload().await;
            key = self.set().by_kid.get(&kid).cloned();
        }
        let key = key.ok_or(VerifyError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &validation)
            .map_err(|_| VerifyError::BadSignature)?;
        if data.claims.get("iss").and_then(|v| v.as_str()) != Some(issuer) {
            return Err(VerifyError::WrongIssuer);
        }
        serde_json::from_value(data.claims).map_err(|_| VerifyError::Malformed)
    }

    fn may_reload(&self) -> bool {
        self.last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|at| at.elapsed() > Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_kid() {
        let key = generate(1).unwrap();
        let pem = to_pem(&key);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = import_pem(&pem, 2).unwrap();
        assert_eq!(again.kid, key.kid);
    }

    #[test]
    fn rejects_garbage_pem() {
        assert!(import_pem("hello", 1).is_err());
        assert!(import_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", 1).is_err());
    }

    #[test]
    fn signature_verifies_with_published_components() {
        let stored = generate(1).unwrap();
        let key = SigningKey::from_stored(&stored).unwrap();
        let token = key
            .sign("at+jwt", &serde_json::json!({"iss": "x", "sub": "y"}))
            .unwrap();
        let n = key.jwk["n"].as_str().unwrap();
        let e = key.jwk["e"].as_str().unwrap();
        let decoding = DecodingKey::from_rsa_components(n, e).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &v).unwrap();
        assert_eq!(data.claims["sub"], "y");
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(data.header.kid.as_deref(), Some(stored.kid.as_str()));
        assert!(key.jwk.get("d").is_none());
    }
}
