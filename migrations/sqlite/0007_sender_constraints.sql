-- Clients that prove who they are with keys, push and sign their
-- authorization requests, and hold sender-constrained tokens.

-- RFC 7591 §2: the client's public keys, by value (a JWK set as JSON) or by
-- reference (fetched over HTTPS); never both.
ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
-- OIDC Dynamic Registration §2: the JWS algorithm of private_key_jwt and
-- client_secret_jwt assertions, and of request objects.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT;
ALTER TABLE clients ADD COLUMN request_object_signing_alg TEXT;
-- RFC 9101 §10.5: every authorization request must be a signed object.
ALTER TABLE clients ADD COLUMN require_signed_request_object BOOLEAN NOT NULL DEFAULT 0;
-- RFC 9126 §6: every authorization request must be pushed.
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT 0;
-- RFC 9449 §5.2: every token request carries a DPoP proof.
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT 0;
-- A security profile the client is held to ('fapi2'), or none.
ALTER TABLE clients ADD COLUMN security_profile TEXT;
-- client_secret_jwt needs the secret itself, not its hash: sealed with the
-- server's at-rest key (AES-256-GCM, bound to the client id). After a
-- rotation the previous one works until old_secret_expires_at.
ALTER TABLE clients ADD COLUMN secret_sealed BLOB;
ALTER TABLE clients ADD COLUMN old_secret_sealed BLOB;

-- RFC 9449 §5: a public client's refresh tokens are bound to its DPoP key
-- (JWK SHA-256 thumbprint); a rotation keeps the binding.
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
