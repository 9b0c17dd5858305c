-- A one-time sign-in code: $1 its SHA-256 in hex, $2 the scopes of the session it opens,
-- $3 who it is for, $4 its life in seconds. Codes that died more than a day ago are pruned.
WITH pruned AS (
    DELETE FROM ledgersync.dashboard_sign_in_codes WHERE expires_at < now() - interval '1 day'
)
INSERT INTO ledgersync.dashboard_sign_in_codes (code_sha256, scopes, label, expires_at)
VALUES (decode($1::text, 'hex'), $2::text[], $3::text, now() + make_interval(secs => $4::double precision))
RETURNING expires_at
