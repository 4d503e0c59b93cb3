//! JWTs that clients sign: client assertions (RFC 7523), request objects
//! (RFC 9101) and DPoP proofs (RFC 9449), and the public keys they are
//! checked with. Everything here refuses first and explains: a JWT that is
//! too large, not three base64url parts, unsigned (`alg: none`), signed with
//! an algorithm we do not accept, or carrying a critical header we do not
//! understand never reaches signature verification.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::crypto::b64url_decode;

/// The most a client-signed JWT may weigh. Request objects are the largest
/// (every authorization parameter); 16 KiB is far above any real one and
/// keeps parsing cheap.
pub const MAX_JWT_LEN: usize = 16 * 1024;
/// The most a registered JWK set may weigh, and the most keys it may hold.
pub const MAX_JWKS_LEN: usize = 16 * 1024;
pub const MAX_KEYS: usize = 10;
/// RSA keys below 2048 bits are refused (RFC 7518 §3.3, FAPI 2.0 §5.4.1).
pub const MIN_RSA_BITS: usize = 2048;

/// Asymmetric algorithms a client may sign with.
pub const SIGNING_ALGS: &[&str] = &["RS256", "PS256", "ES256", "EdDSA"];
/// Those FAPI 2.0 allows (Security Profile §5.4.1: PS256, ES256, EdDSA).
pub const FAPI_ALGS: &[&str] = &["PS256", "ES256", "EdDSA"];
/// HMAC algorithms for `client_secret_jwt`.
pub const HMAC_ALGS: &[&str] = &["HS256", "HS384", "HS512"];

/// Members of a JWK that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

pub fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "RS256" => Algorithm::RS256,
        "PS256" => Algorithm::PS256,
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        _ => return None,
    })
}

/// A JWT's protected header, checked for shape but not yet trusted.
#[derive(Debug, Clone)]
pub struct Header {
    pub alg: String,
    pub typ: Option<String>,
    pub kid: Option<String>,
    /// The `jwk` member (DPoP proofs carry their key here).
    pub jwk: Option<Value>,
}

/// Reads a compact JWS's header, refusing what must never be verified:
/// too large, malformed, `alg` outside `accepted`, `crit` (we understand no
/// extension, so RFC 7515 §4.1.11 says refuse), or a nested JWT.
pub fn read_header(token: &str, accepted: &[&str]) -> Result<Header, &'static str> {
    if token.len() > MAX_JWT_LEN {
        return Err("the JWT is too large");
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("not a compact JWS (three base64url parts)");
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err("not a compact JWS: an empty part (unsigned JWTs are refused)");
    }
    let raw = b64url_decode(h).ok_or("the JWT header is not base64url")?;
    let header: Map<String, Value> = serde_json::from_slice(&raw).map_err(|_| "the JWT header is not a JSON object")?;
    let alg = header.get("alg").and_then(Value::as_str).ok_or("the JWT header has no alg")?;
    if alg.eq_ignore_ascii_case("none") {
        return Err("unsigned JWTs (alg none) are refused");
    }
    if !accepted.contains(&alg) {
        return Err("the JWT is signed with an algorithm that is not accepted here");
    }
    if header.contains_key("crit") {
        return Err("the JWT has critical header parameters this server does not understand");
    }
    if header.get("cty").and_then(Value::as_str).is_some_and(|c| c.eq_ignore_ascii_case("JWT")) {
        return Err("nested JWTs are refused");
    }
    let text = |name: &str| header.get(name).and_then(Value::as_str).map(str::to_string);
    Ok(Header { alg: alg.to_string(), typ: text("typ"), kid: text("kid"), jwk: header.get("jwk").cloned() })
}

/// Verifies the signature of `token` with `key` and returns its claims,
/// unchecked: the caller checks them against its own clock and rules.
pub fn verify(token: &str, alg: &str, key: &DecodingKey) -> Result<Map<String, Value>, &'static str> {
    let algorithm = algorithm(alg).ok_or("unsupported algorithm")?;
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Map<String, Value>>(token, key, &validation).map(|data| data.claims).map_err(|e| {
        match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => "the JWT signature does not verify",
            // Claims that are not a JSON object, or nested past the parser's
            // depth limit (128).
            _ => "the JWT is malformed",
        }
    })
}

/// Checks one public JWK as a client registers it or sends it in a DPoP
/// proof: public members only, a key type and curve we verify with, and
/// an RSA modulus of at least 2048 bits.
pub fn public_jwk(value: &Value) -> Result<Jwk, String> {
    let obj = value.as_object().ok_or("a JWK must be a JSON object")?;
    if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| obj.contains_key(**m)) {
        return Err(format!("a JWK must hold a public key only (it has the private member `{m}`)"));
    }
    let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|_| "a JWK is malformed".to_string())?;
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let n = b64url_decode(&rsa.n).ok_or("an RSA key's modulus is not base64url")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < MIN_RSA_BITS {
                return Err(format!("RSA keys must have at least {MIN_RSA_BITS} bits"));
            }
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {}
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {}
        AlgorithmParameters::EllipticCurve(_) | AlgorithmParameters::OctetKeyPair(_) => {
            return Err("only the P-256 and Ed25519 curves are supported".into());
        }
        _ => return Err("only RSA, EC (P-256) and OKP (Ed25519) keys are supported".into()),
    }
    Ok(jwk)
}

/// Whether `jwk` can verify `alg`.
pub fn fits(jwk: &Jwk, alg: &str) -> bool {
    let by_type = matches!(
        (&jwk.algorithm, alg),
        (AlgorithmParameters::RSA(_), "RS256" | "PS256")
            | (AlgorithmParameters::EllipticCurve(_), "ES256")
            | (AlgorithmParameters::OctetKeyPair(_), "EdDSA")
    );
    // A key that names its algorithm is for that one only (RFC 7517 §4.4);
    // one marked for encryption never verifies.
    let by_alg = jwk.common.key_algorithm.is_none_or(|a| format!("{a:?}") == alg);
    let by_use =
        jwk.common.public_key_use.as_ref().is_none_or(|u| matches!(u, jsonwebtoken::jwk::PublicKeyUse::Signature));
    by_type && by_alg && by_use
}

/// Checks a JWK set as registered (RFC 7591 `jwks`, or what `jwks_uri`
/// serves) and returns it parsed.
pub fn key_set(text: &str) -> Result<JwkSet, String> {
    if text.len() > MAX_JWKS_LEN {
        return Err(format!("jwks must be at most {MAX_JWKS_LEN} bytes"));
    }
    let value: Value = serde_json::from_str(text).map_err(|_| "jwks is not valid JSON".to_string())?;
    let keys = value.get("keys").and_then(Value::as_array).ok_or("jwks must be an object with a `keys` array")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("jwks must hold 1 to {MAX_KEYS} keys"));
    }
    let keys = keys.iter().map(public_jwk).collect::<Result<Vec<_>, _>>()?;
    Ok(JwkSet { keys })
}

/// The keys of `set` that may have signed a JWT with this header: the one
/// named by `kid`, or, without a kid, every key fit for the algorithm.
pub fn candidates<'s>(set: &'s JwkSet, header: &Header) -> Vec<&'s Jwk> {
    set.keys
        .iter()
        .filter(|k| fits(k, &header.alg))
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        .collect()
}

/// Verifies `token` with whichever candidate key signed it.
pub fn verify_with_set(token: &str, set: &JwkSet, header: &Header) -> Result<Map<String, Value>, &'static str> {
    let keys = candidates(set, header);
    if keys.is_empty() {
        return Err("no registered key of the client fits this JWT (kid and algorithm)");
    }
    for jwk in keys {
        let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
        if let Ok(claims) = verify(token, &header.alg, &key) {
            return Ok(claims);
        }
    }
    Err("the JWT signature does not verify with the client's registered keys")
}

/// A claim as a string, if it is one.
pub fn text<'m>(claims: &'m Map<String, Value>, name: &str) -> Option<&'m str> {
    claims.get(name).and_then(Value::as_str)
}

/// A NumericDate claim (RFC 7519 §2): whole seconds; fractions are cut.
pub fn seconds(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let v = claims.get(name)?;
    v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
}

/// Whether the `aud` claim (a string or an array of strings) names one of
/// `accepted`.
pub fn audience_is(claims: &Map<String, Value>, accepted: &[&str]) -> bool {
    match claims.get("aud") {
        Some(Value::String(a)) => accepted.contains(&a.as_str()),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(|a| accepted.contains(&a)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::b64url;

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64url(header.as_bytes()), b64url(payload.as_bytes()))
    }

    #[test]
    fn headers_that_must_never_be_verified() {
        let ok = token(r#"{"alg":"ES256","kid":"k1"}"#, "{}");
        assert_eq!(read_header(&ok, SIGNING_ALGS).unwrap().kid.as_deref(), Some("k1"));
        let err = |t: &str| read_header(t, SIGNING_ALGS).unwrap_err();
        assert!(err(&token(r#"{"alg":"none"}"#, "{}")).contains("alg none"));
        assert!(err(&token(r#"{"alg":"NONE"}"#, "{}")).contains("alg none"));
        assert!(err(&token(r#"{"alg":"HS256"}"#, "{}")).contains("not accepted"));
        assert!(err(&token(r#"{"alg":"ES256","crit":["exp"]}"#, "{}")).contains("critical"));
        assert!(err(&token(r#"{"alg":"ES256","cty":"JWT"}"#, "{}")).contains("nested"));
        assert!(err("a.b").contains("three"));
        assert!(err("a.b.c.d").contains("three"));
        assert!(err(&format!("{}.e30.", b64url(br#"{"alg":"ES256"}"#))).contains("empty part"));
        assert!(err(&"x".repeat(MAX_JWT_LEN + 1)).contains("too large"));
        assert!(err(&token("[1,2]", "{}")).contains("JSON object"));
    }

    #[test]
    fn key_sets_hold_public_keys_of_a_safe_size() {
        let ec = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let set = key_set(&format!(r#"{{"keys":[{ec}]}}"#)).unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(fits(&set.keys[0], "ES256") && !fits(&set.keys[0], "RS256"));
        let private = ec.replace('}', r#","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#);
        assert!(key_set(&format!(r#"{{"keys":[{private}]}}"#)).unwrap_err().contains("private member `d`"));
        let small_rsa = format!(r#"{{"kty":"RSA","e":"AQAB","n":"{}"}}"#, b64url(&[0xc5; 128]));
        assert!(key_set(&format!(r#"{{"keys":[{small_rsa}]}}"#)).unwrap_err().contains("2048"));
        let oct = r#"{"kty":"oct","k":"c2VjcmV0"}"#;
        assert!(key_set(&format!(r#"{{"keys":[{oct}]}}"#)).is_err(), "symmetric keys are not public keys");
        assert!(key_set(r#"{"keys":[]}"#).is_err());
        assert!(key_set("[]").is_err());
        assert!(key_set(&format!(r#"{{"keys":[{}]}}"#, [ec; MAX_KEYS + 1].join(","))).is_err());
    }

    #[test]
    fn claims_read_as_the_rfcs_say() {
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"aud":["x","https://as.example"],"exp":1700000000.7,"iss":"c"}"#).unwrap();
        assert!(audience_is(&claims, &["https://as.example"]));
        assert!(!audience_is(&claims, &["https://other.example"]));
        assert_eq!(seconds(&claims, "exp"), Some(1_700_000_000));
        assert_eq!(text(&claims, "iss"), Some("c"));
    }
}
