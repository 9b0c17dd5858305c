-- Ledgersync queue, migration 014: a FETCH FLOOR per queue, so that a transaction held open
-- somewhere else (a reporting query, a forgotten psql session) no longer slows every fetch.
--
-- Why. Every claim (available -> running) is a non-HOT update: the job's entry in the
-- partial index jobs_fetch (queue, priority, run_at, id) WHERE state IN ('available',
-- 'retryable') now points at a dead row version. Normally the first scan that meets it marks
-- it dead in the index (and vacuum removes it), so a fetch reads only live entries. While
-- any session holds the xmin horizon (an open transaction with an xid or a snapshot), no
-- entry of a row version that session may still see can be marked or removed: the claimed
-- jobs' entries stay at the FRONT of jobs_fetch, and every fetch walks all of them (an index
-- entry and a heap visit each) before it reaches the first job it can claim. The walk grows
-- with every job claimed since the transaction began: measured (docs/performance.md, "A long
-- transaction held open"), the candidate scan of a fetch of 500 took 45 ms after 75,000
-- claims, against 1-2 ms without the held transaction.
--
-- The floor. ledgersync.fetch_floors holds, per queue, a key (priority, run_at, id) such
-- that NO job of the queue with a smaller key is available or retryable, or can become so
-- without lowering the floor first. fetch_jobs adds `(priority, run_at, id) >= floor` to its
-- candidate scan (an index condition: the scan starts AT the floor, not at the front), and
-- after its claim moves the floor up to the first available/retryable job of the queue it
-- can see (advance_fetch_floor): the dead entries behind it are walked once, by that probe,
-- instead of by every later fetch. A queue without a row has no floor (the scan starts at the
-- front, as before 014).
--
-- What keeps it correct: a job can appear below the floor only by a write (an insert, or an
-- update that makes a job available/retryable: a retry, a snooze, a rescue, a hand-back, a
-- requeue, a change of priority or run_at) that the advancing fetch could not see, because
-- it was not committed when the fetch looked, or because it came after. So:
--   * Every such write takes the queue's floor lock SHARED (a transaction advisory lock,
--     class 'ledgersync.fetch_floor'; writers never wait for each other) before it compares
--     its key with the floor, and holds it to its commit. Triggers do it (below), so plain
--     INSERTs, COPY and an admin's UPDATE are covered as well as enqueue_many and retry_jobs.
--   * A write whose key is below the floor it sees records its key in
--     fetch_floor_lowerings (an insert: writers never update a shared row); the floor in
--     force is the least of the queue's row and its lowerings.
--   * The advance takes the lock EXCLUSIVE with pg_try_ (never waiting): it succeeds only
--     when no write of the queue is in flight, so the probe (a later statement) sees every
--     write made so far, and a write that comes after waits for the advance's commit and then
--     compares its key with the new floor. When the try fails the floor stays where it is
--     (correct, only less useful); a session that wrote jobs and then stays open keeps the
--     floor where it was until it ends.
--   * Rows locked by a fetch that has not committed (SKIP LOCKED hides them from the scan)
--     are still visible as available to the probe, so the floor never passes them: if that
--     fetch rolls back, its jobs are above the floor.
--   * A writer in REPEATABLE READ or SERIALIZABLE reads the floor of its snapshot, which may
--     be older than an advance: it records its key as a lowering without comparing. The
--     advance runs only under READ COMMITTED (fetch_jobs's own assumption).
-- Ordering is unchanged: the floor condition is read in the candidate scan's own snapshot,
-- and nothing available or retryable in that snapshot is below it.
--
-- Cost when no transaction is held: an enqueue statement takes one shared advisory lock per
-- queue it writes and scans its new rows once more (the transition table NOTIFY already
-- builds); a fetch that claimed something runs one probe (usually one live index entry) and
-- rewrites the queue's floor row (HOT). What the held transaction still costs: the floor row
-- keeps one dead version per advance (one per fetch, not one per job), and statements other
-- than the fetch's candidate scan (the counts per limit key, a serial key's "earlier job?"
-- check, the lease index's rescue scan) still walk the dead entries of their own indexes.

CREATE TABLE ledgersync.fetch_floors (
    queue      text        PRIMARY KEY,
    priority   smallint    NOT NULL,
    run_at     timestamptz NOT NULL,
    id         bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);

COMMENT ON TABLE ledgersync.fetch_floors IS
    'Per queue, a key (priority, run_at, id) below which no job is available or retryable (migration 014); fetch_jobs scans from it.';

-- Keys written below the floor since the last advance (usually none: an enqueue at the
-- default priority sorts after every job before it). The advance deletes the ones it saw.
CREATE TABLE ledgersync.fetch_floor_lowerings (
    queue    text        NOT NULL,
    priority smallint    NOT NULL,
    run_at   timestamptz NOT NULL,
    id       bigint      NOT NULL
);
CREATE INDEX fetch_floor_lowerings_key ON ledgersync.fetch_floor_lowerings (queue, priority, run_at, id);

-- The floor in force for `queue`: the least of its row and its lowerings; the lowest key
-- there is when the queue has no row (the scan starts at the front). PL/pgSQL, not SQL: the
-- enqueue trigger calls it once per statement, and a SQL function that cannot be inlined is
-- planned at every call, while PL/pgSQL keeps its plans for the session (measured: with the
-- SQL version a single-job enqueue took 0.3 ms longer).
CREATE FUNCTION ledgersync.fetch_floor(queue text, OUT priority smallint, OUT run_at timestamptz, OUT id bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    lp smallint;
    lr timestamptz;
    li bigint;
BEGIN
    SELECT f.priority, f.run_at, f.id INTO priority, run_at, id FROM ledgersync.fetch_floors f WHERE f.queue = queue;
    IF NOT FOUND THEN
        priority := -32768;
        run_at := '-infinity';
        id := -9223372036854775808;
        RETURN;
    END IF;
    SELECT l.priority, l.run_at, l.id INTO lp, lr, li
    FROM ledgersync.fetch_floor_lowerings l WHERE l.queue = queue
    ORDER BY l.priority, l.run_at, l.id LIMIT 1;
    IF FOUND AND (lp, lr, li) < (priority, run_at, id) THEN
        priority := lp;
        run_at := lr;
        id := li;
    END IF;
END;
$$;

-- A writer of jobs of `queue` that may become fetchable: the lock an advance must not pass.
CREATE FUNCTION ledgersync.lock_fetch_floor_shared(queue text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock_shared(hashtext('ledgersync.fetch_floor'), hashtext(queue));
$$;

-- After every INSERT into jobs (statement level, the new rows as a transition table).
-- The two trigger functions run with their owner's rights (SECURITY DEFINER, a fixed
-- search_path): a role that may only insert jobs (docs/operations.md, "Database roles")
-- has no rights on the floor tables, and must not need any.
CREATE FUNCTION ledgersync.fetch_floor_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    q      text;
    fl     record;
    exact  boolean := current_setting('transaction_isolation') = 'read committed';
BEGIN
    FOR q IN SELECT DISTINCT n.queue FROM new_jobs n WHERE n.state IN ('available', 'retryable') LOOP
        PERFORM ledgersync.lock_fetch_floor_shared(q);
        -- A later statement: it sees the floor of every advance committed before the lock.
        SELECT * INTO fl FROM ledgersync.fetch_floor(q);
        IF exact AND fl.priority = -32768 THEN
            CONTINUE;  -- no floor: nothing is below it
        END IF;
        INSERT INTO ledgersync.fetch_floor_lowerings (queue, priority, run_at, id)
        SELECT n.queue, n.priority, n.run_at, n.id
        FROM new_jobs n
        WHERE n.queue = q AND n.state IN ('available', 'retryable')
          AND (NOT exact OR (n.priority, n.run_at, n.id) < (fl.priority, fl.run_at, fl.id))
        ORDER BY n.priority, n.run_at, n.id
        LIMIT 1;
    END LOOP;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_fetch_floor_inserted
AFTER INSERT ON ledgersync.jobs
REFERENCING NEW TABLE AS new_jobs
FOR EACH STATEMENT EXECUTE FUNCTION ledgersync.fetch_floor_inserted();

-- After an UPDATE that makes a job available/retryable at a key the advance may not have
-- seen (row level; the trigger's WHEN leaves out claims, completions and every update that
-- keeps an available job at the same or a later key, such as parking it).
CREATE FUNCTION ledgersync.fetch_floor_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fl record;
BEGIN
    PERFORM ledgersync.lock_fetch_floor_shared(NEW.queue);
    SELECT * INTO fl FROM ledgersync.fetch_floor(NEW.queue);
    IF current_setting('transaction_isolation') <> 'read committed'
       OR (NEW.priority, NEW.run_at, NEW.id) < (fl.priority, fl.run_at, fl.id) THEN
        INSERT INTO ledgersync.fetch_floor_lowerings (queue, priority, run_at, id)
        VALUES (NEW.queue, NEW.priority, NEW.run_at, NEW.id);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_fetch_floor_updated
AFTER UPDATE ON ledgersync.jobs
FOR EACH ROW
WHEN (NEW.state IN ('available', 'retryable')
      AND NOT (OLD.state IN ('available', 'retryable') AND OLD.queue = NEW.queue
               AND (OLD.priority, OLD.run_at, OLD.id) <= (NEW.priority, NEW.run_at, NEW.id)))
EXECUTE FUNCTION ledgersync.fetch_floor_updated();

-- Moves the floor of `queue` up to the first available or retryable job this transaction
-- can see (removes it when there is none), if no write of the queue is in flight.
-- Called by fetch_jobs after its claim, as its last statement, so that writers wait for the
-- exclusive lock (until the fetch commits) as briefly as possible. Returns whether it moved.
CREATE FUNCTION ledgersync.advance_fetch_floor(queue text) RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    fl  record;
    np  smallint;
    nr  timestamptz;
    ni  bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed'
       OR NOT pg_try_advisory_xact_lock(hashtext('ledgersync.fetch_floor'), hashtext(queue)) THEN
        RETURN false;
    END IF;
    -- Later statements: every write of the queue made before the lock is committed (or
    -- rolled back) and visible here; later ones wait for this transaction.
    SELECT * INTO fl FROM ledgersync.fetch_floor(queue);
    SELECT j.priority, j.run_at, j.id INTO np, nr, ni
    FROM ledgersync.jobs j
    WHERE j.queue = queue AND j.state IN ('available', 'retryable')
      AND (j.priority, j.run_at, j.id) >= (fl.priority, fl.run_at, fl.id)
    ORDER BY j.priority, j.run_at, j.id
    LIMIT 1;
    IF NOT FOUND THEN
        -- Nothing waits: no floor (the row goes), rather than one past every key. A floor
        -- there made every job enqueued into an idle queue a lowering (a row written by
        -- the enqueue and deleted by the fetch that took it: 0.5 ms on each pick-up, the
        -- common case of a queue that keeps up). Without a row the next fetch scans from
        -- the front once, and the first that claims something sets the floor again.
        DELETE FROM ledgersync.fetch_floor_lowerings l WHERE l.queue = queue;
        DELETE FROM ledgersync.fetch_floors f WHERE f.queue = queue;
        RETURN true;
    END IF;
    DELETE FROM ledgersync.fetch_floor_lowerings l WHERE l.queue = queue;
    INSERT INTO ledgersync.fetch_floors AS f (queue, priority, run_at, id)
    VALUES (queue, np, nr, ni)
    ON CONFLICT ON CONSTRAINT fetch_floors_pkey DO UPDATE
    SET priority = excluded.priority, run_at = excluded.run_at, id = excluded.id, updated_at = now()
    WHERE (f.priority, f.run_at, f.id) IS DISTINCT FROM (excluded.priority, excluded.run_at, excluded.id);
    RETURN true;
END;
$$;

-- Fetch as in 011, with two changes, each marked "014:" (the rest is 011's text): the
-- candidate scan starts at the queue's floor, and after the claim the floor moves up.
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
    window_keys  text[];  -- windowed keys with runnable jobs in this queue (locked in step W)
    window_open  text[];  -- … of those, the ones with a start left in every window
    window_left  integer[];
    window_wait  double precision;  -- seconds until the first blocked key has a start again
BEGIN
    -- 0. The runs (id, run_id) of this worker that are done with their limit key's
    --    resource: as in 006.
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

    -- R. Due parked jobs rejoin their lanes: as in 009.
    IF EXISTS (SELECT 1 FROM ledgersync.jobs j
               WHERE j.wait_key IS NOT NULL AND j.state = 'available' AND j.queue = fetch_jobs.queue AND j.run_at <= now()) THEN
        PERFORM ledgersync.rejoin_lanes(ARRAY(
            SELECT p.id FROM ledgersync.jobs p
            WHERE p.wait_key IS NOT NULL AND p.state = 'available' AND p.queue = fetch_jobs.queue AND p.run_at <= now()
            ORDER BY p.run_at, p.id
            LIMIT 1000
            FOR UPDATE SKIP LOCKED));
    END IF;

    -- W. Rate windows. Lock (waiting, in key order) the windowed keys with runnable jobs in
    --    this queue. A queue without windowed keys pays one probe of an empty table here.
    SELECT coalesce(array_agg(k.limit_key ORDER BY k.limit_key), '{}') INTO window_keys
    FROM (SELECT DISTINCT w.limit_key FROM ledgersync.rate_windows w
          WHERE EXISTS (
              SELECT 1 FROM ledgersync.jobs j
              WHERE j.limit_key = w.limit_key AND j.state IN ('available', 'retryable') AND j.queue = fetch_jobs.queue
                AND j.run_at <= now() AND j.wait_key IS NULL)) AS k;
    IF cardinality(window_keys) > 0 THEN
        PERFORM ledgersync.lock_rate_windows(k) FROM unnest(window_keys) AS k ORDER BY k;
        -- A later statement: its snapshot sees every claim committed before the locks.
        SELECT coalesce(array_agg(b.limit_key) FILTER (WHERE b.left_starts > 0), '{}'),
               coalesce(array_agg(b.left_starts) FILTER (WHERE b.left_starts > 0), '{}')
        INTO window_open, window_left
        FROM ledgersync.rate_window_budget(window_keys) AS b;
    ELSE
        window_open := '{}';
        window_left := '{}';
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

    -- 2. Free slots per held key: as in 008.
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

    -- 3. Lock the jobs to claim: as in 010.
    WITH candidates AS MATERIALIZED (
        SELECT j.id, j.limit_key, j.priority, j.run_at, j.serial_key
        FROM ledgersync.jobs j
        WHERE j.state IN ('available', 'retryable')
          AND j.queue = fetch_jobs.queue
          AND j.run_at <= now()
          AND j.wait_key IS NULL
          -- 014: start at the floor (an index condition on jobs_fetch), read in this
          -- statement's snapshot. Nothing available or retryable is below it.
          AND (j.priority, j.run_at, j.id) >= ((SELECT fl.priority FROM ledgersync.fetch_floor(fetch_jobs.queue) AS fl),
                                               (SELECT fl.run_at FROM ledgersync.fetch_floor(fetch_jobs.queue) AS fl),
                                               (SELECT fl.id FROM ledgersync.fetch_floor(fetch_jobs.queue) AS fl))
          AND (j.limit_key IS NULL
               OR j.limit_key = ANY (open_keys)
               OR NOT EXISTS (SELECT 1 FROM ledgersync.concurrency_limits l WHERE l.limit_key = j.limit_key))
          AND (j.limit_key IS NULL
               OR j.limit_key = ANY (window_open)
               OR NOT EXISTS (SELECT 1 FROM ledgersync.rate_windows w WHERE w.limit_key = j.limit_key))
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
    LEFT JOIN unnest(window_open, window_left) AS ws(limit_key, starts) ON ws.limit_key = c.limit_key
    WHERE CASE WHEN s.slots IS NOT NULL AND c.nth > s.slots THEN false
               WHEN ws.starts IS NOT NULL AND c.nth > ws.starts THEN false
               WHEN c.serial_key IS NULL THEN true
               ELSE pg_try_advisory_xact_lock(hashtext('ledgersync.serial'), hashtext(c.serial_key)) END;

    -- 4. Claim them: as in 009. Without windowed keys, exactly 009's statement.
    IF cardinality(window_open) = 0 THEN
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
                  j.run_id, j.rate_limited_seconds, NULL::double precision;
    ELSE
        -- … and the claims of windowed keys pushed into their rings in the same statement
        -- (a data-modifying CTE runs whether or not the outer query reads it).
        RETURN QUERY
        WITH started AS (
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
                      j.run_id, j.rate_limited_seconds
        ), counted AS (
            UPDATE ledgersync.rate_windows w
            SET (starts, head, head_count, updated_at) = (
                SELECT p.starts, p.head, p.head_count, p.updated_at FROM ledgersync.rate_window_push(w, now(), n.starts) AS p)
            FROM (SELECT s.limit_key, count(*)::integer AS starts FROM started s
                  WHERE s.limit_key = ANY (window_open) GROUP BY s.limit_key) AS n
            WHERE w.limit_key = n.limit_key
            RETURNING w.limit_key
        )
        SELECT s.id, s.kind, s.queue, s.priority, s.attempt, s.max_attempts, s.args, s.serial_key, s.limit_key, s.created_at,
               s.run_id, s.rate_limited_seconds, NULL::double precision
        FROM started s;
    END IF;

    -- The hint for the worker: when the first key left without a start (before this
    --    claim or by it) has one again. (A later statement: it sees this claim's counts.)
    IF cardinality(window_keys) > 0 THEN
        SELECT min(b.wait_seconds) INTO window_wait
        FROM ledgersync.rate_window_budget(window_keys) AS b WHERE b.left_starts <= 0;
    END IF;
    IF window_wait IS NOT NULL THEN
        RETURN NEXT (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, window_wait)::ledgersync.fetched_job;
    END IF;
    -- 014: move the queue's floor past what this fetch claimed (and what others claimed
    --    before it), last, so that writers wait for its exclusive lock as briefly as they can.
    IF cardinality(claimed) > 0 THEN
        PERFORM ledgersync.advance_fetch_floor(fetch_jobs.queue);
    END IF;
END;
$$;
