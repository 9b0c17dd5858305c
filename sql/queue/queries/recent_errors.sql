-- Errors recorded in the last hour, by kind and error class, for /metrics: provider
-- failures (transient, rate_limited, dependency, permanent, …) and webhook deliveries that
-- did not get a 2xx show up here without the worker counting anything itself. Only jobs
-- touched in the last hour are read (attempted_at), then their error entries of that hour.
SELECT j.kind, e.value ->> 'class' AS class, count(*)::bigint AS errors
FROM ledgersync.jobs AS j
CROSS JOIN LATERAL jsonb_array_elements(j.errors) AS e(value)
WHERE j.attempted_at > now() - interval '1 hour'
  AND (e.value ->> 'at')::timestamptz > now() - interval '1 hour'
GROUP BY j.kind, e.value ->> 'class'
ORDER BY j.kind, class
