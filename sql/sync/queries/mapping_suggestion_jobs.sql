-- The sync jobs of a connection whose documents may still need mappings (`ledgersync mappings
-- suggest`): waiting (available, scheduled, parked), running or retryable, and the failed ones
-- a missing mapping stopped (last error of class invalid_mapping). $1 the connection's limit
-- key (what enqueue_sync gives its jobs: jobs_limit serves it), $2 the connection id in the
-- args, $3 the kinds, read by id after $4, at most $5 rows: the caller pages.
SELECT id, kind, args::text AS args
FROM ledgersync.jobs
WHERE limit_key = $1
  AND args ->> 'connection_id' = $2
  AND kind = ANY($3::text[])
  AND id > $4
  AND (state IN ('available', 'running', 'retryable')
       OR (state = 'failed' AND errors -> -1 ->> 'class' = 'invalid_mapping'))
ORDER BY id
LIMIT $5
