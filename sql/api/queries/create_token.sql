-- A new token: $1 name, $2 the token's SHA-256 in hex, $3 its hint, $4 its scopes, $5 when
-- it expires (NULL: never).
INSERT INTO ledgersync.api_tokens (name, token_sha256, hint, scopes, expires_at)
VALUES ($1::text, decode($2::text, 'hex'), $3::text, $4::text[], $5::timestamptz)
RETURNING id, name, hint, array_to_string(scopes, ',') AS scopes, expires_at, created_at, last_used_at, revoked_at
