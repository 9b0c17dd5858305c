-- The newest reconciliation run of connection $1, with its counts; none when it never ran.
SELECT id, connection_id::text AS connection_id, job_id, since, object_types::text AS object_types, started_at, finished_at,
       checked, matched, missing, changed, changed_fields, extra, unlinked, in_flight, drift_truncated
FROM ledgersync.reconcile_runs
WHERE connection_id = $1::uuid
ORDER BY id DESC
LIMIT 1
