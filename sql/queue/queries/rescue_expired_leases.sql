-- running → retryable (or failed when no attempts are left), for up to $1 jobs whose
-- lease ran out: their worker was killed, lost its machine, or lost the database for
-- longer than the lease. The attempt counts, and the history records it as lost.
-- It waits before running again (1 s, doubling, up to 10 min, jittered): a job that
-- kills its worker must not take down the next one at once, and again, and again.
-- FOR UPDATE re-checks each row after locking it, so a job that completed a moment ago
-- is not dragged back.
WITH expired AS (
    SELECT id
    FROM ledgersync.jobs
    WHERE state = 'running'
      AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT $1::integer
    FOR UPDATE SKIP LOCKED
)
UPDATE ledgersync.jobs AS j
SET state = CASE WHEN j.attempt >= j.max_attempts THEN 'failed' ELSE 'retryable' END::ledgersync.job_state,
    finalized_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END,
    run_at = now() + make_interval(secs => least(600, power(2, least(j.attempt, 20) - 1)) * (0.75 + 0.25 * random())),
    errors = j.errors || jsonb_build_array(jsonb_build_object(
        'at', now(),
        'attempt', j.attempt,
        'class', 'lost',
        'message', 'worker ' || j.locked_by || ' stopped renewing its lease (it ran out at '
                   || j.lease_expires_at || '); the run is presumed lost',
        'worker', j.locked_by)),
    locked_by = NULL,
    lease_expires_at = NULL
FROM expired
WHERE j.id = expired.id
RETURNING j.id, j.kind, j.state::text AS state, j.attempt
