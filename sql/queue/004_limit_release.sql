-- Ledgersync queue, migration 004: a running job can give its concurrency-limit slot back
-- before it finishes, and fetch returns only what a worker reads.
--
-- A limit key stands for something outside (a NetSuite account accepts N requests at
-- once). Counting a job as "in" the limit until its result is stored held the slot for
-- the job's own bookkeeping after the provider had answered: writing the provider's id,
-- storing the result and the next fetch, a round trip and a durable commit each: several
-- milliseconds of every ~60 ms a slot was held around a 50 ms request (docs/performance.md). Now a handler says when it is done with the outside resource
-- (`JobContext.releaseLimitSlot()`); its worker passes that to its next fetch, which marks
-- the job in the same transaction before it counts the key's running jobs. Running jobs
-- so marked do not count against their key's limit. A handler that never says so holds
-- its slot to the end, as before.

-- Meaningful only while the job is running; every claim resets it.
ALTER TABLE ledgersync.jobs ADD COLUMN limit_released boolean NOT NULL DEFAULT false;

-- Fetch as in 003, with three changes: it first marks the worker's jobs that gave their
-- slot back (two more parameters, empty by default), such jobs do not count against
-- their key's limit, and the claimed jobs come back as the columns a worker reads instead
-- of whole rows (plpgsql's RETURN QUERY copies every column, the error history included,
-- into a tuplestore before the first row is sent).
DROP FUNCTION ledgersync.fetch_jobs(text, text, integer, double precision);

-- What fetch returns of each claimed job: what the worker needs to run it and to report
-- its result, nothing else.
CREATE TYPE ledgersync.fetched_job AS (
    id           bigint,
    kind         text,
    queue        text,
    priority     smallint,
    attempt      integer,
    max_attempts integer,
    args         jsonb,
    serial_key   text,
    limit_key    text,
    created_at   timestamptz
);

CREATE FUNCTION ledgersync.fetch_jobs(
    worker        text,
    queue         text,
    max_jobs      integer,
    lease_seconds double precision,
    released_ids      bigint[]  DEFAULT '{}',
    released_attempts integer[] DEFAULT '{}'
) RETURNS SETOF ledgersync.fetched_job
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    held_keys  text[];   -- limit keys whose row this call locked
    open_keys  text[];   -- … of those, the ones with free slots
    open_slots integer[];
    claimed    bigint[];  -- ids locked in step 3
BEGIN
    -- 0. The runs (id, attempt) of this worker that are done with their limit key's
    --    resource. Done first, so step 2's count (a later snapshot of this transaction)
    --    already leaves them out. A run that finished or was rescued meanwhile is skipped.
    IF cardinality(released_ids) > 0 THEN
        UPDATE ledgersync.jobs j
        SET limit_released = true
        FROM unnest(released_ids, released_attempts) AS r(id, attempt)
        WHERE j.id = r.id
          AND j.attempt = r.attempt
          AND j.state = 'running'
          AND j.locked_by = fetch_jobs.worker
          AND j.limit_key IS NOT NULL;
    END IF;
    IF max_jobs <= 0 THEN
        RETURN;  -- called only to hand slots back
    END IF;

    -- 1. Concurrency limits. Lock the rows of the limit keys that have runnable jobs,
    --    skipping rows another fetcher holds right now. While we hold a key's row no
    --    other process can start jobs of that key, so the count in step 2 stays true
    --    until we commit. A key another fetcher holds is simply not served this round.
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
    --    slot, counted in a new snapshot taken after the locks were granted.
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

    -- 3. Lock the jobs to claim. The MATERIALIZED CTE is an optimisation fence: LIMIT
    --    applies before anything else, so no more than max_jobs rows are ever locked.
    --    SKIP LOCKED lets concurrent fetchers take different jobs instead of queueing on
    --    the same rows. The locks hold until the caller's transaction ends.
    WITH candidates AS MATERIALIZED (
        SELECT j.id, j.limit_key, j.priority, j.run_at
        FROM ledgersync.jobs j
        WHERE j.state IN ('available', 'retryable')
          AND j.queue = fetch_jobs.queue
          AND j.run_at <= now()
          -- a limited key only if we hold its row and it has a free slot
          AND (j.limit_key IS NULL
               OR j.limit_key = ANY (open_keys)
               OR NOT EXISTS (SELECT 1 FROM ledgersync.concurrency_limits l WHERE l.limit_key = j.limit_key))
          -- a serial key only if no earlier job of that key is unfinished; an earlier job
          -- leaves that set only by committing, so two fetchers cannot both pass this
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
    -- Within the batch, no more jobs of a limited key than it has free slots.
    SELECT coalesce(array_agg(c.id), '{}') INTO claimed
    FROM (
        SELECT c.id, c.limit_key,
               row_number() OVER (PARTITION BY c.limit_key ORDER BY c.priority, c.run_at, c.id) AS nth
        FROM candidates c
    ) AS c
    LEFT JOIN unnest(open_keys, open_slots) AS s(limit_key, slots) ON s.limit_key = c.limit_key
    WHERE s.slots IS NULL OR c.nth <= s.slots;

    -- 4. Claim them, by primary key. (A join to the CTE instead let the cached generic
    --    plan hash-join against a scan of the whole table on every fetch.)
    RETURN QUERY
    UPDATE ledgersync.jobs j
    SET state = 'running',
        attempt = j.attempt + 1,
        attempted_at = now(),
        locked_by = fetch_jobs.worker,
        lease_expires_at = now() + make_interval(secs => fetch_jobs.lease_seconds),
        limit_released = false
    WHERE j.id = ANY (claimed)
    RETURNING j.id, j.kind, j.queue, j.priority, j.attempt, j.max_attempts, j.args, j.serial_key, j.limit_key, j.created_at;
END;
$$;
