-- Throughput for `GET /v1/stats` and /metrics: jobs completed in the last minute and the
-- last hour. Served by the jobs_finalized index (state, finalized_at).
SELECT count(*) FILTER (WHERE finalized_at > now() - interval '1 minute')::bigint AS last_minute,
       count(*)::bigint AS last_hour
FROM ledgersync.jobs
WHERE state = 'completed'
  AND finalized_at > now() - interval '1 hour'
