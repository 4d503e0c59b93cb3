//! Time-based one-time passwords (RFC 6238, HMAC-SHA-1, 6 digits, 30 s): the
//! secret and its `otpauth://` URI and QR code, checking codes without
//! replay, sealing secrets at rest, and backup codes.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;

use crate::crypto::{constant_time_eq, hex, random_bytes, sha256};

pub const DIGITS: usize = 6;
pub const STEP: i64 = 30;
/// 160 bits, as RFC 4226 §4 recommends for HMAC-SHA-1.
pub const SECRET_LEN: usize = 20;
pub const BACKUP_CODES: usize = 10;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub fn generate_secret() -> Vec<u8> {
    random_bytes(SECRET_LEN)
}

/// RFC 4648 base32, upper case, no padding: what authenticator apps expect.
pub fn base32(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            out.push(BASE32[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32, tolerating lower case, spaces, dashes and padding.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in text.chars().filter(|c| !matches!(c, ' ' | '-' | '=')) {
        let value = BASE32.iter().position(|&b| b as char == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

fn percent(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The Key Uri Format authenticator apps read from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        percent(issuer),
        percent(account),
        base32(secret),
        percent(issuer)
    )
}

/// The QR code of `data` as an inline SVG: one path, colours as attributes
/// (the pages' CSP allows no inline styles), a 4-module quiet zone.
pub fn qr_svg(data: &str) -> String {
    let Ok(code) = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M) else {
        return String::new();
    };
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 8;
    let mut path = String::new();
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            path.push_str(&format!("M{} {}h1v1h-1z", i % width + 4, i / width + 4));
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" role=\"img\" aria-label=\"QR code\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#ffffff\"/>\
         <path fill=\"#000000\" d=\"{path}\"/></svg>"
    )
}

/// RFC 4226 §5.3: HOTP with dynamic truncation, as RFC 6238 uses it.
fn hotp(secret: &[u8], counter: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    binary % 10u32.pow(DIGITS as u32)
}

pub fn code_at(secret: &[u8], unix_time: i64) -> String {
    let step = unix_time.div_euclid(STEP).max(0) as u64;
    format!("{:0width$}", hotp(secret, step), width = DIGITS)
}

/// Checks `code` at `now`, one step either side for clock skew. Returns the
/// matching step when it is newer than `last_step`, so neither this code nor
/// an older one can be used again.
pub fn verify(secret: &[u8], code: &str, now: i64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let current = now.div_euclid(STEP);
    let mut found = None;
    // Every candidate is computed and compared, so timing does not tell
    // which step matched.
    for step in [current - 1, current, current + 1] {
        if step < 0 {
            continue;
        }
        let expected = format!("{:0width$}", hotp(secret, step as u64), width = DIGITS);
        if constant_time_eq(expected.as_bytes(), code.as_bytes()) && last_step.is_none_or(|last| step > last) {
            found = Some(step);
        }
    }
    found
}

fn sealing_key(key_material: &[u8]) -> Option<LessSafeKey> {
    let mut material = b"latchkey totp v1".to_vec();
    material.extend_from_slice(key_material);
    UnboundKey::new(&AES_256_GCM, &sha256(&material))
        .ok()
        .map(LessSafeKey::new)
}

/// Encrypts a secret for storage: AES-256-GCM, a random nonce in front,
/// `aad` (the user id) bound in, so a sealed secret copied to another
/// account does not open.
pub fn seal(key_material: &[u8], aad: &str, secret: &[u8]) -> Vec<u8> {
    let Some(key) = sealing_key(key_material) else {
        return Vec::new();
    };
    let nonce_bytes = random_bytes(NONCE_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&nonce_bytes);
    let mut data = secret.to_vec();
    if key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut data,
        )
        .is_err()
    {
        return Vec::new();
    }
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    out
}

pub fn open(key_material: &[u8], aad: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() <= NONCE_LEN {
        return None;
    }
    let key = sealing_key(key_material)?;
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = ciphertext.to_vec();
    let plain = key.open_in_place(nonce, Aad::from(aad.as_bytes()), &mut data).ok()?;
    Some(plain.to_vec())
}

/// Letters and digits that cannot be mistaken for one another.
const CODE_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz23456789z";

/// Ten single-use codes of 10 characters (about 50 bits each), shown as
/// `xxxxx-xxxxx`.
pub fn backup_codes() -> Vec<String> {
    let mut codes: Vec<String> = Vec::with_capacity(BACKUP_CODES);
    while codes.len() < BACKUP_CODES {
        let raw: String = random_bytes(10)
            .iter()
            .map(|b| CODE_ALPHABET[(b & 31) as usize] as char)
            .collect();
        let code = format!("{}-{}", &raw[..5], &raw[5..]);
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

pub fn normalize_backup_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The stored form of a backup code. A fast hash is enough: the codes carry
/// about 50 bits of entropy and work only after the password (or GitHub).
pub fn backup_code_hash(code: &str) -> String {
    hex(&sha256(normalize_backup_code(code).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = b"12345678901234567890";
        for (t, expected) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(secret, t), expected[2..], "t = {t}");
        }
    }

    #[test]
    fn base32_round_trips() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32_decode("mzxw 6ytb oi====").unwrap(), b"foobar");
        let s = generate_secret();
        assert_eq!(base32_decode(&base32(&s)).unwrap(), s);
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn verify_allows_skew_and_refuses_replay() {
        let secret = generate_secret();
        let now = 1_800_000_000;
        let step = now / STEP;
        assert_eq!(verify(&secret, &code_at(&secret, now), now, None), Some(step));
        assert_eq!(
            verify(&secret, &code_at(&secret, now - STEP), now, None),
            Some(step - 1)
        );
        assert_eq!(
            verify(&secret, &code_at(&secret, now + STEP), now, None),
            Some(step + 1)
        );
        assert_eq!(verify(&secret, &code_at(&secret, now - 2 * STEP), now, None), None);
        assert_eq!(verify(&secret, &code_at(&secret, now), now, Some(step)), None, "replay");
        assert_eq!(
            verify(&secret, &code_at(&secret, now - STEP), now, Some(step)),
            None,
            "older"
        );
        assert_eq!(verify(&secret, "12345", now, None), None);
        assert_eq!(verify(&secret, "abcdef", now, None), None);
    }

    #[test]
    fn sealing_binds_key_and_owner() {
        let sealed = seal(b"key", "user-1", b"secret");
        assert_eq!(open(b"key", "user-1", &sealed).unwrap(), b"secret");
        assert!(open(b"other", "user-1", &sealed).is_none());
        assert!(open(b"key", "user-2", &sealed).is_none());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(b"key", "user-1", &tampered).is_none());
        assert_ne!(seal(b"key", "user-1", b"secret"), sealed, "random nonce");
    }

    #[test]
    fn backup_codes_are_distinct_and_normalised() {
        let codes = backup_codes();
        assert_eq!(codes.len(), BACKUP_CODES);
        let mut unique = codes.clone();
        unique.dedup();
        assert_eq!(unique.len(), BACKUP_CODES);
        assert!(codes.iter().all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        assert_eq!(backup_code_hash("ABCDE-FGHJK"), backup_code_hash("abcdefghjk"));
    }

    #[test]
    fn qr_svg_is_plain_svg() {
        let svg = qr_svg("otpauth://totp/Acme:ada?secret=ABC");
        assert!(svg.starts_with("<svg"));
        assert!(!svg.contains("style="));
        assert_eq!(svg, qr_svg("otpauth://totp/Acme:ada?secret=ABC"));
        assert!(otpauth_uri("Acme ID", "ada", b"foobar").starts_with("otpauth://totp/Acme%20ID:ada?secret=MZXW6YTBOI"));
    }
}
