-- running → retryable, for a batch of runs ($1 ids, $2 run ids) that failed with attempts
-- left. Each waits $3 seconds (backoff, computed by the worker) and gets error $4 added to
-- its history. The delay is added to the database's clock, so worker clocks do not matter.
UPDATE ledgersync.jobs AS j
SET state = 'retryable',
    run_at = now() + make_interval(secs => r.delay_seconds),
    errors = j.errors || jsonb_build_array(r.error),
    locked_by = NULL,
    lease_expires_at = NULL
FROM unnest($1::bigint[], $2::bigint[], $3::double precision[], $4::jsonb[])
    AS r(id, run_id, delay_seconds, error)
WHERE j.id = r.id
  AND j.run_id = r.run_id
  AND j.state = 'running'
