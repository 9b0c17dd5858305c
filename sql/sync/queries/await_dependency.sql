-- Job $1 waits for $3 (customer, invoice) $4 on connection $2: the unfinished job that will
-- create it, or the job that failed to (then the waiter fails now), or neither
-- (009_dependency_parking.sql).
SELECT awaited_job_id, failed_job_id, failed_state, failed_reason
FROM ledgersync.await_dependency($1::bigint, $2::uuid, $3::text, $4::text)
