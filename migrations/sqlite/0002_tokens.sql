-- Refresh tokens, stored by hash. A family is every refresh token descended
-- from one authorization (its grant id); rotation links each token to its
-- successor, so a rotated token presented again revokes the family.
CREATE TABLE refresh_tokens (
    id_hash           TEXT PRIMARY KEY,
    family_id         TEXT NOT NULL,
    client_id         TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    scopes            TEXT NOT NULL,
    auth_time         BIGINT NOT NULL,
    amr               TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    used_at           BIGINT,
    successor_hash    TEXT,
    successor_sealed  BLOB,
    revoked_at        BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens(client_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(expires_at);

-- Security-relevant events: who, what, when, from where, with which client,
-- and how it ended.
CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    at         BIGINT NOT NULL,
    event      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    user_id    TEXT,
    client_id  TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT
);
CREATE INDEX audit_events_user ON audit_events(user_id, at);
CREATE INDEX audit_events_at ON audit_events(at);
