-- available/retryable → running as STANDBY runs (not counted against the limit): claim up
-- to $5[i] jobs of limit key $4[i] and of kinds $3 in queue $2 for worker $1, with a lease
-- of $6 seconds. The worker calls it after fetch_jobs while it holds slots of a key that has
-- jobs waiting; a standby run gets its slot in the worker's memory when a run of the key
-- hands its own over (013_standby_runs.sql).
SELECT id, kind, queue, priority, attempt, max_attempts, args, serial_key, limit_key, created_at, run_id, rate_limited_seconds
FROM ledgersync.fetch_standby($1::text, $2::text, $3::text[], $4::text[], $5::integer[], $6::double precision)
