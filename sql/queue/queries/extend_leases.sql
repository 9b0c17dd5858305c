-- Heartbeat: worker $1 still runs jobs $2, so their leases run for $3 more seconds.
-- Jobs the worker no longer holds (rescued meanwhile) are not touched.
UPDATE ledgersync.jobs
SET lease_expires_at = now() + make_interval(secs => $3::double precision)
WHERE id = ANY ($2::bigint[])
  AND state = 'running'
  AND locked_by = $1::text
