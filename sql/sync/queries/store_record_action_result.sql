-- Stores (or replaces, for a later attempt of the same job) the result of record.action job
-- $1 on connection $2 (019_record_action_results.sql).
INSERT INTO ledgersync.record_action_results (job_id, connection_id, action, record_type, succeeded, result, error)
VALUES ($1::bigint, $2::uuid, $3::text, $4::text, $5::boolean, $6::jsonb, $7::text)
ON CONFLICT (job_id) DO UPDATE
SET succeeded = EXCLUDED.succeeded, result = EXCLUDED.result, error = EXCLUDED.error, created_at = now()
