//! Human passwords: argon2id, computed off the async runtime with a bound on
//! how many run at once (each holds `memory_kib` of memory, so a flood of
//! sign-ins must queue rather than exhaust memory).

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::config::Argon2Params;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../../assets/common-passwords.txt").lines().collect());

/// Why a new password is refused, in words for the person choosing it.
pub fn check_policy(password: &str, username: &str, email: &str) -> Result<(), &'static str> {
    let len = password.chars().count();
    if len < MIN_LENGTH {
        return Err("Use at least 8 characters.");
    }
    if len > MAX_LENGTH {
        return Err("Use at most 128 characters.");
    }
    let lower = password.to_lowercase();
    if COMMON.contains(lower.as_str()) {
        return Err("This password is one of the most common passwords. Choose another.");
    }
    if lower == username.to_lowercase() || lower == email.to_lowercase() {
        return Err("Your password must differ from your username and email.");
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("hashing task failed")]
    Task,
}

#[derive(Clone)]
pub struct PasswordHasherPool {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does
    /// not exist so that an unknown username costs the same time. Made on
    /// first use, so start-up does not pay for it.
    dummy: Arc<tokio::sync::OnceCell<String>>,
}

pub struct Verified {
    pub ok: bool,
    /// The stored hash used other parameters than ours: store a new one.
    pub needs_rehash: bool,
}

impl PasswordHasherPool {
    pub fn new(p: Argon2Params, concurrency: usize) -> Result<Self, HashError> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| HashError::Argon2(e.to_string()))?;
        Ok(Self { params, permits: Arc::new(Semaphore::new(concurrency.max(1))), dummy: Arc::default() })
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Task)?;
        let params = self.params.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || hash_with(&params, &password)).await.map_err(|_| HashError::Task)?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when
    /// there is no stored hash, so both paths take the same time.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified, HashError> {
        let exists = stored.is_some();
        let stored = match stored {
            Some(s) => s.to_string(),
            None => {
                let pool = self.clone();
                self.dummy
                    .get_or_try_init(|| async move { pool.hash(&crate::crypto::random_token(16)).await })
                    .await?
                    .clone()
            }
        };
        let _permit = self.permits.acquire().await.map_err(|_| HashError::Task)?;
        let password = password.to_string();
        let params = self.params.clone();
        let (ok, needs_rehash) = tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return (false, false);
            };
            let ok = argon2(&params).verify_password(password.as_bytes(), &parsed).is_ok();
            let current = Params::try_from(&parsed).ok();
            let same = parsed.algorithm.as_str() == "argon2id"
                && current.is_some_and(|c| {
                    c.m_cost() == params.m_cost() && c.t_cost() == params.t_cost() && c.p_cost() == params.p_cost()
                });
            (ok, !same)
        })
        .await
        .map_err(|_| HashError::Task)?;
        Ok(Verified { ok: ok && exists, needs_rehash: ok && exists && needs_rehash })
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &str) -> Result<String, HashError> {
    argon2(params)
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Params {
        Argon2Params { memory_kib: 1024, iterations: 1, parallelism: 1 }
    }

    #[tokio::test]
    async fn hash_verify_and_rehash() {
        let pool = PasswordHasherPool::new(cheap(), 2).unwrap();
        let hash = pool.hash("correct horse battery").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let v = pool.verify("correct horse battery", Some(&hash)).await.unwrap();
        assert!(v.ok && !v.needs_rehash);
        assert!(!pool.verify("wrong", Some(&hash)).await.unwrap().ok);
        assert!(!pool.verify("anything", None).await.unwrap().ok);
        let stronger = PasswordHasherPool::new(Argon2Params { memory_kib: 2048, ..cheap() }, 1).unwrap();
        let v = stronger.verify("correct horse battery", Some(&hash)).await.unwrap();
        assert!(v.ok && v.needs_rehash);
    }

    #[test]
    fn policy() {
        assert!(check_policy("short", "u", "e@x").is_err());
        assert!(check_policy("password123", "u", "e@x").is_err());
        assert!(check_policy("PASSWORD1", "u", "e@x").is_err(), "case-insensitive list");
        assert!(check_policy(&"x".repeat(129), "u", "e@x").is_err());
        assert!(check_policy("adalovelace", "AdaLovelace", "e@x").is_err());
        assert!(check_policy("tangerine-kettle-47", "ada", "ada@example.com").is_ok());
        assert!(COMMON.len() >= 9_000);
    }
}
