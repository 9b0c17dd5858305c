-- The stored result of record.action job $1, if any (019_record_action_results.sql).
SELECT job_id, connection_id::text AS connection_id, action, record_type, succeeded, result::text AS result, error, created_at
FROM ledgersync.record_action_results
WHERE job_id = $1::bigint
