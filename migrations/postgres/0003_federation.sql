-- A picture URL for the profile claims (filled from an upstream identity
-- provider when the person has none of their own).
ALTER TABLE users ADD COLUMN picture TEXT;

-- Accounts at upstream identity providers (GitHub) linked to local accounts.
-- Keyed by the provider's own stable, numeric user id (`subject`), never by
-- login or email: both can change and be reused by someone else. An account
-- links at most one identity per provider.
CREATE TABLE federated_identities (
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    login        TEXT NOT NULL,
    email        TEXT,
    linked_at    BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    PRIMARY KEY (provider, subject),
    UNIQUE (user_id, provider)
);
