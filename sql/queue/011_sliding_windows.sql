-- Ledgersync queue, migration 011: rate windows become SLIDING, "at most N starts of this
-- limit key in ANY span of W seconds", and a handler can take a start of its own
-- (ledgersync.take_rate_window_start) for a second request under the same budget.
--
-- Why. 010's windows were fixed and aligned to the Unix epoch: within one aligned window the
-- count was exact, but a span of W seconds straddling a turn could see 2 x N starts (the end
-- of one window and the start of the next). A provider counts its own windows, not aligned
-- with ours, and answers that burst with 429s.
--
-- The promise. For every window (key, W, N) and every half-open span [t, t + W): the
-- starts of the key counted in it are at most N. A start is a job claimed by fetch_jobs
-- (its time is the claiming transaction's now(), which is the job's attempted_at) or a
-- take_rate_window_start (its transaction's now()). It holds across every process: every
-- statement that reads and then writes a key's windows holds the key's advisory lock
-- (lock_rate_windows, as in 010: fetch_jobs takes the locks of its windowed keys in key
-- order, waiting; the statements after the lock see every start committed before it).
-- (What a provider sees is the requests, a little after their starts and with jitter: the
-- promise is about the starts.)
--
-- The design: a ring of the last starts. Each (key, window) row keeps `starts`, a
-- timestamptz[] ring of S slots, `head` (the slot written last) and `head_count`. A slot
-- stands for a GROUP of up to per_slot starts and holds the time of the latest of them;
-- every slot but the head holds a full group (per_slot starts), the head holds head_count.
--   * per_slot = ceil(N / 200), S = ceil(N / per_slot) (at most 200 slots). For N <= 200
--     (per minute, per few seconds: the windows that matter for bursts) a slot is one
--     start and the ring is EXACT: the key can start N jobs in any span of W, no fewer.
--     For N > 200 (a daily quota of 10,000: 50 starts a slot) the count is CONSERVATIVE:
--     a group counts in full until its latest start leaves the window, so at any moment at
--     most one group (the one straddling now - W) is over-counted, by at most per_slot - 1
--     starts: the budget lost is below per_slot / N, about 0.5%, and never is a span over N.
--   * Used at `at`: the sum of the counts of the slots whose time is > at - W (a slot whose
--     time is exactly at - W has left: spans are half-open). A claim of m at `at` is
--     allowed iff used + m <= N.
--   * A start joins the head group while it has room and is still counted (its time
--     > at - W); otherwise it opens the next slot of the ring, overwriting the oldest. That
--     slot is never one still counted: if it were, every slot would be counted, full but the
--     head, and used >= (S - 1) x per_slot + 1 + m > N would have refused the claim.
--   * A slot records greatest(at, the head's time). A fetch that started first and got the
--     lock second has an older now() than starts already recorded: recording the later time
--     keeps the ring ordered by time, and a recorded time is never earlier than the start it
--     stands for, which is all the proof needs (take the start of a span claimed last; every
--     other start of the span was committed before it, has a time > its time - W, so a
--     recorded time > that too, and was counted when it was checked). No retry is needed.
--   * The wait: when used falls to N - 1, i.e. when the newest slot whose own count plus
--     the counts of the slots at least as new reach N leaves the window (its time + W).
--
-- Cost. A key without windows pays exactly what it paid in 010 (step W finds no windowed
-- key; the claim is 009's statement). A windowed key's claim rewrites one row per window
-- (the ring: 8 bytes a slot, at most 200 slots, about 1.7 kB inline, HOT-updated since no
-- indexed column changes) once per fetch, not per job. Measured (docs/performance.md, row
-- "sliding rate windows"), WAL bytes per claimed job in fetches of 1 / of 10 jobs: no
-- windows 509 / 454; a window of 50: 1,087 / 495 (010: 582 / 445); of 200 or of 10,000
-- (200 slots): about 2,350 / 630 (010: about 590 / 455).
--
-- A provider's 429: exhaust_rate_windows fills every slot with now (each a full group):
-- used >= N until now + W. (010 waited for the aligned turn; a sliding window waits W.)
--
-- 010's rows are converted: a count `used` of the aligned window becomes that many starts
-- at the row's updated_at (a time no earlier than any of them), if that is within W.

ALTER TABLE ledgersync.rate_windows
    ADD COLUMN per_slot   integer,
    ADD COLUMN starts     timestamptz[],
    ADD COLUMN head       integer,
    ADD COLUMN head_count integer;

-- Starts a slot of the ring stands for: ceil(max_starts / 200), so a ring has at most 200
-- slots; 1 (exact) up to 200 starts per window.
CREATE FUNCTION ledgersync.rate_window_per_slot(max_starts integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (max_starts - 1) / 200 + 1
$$;

-- The ring of `max_starts` holding `times` (oldest first) with `counts` starts each (newer
-- than the window's edge, at most max_starts in all, the newest kept), regrouped into
-- slots of rate_window_per_slot(max_starts). Empty arrays make an empty ring (every slot
-- -infinity: counted by nobody). Returns (per_slot, starts, head, head_count).
CREATE FUNCTION ledgersync.rate_window_ring(
    max_starts integer, times timestamptz[], counts integer[],
    OUT per_slot integer, OUT starts timestamptz[], OUT head integer, OUT head_count integer)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    slots  integer;
    excess bigint;
    i      integer;
    c      integer;
    add    integer;
BEGIN
    per_slot := ledgersync.rate_window_per_slot(max_starts);
    slots := (max_starts - 1) / per_slot + 1;
    starts := array_fill('-infinity'::timestamptz, ARRAY[slots]);
    head := slots;
    head_count := per_slot;  -- "full": the first start opens slot 1
    -- Keep the newest max_starts starts: the rest would change nothing (N counted is full).
    excess := coalesce((SELECT sum(x) FROM unnest(counts) AS x), 0) - max_starts;
    FOR i IN 1 .. coalesce(cardinality(times), 0) LOOP
        c := counts[i];
        IF excess > 0 THEN
            add := least(c, excess)::integer;
            c := c - add;
            excess := excess - add;
        END IF;
        WHILE c > 0 LOOP
            IF head_count >= per_slot THEN
                head := head % slots + 1;
                head_count := 0;
            END IF;
            add := least(c, per_slot - head_count);
            head_count := head_count + add;
            c := c - add;
            starts[head] := times[i];
        END LOOP;
    END LOOP;
END;
$$;

-- 010's counts as starts at updated_at, while that is within the window.
UPDATE ledgersync.rate_windows w
SET (per_slot, starts, head, head_count) = (
    SELECT r.per_slot, r.starts, r.head, r.head_count
    FROM ledgersync.rate_window_ring(
        w.max_starts,
        CASE WHEN w.used > 0 AND w.updated_at > now() - make_interval(secs => w.seconds) THEN ARRAY[w.updated_at] ELSE '{}' END,
        CASE WHEN w.used > 0 AND w.updated_at > now() - make_interval(secs => w.seconds) THEN ARRAY[w.used] ELSE '{}' END) AS r);

DROP VIEW ledgersync.rate_window_status;
DROP FUNCTION ledgersync.rate_window_start(integer, timestamptz);
ALTER TABLE ledgersync.rate_windows
    DROP COLUMN window_start,
    DROP COLUMN used,
    ALTER COLUMN per_slot SET NOT NULL,
    ALTER COLUMN starts SET NOT NULL,
    ALTER COLUMN head SET NOT NULL,
    ALTER COLUMN head_count SET NOT NULL,
    ADD CONSTRAINT rate_windows_ring_check CHECK (
        per_slot = ledgersync.rate_window_per_slot(max_starts)
        AND array_ndims(starts) = 1 AND array_lower(starts, 1) = 1
        AND cardinality(starts) = (max_starts - 1) / per_slot + 1
        AND head BETWEEN 1 AND cardinality(starts)
        AND head_count BETWEEN 0 AND per_slot);

COMMENT ON COLUMN ledgersync.rate_windows.starts IS
    'Ring of the last starts (migration 011): a slot is a group of per_slot starts (head_count in the head slot) and holds the latest one''s time.';

-- Starts of window `w` counted at `at` (in (at - W, at]), when a start is free again
-- (NULL while one is: used < max_starts), and when `left` next rises (the oldest counted
-- group leaves; `at` when nothing is counted).
CREATE FUNCTION ledgersync.rate_window_usage(
    w ledgersync.rate_windows, at timestamptz, OUT used integer, OUT free_at timestamptz, OUT turns_at timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    oldest timestamptz;
    edge   timestamptz := at - make_interval(secs => w.seconds);
BEGIN
    -- (A full ring of a window near 2^31 starts counts a little over it: clamped.)
    SELECT least(coalesce(sum(s.c), 0), 2147483647)::integer,
           max(s.t) FILTER (WHERE s.from_here >= w.max_starts),
           min(s.t)
    INTO used, free_at, oldest
    FROM (SELECT u.t, u.c, sum(u.c) OVER (ORDER BY u.t DESC) AS from_here  -- this slot's count and newer (ties included)
          FROM (SELECT x.t, CASE WHEN x.i = w.head THEN w.head_count ELSE w.per_slot END AS c
                FROM unnest(w.starts) WITH ORDINALITY AS x(t, i)
                WHERE x.t > edge) AS u) AS s;
    free_at := free_at + make_interval(secs => w.seconds);
    turns_at := CASE WHEN used >= w.max_starts THEN free_at
                     ELSE coalesce(oldest + make_interval(secs => w.seconds), at) END;
END;
$$;

-- Window `w` after n more starts at `at` (each recorded at greatest(at, the head's time)).
CREATE FUNCTION ledgersync.rate_window_push(w ledgersync.rate_windows, at timestamptz, n integer)
RETURNS ledgersync.rate_windows
LANGUAGE plpgsql STABLE AS $$
DECLARE
    ring   timestamptz[] := w.starts;
    slots  integer := cardinality(w.starts);
    stamp  timestamptz := greatest(at, w.starts[w.head]);
    edge   timestamptz := at - make_interval(secs => w.seconds);
    h      integer := w.head;
    hc     integer := w.head_count;
    c      integer := n;
    add    integer;
BEGIN
    WHILE c > 0 LOOP
        -- Join the head group only while it has room and is still counted.
        IF hc >= w.per_slot OR NOT (ring[h] > edge) THEN
            h := h % slots + 1;
            hc := 0;
        END IF;
        add := least(c, w.per_slot - hc);
        hc := hc + add;
        c := c - add;
        ring[h] := stamp;
    END LOOP;
    w.starts := ring;
    w.head := h;
    w.head_count := hc;
    w.updated_at := now();
    RETURN w;
END;
$$;

-- The ring of a new window is empty; a window whose max_starts changes is regrouped,
-- keeping its counted starts (the newest max_starts of them). Also for rows written
-- directly (docs/operations.md grants INSERT and UPDATE on the table).
CREATE FUNCTION ledgersync.rate_windows_ring_trigger() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    edge   timestamptz;
    times  timestamptz[];
    counts integer[];
    r      record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        times := '{}';
        counts := '{}';
    ELSIF NEW.max_starts IS NOT DISTINCT FROM OLD.max_starts THEN
        RETURN NEW;
    ELSE
        edge := now() - make_interval(secs => OLD.seconds);
        SELECT coalesce(array_agg(x.t ORDER BY p.o), '{}'),
               coalesce(array_agg(CASE WHEN x.i = OLD.head THEN OLD.head_count ELSE OLD.per_slot END ORDER BY p.o), '{}')
        INTO times, counts
        FROM unnest(OLD.starts) WITH ORDINALITY AS x(t, i)
        CROSS JOIN LATERAL (SELECT (x.i - OLD.head - 1 + cardinality(OLD.starts)) % cardinality(OLD.starts) AS o) AS p
        WHERE x.t > edge AND (x.i <> OLD.head OR OLD.head_count > 0);
    END IF;
    SELECT * INTO r FROM ledgersync.rate_window_ring(NEW.max_starts, times, counts);
    NEW.per_slot := r.per_slot;
    NEW.starts := r.starts;
    NEW.head := r.head;
    NEW.head_count := r.head_count;
    RETURN NEW;
END;
$$;

CREATE TRIGGER rate_windows_ring BEFORE INSERT OR UPDATE OF max_starts ON ledgersync.rate_windows
FOR EACH ROW EXECUTE FUNCTION ledgersync.rate_windows_ring_trigger();

-- set_rate_windows keeps its 010 text: a window kept at the same length keeps its ring;
-- one whose max_starts changes is regrouped by the trigger, keeping its counted starts.

-- Marks the windows of `limit_key` (those of at most `max_seconds`, or all with NULL) used
-- up, for a provider's 429: every slot holds now (as a full group), so no process starts a
-- job of the key for the next W seconds. Returns the seconds until the last of them frees
-- (NULL when the key has no such window).
CREATE OR REPLACE FUNCTION ledgersync.exhaust_rate_windows(limit_key text, max_seconds integer DEFAULT NULL) RETURNS double precision
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    frees timestamptz;
BEGIN
    PERFORM ledgersync.lock_rate_windows(limit_key);
    WITH spent AS (
        UPDATE ledgersync.rate_windows w
        SET starts = array_fill(greatest(now(), w.starts[w.head]), ARRAY[cardinality(w.starts)]),
            head_count = w.per_slot,
            updated_at = now()
        WHERE w.limit_key = limit_key AND (max_seconds IS NULL OR w.seconds <= max_seconds)
        RETURNING w.starts[w.head] + make_interval(secs => w.seconds) AS frees_at
    )
    SELECT max(s.frees_at) INTO frees FROM spent s;
    RETURN extract(epoch FROM frees - clock_timestamp());
END;
$$;

-- Spends one start of every window of `limit_key` at once, when every one has a start
-- left (returns 0), or spends nothing and returns the seconds until every one has one
-- (> 0; try again then: another process may take it first). NULL when the key has no
-- windows (nothing to spend). For a handler that makes a second request under the same
-- budget (JobContext.takeRateWindowStart()). The start's time is this transaction's now().
--   SELECT ledgersync.take_rate_window_start('zoho:org_1');
CREATE FUNCTION ledgersync.take_rate_window_start(limit_key text) RETURNS double precision
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    windows integer;
    blocked boolean;
    frees   timestamptz;
BEGIN
    IF limit_key IS NULL OR limit_key = '' THEN
        RAISE EXCEPTION 'take_rate_window_start: limit_key must be a non-empty text' USING ERRCODE = '22023';
    END IF;
    PERFORM ledgersync.lock_rate_windows(limit_key);
    -- A later statement: it sees every start committed before the lock was granted.
    SELECT count(*), coalesce(bool_or(u.used >= w.max_starts), false), max(u.free_at)
    INTO windows, blocked, frees
    FROM ledgersync.rate_windows w
    CROSS JOIN LATERAL ledgersync.rate_window_usage(w, now()) AS u
    WHERE w.limit_key = limit_key;
    IF windows = 0 THEN
        RETURN NULL;
    END IF;
    IF blocked THEN
        -- At least a millisecond: 0 means "taken".
        RETURN greatest(extract(epoch FROM frees - clock_timestamp()), 0.001);
    END IF;
    UPDATE ledgersync.rate_windows w
    SET (starts, head, head_count, updated_at) = (
        SELECT p.starts, p.head, p.head_count, p.updated_at FROM ledgersync.rate_window_push(w, now(), 1) AS p)
    WHERE w.limit_key = limit_key;
    RETURN 0;
END;
$$;

-- The windows of every key as they stand now: starts used in the last `seconds` and left,
-- and when `left` next rises (turns_at). (ledgersync limits list, the API, the dashboard,
-- /metrics.) used is at most max_starts (after a 429 a ring may count a little more).
CREATE VIEW ledgersync.rate_window_status AS
SELECT w.limit_key, w.seconds, w.max_starts,
       least(u.used, w.max_starts) AS used, greatest(w.max_starts - u.used, 0) AS left_starts,
       u.turns_at
FROM ledgersync.rate_windows w
CROSS JOIN LATERAL ledgersync.rate_window_usage(w, now()) AS u;

-- For fetch_jobs: the starts left now of each key of `keys` (the least over its windows;
-- 0 or less when none), and for a key with none left, the seconds until every window of it
-- has one again. (010's -1, "fetch again at once", is gone: see "A slot records" above.)
CREATE OR REPLACE FUNCTION ledgersync.rate_window_budget(keys text[])
RETURNS TABLE (limit_key text, left_starts integer, wait_seconds double precision)
LANGUAGE sql AS $$
    SELECT w.limit_key,
           min(w.max_starts - u.used),
           greatest(0, extract(epoch FROM max(u.free_at) - clock_timestamp()))
    FROM ledgersync.rate_windows w
    CROSS JOIN LATERAL ledgersync.rate_window_usage(w, now()) AS u
    WHERE w.limit_key = ANY (keys)
    GROUP BY w.limit_key
$$;

-- Fetch as in 010; only the count of a windowed key's claims changes (the ring).
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
END;
$$;
