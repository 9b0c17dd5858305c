-- Ledgersync queue, migration 008: a request that timed out at the client keeps its
-- concurrency-limit slot until the provider can no longer be working on it.
--
-- A limit key stands for something outside (a NetSuite account accepts N requests at
-- once). When a request times out at the client (or its connection drops), the job's run
-- ends and, until now, its slot was free for the next job at once, but the provider goes
-- on processing a request whose caller went away (NetSuite stops only after its own
-- server-side limit: "if a request takes more than 15 minutes to complete, it
-- automatically times out", Oracle NetSuite Help Center, "Concurrency Governance and
-- Session Management" for REST web services). The account then saw more than its limit
-- and refused the surplus with 429s.
--
-- Now a handler that gave up on a request records a hold (`JobContext.holdLimitSlot`,
-- ledgersync.hold_limit_slot below) before its run ends: one row per run, counted against
-- the key's limit by fetch until `held_until` passes. It is a row of its own, not a column
-- of the job: the job may run again (its retry) while the earlier request is still being
-- processed, and then both count. Holds are in the database, so they count for every
-- worker process and survive the worker that wrote them.

CREATE TABLE ledgersync.limit_holds (
    job_id     bigint      NOT NULL,   -- no foreign key: pruning the job must not end the hold
    run_id     bigint      NOT NULL,
    limit_key  text        NOT NULL,
    held_until timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, run_id)
);

CREATE INDEX limit_holds_key_until ON ledgersync.limit_holds (limit_key, held_until);

-- Holds the limit slot of run (job_id, run_id) for `seconds` from now, if that run is still
-- running and the job has a limit key; returns the end of the hold (NULL when nothing was
-- held). Expired holds are deleted here: the table only grows when requests time out, so
-- cleaning up on the same rare path keeps it small without a job of its own.
CREATE FUNCTION ledgersync.hold_limit_slot(job_id bigint, run_id bigint, seconds double precision)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    held_end timestamptz;
BEGIN
    IF NOT (seconds > 0 AND seconds < 86400 * 7) THEN
        RAISE EXCEPTION 'hold_limit_slot: seconds must be more than 0 and less than a week, got %', seconds
            USING ERRCODE = '22023';
    END IF;
    DELETE FROM ledgersync.limit_holds WHERE held_until < now();
    INSERT INTO ledgersync.limit_holds AS h (job_id, run_id, limit_key, held_until)
    SELECT j.id, j.run_id, j.limit_key, now() + make_interval(secs => seconds)
    FROM ledgersync.jobs j
    WHERE j.id = hold_limit_slot.job_id AND j.run_id = hold_limit_slot.run_id
      AND j.state = 'running' AND j.limit_key IS NOT NULL
    ON CONFLICT (job_id, run_id) DO UPDATE SET held_until = greatest(h.held_until, excluded.held_until)
    RETURNING h.held_until INTO held_end;
    RETURN held_end;
END;
$$;

-- Fetch as in 006, with step 2 counting unexpired holds against their key's limit.
CREATE OR REPLACE FUNCTION ledgersync.fetch_jobs(
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

    -- 2. Free slots per held key: its limit minus its running jobs that still hold a
    --    slot and minus its unexpired holds of timed-out requests (the change of 008).
    IF cardinality(held_keys) > 0 THEN
        SELECT coalesce(array_agg(l.limit_key), '{}'), coalesce(array_agg(l.max_running - r.running - h.held), '{}')
        INTO open_keys, open_slots
        FROM ledgersync.concurrency_limits l
        CROSS JOIN LATERAL (
            SELECT count(*)::integer AS running FROM ledgersync.jobs j
            WHERE j.limit_key = l.limit_key AND j.state = 'running' AND NOT j.limit_released) AS r
        CROSS JOIN LATERAL (
            SELECT count(*)::integer AS held FROM ledgersync.limit_holds lh
            WHERE lh.limit_key = l.limit_key AND lh.held_until > now()) AS h
        WHERE l.limit_key = ANY (held_keys) AND l.max_running > r.running + h.held;
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
