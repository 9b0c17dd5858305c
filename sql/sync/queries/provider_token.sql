-- Connection $1's stored access token (sealed), its expiry and the connection version it
-- was issued for, read without a lock; no row: none issued yet (013_provider_tokens.sql).
SELECT access_token_sealed, expires_at, connection_version, issued_at
FROM ledgersync.provider_tokens
WHERE connection_id = $1::uuid
