-- A provider refused for its rate limit: mark the current windows of limit key $1 (those of
-- at most $2 seconds, or all with NULL) used up. Returns the seconds until the last turns.
SELECT ledgersync.exhaust_rate_windows($1::text, $2::integer) AS wait_seconds
