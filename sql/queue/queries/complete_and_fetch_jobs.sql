-- running → completed for a batch of runs ($5 ids, $6 run ids), then available/retryable →
-- running for up to $3 jobs of queue $2 for worker $1 with a lease of $4 seconds, in one
-- transaction (ledgersync.complete_and_fetch, 016_complete_and_fetch.sql): the worker sends
-- this instead of complete_jobs.sql and fetch_jobs.sql when a batch of results holds only
-- completions. The rows are fetch_jobs.sql's.
SELECT id, kind, queue, priority, attempt, max_attempts, args, serial_key, limit_key, created_at, run_id, rate_limited_seconds,
       window_wait_seconds
FROM ledgersync.complete_and_fetch($1::text, $2::text, $3::integer, $4::double precision, $5::bigint[], $6::bigint[])
