-- Uses the sign-in code whose SHA-256 is $1 (hex), once: when it is unused and unexpired, it
-- is marked used and a session is opened ($2 the session key's SHA-256 in hex, $3 its life in
-- seconds) with the code's scopes. Two browsers racing with one code: the row lock lets one
-- through, the other finds it used. Expired sessions are pruned on the way.
WITH used AS (
    UPDATE ledgersync.dashboard_sign_in_codes
    SET used_at = now()
    WHERE code_sha256 = decode($1::text, 'hex')
      AND used_at IS NULL
      AND expires_at > now()
    RETURNING scopes, label
), pruned AS (
    DELETE FROM ledgersync.dashboard_sessions WHERE expires_at < now()
), opened AS (
    INSERT INTO ledgersync.dashboard_sessions (session_sha256, scopes, label, expires_at)
    SELECT decode($2::text, 'hex'), scopes, label, now() + make_interval(secs => $3::double precision)
    FROM used
    RETURNING id, array_to_string(scopes, ',') AS scopes, label, expires_at
)
SELECT * FROM opened
