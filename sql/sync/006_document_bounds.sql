-- Ledgersync sync, migration 006: enqueue_sync holds the document to the args bounds.
--
-- The bounds are those of queue migration 007 (ledgersync.json_within_bounds: size,
-- nesting, string length, number digits), checked here first so that the error names the
-- caller's own parameter (`ledgersync.enqueue_sync: document.invoice.total: number has
-- more than 30 digits before the decimal point`) rather than the args enqueue builds from
-- it. Nothing else changes: same signature, keys and args as migration 004.

CREATE OR REPLACE FUNCTION ledgersync.enqueue_sync(
    connection_id uuid,
    kind          text,
    document      jsonb,
    customer_id   text        DEFAULT NULL,
    priority      integer     DEFAULT 0,
    run_at        timestamptz DEFAULT NULL,
    max_attempts  integer     DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    keys record;
BEGIN
    IF enqueue_sync.document IS NOT NULL AND NOT ledgersync.json_within_bounds(enqueue_sync.document) THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: %', ledgersync.json_bounds_problem(enqueue_sync.document, 'document')
            USING ERRCODE = '22023';
    END IF;
    keys := ledgersync.sync_job_keys(enqueue_sync.connection_id, enqueue_sync.kind, enqueue_sync.document, enqueue_sync.customer_id);
    RETURN ledgersync.enqueue(
        kind         => enqueue_sync.kind,
        -- The connection and customer go last so that a document's own keys cannot override them.
        args         => enqueue_sync.document
                        || jsonb_build_object('connection_id', enqueue_sync.connection_id)
                        || CASE WHEN keys.customer IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('customer_id', keys.customer) END,
        priority     => enqueue_sync.priority,
        run_at       => enqueue_sync.run_at,
        max_attempts => enqueue_sync.max_attempts,
        serial_key   => keys.serial_key,
        limit_key    => keys.limit_key);
END;
$$;
