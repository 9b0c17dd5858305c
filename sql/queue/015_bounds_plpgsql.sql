-- Ledgersync queue, migration 015: ledgersync.json_within_bounds in PL/pgSQL, with the same
-- test, so that a single enqueue stops planning it at every call.
--
-- Why. The test of 007 is a SQL function with subqueries, which PostgreSQL cannot inline.
-- A SQL function that is not inlined is planned when a statement first calls it, and the
-- plan lives only as long as that statement's expression state. PL/pgSQL evaluates its
-- IF expressions in a state that lives one transaction, so ledgersync.enqueue (one call per
-- transaction) planned the four jsonpath subqueries again for every job, and so did
-- ledgersync.enqueue_sync, which tests the billing document and then its job's args.
-- PL/pgSQL keeps a function's plans for the whole session.
--
-- Measured (docs/performance.md, "Single enqueue: functions planned at every call"):
-- `pgbench -M prepared -c 1` of `SELECT ledgersync.enqueue('diag.noop', '{"n": 1}', …)`,
-- 0.56-0.60 ms a call before, 0.43-0.48 ms after (3 runs each, alternated). A statement
-- that calls it on many rows (queries/list_jobs.sql; enqueue_many for args over 64 KiB)
-- planned it once per statement and is not measurably different: 1,000 rows of
-- list_jobs's args test, 8.9-11.4 ms before, 10.6-11.3 ms after.
--
-- The answers do not change: the expression is 007's, word for word. It is still
-- IMMUTABLE and PARALLEL SAFE, and still never fails and never renders the value.
-- CREATE OR REPLACE keeps the function's identity, so its comment and every caller stay.
CREATE OR REPLACE FUNCTION ledgersync.json_within_bounds(value jsonb) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    RETURN pg_column_size(value) <= 262144
       AND NOT jsonb_path_exists(value, 'strict $.**{32 to last} ? (@.type() == "object" || @.type() == "array")')
       AND NOT EXISTS (SELECT FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "number")') AS n(v)
                       WHERE abs(n.v::numeric) >= 1e30 OR scale(n.v::numeric) > 30)
       -- A string or member name of more than 65536 characters needs more than 65536
       -- bytes, so a smaller uncompressed value holds none.
       AND ((pg_column_size(value) <= 65536 AND pg_column_compression(value) IS NULL)
            OR NOT EXISTS (SELECT FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "string")') AS s(v)
                           WHERE length(s.v #>> '{}') > 65536)
               AND NOT EXISTS (SELECT FROM jsonb_path_query(value, 'strict $.** ? (@.type() == "object").keyvalue().key') AS k(v)
                               WHERE length(k.v #>> '{}') > 65536));
END;
$$;
