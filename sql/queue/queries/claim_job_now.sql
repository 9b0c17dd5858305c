-- available/retryable → running for one job, $1, now, whatever its run_at: for
-- JobQueueTesting's TestWorker, which runs one handler against a real database without a
-- worker (as rivertest's Worker.Work does). Claimed as fetch_jobs claims (attempt + 1, a
-- new run id, a lease of $3 seconds for worker $2), so the result is stored by the same
-- statements as a worker's. The queue's invariants hold: a parked job (wait_key set) or a
-- job of a serial key with a running job is not claimed, nor a running or finished job.
-- No row when the job was not claimed.
UPDATE ledgersync.jobs j
SET state = 'running',
    attempt = j.attempt + 1,
    attempted_at = now(),
    locked_by = $2::text,
    lease_expires_at = now() + make_interval(secs => $3::double precision),
    limit_released = false,
    run_id = nextval('ledgersync.job_run_ids')
WHERE j.id = $1::bigint
  AND j.state IN ('available', 'retryable')
  AND j.wait_key IS NULL
  AND (j.serial_key IS NULL
       OR NOT EXISTS (SELECT 1 FROM ledgersync.jobs r WHERE r.serial_key = j.serial_key AND r.state = 'running'))
RETURNING j.id, j.kind, j.queue, j.priority, j.attempt, j.max_attempts, j.args, j.serial_key, j.limit_key, j.created_at,
          j.run_id, j.rate_limited_seconds
