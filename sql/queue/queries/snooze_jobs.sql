-- running → available with a later run_at, for runs whose handler asked to be run again
-- later (not a failure). The attempt is given back, so snoozing never uses up attempts.
UPDATE ledgersync.jobs AS j
SET state = 'available',
    run_at = now() + make_interval(secs => s.delay_seconds),
    attempt = j.attempt - 1,
    locked_by = NULL,
    lease_expires_at = NULL
FROM unnest($1::bigint[], $2::integer[], $3::double precision[]) AS s(id, attempt, delay_seconds)
WHERE j.id = s.id
  AND j.attempt = s.attempt
  AND j.state = 'running'
