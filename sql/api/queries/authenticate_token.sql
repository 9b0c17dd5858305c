-- The unrevoked token whose SHA-256 is $1 (hex), if any, for each API request, with its
-- scopes (comma-separated) and whether it has expired (the API answers 401 either way, but
-- says which). Marks a live one used, at most once a minute, so a busy client does not turn
-- every read into a write.
WITH found AS (
    SELECT id, name, scopes, expires_at, last_used_at,
           (expires_at IS NOT NULL AND expires_at <= now()) AS expired
    FROM ledgersync.api_tokens
    WHERE token_sha256 = decode($1::text, 'hex')
      AND revoked_at IS NULL
), touched AS (
    UPDATE ledgersync.api_tokens AS t
    SET last_used_at = now()
    FROM found
    WHERE t.id = found.id
      AND NOT found.expired
      AND (found.last_used_at IS NULL OR found.last_used_at < now() - interval '1 minute')
    RETURNING t.id
)
SELECT id, name, array_to_string(scopes, ',') AS scopes, expires_at, expired FROM found
