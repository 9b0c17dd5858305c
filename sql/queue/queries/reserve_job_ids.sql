-- For JobQueue.enqueueMany's COPY path (EnqueueCopy.swift), in one row: $1 ids for the
-- jobs of a batch, ascending, as comma-separated text (a thousand result rows would cost the
-- client more than the insert saves), with what enqueue_batch.sql would otherwise fill in on
-- the server: the transaction's now() (a job without run_at runs from it), as the count of
-- microseconds since 2000-01-01 UTC that timestamptz stores and binary COPY takes, and, as a JSON
-- object, the max_attempts that workers published for the batch's kinds $2 (job_kinds; a
-- kind without a row gets 20, the column default). COPY may write the identity column (its
-- ALWAYS applies to INSERT only), so the batch is sent with these ids and they are the ids
-- returned, in input order.
-- The sequence by name (the identity's, migration 001): pg_get_serial_sequence() in the
-- select list is looked up again for every id, five times the cost of the nextval itself.
-- A role without USAGE on it (docs/operations.md "Database roles" before it was listed
-- there; an INSERT's identity needs none) gets NULL ids, and the batch goes by the INSERT.
SELECT CASE WHEN has_sequence_privilege('ledgersync.jobs_id_seq', 'USAGE')
            THEN array_to_string(array(SELECT nextval('ledgersync.jobs_id_seq'::regclass)
                                       FROM generate_series(1, $1::integer) AS n
                                       ORDER BY n), ',')
       END AS ids,
       (extract(epoch FROM now()) * 1000000)::bigint - 946684800000000 AS now_microseconds,
       coalesce((SELECT jsonb_object_agg(k.kind, k.max_attempts)
                 FROM ledgersync.job_kinds k
                 WHERE k.kind = ANY ($2::text[])), '{}')::text AS kind_max_attempts
