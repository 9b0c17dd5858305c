-- A provider refused for its rate limit: mark the windows of limit key $1 (those of at
-- most $2 seconds, or all with NULL) used up for their next `seconds` (sliding windows,
-- 011). Returns the seconds until the last of them has a start again.
SELECT ledgersync.exhaust_rate_windows($1::text, $2::integer) AS wait_seconds
