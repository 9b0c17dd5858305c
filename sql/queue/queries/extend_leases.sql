-- Heartbeat: worker $1 still runs the runs ($2 ids, $3 run ids), so their leases run for
-- $4 more seconds. Returns the runs it still holds: a run missing from the answer was
-- rescued (its lease ran out), cancelled or claimed again meanwhile, and its worker
-- abandons it. The run id, not only the worker, must match: a worker that claimed its
-- own rescued job again must not keep the old run alive.
UPDATE ledgersync.jobs AS j
SET lease_expires_at = now() + make_interval(secs => $4::double precision)
FROM unnest($2::bigint[], $3::bigint[]) AS r(id, run_id)
WHERE j.id = r.id
  AND j.run_id = r.run_id
  AND j.state = 'running'
  AND j.locked_by = $1::text
RETURNING j.id, j.run_id
