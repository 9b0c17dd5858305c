-- Wakes key $1: the jobs parked on it rejoin their lanes now (009_wait_for_key.sql).
-- Returns how many were parked.
SELECT ledgersync.wake($1::text) AS woken
