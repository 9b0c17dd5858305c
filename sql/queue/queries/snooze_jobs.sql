-- running → available with a later run_at, for runs ($1 ids, $2 run ids) whose handler
-- asked to be run again after $3 seconds (not a failure). The attempt is given back, so
-- snoozing never uses up attempts. $4 is the part of the delay owed to a rate limit (the
-- delay itself for a snooze of class rate_limited, else 0): it adds up in
-- rate_limited_seconds, which the worker holds against its cap.
UPDATE ledgersync.jobs AS j
SET state = 'available',
    run_at = now() + make_interval(secs => s.delay_seconds),
    attempt = j.attempt - 1,
    rate_limited_seconds = j.rate_limited_seconds + s.rate_limited_seconds,
    locked_by = NULL,
    lease_expires_at = NULL
FROM unnest($1::bigint[], $2::bigint[], $3::double precision[], $4::double precision[])
    AS s(id, run_id, delay_seconds, rate_limited_seconds)
WHERE j.id = s.id
  AND j.run_id = s.run_id
  AND j.state = 'running'
