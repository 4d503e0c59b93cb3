-- Grants: everything issued under one authorization (one code, or one
-- consent for a device later) names its grant. Ending a grant ends its codes,
-- refresh tokens and access tokens together. Rows are kept after revocation
-- (revoked_at, revoked_reason) until nothing issued from them can be alive.
CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scopes         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    -- When the latest token was issued from it: an access token of the
    -- grant can be alive only until last_issued_at + its lifetime.
    last_issued_at BIGINT NOT NULL,
    -- Nothing issued from the grant lives past this (the refresh family's
    -- absolute expiry, or the last access token's).
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX grants_user_client ON grants(user_id, client_id);
CREATE INDEX grants_client ON grants(client_id);
CREATE INDEX grants_revoked ON grants(revoked_at);
CREATE INDEX grants_expiry ON grants(expires_at);

-- Every refresh-token family so far becomes a grant; a family with any
-- revoked token was revoked as a whole.
INSERT INTO grants (id, client_id, user_id, scopes, created_at, last_issued_at, expires_at, revoked_at, revoked_reason)
SELECT family_id, MIN(client_id), MIN(user_id), MIN(scopes), MIN(created_at), MAX(created_at), MAX(family_expires_at),
       MAX(revoked_at), CASE WHEN MAX(revoked_at) IS NULL THEN NULL ELSE 'migrated' END
FROM refresh_tokens GROUP BY family_id;

-- Single-use values (authorization codes, email links): consumed by one
-- atomic UPDATE that tells fresh from replayed from unknown. Used rows stay
-- until expires_at plus a margin, so a replay is recognised as one.
CREATE TABLE one_time_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    grant_id   TEXT,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX one_time_tokens_expiry ON one_time_tokens(expires_at);

-- Access tokens revoked one by one (RFC 7009), until they expire.
CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens(expires_at);

-- Brute-force lockouts in force (the counting stays in short-lived state).
-- Keyed by a hash of kind and subject: no login or address in clear text.
CREATE TABLE lockouts (
    key   TEXT PRIMARY KEY,
    until BIGINT NOT NULL
);

-- The change feed: one row per change that other instances must hear of
-- (a client or account edited, grants revoked, signing keys rotated),
-- written in the same transaction as the change. Instances read it on a
-- notification and on a short poll; rows are pruned after an hour.
CREATE TABLE changes (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    until BIGINT,
    at_ms BIGINT NOT NULL
);
CREATE INDEX changes_at ON changes(at_ms);

-- A new signing key is published before it signs (see README, key rotation).
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
UPDATE signing_keys SET activates_at = created_at;

-- RFC 7591 token_endpoint_auth_method: the one way the client may
-- authenticate. Existing clients get the RFC's default.
ALTER TABLE clients ADD COLUMN token_endpoint_auth_method TEXT;
UPDATE clients SET token_endpoint_auth_method = CASE WHEN public THEN 'none' ELSE 'client_secret_basic' END;

-- A refresh token's family is its grant.
ALTER TABLE refresh_tokens RENAME COLUMN family_id TO grant_id;
