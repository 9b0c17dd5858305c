-- Ledgersync queue, migration 010: rate windows, "at most N starts of this limit key per
-- window", held across every worker process.
--
-- A concurrency limit (001) bounds how many jobs of a key run at once. Some providers count
-- requests per period instead (100 per minute, 1,000 per day): a fleet of workers within
-- its concurrency limit would still spend the minute's budget in a second and collect 429s
-- for the rest of it. A key may now carry any number of windows besides its concurrency
-- limit; fetch starts a job of the key only while every one of its windows has a start
-- left, so the tightest window wins.
--
-- Windows are FIXED and aligned to the Unix epoch: a window of W seconds runs from a
-- multiple of W to the next (a day is a UTC day, a minute a clock minute). Each
-- (key, window) row counts the starts of its current window; the count is reset by the
-- first claim of a later window. The promise is exact per window: the jobs whose
-- attempted_at falls in one window are at most max_starts. (A span of W seconds that
-- straddles a turn can see up to twice that: the end of one window and the start of the
-- next. A provider that counts in a sliding window should be given a smaller budget.)
--
-- Race between fetchers. Every statement that reads and then writes a key's counters holds
-- a transaction-level advisory lock on the key (class 'ledgersync.window'): fetch_jobs
-- takes the locks of the windowed keys that have runnable jobs in its queue, in key order
-- (so two fetches cannot deadlock), WAITING for them rather than skipping (a fetch that
-- skipped a key with budget left would leave it idle until the next poll). The following
-- statements of the function see every claim committed before the lock was granted, and
-- the counters are raised in the same statement that claims, so no two fetches can spend
-- one start. The window of a claim is the one containing the transaction's now(), which is
-- also the claimed job's attempted_at; a fetch whose now() lies before a window another
-- fetch has already opened (it started first, got the lock second) claims nothing of that
-- key and asks its worker to fetch again at once.
--
-- A job that finds no budget is not claimed: it keeps its attempts and its place. When
-- some key with runnable jobs has no start left, fetch returns one extra row besides the
-- claimed jobs: every column NULL but window_wait_seconds, the seconds until the first of
-- those keys has a start again. The worker sets a timer for it, so a key's jobs start when
-- its window turns without the worker polling meanwhile.
--
-- A provider's 429 says its own window is spent, whatever we counted:
-- ledgersync.exhaust_rate_windows (JobContext.exhaustRateWindows) marks the key's current
-- windows used up, so no process starts a job of the key until they turn.

CREATE TABLE ledgersync.rate_windows (
    limit_key    text        NOT NULL,
    -- The window's length; windows are aligned to multiples of it since the Unix epoch.
    seconds      integer     NOT NULL CHECK (seconds BETWEEN 1 AND 366 * 86400),
    max_starts   integer     NOT NULL CHECK (max_starts >= 1),
    -- The window the count belongs to (its start), and the starts counted in it.
    window_start timestamptz NOT NULL DEFAULT '-infinity',
    used         integer     NOT NULL DEFAULT 0 CHECK (used >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (limit_key, seconds)
);

-- The start of the window of `seconds` that contains `at`.
CREATE FUNCTION ledgersync.rate_window_start(seconds integer, at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_timestamp(floor(extract(epoch FROM at) / seconds) * seconds)
$$;

-- The advisory lock of a windowed key: a number space of its own (class 'ledgersync.window').
CREATE FUNCTION ledgersync.lock_rate_windows(limit_key text) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(hashtext('ledgersync.window'), hashtext(limit_key));
$$;

-- Sets the windows of a limit key: windows[i] starts per seconds[i]. Windows of the key not
-- listed are removed; a window kept (same length) keeps its count. Empty arrays remove
-- every window of the key. The concurrency limit is not touched.
--   SELECT ledgersync.set_rate_windows('zoho:org_1', ARRAY[100, 1000], ARRAY[60, 86400]);
CREATE FUNCTION ledgersync.set_rate_windows(limit_key text, max_starts integer[], seconds integer[]) RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
BEGIN
    IF limit_key IS NULL OR limit_key = '' THEN
        RAISE EXCEPTION 'set_rate_windows: limit_key must be a non-empty text' USING ERRCODE = '22023';
    END IF;
    IF max_starts IS NULL OR seconds IS NULL OR cardinality(max_starts) <> cardinality(seconds) THEN
        RAISE EXCEPTION 'set_rate_windows: max_starts and seconds must be arrays of the same length' USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(max_starts) AS m(n) WHERE m.n IS NULL OR m.n < 1) THEN
        RAISE EXCEPTION 'set_rate_windows: max_starts must be at least 1 each (a concurrency limit of 0 pauses a key)'
            USING ERRCODE = '22023';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(seconds) AS s(n) WHERE s.n IS NULL OR s.n NOT BETWEEN 1 AND 366 * 86400) THEN
        RAISE EXCEPTION 'set_rate_windows: seconds must be from 1 to 366 days each' USING ERRCODE = '22023';
    END IF;
    IF (SELECT count(DISTINCT s.n) FROM unnest(seconds) AS s(n)) <> cardinality(seconds) THEN
        RAISE EXCEPTION 'set_rate_windows: two windows of the same length' USING ERRCODE = '22023';
    END IF;
    PERFORM ledgersync.lock_rate_windows(limit_key);
    DELETE FROM ledgersync.rate_windows w WHERE w.limit_key = limit_key AND NOT (w.seconds = ANY (seconds));
    INSERT INTO ledgersync.rate_windows AS w (limit_key, seconds, max_starts)
    SELECT limit_key, u.seconds, u.max_starts FROM unnest(seconds, max_starts) AS u(seconds, max_starts)
    ON CONFLICT ON CONSTRAINT rate_windows_pkey DO UPDATE SET max_starts = excluded.max_starts, updated_at = now();
END;
$$;

-- Marks the current windows of `limit_key` used up (those of at most `max_seconds`, or all
-- with NULL), for a provider's 429: no process starts a job of the key until they turn.
-- Returns the seconds until the last of them turns (NULL when the key has no such window).
--   SELECT ledgersync.exhaust_rate_windows('zoho:org_1', 60);
CREATE FUNCTION ledgersync.exhaust_rate_windows(limit_key text, max_seconds integer DEFAULT NULL) RETURNS double precision
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    turns timestamptz;
BEGIN
    PERFORM ledgersync.lock_rate_windows(limit_key);
    WITH spent AS (
        UPDATE ledgersync.rate_windows w
        SET window_start = greatest(w.window_start, ledgersync.rate_window_start(w.seconds, now())),
            used = greatest(w.max_starts, CASE WHEN w.window_start >= ledgersync.rate_window_start(w.seconds, now()) THEN w.used ELSE 0 END),
            updated_at = now()
        WHERE w.limit_key = limit_key AND (max_seconds IS NULL OR w.seconds <= max_seconds)
        RETURNING w.window_start + make_interval(secs => w.seconds) AS turns_at
    )
    SELECT max(s.turns_at) INTO turns FROM spent s;
    RETURN extract(epoch FROM turns - clock_timestamp());
END;
$$;

-- The windows of every key as they stand now: starts used and left in the current window,
-- and when it turns. (ledgersync limits list, the API, the dashboard, /metrics.)
CREATE VIEW ledgersync.rate_window_status AS
SELECT w.limit_key, w.seconds, w.max_starts,
       c.used, greatest(w.max_starts - c.used, 0) AS left_starts,
       c.current_start + make_interval(secs => w.seconds) AS turns_at
FROM ledgersync.rate_windows w
CROSS JOIN LATERAL (
    SELECT ledgersync.rate_window_start(w.seconds, now()) AS current_start) AS b
CROSS JOIN LATERAL (
    SELECT b.current_start,
           CASE WHEN w.window_start >= b.current_start THEN w.used ELSE 0 END AS used) AS c;

-- For fetch_jobs: the starts left now of each key of `keys` (the least over its windows;
-- -1 while now() lies before a window another fetch opened: "fetch again at once"), and
-- for a key with none left, the seconds until every spent window has turned.
CREATE FUNCTION ledgersync.rate_window_budget(keys text[])
RETURNS TABLE (limit_key text, left_starts integer, wait_seconds double precision)
LANGUAGE sql AS $$
    SELECT w.limit_key,
           min(CASE WHEN w.window_start > b.current_start THEN -1
                    WHEN w.window_start = b.current_start THEN w.max_starts - w.used
                    ELSE w.max_starts END),
           greatest(0, extract(epoch FROM max(
               CASE WHEN w.window_start > b.current_start THEN clock_timestamp()
                    WHEN w.window_start = b.current_start AND w.used >= w.max_starts
                        THEN b.current_start + make_interval(secs => w.seconds)
                    ELSE NULL END) - clock_timestamp()))
    FROM ledgersync.rate_windows w
    CROSS JOIN LATERAL (SELECT ledgersync.rate_window_start(w.seconds, now()) AS current_start) AS b
    WHERE w.limit_key = ANY (keys)
    GROUP BY w.limit_key
$$;

-- The result gains window_wait_seconds (NULL on every claimed job's row; see above), so
-- type and function are replaced.
DROP FUNCTION ledgersync.fetch_jobs(text, text, integer, double precision, bigint[], bigint[]);
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
    rate_limited_seconds double precision,
    window_wait_seconds  double precision
);

-- Fetch as in 009, with step W (rate windows) and the counters raised by the claim.
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

    -- 3. Lock the jobs to claim: as in 009, and a windowed key only if it has a start left
    --    (at most that many of its jobs). A windowed key that appeared after step W (its
    --    windows set meanwhile) is not in window_keys and waits for the next fetch.
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
        -- … and the claims of windowed keys counted in the same statement (a data-modifying
        -- CTE runs whether or not the outer query reads it).
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
            SET used = CASE WHEN w.window_start = ledgersync.rate_window_start(w.seconds, now()) THEN w.used ELSE 0 END + n.starts,
                window_start = ledgersync.rate_window_start(w.seconds, now()),
                updated_at = now()
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
END;
$$;
