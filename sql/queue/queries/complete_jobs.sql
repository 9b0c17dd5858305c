-- running → completed, for a batch of runs ($1 ids, $2 run ids). A run is (id, run_id):
-- each claim gets a new run id (006_runs.sql), so a late result of an earlier run of the
-- job (rescued, snoozed or handed back meanwhile, then claimed again) changes nothing.
UPDATE ledgersync.jobs AS j
SET state = 'completed',
    finalized_at = now(),
    locked_by = NULL,
    lease_expires_at = NULL
FROM unnest($1::bigint[], $2::bigint[]) AS done(id, run_id)
WHERE j.id = done.id
  AND j.run_id = done.run_id
  AND j.state = 'running'
