-- The live token whose SHA-256 is $1 (hex), if any, for each API request. Marks it used, at
-- most once a minute, so a busy client does not turn every read into a write.
WITH found AS (
    SELECT id, name, last_used_at
    FROM ledgersync.api_tokens
    WHERE token_sha256 = decode($1::text, 'hex')
      AND revoked_at IS NULL
), touched AS (
    UPDATE ledgersync.api_tokens AS t
    SET last_used_at = now()
    FROM found
    WHERE t.id = found.id
      AND (found.last_used_at IS NULL OR found.last_used_at < now() - interval '1 minute')
    RETURNING t.id
)
SELECT id, name FROM found
