-- Ledgersync sync, migration 013: the access tokens of connections whose tokens expire
-- (NetSuite OAuth 2.0 client credentials, Zoho Books), shared by every worker process.
--
-- For DBAs:
--   * One row per connection, created the first time a worker needs a token for it; gone
--     with the connection (ON DELETE CASCADE). Connections whose credentials do not expire
--     (NetSuite token-based authentication) never get a row.
--   * access_token_sealed is sealed by the application like every other secret
--     (`v2:<key id>:<base64>`, AES-256-GCM, associated data "ledgersync.provider_tokens|
--     <connection id>|access_token_sealed"), so a dump, replica or query log never holds a
--     usable token. `ledgersync secrets rotate-key` re-seals it with the others. NULL means
--     there is no usable token: never issued yet, or invalidated after the provider refused
--     it (a 401 invalid_token); the next worker that needs one issues a new one.
--   * connection_version is the connections.updated_at of the connection the token was
--     issued for: after `ledgersync connections update` (new credentials) the workers see a
--     newer version and issue a new token instead of using one of the old credentials.
--   * How workers use the table (Sources/Sync/Store/TokenStore.swift): each process keeps
--     the token in memory while it is valid, so a request costs no query. To issue one, a
--     worker inserts the row if absent and locks it (SELECT … FOR UPDATE) in a short
--     transaction, re-reads it (another process may just have issued), asks the provider
--     for a token only if still needed, stores it and commits. The row lock is held for the
--     length of one call to the provider's token endpoint (bounded by the HTTP timeout), so a
--     connection's token is never requested by two processes at once; other workers wait
--     for the lock, then read the new token. A long-running lock on this table is a token
--     endpoint that is not answering.
--   * Safe to delete a row (or the whole table's rows) at any time: workers issue new tokens.

CREATE TABLE ledgersync.provider_tokens (
    connection_id       uuid        PRIMARY KEY REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    -- The access token, sealed; NULL: none usable (not issued yet, or invalidated).
    access_token_sealed text,
    -- When the provider said the token stops working.
    expires_at          timestamptz,
    -- connections.updated_at of the connection version the token was issued for.
    connection_version  timestamptz,
    issued_at           timestamptz,
    -- When the token was last invalidated (a provider's 401), for people looking into auth.
    invalidated_at      timestamptz,
    -- How many tokens were issued for this connection, for people and metrics.
    issued_count        bigint      NOT NULL DEFAULT 0,

    CONSTRAINT access_token_is_sealed CHECK (access_token_sealed IS NULL OR access_token_sealed ~ '^v2:[0-9a-f]{8}:'),
    CONSTRAINT token_is_complete CHECK (
        access_token_sealed IS NULL
        OR (expires_at IS NOT NULL AND connection_version IS NOT NULL AND issued_at IS NOT NULL))
);

COMMENT ON TABLE ledgersync.provider_tokens IS
    'Per connection: the sealed access token every worker process shares (OAuth 2.0, Zoho), with its expiry and the connection version it was issued for; issued under a row lock.';
