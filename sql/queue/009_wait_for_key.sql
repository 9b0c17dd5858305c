-- Ledgersync queue, migration 009: a job may wait for a key, and a waiting job holds no lane.
--
-- Until now a job that could not run yet (its invoice not at the provider) snoozed: it went
-- back to `available` with a later run_at, and as an available job it kept its place at
-- the head of its serial key's lane, so every later job of the key waited behind it,
-- including the very job it waited for when that was enqueued later. The lane stalled
-- until the snooze ended, or until the waiter gave up.
--
-- Now a handler can say "wait for key K" (JobError.Action.wait(for:fallback:), or
-- ledgersync.park_jobs below for plain-SQL workers). The job is PARKED:
--   - it stays `available` (no new state: every view, count and admin command still works)
--     with `wait_key` = K and run_at = the fallback time;
--   - it is never a fetch candidate while wait_key is set, and it does not block its serial
--     key: the lane moves on without it;
--   - it REJOINS the lane when K is woken (ledgersync.wake(K), JobQueue.wake(key:)) or when
--     its fallback time passes (fetch_jobs, step R below). On rejoining it takes a new lane
--     position (`lane_position`, a fresh value of the jobs id sequence), so it is BEHIND
--     every job that exists at that moment: serial order is coalesce(lane_position, id).
--
-- No lost wake. A wake can come while the waiter is still running (it looked for its
-- dependency, did not find it, and has not stored its park yet). Wakes are therefore
-- recorded per key with the time (ledgersync.job_wakes), and park and wake both take a
-- transaction-level advisory lock on the key first, so one of them commits second and,
-- reading after its lock, sees the other:
--   - wake second: the park is stored, the wake finds the job parked and rejoins it;
--   - park second: the wake is recorded with a time after the waiter's run started
--     (its attempted_at), so the park does not park: the job goes back to its lane
--     place, runnable at once, and looks again.
-- The time compared is the database server's clock on both sides (attempted_at is set by
-- fetch_jobs, woken_at by wake); a backward clock step between the two could hide a
-- wake, and then the fallback time is the safety net. Wake rows older than an hour are
-- pruned by wake itself: a run that looked for its dependency more than an hour before
-- parking gets the fallback too.
--
-- Never two running jobs of one serial key. A job is claimed only if
--   (1) in step 3's snapshot no unparked available/retryable/running job of its key has a
--       lower lane position (parked jobs are neither candidates nor blockers), and
--   (2) step 3 takes a transaction advisory lock on its serial key (pg_try_: a key another
--       fetch is claiming is skipped this time), and step 4, a later statement with a
--       later snapshot taken while that lock is held, finds no running job of the key.
-- (1) keeps enqueue order among the jobs of a key, and is all that parking needs: a parked
-- job is never a candidate, and a rejoined job's position is drawn after every job that
-- exists then. (2) is what makes the promise hold whatever the order of commits: two
-- fetches claiming jobs of one key serialise on the key's lock, and the second one's step 4
-- sees the first one's claim (committed before the lock was free) and claims nothing of
-- that key. Without (2), a position drawn before but committed after a concurrent claim of
-- another job of the key (a rejoin's, or an enqueue's id: this race predates 009; with 008
-- an enqueue that committed late was claimed beside the later job already running) lets a
-- later fetch see a second "head". WaitForKeySQLTests drives both orders. A key that
-- another fetch holds is skipped, not waited for: that fetch is claiming a job of the key,
-- so this one would be blocked by it anyway (or, on a hash collision of two keys, the job
-- waits for the next fetch).

ALTER TABLE ledgersync.jobs
    ADD COLUMN wait_key      text,     -- set while parked (state 'available'); NULL otherwise
    ADD COLUMN lane_position bigint;   -- the job's place in its serial lane once it rejoined; NULL = id

COMMENT ON COLUMN ledgersync.jobs.wait_key IS
    'Parked: the key this available job waits for (ledgersync.wake); it is not claimable and does not block its serial key.';
COMMENT ON COLUMN ledgersync.jobs.lane_position IS
    'Serial order is coalesce(lane_position, id); set from the id sequence when a parked job rejoins its lane.';

-- The serial check orders by lane position and ignores parked jobs.
DROP INDEX ledgersync.jobs_serial;
CREATE INDEX jobs_lane ON ledgersync.jobs (serial_key, (coalesce(lane_position, id)))
    WHERE serial_key IS NOT NULL AND wait_key IS NULL AND state IN ('available', 'running', 'retryable');
-- Step 4's re-check: the running jobs of a key (as many entries as jobs running).
CREATE INDEX jobs_serial_running ON ledgersync.jobs (serial_key)
    WHERE serial_key IS NOT NULL AND state = 'running';
-- Parked jobs by key (wake) and by fallback time (fetch's step R). Empty unless jobs wait,
-- so the fetch's probe of it costs one index descent.
CREATE INDEX jobs_parked_key ON ledgersync.jobs (wait_key)
    WHERE wait_key IS NOT NULL AND state = 'available';
CREATE INDEX jobs_parked_due ON ledgersync.jobs (queue, run_at)
    WHERE wait_key IS NOT NULL AND state = 'available';

-- The last wake of each key, for parks that come after it (see above).
CREATE TABLE ledgersync.job_wakes (
    wait_key text        PRIMARY KEY,
    woken_at timestamptz NOT NULL
);
CREATE INDEX job_wakes_woken_at ON ledgersync.job_wakes (woken_at);

-- The advisory lock of a wait key: one number space of its own (class 'ledgersync.wait').
CREATE FUNCTION ledgersync.lock_wait_key(wait_key text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtext('ledgersync.wait'), hashtext(wait_key));
$$;

-- Parked jobs `ids` (locked by the caller) rejoin their lanes: each gets a fresh lane
-- position, greater than every id and position that exists now, in the order of their
-- previous positions (jobs woken together keep their enqueue order among themselves).
-- Returns the queues of the jobs moved.
CREATE FUNCTION ledgersync.rejoin_lanes(ids bigint[]) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    ordered   bigint[];
    positions bigint[];
    queues    text[];
BEGIN
    SELECT coalesce(array_agg(j.id ORDER BY coalesce(j.lane_position, j.id)), '{}') INTO ordered
    FROM ledgersync.jobs j WHERE j.id = ANY (ids) AND j.wait_key IS NOT NULL AND j.state = 'available';
    IF cardinality(ordered) = 0 THEN
        RETURN '{}';
    END IF;
    SELECT array_agg(v.pos ORDER BY v.pos) INTO positions
    FROM (SELECT nextval(pg_get_serial_sequence('ledgersync.jobs', 'id')) AS pos
          FROM generate_series(1, cardinality(ordered))) AS v;
    WITH moved AS (
        UPDATE ledgersync.jobs j
        SET wait_key = NULL, lane_position = u.pos
        FROM unnest(ordered, positions) AS u(id, pos)
        WHERE j.id = u.id
        RETURNING j.queue
    )
    SELECT coalesce(array_agg(DISTINCT moved.queue), '{}') INTO queues FROM moved;
    RETURN queues;
END;
$$;

-- Wakes key `wait_key`: every job parked on it rejoins its lane now, behind every job that
-- exists at this moment, and workers are notified. The wake is recorded, so a job that is
-- still running and parks on this key after this commits does not park. Returns how many
-- parked jobs were woken. Any user of the queue may call it:
--   SELECT ledgersync.wake('invoice:inv_1');
CREATE FUNCTION ledgersync.wake(wait_key text) RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    woken  integer;
    queues text[];
    parked bigint[];
BEGIN
    IF wait_key IS NULL OR wait_key = '' THEN
        RAISE EXCEPTION 'wake: wait_key must be a non-empty text' USING ERRCODE = '22023';
    END IF;
    PERFORM ledgersync.lock_wait_key(wait_key);
    DELETE FROM ledgersync.job_wakes w WHERE w.woken_at < now() - interval '1 hour';
    INSERT INTO ledgersync.job_wakes AS w (wait_key, woken_at) VALUES (wait_key, clock_timestamp())
    ON CONFLICT ON CONSTRAINT job_wakes_pkey DO UPDATE SET woken_at = greatest(w.woken_at, excluded.woken_at);
    SELECT coalesce(array_agg(j.id), '{}') INTO parked
    FROM (SELECT j.id FROM ledgersync.jobs j
          WHERE j.wait_key = wait_key AND j.state = 'available'
          FOR UPDATE) AS j;
    woken := cardinality(parked);
    IF woken > 0 THEN
        UPDATE ledgersync.jobs j SET run_at = now() WHERE j.id = ANY (parked);
        queues := ledgersync.rejoin_lanes(parked);
    ELSE
        queues := '{}';
    END IF;
    -- Workers listen on this channel for new work (migration 002).
    PERFORM pg_notify('ledgersync_jobs', q) FROM unnest(queues) AS q;
    RETURN woken;
END;
$$;

-- running → available, parked: for runs ($1 ids, $2 run ids) whose handler waits for key
-- wait_keys[i], for at most fallback_seconds[i] (then the job rejoins its lane anyway). Like
-- a snooze, the attempt is given back. A run whose key was woken after the run started is
-- not parked but made runnable at once, in its lane place (the wake may have been for what
-- it waits for). Returns each stored run with whether it was parked. A run that is no
-- longer running (rescued, cancelled) is left alone.
CREATE FUNCTION ledgersync.park_jobs(
    ids bigint[], run_ids bigint[], wait_keys text[], fallback_seconds double precision[]
) RETURNS TABLE (id bigint, parked boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    k             text;
    queues        text[];
    stored_ids    bigint[];
    stored_parked boolean[];
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(wait_keys) AS w(key) WHERE w.key IS NULL OR w.key = '') THEN
        RAISE EXCEPTION 'park_jobs: every wait key must be a non-empty text' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(fallback_seconds) AS f(s) WHERE NOT (f.s >= 0 AND f.s <= 366 * 86400)) THEN
        RAISE EXCEPTION 'park_jobs: fallback_seconds must be between 0 and 366 days' USING ERRCODE = '22023';
    END IF;
    -- Keys in one order, so two parks (or a park and a wake) cannot deadlock on them.
    FOR k IN SELECT DISTINCT w.key FROM unnest(wait_keys) AS w(key) ORDER BY 1 LOOP
        PERFORM ledgersync.lock_wait_key(k);
    END LOOP;
    -- A later statement: its snapshot sees every wake that committed before our locks.
    WITH input AS (
        SELECT s.id, s.run_id, s.wait_key, s.fallback
        FROM unnest(ids, run_ids, wait_keys, fallback_seconds) AS s(id, run_id, wait_key, fallback)
    ), decided AS (
        SELECT s.*, EXISTS (
                   SELECT 1 FROM ledgersync.job_wakes w JOIN ledgersync.jobs r ON r.id = s.id
                   WHERE w.wait_key = s.wait_key AND w.woken_at >= r.attempted_at) AS woken
        FROM input s
    ), stored AS (
        UPDATE ledgersync.jobs AS j
        SET state = 'available',
            attempt = j.attempt - 1,
            locked_by = NULL,
            lease_expires_at = NULL,
            wait_key = CASE WHEN d.woken THEN NULL ELSE d.wait_key END,
            run_at = CASE WHEN d.woken THEN now() ELSE now() + make_interval(secs => d.fallback) END
        FROM decided d
        WHERE j.id = d.id
          AND j.run_id = d.run_id
          AND j.state = 'running'
        RETURNING j.id, j.queue, NOT d.woken AS parked
    )
    SELECT coalesce(array_agg(st.id), '{}'), coalesce(array_agg(st.parked), '{}'),
           coalesce(array_agg(DISTINCT st.queue) FILTER (WHERE NOT st.parked), '{}')
    INTO stored_ids, stored_parked, queues
    FROM stored st;
    -- A run made runnable at once: tell the workers, as for an enqueue.
    PERFORM pg_notify('ledgersync_jobs', q) FROM unnest(queues) AS q;
    RETURN QUERY SELECT u.id, u.parked FROM unnest(stored_ids, stored_parked) AS u(id, parked);
END;
$$;

-- Fetch as in 008, with parked jobs left out (neither candidates nor blockers), due parked
-- jobs rejoining first (step R), serial order by lane position, and the serial key locked
-- and re-checked (steps 3 and 4).
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

    -- R. Parked jobs of this queue whose fallback time has passed rejoin their lanes, each
    --    behind every job that exists now (a fresh lane position). The probe reads the
    --    partial index jobs_parked_due, empty unless jobs wait. Rows another fetch or a
    --    wake is moving are skipped: they are being rejoined already.
    IF EXISTS (SELECT 1 FROM ledgersync.jobs j
               WHERE j.wait_key IS NOT NULL AND j.state = 'available' AND j.queue = fetch_jobs.queue AND j.run_at <= now()) THEN
        PERFORM ledgersync.rejoin_lanes(ARRAY(
            SELECT p.id FROM ledgersync.jobs p
            WHERE p.wait_key IS NOT NULL AND p.state = 'available' AND p.queue = fetch_jobs.queue AND p.run_at <= now()
            ORDER BY p.run_at, p.id
            LIMIT 1000
            FOR UPDATE SKIP LOCKED));
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
    --    Parked jobs are not candidates, and do not block their serial key; the lane is
    --    ordered by lane position (coalesce(lane_position, id)), and the key of each job
    --    to claim is locked for this transaction (pg_try_: a key another fetch is claiming
    --    is skipped), for step 4's re-check.
    WITH candidates AS MATERIALIZED (
        SELECT j.id, j.limit_key, j.priority, j.run_at, j.serial_key
        FROM ledgersync.jobs j
        WHERE j.state IN ('available', 'retryable')
          AND j.queue = fetch_jobs.queue
          AND j.run_at <= now()
          AND j.wait_key IS NULL
          AND (j.limit_key IS NULL
               OR j.limit_key = ANY (open_keys)
               OR NOT EXISTS (SELECT 1 FROM ledgersync.concurrency_limits l WHERE l.limit_key = j.limit_key))
          AND (j.serial_key IS NULL
               OR NOT EXISTS (
                   SELECT 1 FROM ledgersync.jobs p
                   WHERE p.serial_key = j.serial_key
                     AND coalesce(p.lane_position, p.id) < coalesce(j.lane_position, j.id)
                     AND p.wait_key IS NULL
                     AND p.state IN ('available', 'running', 'retryable')))
        ORDER BY j.priority, j.run_at, j.id
        LIMIT fetch_jobs.max_jobs
        FOR UPDATE SKIP LOCKED
    )
    SELECT coalesce(array_agg(c.id), '{}') INTO claimed
    FROM (
        SELECT c.id, c.limit_key, c.serial_key,
               row_number() OVER (PARTITION BY c.limit_key ORDER BY c.priority, c.run_at, c.id) AS nth
        FROM candidates c
    ) AS c
    LEFT JOIN unnest(open_keys, open_slots) AS s(limit_key, slots) ON s.limit_key = c.limit_key
    WHERE CASE WHEN s.slots IS NOT NULL AND c.nth > s.slots THEN false
               WHEN c.serial_key IS NULL THEN true
               ELSE pg_try_advisory_xact_lock(hashtext('ledgersync.serial'), hashtext(c.serial_key)) END;

    -- 4. Claim them, by primary key, each with a new run id; a job of a serial key is
    --    claimed only if no job of its key is running in this statement's snapshot
    --    (taken after step 3's key locks: see the top of this file).
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
      AND (j.serial_key IS NULL
           OR NOT EXISTS (SELECT 1 FROM ledgersync.jobs r WHERE r.serial_key = j.serial_key AND r.state = 'running'))
    RETURNING j.id, j.kind, j.queue, j.priority, j.attempt, j.max_attempts, j.args, j.serial_key, j.limit_key, j.created_at,
              j.run_id, j.rate_limited_seconds;
END;
$$;
