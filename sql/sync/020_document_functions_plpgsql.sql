-- Ledgersync sync, migration 020: the three functions that find a sync job's document and
-- its customer in PL/pgSQL, with the same answers, so that they stop being planned at every
-- call.
--
-- Why. sync_path_value, sync_document and document_customer_id (014) are SQL functions with
-- a FROM clause or a subquery, which PostgreSQL cannot inline. Such a function is planned
-- when a statement first calls it, and the plan lives only as long as that statement's
-- expression state: one transaction when the caller is PL/pgSQL. So every
-- ledgersync.enqueue_sync planned them again (sync_job_keys through document_customer_id,
-- then sync_status_subject for the job's status row), and so did every status change a
-- worker records. PL/pgSQL keeps a function's plans for the whole session. Queue migration
-- 015 does the same for ledgersync.json_within_bounds.
--
-- Measured (docs/performance.md, "Single enqueue: functions planned at every call"):
-- `pgbench -M prepared -c 1` of enqueue_sync with the 4.4 KB invoice of
-- Tests/Fuzz/corpus/documents/invoice.json: 1.77-1.99 ms a call before, 1.02-1.20 ms after
-- (with queue 015; 3 runs each, alternated).
--
-- The answers do not change, NULL arguments included (each body below is the 014 text run
-- as one expression or in the same order). Volatility stays as it was: sync_path_value
-- IMMUTABLE, the two that read ledgersync.sync_kinds STABLE. CREATE OR REPLACE keeps each
-- function's identity, so every caller stays as it is.

-- The value at the first of `paths` (dotted) present in `document`, as text; NULL when none is.
CREATE OR REPLACE FUNCTION ledgersync.sync_path_value(document jsonb, paths text[]) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    path     text;
    value_at text;
BEGIN
    IF paths IS NULL THEN
        RETURN NULL;  -- unnest(NULL) has no rows
    END IF;
    FOREACH path IN ARRAY paths LOOP
        value_at := document #>> string_to_array(path, '.');
        IF value_at IS NOT NULL THEN
            RETURN value_at;
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

-- The document of a `kind` job in `args`: args itself when it is bare (has a top-level
-- lago_id), else the value under the first of the kind's envelopes present, else args.
CREATE OR REPLACE FUNCTION ledgersync.sync_document(kind text, args jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN CASE
        WHEN args ? 'lago_id' THEN args
        ELSE coalesce(
            (SELECT args -> e.key
             FROM ledgersync.sync_kinds k, unnest(k.envelopes) WITH ORDINALITY AS e(key, n)
             WHERE k.kind = sync_document.kind AND args ? e.key
             ORDER BY e.n LIMIT 1),
            args)
    END;
END;
$$;

-- The billing customer id a document names, or NULL. sync_kinds.kind is its primary key, so
-- the subquery has at most the one row the SQL function read.
CREATE OR REPLACE FUNCTION ledgersync.document_customer_id(kind text, document jsonb)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT nullif(btrim(ledgersync.sync_path_value(ledgersync.sync_document(k.kind, document_customer_id.document), k.customer_paths)), '')
            FROM ledgersync.sync_kinds k
            WHERE k.kind = document_customer_id.kind);
END;
$$;
