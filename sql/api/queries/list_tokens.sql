-- Every token, oldest first, revoked and expired ones included (they show when).
SELECT id, name, hint, array_to_string(scopes, ',') AS scopes, expires_at, created_at, last_used_at, revoked_at
FROM ledgersync.api_tokens
ORDER BY id
