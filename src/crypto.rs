//! Small cryptographic helpers: random tokens, fast hashes for our own
//! high-entropy secrets, constant-time comparison, and a redacting wrapper.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    // The system RNG only fails when the OS cannot provide entropy at all;
    // continuing with zeros would be far worse than stopping.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut buf).expect("operating system RNG failed");
    buf
}

/// A URL-safe random token carrying `bytes * 8` bits of entropy.
pub fn random_token(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub fn b64url_decode(data: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(data).ok()
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// The storage key of one of our own random secrets (codes, session ids,
/// client secrets, refresh tokens). They carry 256 bits of entropy, so a fast
/// hash is enough: a stolen table cannot be brute-forced back to the secret.
pub fn token_hash(token: &str) -> String {
    hex(&sha256(token.as_bytes()))
}

pub fn hex(data: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(data.len() * 2);
    for b in data {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// Compares two byte strings in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The AES-256 key for `label`: SHA-256 of the label and the key material,
/// so each use of the same material has its own key.
fn sealing_key(label: &[u8], key_material: &[u8]) -> LessSafeKey {
    let mut material = label.to_vec();
    material.extend_from_slice(key_material);
    // A SHA-256 digest is exactly the 32 bytes AES-256 takes: this cannot fail.
    #[allow(clippy::expect_used)]
    let key = UnboundKey::new(&AES_256_GCM, &sha256(&material)).expect("SHA-256 output is an AES-256 key");
    LessSafeKey::new(key)
}

/// Encrypts a secret for storage: AES-256-GCM with a random 96-bit nonce in
/// front, and `aad` (the owner's id) bound in, so a sealed secret copied to
/// another row does not open. Random nonces are safe here: a key seals one
/// secret per enrolment or registration, far below the 2^32 messages NIST
/// SP 800-38D §8.3 allows per key.
pub fn seal(label: &[u8], key_material: &[u8], aad: &str, plain: &[u8]) -> Vec<u8> {
    let key = sealing_key(label, key_material);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&random_bytes(NONCE_LEN));
    let mut data = plain.to_vec();
    // GCM refuses only messages of 64 GiB or more; our secrets are short.
    #[allow(clippy::expect_used)]
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.as_bytes()), &mut data)
        .expect("a short secret is within the AES-GCM length limit");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    out
}

/// Decrypts what [`seal`] produced; `None` on a wrong key, label or `aad`,
/// or any change to the stored bytes (the GCM tag covers them all).
pub fn open(label: &[u8], key_material: &[u8], aad: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() <= NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = ciphertext.to_vec();
    let plain = sealing_key(label, key_material).open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data).ok()?;
    Some(plain.to_vec())
}

/// A secret string whose `Debug` never shows its value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_url_safe() {
        let a = random_token(32);
        let b = random_token(32);
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
