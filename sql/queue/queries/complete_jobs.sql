-- running → completed, for a batch of runs. A run is (id, attempt): a job that was rescued
-- and started again meanwhile has a higher attempt, so a late result of the lost run
-- cannot overwrite the new one.
UPDATE ledgersync.jobs AS j
SET state = 'completed',
    finalized_at = now(),
    locked_by = NULL,
    lease_expires_at = NULL
FROM unnest($1::bigint[], $2::integer[]) AS done(id, attempt)
WHERE j.id = done.id
  AND j.attempt = done.attempt
  AND j.state = 'running'
