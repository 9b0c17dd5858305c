-- A handler's second request under its key's budget: spend one start of every rate window
-- of limit key $1 now (0), or spend nothing and say how many seconds until every window
-- has one (> 0). NULL when the key has no windows. (ledgersync.take_rate_window_start,
-- 011_sliding_windows.sql.)
SELECT ledgersync.take_rate_window_start($1::text) AS wait_seconds
