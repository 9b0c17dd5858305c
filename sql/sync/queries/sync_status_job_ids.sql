-- The ids of the jobs of connection $1's $2 $3 (sync migration 016), newest first, at most $4.
SELECT job_id FROM ledgersync.sync_status_jobs
WHERE connection_id = $1::uuid AND object_type = $2::text AND billing_id = $3::text
ORDER BY job_id DESC
LIMIT $4::integer
