-- The live dashboard session whose key's SHA-256 is $1 (hex): unexpired, and when it was
-- opened with a token, that token still unrevoked and unexpired.
SELECT s.id, array_to_string(s.scopes, ',') AS scopes, s.label, s.expires_at
FROM ledgersync.dashboard_sessions s
LEFT JOIN ledgersync.api_tokens t ON t.id = s.token_id
WHERE s.session_sha256 = decode($1::text, 'hex')
  AND s.expires_at > now()
  AND (s.token_id IS NULL OR (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())))
