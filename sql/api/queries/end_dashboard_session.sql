-- Signs out: deletes the session whose key's SHA-256 is $1 (hex).
DELETE FROM ledgersync.dashboard_sessions WHERE session_sha256 = decode($1::text, 'hex')
