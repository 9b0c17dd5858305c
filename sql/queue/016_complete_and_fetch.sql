-- Ledgersync queue, migration 016: a worker's completed runs and its next fetch in one
-- round trip and one transaction.
--
-- Why. A worker under load repeats: fetch a batch, run it, store the results, fetch again.
-- Storing and fetching were two statements, two round trips and two durable commits, and the
-- fetch waited for the store's answer before it was sent. In a drain of 100,000 no-op jobs
-- (2 worker processes of 500 slots) the two cores sat 15-20% idle between them. When every
-- result of a batch is a completion (the common case), the worker now sends this function
-- instead: the batch's completions, then the fetch for the slots they free.
--
-- Measured (docs/performance.md, "Results and the next fetch in one statement"):
-- `ledgersync bench drain --n 100000 --procs 2 --slots 500`, alternated with the build
-- before, 6 pairs, ahead in all 6: medians 41.7k -> 50.6k jobs/s.
--
-- The two steps are the two statements the worker sent before, word for word:
-- queries/complete_jobs.sql's UPDATE and ledgersync.fetch_jobs (014). They run in this
-- order as two statements of one PL/pgSQL function, so the fetch sees the completions: the
-- next job of a serial lane whose job just completed can be claimed by the same call.
--
-- Locks. The completions lock the worker's own running rows, in the order of the arrays
-- (the worker sends them in id order, as the heartbeat renews them); the fetch then waits
-- for no job row (SKIP LOCKED). A failure rolls both back: nothing was stored and nothing
-- claimed, and the worker writes the batch again.
CREATE FUNCTION ledgersync.complete_and_fetch(
    worker          text,
    queue           text,
    max_jobs        integer,
    lease_seconds   double precision,
    done_ids        bigint[],
    done_run_ids    bigint[]
) RETURNS SETOF ledgersync.fetched_job
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ledgersync.jobs AS j
    SET state = 'completed',
        finalized_at = now(),
        locked_by = NULL,
        lease_expires_at = NULL
    FROM unnest(done_ids, done_run_ids) AS done(id, run_id)
    WHERE j.id = done.id
      AND j.run_id = done.run_id
      AND j.state = 'running';
    RETURN QUERY
    SELECT * FROM ledgersync.fetch_jobs(complete_and_fetch.worker, complete_and_fetch.queue, complete_and_fetch.max_jobs,
                                        complete_and_fetch.lease_seconds);
END;
$$;

COMMENT ON FUNCTION ledgersync.complete_and_fetch(text, text, integer, double precision, bigint[], bigint[]) IS
    'A worker''s completed runs (done_ids, done_run_ids) stored, then up to max_jobs jobs of queue claimed for it, in one transaction (queries/complete_jobs.sql, then fetch_jobs).';
