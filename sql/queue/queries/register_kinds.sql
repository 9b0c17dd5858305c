-- A starting worker publishes the default max_attempts of each kind it runs, so jobs
-- enqueued from SQL without max_attempts get the kind's default.
INSERT INTO ledgersync.job_kinds (kind, max_attempts)
SELECT * FROM unnest($1::text[], $2::integer[])
ON CONFLICT (kind) DO UPDATE
SET max_attempts = excluded.max_attempts,
    updated_at = now()
WHERE ledgersync.job_kinds.max_attempts IS DISTINCT FROM excluded.max_attempts
