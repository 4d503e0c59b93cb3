//! Signing keys: creation, import, rotation, the JWKS, and signing and
//! verifying JWTs.
//!
//! Keys live in the store so every instance on one database signs with and
//! publishes the same set. Instances reload the set when the change feed
//! says it changed (within a second), every [`KEY_RELOAD_INTERVAL`] seconds
//! regardless, and at once (at most every 5 s) when they meet a `kid` they
//! do not know.
//!
//! Rotation leaves no gap: a new key is published [`ACTIVATION_DELAY`]
//! seconds before it signs, longer than any instance takes to reload and any
//! relying party may cache the JWKS ([`JWKS_MAX_AGE`]), so every verifier
//! knows it before the first token it signs; the key it replaces keeps
//! signing until then, and stays published until the last token it signed
//! has expired.
//!
//! ID tokens are always RS256 (the algorithm every relying party supports,
//! OIDC Core §15.1). Access tokens use RS256 too unless the operator picks
//! ES256 or EdDSA (`LATCHKEY_ACCESS_TOKEN_ALG`), which sign several times
//! faster; then a key of that algorithm is kept and published beside the RSA
//! key.
//!
//! Signing uses aws-lc-rs key pairs parsed once and kept: re-parsing the key
//! per token (as `jsonwebtoken::encode` does) costs about two thirds of the
//! RS256 signing rate.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::{Clock, Timestamp};
use crate::crypto::{b64url, sha256};
use crate::store::{Store, StoreError, StoredKey};

pub const RS256: &str = "RS256";
pub const ES256: &str = "ES256";
pub const EDDSA: &str = "EdDSA";
/// Algorithms a signing key may use.
pub const ALGORITHMS: &[&str] = &[RS256, ES256, EDDSA];

/// `Cache-Control: max-age` of the JWKS, seconds.
pub const JWKS_MAX_AGE: i64 = 300;
/// The periodic key reload, seconds (the change feed is faster; this is the
/// backstop).
pub const KEY_RELOAD_INTERVAL: i64 = 30;
/// How long a rotated-in key is published before it signs, seconds.
pub const ACTIVATION_DELAY: i64 = JWKS_MAX_AGE + KEY_RELOAD_INTERVAL + 30;

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
    #[error("no active {0} signing key in the store")]
    NoKey(String),
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

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One key ready to sign, with its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: &'static str,
    pair: Pair,
    jwk: serde_json::Value,
    decoding: DecodingKey,
    algorithm: Algorithm,
}

fn alg_name(alg: &str) -> Option<&'static str> {
    ALGORITHMS.iter().copied().find(|a| *a == alg)
}

impl SigningKey {
    pub fn from_stored(stored: &StoredKey) -> Result<Self, KeyError> {
        let rejected = |e: aws_lc_rs::error::KeyRejected| KeyError::Rejected(e.to_string());
        let alg =
            alg_name(&stored.alg).ok_or_else(|| KeyError::Rejected(format!("unknown algorithm {}", stored.alg)))?;
        let pair = match alg {
            RS256 => Pair::Rsa(RsaKeyPair::from_pkcs8(&stored.private_der).map_err(rejected)?),
            ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &stored.private_der).map_err(rejected)?,
            ),
            _ => Pair::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&stored.private_der).map_err(rejected)?),
        };
        Self::from_pair(stored.kid.clone(), pair)
    }

    fn from_pair(kid: String, pair: Pair) -> Result<Self, KeyError> {
        let bad = |what: &str| KeyError::Rejected(what.to_string());
        let (mut jwk, decoding, algorithm, alg) = match &pair {
            Pair::Rsa(p) => {
                let public = PublicKeyComponents::<Vec<u8>>::from(p.public_key());
                let jwk = serde_json::json!({ "kty": "RSA", "n": b64url(&public.n), "e": b64url(&public.e) });
                let decoding = DecodingKey::from_rsa_raw_components(&public.n, &public.e);
                (jwk, decoding, Algorithm::RS256, RS256)
            }
            Pair::Ec(p) => {
                // An uncompressed P-256 point: 0x04 || x || y.
                let point = p.public_key().as_ref();
                if point.len() != 65 || point[0] != 4 {
                    return Err(bad("unexpected EC public key encoding"));
                }
                let (x, y) = (b64url(&point[1..33]), b64url(&point[33..]));
                let decoding = DecodingKey::from_ec_components(&x, &y).map_err(|_| bad("EC key"))?;
                (serde_json::json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }), decoding, Algorithm::ES256, ES256)
            }
            Pair::Ed(p) => {
                let x = b64url(p.public_key().as_ref());
                let decoding = DecodingKey::from_ed_components(&x).map_err(|_| bad("Ed25519 key"))?;
                (serde_json::json!({ "kty": "OKP", "crv": "Ed25519", "x": x }), decoding, Algorithm::EdDSA, EDDSA)
            }
        };
        jwk["use"] = "sig".into();
        jwk["alg"] = alg.into();
        jwk["kid"] = kid.clone().into();
        Ok(Self { kid, alg, pair, jwk, decoding, algorithm })
    }

    /// Signs `claims` as a compact JWS with header `{alg, kid, typ}`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        let header = serde_json::json!({ "alg": self.alg, "kid": self.kid, "typ": typ });
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut token = engine.encode(serde_json::to_vec(&header).map_err(|_| KeyError::Sign)?);
        token.push('.');
        engine.encode_string(serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?, &mut token);
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let signature = match &self.pair {
            Pair::Rsa(p) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(&RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut sig).map_err(|_| KeyError::Sign)?;
                sig
            }
            // The fixed encoding (r || s) is the JWS form (RFC 7518 §3.4).
            Pair::Ec(p) => p.sign(&rng, token.as_bytes()).map_err(|_| KeyError::Sign)?.as_ref().to_vec(),
            Pair::Ed(p) => p.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        engine.encode_string(&signature, &mut token);
        Ok(token)
    }
}

/// A fresh key of `alg`, with its RFC 7638 JWK thumbprint as `kid`.
pub fn generate_alg(alg: &str, now: Timestamp) -> Result<StoredKey, KeyError> {
    let failed = |_| KeyError::Rejected(format!("{alg} key generation failed"));
    let (alg, der) = match alg_name(alg) {
        Some(RS256) => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
            let der = AsDer::<Pkcs8V1Der>::as_der(&pair).map_err(failed)?;
            (RS256, der.as_ref().to_vec())
        }
        Some(ES256) => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(failed)?;
            (ES256, doc.as_ref().to_vec())
        }
        Some(_) => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?;
            (EDDSA, doc.as_ref().to_vec())
        }
        None => return Err(KeyError::Rejected(format!("unknown algorithm {alg}"))),
    };
    stored(alg, der, now)
}

/// A fresh RSA-2048 key.
pub fn generate(now: Timestamp) -> Result<StoredKey, KeyError> {
    generate_alg(RS256, now)
}

fn stored(alg: &'static str, der: Vec<u8>, now: Timestamp) -> Result<StoredKey, KeyError> {
    let mut key = StoredKey {
        kid: String::new(),
        alg: alg.into(),
        private_der: der,
        created_at: now,
        activates_at: now,
        retired_at: None,
    };
    key.kid = thumbprint(&SigningKey::from_stored(&key)?.jwk);
    Ok(key)
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members, in
/// lexicographic order, without white space.
pub fn thumbprint(jwk: &serde_json::Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str() {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        _ => &["crv", "kty", "x"],
    };
    let body: Vec<String> = members.iter().map(|m| format!("\"{m}\":\"{}\"", jwk[*m].as_str().unwrap_or(""))).collect();
    b64url(&sha256(format!("{{{}}}", body.join(",")).as_bytes()))
}

/// Reads an RSA private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
/// (`BEGIN RSA PRIVATE KEY`). At least 2048 bits.
pub fn import_pem(pem: &str, now: Timestamp) -> Result<StoredKey, KeyError> {
    let (label, der) = pem_decode(pem).ok_or_else(|| KeyError::Rejected("not a PEM private key".into()))?;
    let pair = match label.as_str() {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
        other => return Err(KeyError::Rejected(format!("unsupported PEM block `{other}`"))),
    }
    .map_err(|e| KeyError::Rejected(e.to_string()))?;
    if pair.public_modulus_len() < 256 {
        return Err(KeyError::Rejected("RSA keys must have at least 2048 bits".into()));
    }
    let der = AsDer::<Pkcs8V1Der>::as_der(&pair).map_err(|_| KeyError::Rejected("cannot encode key".into()))?;
    stored(RS256, der.as_ref().to_vec(), now)
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

async fn generate_blocking(alg: &'static str, now: Timestamp) -> Result<StoredKey, KeyError> {
    tokio::task::spawn_blocking(move || generate_alg(alg, now))
        .await
        .map_err(|_| KeyError::Rejected("key generation task failed".into()))?
}

/// Makes sure the store holds an active RS256 key (importing `import_file`
/// when it exists, else generating one) and an active key of
/// `access_token_alg`.
pub async fn ensure_keys(
    store: &dyn Store, now: Timestamp, import_file: &Path, access_token_alg: &str,
) -> Result<(), KeyError> {
    let keys = store.list_keys().await?;
    // A key still to sign, or signing now, counts; a retired one does not.
    let has_active = |alg: &str| keys.iter().any(|k| k.alg == alg && k.retired_at.is_none_or(|at| at > now));
    let mut new = Vec::new();
    if !has_active(RS256) {
        let key = if import_file.exists() {
            let pem = std::fs::read_to_string(import_file)
                .map_err(|source| KeyError::Io { path: import_file.display().to_string(), source })?;
            let key = import_pem(&pem, now)?;
            tracing::info!(kid = %key.kid, file = %import_file.display(), "imported signing key");
            key
        } else {
            generate_blocking(RS256, now).await?
        };
        new.push(key);
    }
    let access_alg = alg_name(access_token_alg)
        .ok_or_else(|| KeyError::Rejected(format!("unknown algorithm {access_token_alg}")))?;
    if access_alg != RS256 && !has_active(access_alg) {
        new.push(generate_blocking(access_alg, now).await?);
    }
    for key in new {
        tracing::info!(kid = %key.kid, alg = %key.alg, "signing key ready");
        match store.insert_key(&key).await {
            // Another instance starting at the same moment made one too;
            // both are published and the newest signs.
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Makes sure a key of `alg` is active (an API signs its tokens with it),
/// making one when none is. Every instance loads it through the change feed;
/// this one at once.
pub async fn ensure_alg(store: &dyn Store, alg: &str, now: Timestamp) -> Result<(), KeyError> {
    let alg = alg_name(alg).ok_or_else(|| KeyError::Rejected(format!("unknown algorithm {alg}")))?;
    let keys = store.list_keys().await?;
    if keys.iter().any(|k| k.alg == alg && k.retired_at.is_none_or(|at| at > now) && k.activates_at <= now) {
        return Ok(());
    }
    let key = generate_blocking(alg, now).await?;
    match store.insert_key(&key).await {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Schedules a new key for every algorithm in use: published now, signing
/// from `now + delay` (normally [`ACTIVATION_DELAY`]; 0 after a compromise,
/// accepting that verifiers with a cached JWKS refuse new tokens until they
/// refetch it). The keys they replace sign until then, and stay published
/// until the tokens they signed have expired.
pub async fn rotate(store: &dyn Store, now: Timestamp, delay: i64) -> Result<Vec<StoredKey>, KeyError> {
    let keys = store.list_keys().await?;
    let mut algs: Vec<&'static str> = vec![RS256];
    for k in &keys {
        if let Some(alg) = alg_name(&k.alg) {
            if k.retired_at.is_none_or(|at| at > now) && !algs.contains(&alg) {
                algs.push(alg);
            }
        }
    }
    let mut rotated = Vec::new();
    for alg in algs {
        let mut key = generate_blocking(alg, now).await?;
        key.activates_at = now + delay.max(0);
        store.rotate_key(&key).await?;
        rotated.push(key);
    }
    Ok(rotated)
}

/// Removes a key from signing and from the JWKS at once (a compromised key:
/// tokens it signed stop verifying). Refused for the only usable key of an
/// algorithm: rotate first.
pub async fn remove(store: &dyn Store, kid: &str, now: Timestamp) -> Result<bool, KeyError> {
    let keys = store.list_keys().await?;
    let Some(key) = keys.iter().find(|k| k.kid == kid) else {
        return Ok(false);
    };
    let others = keys.iter().any(|k| k.kid != kid && k.alg == key.alg && k.retired_at.is_none_or(|at| at > now));
    if !others {
        return Err(KeyError::Rejected(format!("{kid} is the only {} key: rotate first (keys rotate --now)", key.alg)));
    }
    Ok(store.delete_key(kid).await?)
}

/// Where a key is in its life at `now`.
pub fn key_state(key: &StoredKey, now: Timestamp) -> &'static str {
    match key.retired_at {
        _ if key.activates_at > now => "pending",
        Some(at) if at <= now => "retired",
        _ => "signing",
    }
}

/// A key that signs between `from` and `until`.
struct Signer {
    from: Timestamp,
    until: Option<Timestamp>,
    key: Arc<SigningKey>,
}

struct KeySet {
    /// Per algorithm, the keys that sign now or later, newest first.
    signers: HashMap<&'static str, Vec<Signer>>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    jwks: Arc<[u8]>,
}

impl KeySet {
    /// The key of `alg` that signs at `now`: the newest one whose time has
    /// come and not passed. Should none qualify (a clock far behind the one
    /// that scheduled the keys), the earliest unretired key.
    fn signer(&self, alg: &str, now: Timestamp) -> Option<Arc<SigningKey>> {
        let list = self.signers.get(alg)?;
        list.iter()
            .find(|s| s.from <= now && s.until.is_none_or(|u| u > now))
            .or_else(|| list.iter().filter(|s| s.until.is_none_or(|u| u > now)).min_by_key(|s| s.from))
            .map(|s| s.key.clone())
    }
}

/// The keys an instance signs with and publishes.
pub struct KeyRing {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// How long a retired key stays published: the longest token lifetime
    /// plus a margin for clock skew.
    publish_window: i64,
    access_token_alg: &'static str,
    current: RwLock<Arc<KeySet>>,
    last_reload: Mutex<Option<Instant>>,
}

impl KeyRing {
    pub async fn load(
        store: Arc<dyn Store>, clock: Arc<dyn Clock>, publish_window: i64, access_token_alg: &str,
    ) -> Result<Self, KeyError> {
        let access_token_alg = alg_name(access_token_alg)
            .ok_or_else(|| KeyError::Rejected(format!("unknown algorithm {access_token_alg}")))?;
        let set = Self::build(&*store, clock.now(), publish_window, access_token_alg).await?;
        Ok(Self {
            store,
            clock,
            publish_window,
            access_token_alg,
            current: RwLock::new(Arc::new(set)),
            last_reload: Mutex::new(None),
        })
    }

    async fn build(
        store: &dyn Store, now: Timestamp, window: i64, access_alg: &'static str,
    ) -> Result<KeySet, KeyError> {
        let stored = store.list_keys().await?;
        let mut by_kid = HashMap::new();
        let mut signers: HashMap<&'static str, Vec<Signer>> = HashMap::new();
        let mut jwks = Vec::new();
        // Newest first (the store's order): pending keys are published too.
        for key in &stored {
            let published = key.retired_at.is_none_or(|at| at + window > now);
            if !published || alg_name(&key.alg).is_none() {
                continue;
            }
            let signing = Arc::new(SigningKey::from_stored(key)?);
            if key.retired_at.is_none_or(|at| at > now) {
                signers.entry(signing.alg).or_default().push(Signer {
                    from: key.activates_at,
                    until: key.retired_at,
                    key: signing.clone(),
                });
            }
            jwks.push(signing.jwk.clone());
            by_kid.insert(key.kid.clone(), signing);
        }
        let set = KeySet { signers, by_kid, jwks: Arc::from(Vec::new()) };
        for alg in [RS256, access_alg] {
            if set.signer(alg, now).is_none() {
                return Err(KeyError::NoKey(alg.into()));
            }
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": jwks })).map_err(|_| KeyError::Sign)?;
        Ok(KeySet { jwks: jwks.into(), ..set })
    }

    fn set(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the key set from the store.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let set = Self::build(&*self.store, self.clock.now(), self.publish_window, self.access_token_alg).await?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        Ok(())
    }

    /// The JWKS document, serialized once per reload.
    pub fn jwks(&self) -> Arc<[u8]> {
        self.set().jwks.clone()
    }

    /// The kid of the active RS256 key.
    pub fn active_kid(&self) -> String {
        self.active(RS256).map(|k| k.kid.clone()).unwrap_or_default()
    }

    fn active(&self, alg: &str) -> Result<Arc<SigningKey>, KeyError> {
        self.set().signer(alg, self.clock.now()).ok_or_else(|| KeyError::NoKey(alg.into()))
    }

    /// Signs with the active RS256 key (ID tokens and anything a relying
    /// party must be able to verify).
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        self.active(RS256)?.sign(typ, claims)
    }

    /// Signs an access token with the configured access-token algorithm.
    pub fn sign_access<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyError> {
        self.active(self.access_token_alg)?.sign(typ, claims)
    }

    /// Signs an access token with `alg` (an API's), or the configured one.
    /// A key made for a new API may still be on its way through the change
    /// feed: the ring reloads once before giving up.
    pub async fn sign_access_with<T: Serialize>(
        &self, alg: Option<&str>, typ: &str, claims: &T,
    ) -> Result<String, KeyError> {
        let Some(alg) = alg else {
            return self.sign_access(typ, claims);
        };
        if self.active(alg).is_err() {
            self.reload().await?;
        }
        self.active(alg)?.sign(typ, claims)
    }

    /// Verifies a JWT's signature (with the key its `kid` names, in that
    /// key's algorithm only), its `typ` header (when `typ` is given) and its
    /// `iss`. Expiry is the caller's rule, checked against the app clock.
    pub async fn verify<T: DeserializeOwned>(
        &self, token: &str, typ: Option<&str>, issuer: &str,
    ) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
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
        // The key fixes the algorithm: a header naming another one (or
        // "none") is refused (RFC 8725 §3.1).
        if header.alg != key.algorithm {
            return Err(VerifyError::Malformed);
        }
        let mut validation = Validation::new(key.algorithm);
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
    fn every_algorithm_signs_and_verifies() {
        for alg in ALGORITHMS {
            let stored = generate_alg(alg, 1).unwrap();
            let key = SigningKey::from_stored(&stored).unwrap();
            assert_eq!(key.jwk["kid"], stored.kid.as_str());
            assert!(key.jwk.get("d").is_none(), "{alg}: private part published");
            let token = key.sign("at+jwt", &serde_json::json!({"sub": "y"})).unwrap();
            let mut v = Validation::new(key.algorithm);
            v.required_spec_claims.clear();
            v.validate_exp = false;
            let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key.decoding, &v).unwrap();
            assert_eq!(data.claims["sub"], "y", "{alg}");
            assert_eq!(SigningKey::from_stored(&stored).unwrap().kid, stored.kid, "{alg}: kid is stable");
        }
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
        });
        assert_eq!(thumbprint(&jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn signature_verifies_with_published_components() {
        let stored = generate(1).unwrap();
        let key = SigningKey::from_stored(&stored).unwrap();
        let token = key.sign("at+jwt", &serde_json::json!({"iss": "x", "sub": "y"})).unwrap();
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
