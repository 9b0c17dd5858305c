-- failed/cancelled/retryable → available, now: an operator's retry of the jobs matching
-- the filter (the same eleven parameters as list_jobs.sql). A job used up its attempts,
-- so it is given one more. A job whose unique key another unfinished job holds meanwhile
-- is left as it is (it would be a duplicate). The time it spent snoozed for rate limits starts
-- again from zero: the operator decided it is worth another try.
WITH matching AS (
    SELECT id
    FROM ledgersync.jobs AS j
    WHERE j.state IN ('failed', 'cancelled', 'retryable')
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
      AND (j.unique_key IS NULL OR j.state = 'retryable' OR NOT EXISTS (
          SELECT 1 FROM ledgersync.jobs AS other
          WHERE other.unique_key = j.unique_key
            AND other.state IN ('available', 'running', 'retryable')))
    ORDER BY j.id
    LIMIT $8::integer
    FOR UPDATE SKIP LOCKED
)
UPDATE ledgersync.jobs AS j
SET state = 'available',
    run_at = now(),
    max_attempts = greatest(j.max_attempts, j.attempt + 1),
    rate_limited_seconds = 0,
    finalized_at = NULL
FROM matching
WHERE j.id = matching.id
RETURNING j.id
