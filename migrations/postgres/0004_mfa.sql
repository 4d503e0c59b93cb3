-- TOTP (RFC 6238). The secret is encrypted (AES-256-GCM, key from
-- configuration, bound to the user id); last_step is the newest time step
-- accepted, so a code is never accepted twice, on any instance.
CREATE TABLE user_totp (
    user_id       TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_sealed BYTEA NOT NULL,
    last_step     BIGINT,
    enabled_at    BIGINT NOT NULL
);

-- Single-use backup codes, stored as hashes.
CREATE TABLE backup_codes (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
