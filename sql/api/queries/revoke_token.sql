-- Revokes the token with id $1; returns it, or nothing when there is no such token. A
-- token revoked before keeps its first revocation time.
UPDATE ledgersync.api_tokens
SET revoked_at = coalesce(revoked_at, now())
WHERE id = $1::bigint
RETURNING id, name, hint, created_at, last_used_at, revoked_at
