-- Records a slot handed over inside worker $5: run ($1 id, $2 run id) gave its limit slot
-- to standby run ($3 id, $4 run id) of the same key, whose request may already be in
-- flight. One statement, so the key's count in the database (running and not released)
-- neither drops nor rises; the worker stores the giver's result only after this commits
-- (013_standby_runs.sql). A run no longer running (rescued, cancelled) is left alone.
UPDATE ledgersync.jobs AS j
SET limit_released = (j.id = $1::bigint AND j.run_id = $2::bigint)
WHERE ((j.id = $1::bigint AND j.run_id = $2::bigint) OR (j.id = $3::bigint AND j.run_id = $4::bigint))
  AND j.state = 'running'
  AND j.locked_by = $5::text
  AND j.limit_key IS NOT NULL
