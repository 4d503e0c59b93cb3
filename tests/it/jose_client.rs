//! The client side of signed requests, as a relying party would write it:
//! key pairs (ES256, EdDSA, PS256, RS256) with their public JWKs, client
//! assertions (RFC 7523), request objects (RFC 9101) and DPoP proofs (RFC
//! 9449). Signing is done here with aws-lc-rs, apart from the server's
//! code, so the server is checked against an independent signer.

#![allow(dead_code)]

use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
    RsaKeyPair,
};
use latchkey::crypto::{b64url, random_token, sha256};
use serde_json::{Value, json};

enum Pair {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair, bool),
}

/// A client's key pair.
pub struct ClientKey {
    pub alg: &'static str,
    pub kid: String,
    pair: Pair,
    /// The public JWK (without kid or alg).
    pub public: Value,
}

impl ClientKey {
    pub fn generate(alg: &'static str) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let (pair, public) = match alg {
            "ES256" => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
                let point = pair.public_key().as_ref().to_vec();
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..])});
                (Pair::Ec(pair), jwk)
            }
            "EdDSA" => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(pair.public_key().as_ref())});
                (Pair::Ed(pair), jwk)
            }
            "PS256" | "RS256" => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
                let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let jwk = json!({"kty": "RSA", "n": b64url(&components.n), "e": b64url(&components.e)});
                (Pair::Rsa(pair, alg == "PS256"), jwk)
            }
            other => panic!("no such algorithm {other}"),
        };
        Self { alg, kid: random_token(8), pair, public }
    }

    /// The public JWK as registered: with kid, alg and use.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.public.clone();
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg);
        jwk["use"] = json!("sig");
        jwk
    }

    /// A JWK set of this key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn thumbprint(&self) -> String {
        latchkey::keys::thumbprint(&self.public)
    }

    fn sign_bytes(&self, input: &[u8]) -> Vec<u8> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.pair {
            Pair::Ec(p) => p.sign(&rng, input).unwrap().as_ref().to_vec(),
            Pair::Ed(p) => p.sign(input).as_ref().to_vec(),
            Pair::Rsa(p, pss) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                let padding = if *pss { &RSA_PSS_SHA256 } else { &RSA_PKCS1_SHA256 };
                p.sign(padding, &rng, input, &mut sig).unwrap();
                sig
            }
        }
    }

    /// Signs `claims` under exactly `header`.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Signs JSON texts as given (for payloads a JSON library would not
    /// build, such as nesting past any parser's limit).
    pub fn sign_raw(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64url(header.as_bytes()), b64url(claims.as_bytes()));
        let sig = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", b64url(&sig))
    }

    /// Signs `claims` with `{alg, kid}` and the given `typ`.
    pub fn sign(&self, typ: Option<&str>, claims: &Value) -> String {
        let mut header = json!({ "alg": self.alg, "kid": self.kid });
        if let Some(t) = typ {
            header["typ"] = json!(t);
        }
        self.sign_with_header(&header, claims)
    }

    /// A private-key JWT client assertion (RFC 7523 §3).
    pub fn assertion(&self, client_id: &str, aud: &str, now: i64) -> String {
        self.sign(None, &assertion_claims(client_id, aud, now))
    }

    /// A DPoP proof (RFC 9449 §4.2) for `htm` `htu`, with `ath` for an
    /// access token and the server's nonce when given.
    pub fn proof(&self, htm: &str, htu: &str, access_token: Option<&str>, nonce: Option<&str>, now: i64) -> String {
        let mut claims = json!({ "jti": random_token(12), "htm": htm, "htu": htu, "iat": now });
        if let Some(token) = access_token {
            claims["ath"] = json!(b64url(&sha256(token.as_bytes())));
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        self.proof_with(&claims)
    }

    /// A DPoP proof with exactly these claims.
    pub fn proof_with(&self, claims: &Value) -> String {
        let header = json!({ "typ": "dpop+jwt", "alg": self.alg, "jwk": self.public });
        self.sign_with_header(&header, claims)
    }
}

pub fn assertion_claims(client_id: &str, aud: &str, now: i64) -> Value {
    json!({ "iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "iat": now, "jti": random_token(12) })
}

/// An HMAC client assertion (`client_secret_jwt`).
pub fn hmac_assertion(secret: &str, claims: &Value) -> String {
    let header = json!({ "alg": "HS256", "typ": "JWT" });
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64url(tag.as_ref()))
}

/// A JWT with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    let header = json!({ "alg": "none" });
    format!("{}.{}.", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()))
}

/// An RSA key below the 2048-bit floor, as a public JWK (never signs).
pub fn small_rsa_jwk() -> Value {
    json!({ "kty": "RSA", "e": "AQAB", "n": b64url(&[0xc5; 128]) })
}

/// The private key of an EC key pair, as JWK members, to show that private
/// keys are refused.
pub fn with_private_member(jwk: &Value) -> Value {
    let mut jwk = jwk.clone();
    jwk["d"] = json!(b64url(&[7u8; 32]));
    jwk
}
