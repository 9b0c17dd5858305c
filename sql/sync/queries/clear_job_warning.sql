-- Job $1 wrote $4 $5 on connection $3 without cause for warning $2: the warnings of that
-- code on the object, its own (an earlier attempt's) and earlier jobs', are removed
-- (012_job_warnings.sql).
DELETE FROM ledgersync.job_warnings
WHERE code = $2::text
  AND (job_id = $1::bigint
       OR (connection_id = $3::uuid AND object_type = $4::text AND billing_id = $5::text))
