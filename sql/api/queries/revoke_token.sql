-- Revokes the token with id $1; returns it, or nothing when there is no such token. A
-- token revoked before keeps its first revocation time. Its dashboard sessions end with it.
WITH revoked AS (
    UPDATE ledgersync.api_tokens
    SET revoked_at = coalesce(revoked_at, now())
    WHERE id = $1::bigint
    RETURNING id, name, hint, array_to_string(scopes, ',') AS scopes, expires_at, created_at, last_used_at, revoked_at
), ended AS (
    DELETE FROM ledgersync.dashboard_sessions WHERE token_id IN (SELECT id FROM revoked)
)
SELECT * FROM revoked
