-- Stores a token issued at $5 for connection $1 (version $4): $2 sealed, expiring at $3.
-- Run under the row lock (lock_provider_token.sql, 013_provider_tokens.sql).
UPDATE ledgersync.provider_tokens
SET access_token_sealed = $2::text, expires_at = $3::timestamptz, connection_version = $4::timestamptz,
    issued_at = $5::timestamptz, issued_count = issued_count + 1
WHERE connection_id = $1::uuid
