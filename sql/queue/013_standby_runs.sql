-- Ledgersync queue, migration 013: standby runs, so a limited key's slot never idles
-- between one job's answer and the next job's request.
--
-- Until now a slot freed by `releaseLimitSlot()` went to the next job only after a round
-- trip: the worker's next fetch marked the run released and claimed a job of the key in the
-- same transaction (2.1 ms here), and that job then loaded its connection (~1 ms) before
-- its request. At 50 ms per request and limit 5 that is ~6% of the limit idle, on every
-- request (docs/performance.md, "No idle slot").
--
-- Now a worker may claim STANDBY runs of a limited key it already holds slots of:
--   - a standby run is an ordinary run (state 'running', a lease, a run id; the heartbeat
--     renews it, lease expiry rescues it, its result is stored as any other) that is
--     claimed with limit_released = true, so fetch_jobs' count of the key's slots
--     (running AND NOT limit_released, migration 004/008) does not count it;
--   - its handler starts at once and loads what it needs, then waits (in the worker's
--     memory, `JobContext.waitForLimitSlot()`) before its first request to the provider;
--   - when a run of the same key in the same worker gives its slot back, the worker hands
--     the slot to a waiting standby run in memory (no round trip before its request) and
--     records the swap in ONE statement (sql/queue/queries/swap_limit_slot.sql: holder
--     limit_released = true, standby false) before the holder's result may be stored. So
--     the count in the database never drops while a request is in flight (the holder is
--     counted until the swap commits, the standby from then on) and never rises: every
--     process still sees at most the limit, and fetch_jobs needs no change;
--   - a standby run no holder hands a slot to within a short while asks for a free slot
--     under the key's lock (ledgersync.promote_standby below, which counts as fetch_jobs
--     does), and gives itself back (a snooze of 0 s: the attempt is not counted) if it
--     waited too long.
--
-- Only kinds whose handlers wait for the slot before using the limited resource get
-- standby runs (the worker passes them: JobKindOptions.standby). Keys with rate windows
-- (migrations 010–011) get none: a start must be spent when the request is made, which a
-- standby run claimed early cannot do without spending it too soon.
--
-- A separate function rather than a change to fetch_jobs, so that fetch_jobs (changed by
-- other work at the same time) stays as it is; the worker calls it after fetch_jobs on the
-- same connection, only while it holds slots of a key with jobs waiting.

-- Claims up to wanted[i] standby runs of keys[i] (limited keys without rate windows) of
-- the given kinds in `queue` for `worker`. Serial lanes as in fetch_jobs (009): only a
-- lane's head, and never while a job of the lane runs. Parked jobs are skipped.
CREATE FUNCTION ledgersync.fetch_standby(
    worker        text,
    queue         text,
    kinds         text[],
    keys          text[],
    wanted        integer[],
    lease_seconds double precision
) RETURNS SETOF ledgersync.fetched_job
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    claimed bigint[];
BEGIN
    -- Per key, the first jobs in fetch order, locked (SKIP LOCKED: a job another fetcher is
    -- claiming is left to it).
    SELECT coalesce(array_agg(c.id), '{}') INTO claimed
    FROM unnest(keys, wanted) AS k(limit_key, n)
    CROSS JOIN LATERAL (
        SELECT j.id, j.serial_key
        FROM ledgersync.jobs j
        WHERE j.limit_key = k.limit_key
          AND j.state IN ('available', 'retryable')
          AND j.queue = fetch_standby.queue
          AND j.kind = ANY (fetch_standby.kinds)
          AND j.run_at <= now()
          AND j.wait_key IS NULL
          AND EXISTS (SELECT 1 FROM ledgersync.concurrency_limits l WHERE l.limit_key = j.limit_key)
          AND NOT EXISTS (SELECT 1 FROM ledgersync.rate_windows w WHERE w.limit_key = j.limit_key)
          AND (j.serial_key IS NULL
               OR NOT EXISTS (
                   SELECT 1 FROM ledgersync.jobs p
                   WHERE p.serial_key = j.serial_key
                     AND coalesce(p.lane_position, p.id) < coalesce(j.lane_position, j.id)
                     AND p.wait_key IS NULL
                     AND p.state IN ('available', 'running', 'retryable')))
        ORDER BY j.priority, j.run_at, j.id
        LIMIT greatest(k.n, 0)
        FOR UPDATE SKIP LOCKED
    ) AS c
    WHERE c.serial_key IS NULL
       OR pg_try_advisory_xact_lock(hashtext('ledgersync.serial'), hashtext(c.serial_key));

    -- Claimed as fetch_jobs claims, but not counted against the limit (limit_released).
    RETURN QUERY
    UPDATE ledgersync.jobs j
    SET state = 'running',
        attempt = j.attempt + 1,
        attempted_at = now(),
        locked_by = fetch_standby.worker,
        lease_expires_at = now() + make_interval(secs => fetch_standby.lease_seconds),
        limit_released = true,
        run_id = nextval('ledgersync.job_run_ids')
    WHERE j.id = ANY (claimed)
      AND (j.serial_key IS NULL
           OR NOT EXISTS (SELECT 1 FROM ledgersync.jobs r WHERE r.serial_key = j.serial_key AND r.state = 'running'))
    RETURNING j.id, j.kind, j.queue, j.priority, j.attempt, j.max_attempts, j.args, j.serial_key, j.limit_key, j.created_at,
              j.run_id, j.rate_limited_seconds, NULL::double precision;
END;
$$;

-- Gives standby runs (ids, run_ids) of `worker` a slot where their key has one free:
-- locks the keys' limit rows (waiting, in key order, as no fetcher holds one for long),
-- then counts in a later statement, which sees every claim committed before the lock,
-- exactly as fetch_jobs step 2 does (running and not released, plus holds of 008).
-- Returns the runs promoted; the others stay standby.
CREATE FUNCTION ledgersync.promote_standby(worker text, ids bigint[], run_ids bigint[])
RETURNS TABLE (id bigint, run_id bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM ledgersync.concurrency_limits l
    WHERE l.limit_key IN (SELECT j.limit_key FROM ledgersync.jobs j
                          JOIN unnest(ids, run_ids) AS r(id, run_id) ON j.id = r.id AND j.run_id = r.run_id)
    ORDER BY l.limit_key
    FOR UPDATE;

    RETURN QUERY
    WITH standby AS (
        SELECT j.id, j.run_id, j.limit_key,
               row_number() OVER (PARTITION BY j.limit_key ORDER BY j.id) AS nth
        FROM ledgersync.jobs j
        JOIN unnest(ids, run_ids) AS r(id, run_id) ON j.id = r.id AND j.run_id = r.run_id
        WHERE j.state = 'running' AND j.locked_by = promote_standby.worker AND j.limit_released
    ), free AS (
        SELECT l.limit_key, l.max_running - r.running - h.held AS slots
        FROM ledgersync.concurrency_limits l
        CROSS JOIN LATERAL (
            SELECT count(*)::integer AS running FROM ledgersync.jobs j
            WHERE j.limit_key = l.limit_key AND j.state = 'running' AND NOT j.limit_released) AS r
        CROSS JOIN LATERAL (
            SELECT count(*)::integer AS held FROM ledgersync.limit_holds lh
            WHERE lh.limit_key = l.limit_key AND lh.held_until > now()) AS h
        WHERE l.limit_key IN (SELECT s.limit_key FROM standby s)
    )
    UPDATE ledgersync.jobs j
    SET limit_released = false
    FROM standby s JOIN free f ON f.limit_key = s.limit_key
    WHERE j.id = s.id AND j.run_id = s.run_id AND s.nth <= f.slots
    RETURNING j.id, j.run_id;
END;
$$;
