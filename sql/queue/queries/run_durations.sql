-- How long the jobs completed in the last hour ran, by kind, for /metrics: count, sum and
-- the 50th/95th/99th percentiles of finalized_at - attempted_at (the last run's duration,
-- as seen by the database: includes the completer's batching delay). Read at scrape time,
-- so the worker's hot path records nothing extra.
SELECT kind,
       count(*)::bigint AS jobs,
       sum(extract(epoch FROM finalized_at - attempted_at))::double precision AS seconds_sum,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM finalized_at - attempted_at))::double precision AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finalized_at - attempted_at))::double precision AS p95,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finalized_at - attempted_at))::double precision AS p99
FROM ledgersync.jobs
WHERE state = 'completed'
  AND finalized_at > now() - interval '1 hour'
  AND attempted_at IS NOT NULL
GROUP BY kind
ORDER BY kind
