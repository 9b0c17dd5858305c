-- available/retryable → running: claim up to $3 runnable jobs of queue $2 for worker $1,
-- with a lease of $4 seconds, after marking the worker's runs ($5 ids, $6 run ids) that
-- gave their concurrency-limit slot back. Each claim gets a new run id. The logic lives
-- in ledgersync.fetch_jobs (014_fetch_floor.sql, which replaced 011's version). A row
-- whose id is NULL is no job: its window_wait_seconds says when a key blocked by its rate
-- windows has a start again.
SELECT id, kind, queue, priority, attempt, max_attempts, args, serial_key, limit_key, created_at, run_id, rate_limited_seconds,
       window_wait_seconds
FROM ledgersync.fetch_jobs($1::text, $2::text, $3::integer, $4::double precision, $5::bigint[], $6::bigint[])
