-- Opens a dashboard session for the sign-in form's token $1 (id): $2 the session key's SHA-256
-- in hex, $3 its life in seconds, cut to the token's own expiry. The session has the token's
-- scopes and ends when the token is revoked.
INSERT INTO ledgersync.dashboard_sessions (session_sha256, scopes, label, token_id, expires_at)
SELECT decode($2::text, 'hex'), t.scopes, 'token ' || t.id || ' (' || t.name || ')', t.id,
       least(now() + make_interval(secs => $3::double precision), coalesce(t.expires_at, 'infinity'))
FROM ledgersync.api_tokens t
WHERE t.id = $1::bigint
RETURNING id, array_to_string(scopes, ',') AS scopes, label, expires_at
