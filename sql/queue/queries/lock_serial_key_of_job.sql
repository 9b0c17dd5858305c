-- Takes, for this transaction, the lock fetch_jobs takes on the serial key of each job it
-- claims (009_wait_for_key.sql), for job $1's key: claim_job_now.sql, run next in the same
-- transaction, then sees every claim of that key a fetch made under it. No row for a job
-- without a serial key.
SELECT pg_advisory_xact_lock(hashtext('ledgersync.serial'), hashtext(j.serial_key))
FROM ledgersync.jobs j
WHERE j.id = $1::bigint AND j.serial_key IS NOT NULL
