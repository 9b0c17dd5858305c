-- Ledgersync queue, migration 006: every claim is a run with its own id, and a job keeps
-- the time it spent snoozed for rate limits.
--
-- Runs. Until now a run was told apart by (id, attempt), but the attempt is not unique:
-- a snooze or a shutdown's hand-back gives the attempt back, so the next claim has the
-- same (id, attempt) as the run before it, and a late result of the earlier run (a
-- completer that wrote its batch again after a partial failure, a worker that lost its
-- lease and came back) landed on the new run. Heartbeats matched on (id, locked_by): a
-- worker that claimed its own rescued job again kept the new run's lease alive for the
-- old one. Now fetch gives each claim a fresh run_id, and every statement that acts for a
-- run (results, heartbeat, limit release, hand-back) matches on (id, run_id) and
-- `state = 'running'`, so a stale run's statements change nothing.
--
-- run_id comes from a sequence: a bigint per claimed row, no shared row to update, and
-- the worker already binds bigint arrays. Gaps (a rolled-back fetch, CACHE) mean nothing.

CREATE SEQUENCE ledgersync.job_run_ids AS bigint CACHE 100;

-- The current (or last) run's id; NULL for a job never claimed.
ALTER TABLE ledgersync.jobs ADD COLUMN run_id bigint;

-- Rate-limited snoozes: the seconds this job has been told to wait by snoozes of class
-- `rate_limited` (a provider's 429 or concurrency refusal), added up by snooze_jobs.sql.
-- A worker fails the job for good once the next snooze would take the sum past its cap
-- (`--max-rate-limited`), so a provider that always answers 429 cannot hold a serial lane
-- (one customer's documents) forever.
ALTER TABLE ledgersync.jobs ADD COLUMN rate_limited_seconds double precision NOT NULL DEFAULT 0;

-- Fetch as in 004, with the run id set on each claimed row and returned, the rate-limited
-- time returned, and limit releases matched on (id, run_id). The result type gains two
-- columns, so function and type are replaced.
DROP FUNCTION ledgersync.fetch_jobs(text, text, integer, double precision, bigint[], integer[]);
DROP TYPE ledgersync.fetched_job;

CREATE TYPE ledgersync.fetched_job AS (
    id                   bigint,
    kind                 text,
    queue                text,
    priority             smallint,
    attempt              integer,
    max_attempts         integer,
    args                 jsonb,
    serial_key           text,
    limit_key            text,
    created_at           timestamptz,
    run_id               bigint,
    rate_limited_seconds double precision
);

CREATE FUNCTION ledgersync.fetch_jobs(
    worker          text,
    queue           text,
    max_jobs        integer,
    lease_seconds   double precision,
    released_ids     bigint[] DEFAULT '{}',
    released_run_ids bigint[] DEFAULT '{}'
) RETURNS SETOF ledgersync.fetched_job
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    held_keys  text[];   -- limit keys whose row this call locked
    open_keys  text[];   -- … of those, the ones with free slots
    open_slots integer[];
    claimed    bigint[];  -- ids locked in step 3
BEGIN
    -- 0. The runs (id, run_id) of this worker that are done with their limit key's
    --    resource. Done first, so step 2's count (a later snapshot of this transaction)
    --    already leaves them out. A run that finished or was rescued meanwhile is skipped.
    IF cardinality(released_ids) > 0 THEN
        UPDATE ledgersync.jobs j
        SET limit_released = true
        FROM unnest(released_ids, released_run_ids) AS r(id, run_id)
        WHERE j.id = r.id
          AND j.run_id = r.run_id
          AND j.state = 'running'
          AND j.locked_by = fetch_jobs.worker
          AND j.limit_key IS NOT NULL;
    END IF;
    IF max_jobs <= 0 THEN
        RETURN;  -- called only to hand slots back
    END IF;

    -- 1. Concurrency limits: as in 004.
    SELECT coalesce(array_agg(l.limit_key), '{}') INTO held_keys
    FROM (
        SELECT l.limit_key
        FROM ledgersync.concurrency_limits l
        WHERE EXISTS (
            SELECT 1 FROM ledgersync.jobs j
            WHERE j.limit_key = l.limit_key AND j.state IN ('available', 'retryable') AND j.queue = fetch_jobs.queue)
        FOR UPDATE SKIP LOCKED
    ) AS l;

    -- 2. Free slots per held key: as in 004.
    IF cardinality(held_keys) > 0 THEN
        SELECT coalesce(array_agg(l.limit_key), '{}'), coalesce(array_agg(l.max_running - r.running), '{}')
        INTO open_keys, open_slots
        FROM ledgersync.concurrency_limits l
        CROSS JOIN LATERAL (
            SELECT count(*)::integer AS running FROM ledgersync.jobs j
            WHERE j.limit_key = l.limit_key AND j.state = 'running' AND NOT j.limit_released) AS r
        WHERE l.limit_key = ANY (held_keys) AND l.max_running > r.running;
    ELSE
        open_keys := '{}';
        open_slots := '{}';
    END IF;

    -- 3. Lock the jobs to claim: as in 004.
    WITH candidates AS MATERIALIZED (
        SELECT j.id, j.limit_key, j.priority, j.run_at
        FROM ledgersync.jobs j
        WHERE j.state IN ('available', 'retryable')
          AND j.queue = fetch_jobs.queue
          AND j.run_at <= now()
          AND (j.limit_key IS NULL
               OR j.limit_key = ANY (open_keys)
               OR NOT EXISTS (SELECT 1 FROM ledgersync.concurrency_limits l WHERE l.limit_key = j.limit_key))
          AND (j.serial_key IS NULL
               OR NOT EXISTS (
                   SELECT 1 FROM ledgersync.jobs p
                   WHERE p.serial_key = j.serial_key
                     AND p.id < j.id
                     AND p.state IN ('available', 'running', 'retryable')))
        ORDER BY j.priority, j.run_at, j.id
        LIMIT fetch_jobs.max_jobs
        FOR UPDATE SKIP LOCKED
    )
    SELECT coalesce(array_agg(c.id), '{}') INTO claimed
    FROM (
        SELECT c.id, c.limit_key,
               row_number() OVER (PARTITION BY c.limit_key ORDER BY c.priority, c.run_at, c.id) AS nth
        FROM candidates c
    ) AS c
    LEFT JOIN unnest(open_keys, open_slots) AS s(limit_key, slots) ON s.limit_key = c.limit_key
    WHERE s.slots IS NULL OR c.nth <= s.slots;

    -- 4. Claim them, by primary key, each with a new run id.
    RETURN QUERY
    UPDATE ledgersync.jobs j
    SET state = 'running',
        attempt = j.attempt + 1,
        attempted_at = now(),
        locked_by = fetch_jobs.worker,
        lease_expires_at = now() + make_interval(secs => fetch_jobs.lease_seconds),
        limit_released = false,
        run_id = nextval('ledgersync.job_run_ids')
    WHERE j.id = ANY (claimed)
    RETURNING j.id, j.kind, j.queue, j.priority, j.attempt, j.max_attempts, j.args, j.serial_key, j.limit_key, j.created_at,
              j.run_id, j.rate_limited_seconds;
END;
$$;
