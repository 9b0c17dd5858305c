-- Ledgersync queue, migration 002: enqueueing from SQL, and the wake-up notification.
--
-- Any PostgreSQL client can enqueue inside its own transaction; the job exists if and
-- only if that transaction commits:
--
--   BEGIN;
--   INSERT INTO invoices …;
--   SELECT ledgersync.enqueue('invoice.push', '{"invoice": {…}}', serial_key => 'acme');
--   COMMIT;

-- Enqueues one job and returns its id. With a unique_key that an unfinished job already
-- holds, nothing is inserted and that job's id is returned.
CREATE FUNCTION ledgersync.enqueue(
    kind         text,
    args         jsonb       DEFAULT '{}',
    queue        text        DEFAULT 'default',
    priority     integer     DEFAULT 0,
    run_at       timestamptz DEFAULT NULL,
    max_attempts integer     DEFAULT NULL,
    unique_key   text        DEFAULT NULL,
    serial_key   text        DEFAULT NULL,
    limit_key    text        DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
-- Parameters share their names with columns (so callers can write unique_key => …);
-- below, a bare name is a column and a parameter is always written enqueue.<name>.
#variable_conflict use_column
DECLARE
    job_id bigint;
BEGIN
    IF enqueue.kind IS NULL OR enqueue.kind = '' THEN
        RAISE EXCEPTION 'ledgersync.enqueue: kind must not be empty' USING ERRCODE = '22023';
    END IF;
    IF enqueue.args IS NULL OR jsonb_typeof(enqueue.args) <> 'object' THEN
        RAISE EXCEPTION 'ledgersync.enqueue: args must be a JSON object, got %', coalesce(jsonb_typeof(enqueue.args), 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF enqueue.priority IS NULL OR enqueue.priority NOT BETWEEN 0 AND 9 THEN
        RAISE EXCEPTION 'ledgersync.enqueue: priority must be 0 (most urgent) to 9, got %', coalesce(enqueue.priority::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF enqueue.max_attempts IS NOT NULL AND enqueue.max_attempts < 1 THEN
        RAISE EXCEPTION 'ledgersync.enqueue: max_attempts must be at least 1, got %', enqueue.max_attempts USING ERRCODE = '22023';
    END IF;

    -- A concurrent enqueue of the same unique key either inserts first (we then see its
    -- row on conflict) or has not committed (ON CONFLICT waits for it). The loop covers
    -- the one gap: the holder finished between our conflict and our look-up.
    LOOP
        INSERT INTO ledgersync.jobs AS j
            (kind, args, queue, priority, run_at, max_attempts, unique_key, serial_key, limit_key)
        VALUES (
            enqueue.kind, enqueue.args, coalesce(enqueue.queue, 'default'), enqueue.priority,
            coalesce(enqueue.run_at, now()),
            coalesce(enqueue.max_attempts, (SELECT k.max_attempts FROM ledgersync.job_kinds k WHERE k.kind = enqueue.kind), 20),
            enqueue.unique_key, enqueue.serial_key, enqueue.limit_key)
        ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable')
        DO NOTHING
        RETURNING j.id INTO job_id;
        IF job_id IS NOT NULL THEN
            RETURN job_id;
        END IF;

        SELECT j.id INTO job_id
        FROM ledgersync.jobs j
        WHERE j.unique_key = enqueue.unique_key
          AND j.state IN ('available', 'running', 'retryable');
        IF job_id IS NOT NULL THEN
            RETURN job_id;
        END IF;
    END LOOP;
END;
$$;

-- (005_enqueue_many_checks.sql replaces this function with one that checks faster.)
--
-- Enqueues many jobs in one statement. `jobs` is a JSON array of objects with the
-- parameters of ledgersync.enqueue as fields (only kind is required):
--
--   SELECT ledgersync.enqueue_many('[{"kind": "invoice.push", "args": {…}, "serial_key": "acme"}, …]');
--
-- Returns the ids of the jobs it inserted, in input order. A job whose unique_key is held
-- by an unfinished job (or by an earlier job of the same batch) is skipped.
CREATE FUNCTION ledgersync.enqueue_many(jobs jsonb) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    problem text;
BEGIN
    IF jobs IS NULL OR jsonb_typeof(jobs) <> 'array' THEN
        RAISE EXCEPTION 'ledgersync.enqueue_many: jobs must be a JSON array, got %', coalesce(jsonb_typeof(jobs), 'NULL')
            USING ERRCODE = '22023';
    END IF;

    -- Name the first bad field before inserting anything, so a typo is not a silent default.
    SELECT format('jobs[%s]: %s', n - 1, reason) INTO problem
    FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n),
    LATERAL (
        SELECT CASE
            WHEN jsonb_typeof(job) <> 'object' THEN 'must be a JSON object, got ' || jsonb_typeof(job)
            WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(job) AS key
                         WHERE key NOT IN ('kind', 'args', 'queue', 'priority', 'run_at', 'max_attempts',
                                           'unique_key', 'serial_key', 'limit_key'))
                THEN (SELECT 'unknown field "' || key || '"'
                      FROM jsonb_object_keys(job) AS key
                      WHERE key NOT IN ('kind', 'args', 'queue', 'priority', 'run_at', 'max_attempts',
                                        'unique_key', 'serial_key', 'limit_key')
                      ORDER BY key LIMIT 1)
            WHEN jsonb_typeof(job -> 'kind') IS DISTINCT FROM 'string' OR job ->> 'kind' = '' THEN 'kind is missing or not a non-empty string'
            WHEN job ? 'args' AND jsonb_typeof(job -> 'args') <> 'object' THEN 'args must be a JSON object'
            WHEN job ? 'priority' AND (jsonb_typeof(job -> 'priority') <> 'number'
                                       OR (job ->> 'priority') !~ '^[0-9]$') THEN 'priority must be an integer from 0 to 9'
            WHEN job ? 'max_attempts' AND (jsonb_typeof(job -> 'max_attempts') <> 'number'
                                           OR (job ->> 'max_attempts') !~ '^[1-9][0-9]{0,8}$') THEN 'max_attempts must be a positive integer'
            WHEN job ? 'run_at' AND (jsonb_typeof(job -> 'run_at') <> 'string' OR (job ->> 'run_at') !~
                 '^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$')
                THEN 'run_at must be an ISO 8601 timestamp string, e.g. "2026-11-21T12:00:00Z"'
            WHEN job ? 'queue' AND (jsonb_typeof(job -> 'queue') <> 'string' OR job ->> 'queue' = '')
                THEN 'queue must be a non-empty string'
            WHEN EXISTS (SELECT 1 FROM unnest(ARRAY['unique_key', 'serial_key', 'limit_key']) AS key
                         WHERE job ? key AND jsonb_typeof(job -> key) NOT IN ('string', 'null'))
                THEN (SELECT key || ' must be a string'
                      FROM unnest(ARRAY['unique_key', 'serial_key', 'limit_key']) AS key
                      WHERE job ? key AND jsonb_typeof(job -> key) NOT IN ('string', 'null')
                      LIMIT 1)
        END AS reason
    ) AS check_one
    WHERE reason IS NOT NULL
    ORDER BY n
    LIMIT 1;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'ledgersync.enqueue_many: %', problem USING ERRCODE = '22023';
    END IF;

    RETURN QUERY
    INSERT INTO ledgersync.jobs AS j
        (kind, args, queue, priority, run_at, max_attempts, unique_key, serial_key, limit_key)
    SELECT r.kind,
           coalesce(r.args, '{}'),
           coalesce(r.queue, 'default'),
           coalesce(r.priority, 0),
           coalesce(r.run_at, now()),
           coalesce(r.max_attempts, k.max_attempts, 20),
           r.unique_key, r.serial_key, r.limit_key
    FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n)
    CROSS JOIN LATERAL jsonb_to_record(e.job) AS r(
        kind text, args jsonb, queue text, priority smallint, run_at timestamptz,
        max_attempts integer, unique_key text, serial_key text, limit_key text)
    LEFT JOIN ledgersync.job_kinds k ON k.kind = r.kind
    ORDER BY e.n
    ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable')
    DO NOTHING
    RETURNING j.id;
END;
$$;

-- Sets (or with NULL removes) the concurrency limit of a limit key.
CREATE FUNCTION ledgersync.set_concurrency_limit(limit_key text, max_running integer) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM ledgersync.concurrency_limits l
    WHERE l.limit_key = set_concurrency_limit.limit_key AND set_concurrency_limit.max_running IS NULL;
    INSERT INTO ledgersync.concurrency_limits AS l (limit_key, max_running)
    SELECT set_concurrency_limit.limit_key, set_concurrency_limit.max_running
    WHERE set_concurrency_limit.max_running IS NOT NULL
    ON CONFLICT (limit_key) DO UPDATE SET max_running = excluded.max_running, updated_at = now();
$$;

-- Wake-up: one NOTIFY per queue per inserting statement (not per row), delivered when
-- the inserting transaction commits, never for one that rolls back. The payload is the
-- queue name; idle workers of that queue fetch at once instead of waiting for their poll.
-- A trigger, so that plain INSERTs and COPY by users wake workers too.
CREATE FUNCTION ledgersync.notify_jobs_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledgersync_jobs', queue)
    FROM (SELECT DISTINCT queue FROM inserted_jobs) AS queues;
    RETURN NULL;
END;
$$;

CREATE TRIGGER jobs_notify_inserted
    AFTER INSERT ON ledgersync.jobs
    REFERENCING NEW TABLE AS inserted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION ledgersync.notify_jobs_inserted();
