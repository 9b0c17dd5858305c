-- available/retryable/running → cancelled: an operator's cancel of the jobs matching the
-- filter (the same eleven parameters as list_jobs.sql). A running job's result is
-- discarded (every result statement requires state 'running'), and its worker abandons
-- the run at its next heartbeat, which no longer finds it running.
WITH matching AS (
    SELECT id
    FROM ledgersync.jobs AS j
    WHERE j.state IN ('available', 'retryable', 'running')
      AND ($1::bigint IS NULL OR j.id = $1::bigint)
      AND ($2::text[] IS NULL OR j.state::text = ANY ($2::text[]))
      AND ($3::text IS NULL OR j.kind = $3::text)
      AND ($4::text IS NULL OR j.queue = $4::text)
      AND ($5::double precision IS NULL OR j.created_at <= now() - make_interval(secs => $5::double precision))
      AND ($6::double precision IS NULL OR j.created_at >= now() - make_interval(secs => $6::double precision))
      AND ($7::bigint IS NULL OR j.id < $7::bigint)
      AND ($9::jsonb IS NULL OR j.args @> $9::jsonb)
      AND ($10::timestamptz IS NULL OR j.created_at > $10::timestamptz)
      AND ($11::timestamptz IS NULL OR j.created_at < $11::timestamptz)
    ORDER BY j.id
    LIMIT $8::integer
    FOR UPDATE
)
UPDATE ledgersync.jobs AS j
SET state = 'cancelled',
    finalized_at = now(),
    locked_by = NULL,
    lease_expires_at = NULL,
    errors = j.errors || jsonb_build_array(jsonb_build_object(
        'at', now(), 'attempt', j.attempt, 'class', 'cancelled',
        'message', 'cancelled by an operator while ' || j.state::text))
FROM matching
WHERE j.id = matching.id
RETURNING j.id
