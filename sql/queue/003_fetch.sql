-- Ledgersync queue, migration 003: fetch, the one statement that moves jobs
-- available/retryable → running.
--
-- 004_limit_release.sql replaces this function (limit slots given back early, narrower
-- rows); this file stays as it was applied.
--
-- A function rather than a bare statement because concurrency limits need two snapshots
-- in one round trip: lock the limit rows first, then count running jobs in a later
-- statement that sees everything the previous holder of those locks committed. Each
-- statement of a plpgsql function takes a fresh snapshot (READ COMMITTED).

--
-- One queue per call, as River's and Oban's producers do: `queue = $1` lets the jobs_fetch
-- index return rows already in (priority, run_at, id) order, so a fetch reads only the
-- rows it claims. (`queue = ANY ($1)` cannot; it sorted the whole backlog on every fetch.)
-- A worker serving several queues calls it once per queue.

CREATE FUNCTION ledgersync.fetch_jobs(
    worker        text,
    queue         text,
    max_jobs      integer,
    lease_seconds double precision
) RETURNS SETOF ledgersync.jobs
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    held_keys  text[];   -- limit keys whose row this call locked
    open_keys  text[];   -- … of those, the ones with free slots
    open_slots integer[];
    claimed    bigint[];  -- ids locked in step 3
BEGIN
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

    -- 2. Free slots per held key: its limit minus its running jobs, counted in a new
    --    snapshot taken after the locks were granted.
    IF cardinality(held_keys) > 0 THEN
        SELECT coalesce(array_agg(l.limit_key), '{}'), coalesce(array_agg(l.max_running - r.running), '{}')
        INTO open_keys, open_slots
        FROM ledgersync.concurrency_limits l
        CROSS JOIN LATERAL (
            SELECT count(*)::integer AS running FROM ledgersync.jobs j
            WHERE j.limit_key = l.limit_key AND j.state = 'running') AS r
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
        lease_expires_at = now() + make_interval(secs => fetch_jobs.lease_seconds)
    WHERE j.id = ANY (claimed)
    RETURNING j.*;
END;
$$;
