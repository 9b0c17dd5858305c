-- Stores a reconciliation run of connection $1 (job $2 or NULL, since $3, object types $4,
-- started $5, counts $6..$13: checked, matched, missing, changed, changed_fields, extra,
-- unlinked, in_flight; $14 drift truncated) and deletes that connection's runs older than
-- its newest 10. Returns the run's id.
WITH run AS (
    INSERT INTO ledgersync.reconcile_runs
        (connection_id, job_id, since, object_types, started_at, checked, matched, missing, changed, changed_fields,
         extra, unlinked, in_flight, drift_truncated)
    VALUES ($1::uuid, $2::bigint, $3::timestamptz, $4::text[], $5::timestamptz, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    RETURNING id
), pruned AS (
    DELETE FROM ledgersync.reconcile_runs old
    WHERE old.connection_id = $1::uuid
      AND old.id NOT IN (SELECT id FROM ledgersync.reconcile_runs
                         WHERE connection_id = $1::uuid ORDER BY id DESC LIMIT 9)
)
SELECT id FROM run
