-- Apps registered by people (developer portal) or by software (RFC 7591).
ALTER TABLE clients ADD COLUMN owner_id TEXT REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE clients ADD COLUMN app_type TEXT;
ALTER TABLE clients ADD COLUMN homepage TEXT;
ALTER TABLE clients ADD COLUMN logo_url TEXT;
-- Secret rotation: the previous secret keeps working until this time.
ALTER TABLE clients ADD COLUMN old_secret_hash TEXT;
ALTER TABLE clients ADD COLUMN old_secret_expires_at BIGINT;
-- RFC 7592: the hash of the registration access token.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
CREATE INDEX clients_owner ON clients(owner_id);

-- RFC 7591 §3: initial access tokens minted by an operator, single use.
CREATE TABLE initial_access_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
