-- Jobs kept with a warning, by code and job kind (the ledgersync_job_warnings gauge).
SELECT w.code, j.kind, count(*)::bigint AS jobs
FROM ledgersync.job_warnings w
JOIN ledgersync.jobs j ON j.id = w.job_id
GROUP BY w.code, j.kind
ORDER BY w.code, j.kind
