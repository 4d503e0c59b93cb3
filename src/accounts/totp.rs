//! Time-based one-time passwords (RFC 6238, HMAC-SHA-1, 6 digits, 30 s): the
//! secret and its `otpauth://` URI and QR code, checking codes without
//! replay, sealing secrets at rest, and backup codes. Pure logic: the caller
//! passes the time in and stores what comes out.

use std::fmt::Write as _;

use aws_lc_rs::hmac;
use qrcode::{Color, EcLevel, QrCode};

use crate::crypto::{constant_time_eq, hex, random_bytes, sha256};

/// Digits per code: the default of the Key Uri Format, so every app agrees.
pub const DIGITS: usize = 6;
/// Seconds per time step (RFC 6238 §5.2 recommends 30).
pub const STEP: i64 = 30;
/// 160 bits, as RFC 4226 §4 recommends for HMAC-SHA-1.
pub const SECRET_LEN: usize = 20;
pub const BACKUP_CODES: usize = 10;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

pub fn generate_secret() -> Vec<u8> {
    random_bytes(SECRET_LEN)
}

/// RFC 4648 §6 base32, upper case, no padding: what authenticator apps expect.
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

/// Decodes base32, tolerating what people type or paste: lower case, spaces,
/// dashes and padding. `None` for any other character, or for a length no
/// encoder produces (a last group of 1, 3 or 6 characters).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    // Only the low `bits` bits matter; older ones shift out harmlessly.
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
    // A whole spare character (5+ bits left over) means a truncated input.
    (bits < 5).then_some(out)
}

/// Percent-encodes for the URI: `form_urlencoded` writes a space as `+`,
/// which a path segment would read as a literal plus, so use `%20` instead
/// (a real `+` was already encoded as `%2B`).
fn percent(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

/// The Key Uri Format authenticator apps read from the QR code. The issuer
/// goes both in the label and in the `issuer` parameter, as the format
/// recommends for apps that read only one of them; a `:` inside either label
/// part is encoded so it cannot be mistaken for the separator.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        percent(issuer),
        percent(account),
        base32(secret),
        percent(issuer)
    )
}

/// Light modules around the code: the QR specification (ISO/IEC 18004 §6.3.8)
/// asks for four, and scanners struggle with less.
const QUIET_ZONE: usize = 4;

/// The QR code of `data` as an inline SVG: one path, colours as attributes
/// (the pages' CSP allows no inline styles), a white background including
/// the quiet zone. Empty only when `data` is too long for any QR code, which
/// an `otpauth://` URI never is.
pub fn qr_svg(data: &str) -> String {
    let Ok(code) = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::M) else {
        return String::new();
    };
    let size = code.width() + 2 * QUIET_ZONE;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" role=\"img\" aria-label=\"QR code\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#ffffff\"/>\
         <path fill=\"#000000\" d=\"{}\"/></svg>",
        dark_path(&code)
    )
}

/// Path data for the dark modules, one rectangle per horizontal run rather
/// than per module: the SVG comes out several times smaller.
fn dark_path(code: &QrCode) -> String {
    let mut path = String::new();
    for (y, row) in code.to_colors().chunks(code.width()).enumerate() {
        let mut x = 0;
        for run in row.chunk_by(|a, b| a == b) {
            if run.first() == Some(&Color::Dark) {
                let (left, top, len) = (x + QUIET_ZONE, y + QUIET_ZONE, run.len());
                // Writing to a String cannot fail.
                let _ = write!(path, "M{left} {top}h{len}v1h-{len}z");
            }
            x += run.len();
        }
    }
    path
}

/// RFC 4226 §5.3: HOTP with dynamic truncation, as RFC 6238 uses it.
fn hotp(secret: &[u8], counter: u64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    // The low nibble of the last byte picks where the 31-bit value starts
    // (at most 15, so four bytes always fit in the 20-byte MAC).
    let offset = (mac[mac.len() - 1] & 0x0f) as usize;
    let binary = u32::from_be_bytes([mac[offset] & 0x7f, mac[offset + 1], mac[offset + 2], mac[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(DIGITS as u32), width = DIGITS)
}

/// RFC 6238 §4.2: T = floor(unix_time / STEP). A time before 1970 cannot
/// come from a working clock; it is clamped to step 0 rather than wrapped.
fn step_counter(step: i64) -> u64 {
    u64::try_from(step).unwrap_or(0)
}

/// The code an authenticator app shows at `unix_time`, zero-padded.
pub fn code_at(secret: &[u8], unix_time: i64) -> String {
    hotp(secret, step_counter(unix_time.div_euclid(STEP)))
}

/// Checks `code` (digits, spaces allowed) at `now`, one step either side for
/// clock skew (RFC 6238 §5.2 recommends at most one). Returns the matching
/// step only when it is newer than `last_step`: RFC 6238 §5.2 says a
/// verifier MUST NOT accept a code a second time, and refusing older steps
/// too stops a code seen earlier from being used after a newer one.
pub fn verify(secret: &[u8], code: &str, now: i64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now.div_euclid(STEP);
    let mut found = None;
    // Every candidate is computed and compared in constant time, so the
    // timing tells nothing about which step (or how many digits) matched.
    for step in [current - 1, current, current + 1] {
        let matches = constant_time_eq(hotp(secret, step_counter(step)).as_bytes(), code.as_bytes());
        if matches && step >= 0 && last_step.is_none_or(|last| step > last) {
            found = Some(step);
        }
    }
    found
}

/// Keeps TOTP keys sealed apart from anything else the same key material
/// seals.
const SEAL_LABEL: &[u8] = b"latchkey totp v1";

/// Encrypts a TOTP secret for storage, bound to the account (`aad`, the
/// user id), so a sealed secret copied to another account does not open.
pub fn seal(key_material: &[u8], aad: &str, secret: &[u8]) -> Vec<u8> {
    crate::crypto::seal(SEAL_LABEL, key_material, aad, secret)
}

/// Decrypts what `seal` produced; `None` on a wrong key, a wrong `aad`, or
/// any change to the stored bytes.
pub fn open(key_material: &[u8], aad: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    crate::crypto::open(SEAL_LABEL, key_material, aad, sealed)
}

/// Letters and digits that cannot be mistaken for one another: no 0/o, no
/// 1/l/i. 31 symbols, so a code of 10 carries 10·log2(31) ≈ 49.5 bits.
const CODE_ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";
const CODE_LEN: usize = 10;

/// `len` characters drawn uniformly from `CODE_ALPHABET`.
fn random_code(len: usize) -> String {
    // 256 is not a multiple of 31: bytes from 248 up are skipped, or the
    // first symbols would come up more often than the rest.
    let limit = 256 - 256 % CODE_ALPHABET.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes(len - out.len()) {
            if usize::from(byte) < limit {
                out.push(CODE_ALPHABET[usize::from(byte) % CODE_ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// Ten distinct single-use codes, shown as `xxxxx-xxxxx`.
pub fn backup_codes() -> Vec<String> {
    let mut codes: Vec<String> = Vec::with_capacity(BACKUP_CODES);
    while codes.len() < BACKUP_CODES {
        let raw = random_code(CODE_LEN);
        let code = format!("{}-{}", &raw[..CODE_LEN / 2], &raw[CODE_LEN / 2..]);
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    codes
}

/// The form a backup code is compared in, so that however it is typed
/// (upper case, without the dash, with spaces) it matches.
pub fn normalize_backup_code(code: &str) -> String {
    code.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_lowercase()).collect()
}

/// The stored form of a backup code. A fast hash is enough, unlike for
/// passwords: the codes are random with about 50 bits of entropy, and work
/// only as a second factor after the password (or GitHub), so a stolen table
/// is not worth brute-forcing and online guessing is throttled.
pub fn backup_code_hash(code: &str) -> String {
    hex(&sha256(normalize_backup_code(code).as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 Appendix B: 8-digit codes, of which we show the last 6.
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
    fn base32_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn base32_round_trips_and_tolerates_typing() {
        assert_eq!(base32_decode("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZXW6-YTBOI").unwrap(), b"foobar");
        let s = generate_secret();
        assert_eq!(s.len(), SECRET_LEN);
        assert_eq!(base32(&s).len(), 32);
        assert_eq!(base32_decode(&base32(&s)).unwrap(), s);
        assert!(base32_decode("not base32!").is_none());
        assert!(base32_decode("MZXW6YTBO").is_none(), "truncated");
    }

    #[test]
    fn otpauth_uri_encodes_the_label() {
        assert_eq!(
            otpauth_uri("Acme ID", "ada@example.com", b"foobar"),
            "otpauth://totp/Acme%20ID:ada%40example.com?secret=MZXW6YTBOI&issuer=Acme%20ID\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert!(otpauth_uri("A:B", "c+d", b"x").starts_with("otpauth://totp/A%3AB:c%2Bd?"));
    }

    #[test]
    fn verify_allows_one_step_of_skew() {
        // A fixed secret keeps the test deterministic: with a random one, a
        // neighbouring step's code repeats one in a million runs.
        let secret = b"12345678901234567890";
        let now = 1_800_000_000;
        let step = now / STEP;
        assert_eq!(verify(secret, &code_at(secret, now), now, None), Some(step));
        assert_eq!(verify(secret, &code_at(secret, now - STEP), now, None), Some(step - 1));
        assert_eq!(verify(secret, &code_at(secret, now + STEP), now, None), Some(step + 1));
        assert_eq!(verify(secret, &code_at(secret, now - 2 * STEP), now, None), None);
        assert_eq!(verify(secret, &code_at(secret, now + 2 * STEP), now, None), None);
    }

    #[test]
    fn verify_reads_digits_only() {
        let secret = b"12345678901234567890";
        // RFC 6238 Appendix B, t = 59: 94287082.
        assert_eq!(verify(secret, "287 082", 59, None), Some(1));
        assert_eq!(verify(secret, " 287082\n", 59, None), Some(1));
        assert_eq!(verify(secret, "28708", 59, None), None);
        assert_eq!(verify(secret, "2870822", 59, None), None);
        assert_eq!(verify(secret, "28708a", 59, None), None);
        assert_eq!(verify(secret, "", 59, None), None);
        assert_eq!(verify(secret, "２８７０８２", 59, None), None, "full-width digits");
    }

    #[test]
    fn verify_refuses_replay_and_older_codes() {
        let secret = b"12345678901234567890";
        let now = 1_800_000_000;
        let step = verify(secret, &code_at(secret, now), now, None).unwrap();
        assert_eq!(verify(secret, &code_at(secret, now), now, Some(step)), None, "replay");
        assert_eq!(verify(secret, &code_at(secret, now - STEP), now, Some(step)), None, "older");
        // The next step's code is still good, even within the same window.
        assert_eq!(verify(secret, &code_at(secret, now + STEP), now, Some(step)), Some(step + 1));
    }

    #[test]
    fn sealing_binds_key_and_owner() {
        use aws_lc_rs::aead::NONCE_LEN;
        let secret = generate_secret();
        let sealed = seal(b"key", "user-1", &secret);
        assert_eq!(sealed.len(), NONCE_LEN + SECRET_LEN + 16, "nonce, ciphertext, tag");
        assert_eq!(open(b"key", "user-1", &sealed).unwrap(), secret);
        assert!(open(b"other", "user-1", &sealed).is_none(), "wrong key");
        assert!(open(b"key", "user-2", &sealed).is_none(), "wrong owner");
        for i in [0, NONCE_LEN, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[i] ^= 1;
            assert!(open(b"key", "user-1", &tampered).is_none(), "byte {i} changed");
        }
        assert!(open(b"key", "user-1", &sealed[..NONCE_LEN]).is_none());
        assert!(open(b"key", "user-1", &[]).is_none());
        assert_ne!(seal(b"key", "user-1", &secret), sealed, "random nonce");
    }

    #[test]
    fn backup_codes_are_distinct_and_formatted() {
        let codes = backup_codes();
        assert_eq!(codes.len(), BACKUP_CODES);
        assert_eq!(codes.iter().collect::<HashSet<_>>().len(), BACKUP_CODES);
        for code in &codes {
            let (left, right) = code.split_once('-').unwrap();
            assert_eq!((left.len(), right.len()), (5, 5), "{code}");
            assert!(code.bytes().filter(|b| *b != b'-').all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        }
    }

    #[test]
    fn backup_code_alphabet_is_unambiguous() {
        assert_eq!(CODE_ALPHABET.iter().collect::<HashSet<_>>().len(), CODE_ALPHABET.len());
        assert!(!CODE_ALPHABET.iter().any(|b| b"0o1li".contains(b)));
        // Every symbol turns up: none is left out by the rejection sampling.
        let seen: HashSet<u8> = (0..50).flat_map(|_| random_code(CODE_LEN).into_bytes()).collect();
        assert_eq!(seen.len(), CODE_ALPHABET.len());
    }

    #[test]
    fn backup_codes_hash_the_same_however_typed() {
        assert_eq!(normalize_backup_code(" ABCDE-FGHJK "), "abcdefghjk");
        assert_eq!(backup_code_hash("ABCDE-FGHJK"), backup_code_hash("abcdefghjk"));
        assert_eq!(backup_code_hash("abcde fghjk"), backup_code_hash("abcdefghjk"));
        assert_ne!(backup_code_hash("abcdefghjk"), backup_code_hash("abcdefghjm"));
        assert_eq!(backup_code_hash("abcdefghjk").len(), 64);
    }

    #[test]
    fn qr_svg_is_plain_deterministic_svg() {
        let uri = otpauth_uri("Acme", "ada", b"12345678901234567890");
        let svg = qr_svg(&uri);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("role=\"img\" aria-label=\"QR code\""));
        assert!(!svg.contains("style=") && !svg.contains("<script"));
        assert_eq!(svg.matches("<path").count(), 1);
        assert_eq!(svg, qr_svg(&uri));
        // Modules plus a 4-module quiet zone each side, all on the white rect.
        let width = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M).unwrap().width();
        let size = width + 2 * QUIET_ZONE;
        assert!(svg.contains(&format!("viewBox=\"0 0 {size} {size}\"")));
        assert!(svg.contains(&format!("<rect width=\"{size}\" height=\"{size}\" fill=\"#ffffff\"/>")));
        // The top-left finder pattern starts right after the quiet zone.
        assert!(svg.contains("d=\"M4 4h7v1h-7z"));
    }

    #[test]
    fn qr_path_covers_exactly_the_dark_modules() {
        let code = QrCode::with_error_correction_level(b"otpauth://totp/A:b?secret=MY", EcLevel::M).unwrap();
        let width = code.width();
        let mut painted = vec![false; width * width];
        for rect in dark_path(&code).split('M').skip(1) {
            let (x, rest) = rect.split_once(' ').unwrap();
            let (y, rest) = rest.split_once('h').unwrap();
            let (len, _) = rest.split_once('v').unwrap();
            let (x, y, len): (usize, usize, usize) = (x.parse().unwrap(), y.parse().unwrap(), len.parse().unwrap());
            for dx in 0..len {
                painted[(y - QUIET_ZONE) * width + x - QUIET_ZONE + dx] = true;
            }
        }
        let dark: Vec<bool> = code.to_colors().iter().map(|c| *c == Color::Dark).collect();
        assert_eq!(painted, dark);
    }

    #[test]
    fn qr_svg_is_empty_for_data_no_qr_code_holds() {
        assert_eq!(qr_svg(&"x".repeat(5000)), "");
    }
}
