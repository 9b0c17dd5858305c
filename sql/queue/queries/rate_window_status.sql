-- Every rate window as it stands now (sliding, 011_sliding_windows.sql): starts used in
-- the last `seconds` and left, and when `left` next rises (seconds from now): when a start
-- is free again if none is left, else when the oldest counted start leaves the window.
SELECT limit_key, seconds, max_starts, used, left_starts, turns_at,
       greatest(0, extract(epoch FROM turns_at - now()))::double precision AS turns_in_seconds
FROM ledgersync.rate_window_status
ORDER BY limit_key, seconds
