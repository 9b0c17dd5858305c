-- Counts by queue, kind and state, with the age of the oldest runnable job of each group.
-- Unfinished jobs are few and come from partial indexes; finished ones are counted from
-- the jobs_finalized index, which retention keeps small.
SELECT queue, kind, state::text AS state, count(*)::bigint AS jobs,
       extract(epoch FROM now() - min(run_at) FILTER (
           WHERE state IN ('available', 'retryable') AND run_at <= now()))::double precision AS oldest_runnable_seconds
FROM ledgersync.jobs
GROUP BY queue, kind, state
ORDER BY queue, kind, state
