-- Ledgersync queue, migration 007: bounds on job args, the same on every face.
--
-- A jsonb value PostgreSQL accepts but cannot render stops everything that reads it:
-- `1e131000` is 8 bytes of input and 131 KB of text, so a 75 KB args of them is more than
-- the 1 GB a text value may hold, and every fetch of its queue fails. `0e-16000` is 16,000
-- zeros as text. So args are bounded by what PostgreSQL will render, not by how they were
-- written (the numbers are those of Sources/ExactJSON/ArgsBounds.swift, which the API and
-- `ledgersync enqueue` apply; docs/security.md lists them):
--
--   size              at most 262144 bytes as stored (pg_column_size of the jsonb)
--   nesting           at most 32 containers deep, the args object being 1
--   strings           at most 65536 characters, member names too
--   numbers           fewer than 30 digits before the decimal point (|x| < 1e30) and at
--                     most 30 after it (numeric's scale: trailing zeros count)
--
-- The test is cheap because it sits on the bulk-enqueue path: C-implemented jsonb and
-- jsonpath operations, never rendering the value as text, and the string walk only for a
-- value large enough to hold a long string. Only a refused value is walked in PL/pgSQL, to
-- name the field at fault.

-- Whether `value` is within the bounds. IMMUTABLE so that it can serve in a view or an
-- index; never fails and never renders the value.
--
-- The bulk statements (enqueue_many below, queries/enqueue_batch.sql) write the same test
-- inline: a SQL function with a subquery is not inlined, and the call costs ~9 µs a job
-- against ~1.5 µs inline (measured on 100,000 '{}' values).
CREATE FUNCTION ledgersync.json_within_bounds(value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT pg_column_size(value) <= 262144
       AND NOT jsonb_path_exists(value, 'strict $.**{32 to last} ? (@.type() == "object" || @.type() == "array")')
       AND NOT EXISTS (SELECT FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "number")') AS n(v)
                       WHERE abs(n.v::numeric) >= 1e30 OR scale(n.v::numeric) > 30)
       -- A string or member name of more than 65536 characters needs more than 65536
       -- bytes, so a smaller uncompressed value holds none.
       AND ((pg_column_size(value) <= 65536 AND pg_column_compression(value) IS NULL)
            OR NOT EXISTS (SELECT FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "string")') AS s(v)
                           WHERE length(s.v #>> '{}') > 65536)
               AND NOT EXISTS (SELECT FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "object").keyvalue().key') AS k(v)
                               WHERE length(k.v #>> '{}') > 65536))
$$;

COMMENT ON FUNCTION ledgersync.json_within_bounds(jsonb) IS
    'Whether a job''s args are within the bounds every face enforces (size, nesting, string length, number digits); never renders the value.';

-- `.key` for a plain member name, `["…"]` otherwise (a long name shortened to 40
-- characters), as ArgsBounds.pathComponent writes it.
CREATE FUNCTION ledgersync.json_path_component(key text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN key ~ '^[A-Za-z0-9_-]{1,64}$' THEN '.' || key
        ELSE '[' || to_jsonb(CASE WHEN length(key) > 40 THEN left(key, 40) || '…' ELSE key END)::text || ']'
    END
$$;

-- The first value of `value` out of bounds, as "<path>: <what is wrong>", with `path`
-- starting every path ('args', 'jobs[2].args', 'document'); NULL when within bounds. A
-- walk in PL/pgSQL, run only for a value json_within_bounds refused; it renders no number
-- and copies no string out of the value before measuring it.
CREATE FUNCTION ledgersync.json_bounds_problem(value jsonb, path text) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    IF pg_column_size(value) > 262144 THEN
        RETURN path || ': is larger than 262144 bytes';
    END IF;
    RETURN ledgersync.json_bounds_walk(value, path, 1);
END;
$$;

CREATE FUNCTION ledgersync.json_bounds_walk(value jsonb, path text, depth integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    member record;
    problem text;
BEGIN
    CASE jsonb_typeof(value)
    WHEN 'number' THEN
        IF scale(value::numeric) > 30 THEN
            RETURN path || ': number has more than 30 digits after the decimal point';
        END IF;
        IF abs(value::numeric) >= 1e30 THEN
            RETURN path || ': number has more than 30 digits before the decimal point';
        END IF;
    WHEN 'string' THEN
        IF length(value #>> '{}') > 65536 THEN
            RETURN path || ': string longer than 65536 characters';
        END IF;
    WHEN 'array' THEN
        IF depth > 32 THEN
            RETURN path || ': is nested deeper than 32 levels';
        END IF;
        FOR member IN SELECT e.v, e.n FROM jsonb_array_elements(value) WITH ORDINALITY AS e(v, n) ORDER BY e.n LOOP
            problem := ledgersync.json_bounds_walk(member.v, path || '[' || (member.n - 1) || ']', depth + 1);
            IF problem IS NOT NULL THEN
                RETURN problem;
            END IF;
        END LOOP;
    WHEN 'object' THEN
        IF depth > 32 THEN
            RETURN path || ': is nested deeper than 32 levels';
        END IF;
        FOR member IN SELECT e.key, e.value AS v FROM jsonb_each(value) AS e LOOP
            IF length(member.key) > 65536 THEN
                RETURN path || ledgersync.json_path_component(member.key) || ': member name longer than 65536 characters';
            END IF;
            problem := ledgersync.json_bounds_walk(member.v, path || ledgersync.json_path_component(member.key), depth + 1);
            IF problem IS NOT NULL THEN
                RETURN problem;
            END IF;
        END LOOP;
    ELSE
        NULL;
    END CASE;
    RETURN NULL;
END;
$$;

-- Raises 22023 naming the field at fault (args that are not an object, or past a bound);
-- returns `value` when it is fine. For the bulk statements, which call it only for a value
-- their inline test refused:
--   CASE WHEN <inline test> THEN args ELSE ledgersync.refuse_out_of_bounds(args, 'jobs[3].args', 'JobQueue.enqueueMany') END
CREATE FUNCTION ledgersync.refuse_out_of_bounds(value jsonb, path text, caller text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    problem text := ledgersync.json_bounds_problem(value, path);
BEGIN
    IF value IS NOT NULL AND jsonb_typeof(value) <> 'object' THEN
        RAISE EXCEPTION '%: %: must be a JSON object, got %', caller, path, jsonb_typeof(value) USING ERRCODE = '22023';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION '%: %', caller, problem USING ERRCODE = '22023';
    END IF;
    RETURN value;
END;
$$;

-- ledgersync.enqueue of 002, with the bounds checked before anything is inserted.
CREATE OR REPLACE FUNCTION ledgersync.enqueue(
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
    IF NOT ledgersync.json_within_bounds(enqueue.args) THEN
        RAISE EXCEPTION 'ledgersync.enqueue: %', ledgersync.json_bounds_problem(enqueue.args, 'args') USING ERRCODE = '22023';
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

-- ledgersync.enqueue_many of 005, with the bounds of each job's args among the checks
-- that run before anything is inserted (inline: see json_within_bounds).
CREATE OR REPLACE FUNCTION ledgersync.enqueue_many(jobs jsonb) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
DECLARE
    problem text;
BEGIN
    IF jobs IS NULL OR jsonb_typeof(jobs) <> 'array' THEN
        RAISE EXCEPTION 'ledgersync.enqueue_many: jobs must be a JSON array, got %', coalesce(jsonb_typeof(jobs), 'NULL')
            USING ERRCODE = '22023';
    END IF;

    -- Name the first bad field before inserting anything, so a typo is not a silent default.
    SELECT format('jobs[%s]%s', n - 1, reason) INTO problem
    FROM jsonb_array_elements(jobs) WITH ORDINALITY AS e(job, n),
    LATERAL (
        SELECT CASE
            WHEN jsonb_typeof(job) <> 'object' THEN ': must be a JSON object, got ' || jsonb_typeof(job)
            -- The object minus the known keys is empty unless it has another one; only
            -- then are its keys listed, to name the first.
            WHEN job - '{kind,args,queue,priority,run_at,max_attempts,unique_key,serial_key,limit_key}'::text[] <> '{}'
                THEN (SELECT ': unknown field "' || key || '"'
                      FROM jsonb_object_keys(job) AS key
                      WHERE key NOT IN ('kind', 'args', 'queue', 'priority', 'run_at', 'max_attempts',
                                        'unique_key', 'serial_key', 'limit_key')
                      ORDER BY key LIMIT 1)
            WHEN jsonb_typeof(job -> 'kind') IS DISTINCT FROM 'string' OR job ->> 'kind' = '' THEN ': kind is missing or not a non-empty string'
            WHEN job ? 'args' AND jsonb_typeof(job -> 'args') <> 'object' THEN ': args must be a JSON object'
            WHEN job ? 'args' AND NOT (
                    pg_column_size(job -> 'args') <= 262144
                    AND NOT jsonb_path_exists(job -> 'args', 'strict $.**{32 to last} ? (@.type() == "object" || @.type() == "array")')
                    AND NOT EXISTS (SELECT FROM jsonb_path_query(job -> 'args', 'strict $.** ? (@.type() == "number")') AS n(v)
                                    WHERE abs(n.v::numeric) >= 1e30 OR scale(n.v::numeric) > 30)
                    AND (pg_column_size(job -> 'args') <= 65536 OR ledgersync.json_within_bounds(job -> 'args')))
                THEN '.' || ledgersync.json_bounds_problem(job -> 'args', 'args')
            WHEN job ? 'priority' AND (jsonb_typeof(job -> 'priority') <> 'number'
                                       OR (job ->> 'priority') !~ '^[0-9]$') THEN ': priority must be an integer from 0 to 9'
            WHEN job ? 'max_attempts' AND (jsonb_typeof(job -> 'max_attempts') <> 'number'
                                           OR (job ->> 'max_attempts') !~ '^[1-9][0-9]{0,8}$') THEN ': max_attempts must be a positive integer'
            WHEN job ? 'run_at' AND (jsonb_typeof(job -> 'run_at') <> 'string' OR (job ->> 'run_at') !~
                 '^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$')
                THEN ': run_at must be an ISO 8601 timestamp string, e.g. "2026-11-21T12:00:00Z"'
            WHEN job ? 'queue' AND (jsonb_typeof(job -> 'queue') <> 'string' OR job ->> 'queue' = '')
                THEN ': queue must be a non-empty string'
            WHEN (job ? 'unique_key' AND jsonb_typeof(job -> 'unique_key') NOT IN ('string', 'null'))
                 OR (job ? 'serial_key' AND jsonb_typeof(job -> 'serial_key') NOT IN ('string', 'null'))
                 OR (job ? 'limit_key' AND jsonb_typeof(job -> 'limit_key') NOT IN ('string', 'null'))
                THEN (SELECT ': ' || key || ' must be a string'
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

-- Rows stored before this migration may hold args out of bounds (one of them can stop
-- every fetch of its queue). Unfinished ones fail now, with the reason in their error
-- history; their args stay as they are, for an operator to read and fix (jobs list and
-- show render them defensively: queries/list_jobs.sql).
UPDATE ledgersync.jobs j
SET state = 'failed',
    finalized_at = now(),
    errors = j.errors || jsonb_build_array(jsonb_build_object(
        'at', now(), 'attempt', j.attempt, 'class', 'invalid_args',
        'message', 'refused by migration queue 007: ' || ledgersync.json_bounds_problem(j.args, 'args')))
WHERE j.state IN ('available', 'retryable')
  AND NOT ledgersync.json_within_bounds(j.args);
