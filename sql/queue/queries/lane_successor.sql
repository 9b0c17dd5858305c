-- The job of serial lane $1 that a fetch may claim once the lane's running job is stored,
-- if it is due and of limit key $2: its (priority, id), else no row. A worker asks when the
-- lane's running job gives its limit slot back, to decide which comes first in the queue's
-- order: this job, which no fetch can claim before its predecessor's result is stored, or
-- a standby run already waiting in the worker (WorkerPool.limitSlotReleased). The lane's
-- head as fetch_jobs finds it (009): the first by lane position, parked jobs skipped.
SELECT head.priority, head.id
FROM (
    SELECT j.priority, j.id, j.run_at, j.limit_key
    FROM ledgersync.jobs j
    WHERE j.serial_key = $1::text
      AND j.state IN ('available', 'retryable')
      AND j.wait_key IS NULL
    ORDER BY coalesce(j.lane_position, j.id)
    LIMIT 1
) AS head
WHERE head.run_at <= now()
  AND head.limit_key = $2::text
