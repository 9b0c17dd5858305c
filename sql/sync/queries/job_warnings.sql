-- The warnings job $1 left (012_job_warnings.sql), by code.
SELECT code, message, count, created_at, updated_at
FROM ledgersync.job_warnings
WHERE job_id = $1::bigint
ORDER BY code
