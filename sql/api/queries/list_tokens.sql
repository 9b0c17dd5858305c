-- Every token, oldest first, revoked ones included (they show when they were revoked).
SELECT id, name, hint, created_at, last_used_at, revoked_at
FROM ledgersync.api_tokens
ORDER BY id
