-- Which of the jobs $1 left a warning (012_job_warnings.sql), for list views' marker.
SELECT DISTINCT job_id FROM ledgersync.job_warnings WHERE job_id = ANY($1::bigint[])
