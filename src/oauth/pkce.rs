//! PKCE (RFC 7636) with S256 only: `plain` gives no protection against a
//! leaked authorization request (RFC 9700 §2.1.1), so it is refused.

use crate::crypto::{b64url, constant_time_eq, sha256};

/// RFC 7636 §4.1: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
fn valid_chars(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks the challenge sent to /authorize.
pub fn check_challenge(challenge: &str, method: Option<&str>) -> Result<(), &'static str> {
    match method {
        Some("S256") => {}
        Some("plain") => return Err("code_challenge_method plain is not allowed; use S256"),
        None => return Err("code_challenge_method is required and must be S256"),
        Some(_) => return Err("unsupported code_challenge_method; use S256"),
    }
    // An S256 challenge is the base64url of a SHA-256 digest: 43 characters.
    if challenge.len() != 43 || !valid_chars(challenge) {
        return Err("code_challenge is not a valid S256 challenge");
    }
    Ok(())
}

/// RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    valid_chars(verifier) && constant_time_eq(b64url(&sha256(verifier.as_bytes())).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_challenge(challenge, Some("S256")).is_ok());
        assert!(verify(verifier, challenge));
        assert!(!verify("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX", challenge));
        assert!(check_challenge(challenge, Some("plain")).is_err());
        assert!(check_challenge(challenge, None).is_err());
        assert!(check_challenge("short", Some("S256")).is_err());
    }
}
