-- running → failed, for a batch of runs ($1 ids, $2 run ids) that failed for good
-- (attempts used up, or an error that retrying cannot fix). Error $3 is added to the
-- history.
UPDATE ledgersync.jobs AS j
SET state = 'failed',
    finalized_at = now(),
    errors = j.errors || jsonb_build_array(f.error),
    locked_by = NULL,
    lease_expires_at = NULL
FROM unnest($1::bigint[], $2::bigint[], $3::jsonb[]) AS f(id, run_id, error)
WHERE j.id = f.id
  AND j.run_id = f.run_id
  AND j.state = 'running'
RETURNING j.id
