-- Registered APIs (resource servers). An access token meant for one names
-- it as its audience (RFC 8707 resource indicators).
CREATE TABLE apis (
    id               TEXT PRIMARY KEY,
    -- The resource indicator: an absolute URI without fragment, the `aud` of
    -- the API's tokens.
    identifier       TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    -- JSON list of the scopes it defines.
    scopes           TEXT NOT NULL,
    -- Access-token settings; NULL: the server's.
    access_token_ttl BIGINT,
    access_token_alg TEXT,
    -- The person who registered it in the developer portal, if any.
    owner_id         TEXT,
    -- The API's own client (to introspect its tokens and exchange them).
    client_id        TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX apis_owner ON apis(owner_id);

-- The APIs a client may ask tokens for (JSON list of identifiers; empty:
-- any registered API), and those it may exchange a person's token for (RFC
-- 8693; empty: none).
ALTER TABLE clients ADD COLUMN allowed_resources TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN token_exchange_targets TEXT NOT NULL DEFAULT '[]';

-- The APIs a person allowed an authorization to reach (JSON list).
ALTER TABLE grants ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';

-- The device authorization grant (RFC 8628): one row per device asking.
CREATE TABLE device_authorizations (
    device_code_hash TEXT PRIMARY KEY,
    -- Normalized (upper case, no dash); unique among rows kept.
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    resources        TEXT NOT NULL,
    -- pending, approved, denied, used.
    status           TEXT NOT NULL,
    user_id          TEXT,
    grant_id         TEXT,
    auth_time        BIGINT,
    amr              TEXT,
    -- Seconds the device must wait between polls; grows by 5 at each
    -- slow_down (RFC 8628 §3.5).
    poll_interval    BIGINT NOT NULL,
    last_polled_at   BIGINT,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL
);
CREATE INDEX device_authorizations_expiry ON device_authorizations(expires_at);
