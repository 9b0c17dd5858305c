-- The drift rows of reconciliation run $1 in their order, at most $2.
SELECT position, kind, object_type, billing_id, document_number, provider_id, field, expected, actual,
       expected_minor, actual_minor, action, repairable
FROM ledgersync.reconcile_drift
WHERE run_id = $1::bigint
ORDER BY position
LIMIT $2::int
