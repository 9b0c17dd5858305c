-- Every rate window as it stands now: starts used and left in its current window, and when
-- that window turns (seconds from now).
SELECT limit_key, seconds, max_starts, used, left_starts, turns_at,
       greatest(0, extract(epoch FROM turns_at - now()))::double precision AS turns_in_seconds
FROM ledgersync.rate_window_status
ORDER BY limit_key, seconds
