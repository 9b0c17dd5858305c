-- running → available, for runs ($1 ids, $2 run ids) a worker hands back when it shuts
-- down before they finish (grace period over; $3 true), or before they start (claimed by a
-- fetch that was answered after shutdown began; $3 false). The attempt is given back and
-- the history says why.
UPDATE ledgersync.jobs AS j
SET state = 'available',
    run_at = now(),
    attempt = j.attempt - 1,
    errors = j.errors || jsonb_build_array(jsonb_build_object(
        'at', now(),
        'attempt', j.attempt,
        'class', 'interrupted',
        'message', 'worker ' || j.locked_by
                   || CASE WHEN $3::boolean THEN ' shut down before the run finished' ELSE ' shut down before the run started' END
                   || '; the attempt is not counted',
        'worker', j.locked_by)),
    locked_by = NULL,
    lease_expires_at = NULL
FROM unnest($1::bigint[], $2::bigint[]) AS r(id, run_id)
WHERE j.id = r.id
  AND j.run_id = r.run_id
  AND j.state = 'running'
