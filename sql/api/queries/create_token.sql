-- A new token: $1 name, $2 the token's SHA-256 in hex, $3 its hint.
INSERT INTO ledgersync.api_tokens (name, token_sha256, hint)
VALUES ($1::text, decode($2::text, 'hex'), $3::text)
RETURNING id, name, hint, created_at, last_used_at, revoked_at
