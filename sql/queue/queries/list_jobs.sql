-- Jobs matching an operator's filter, newest first, for `ledgersync jobs list` and the
-- API. Every filter is optional (NULL = any): $1 id, $2 states, $3 kind, $4 queue,
-- $5 created at least this many seconds ago, $6 created at most this many seconds ago,
-- $7 ids below this (cursor), $8 how many, $9 args contain this JSON object (e.g.
-- {"connection_id": "…"}: a connection's jobs), $10 created after, $11 created before.
-- Args out of the bounds of migration 007 (only rows stored before it can be) come back as
-- {"ledgersync_args_out_of_bounds": "<what is wrong>"}: rendering them could fail the whole
-- page (a jsonb of 1e131000s is more than 1 GB of text).
SELECT id, state::text AS state, queue, kind, priority, attempt, max_attempts, run_at,
       created_at, attempted_at, finalized_at, locked_by, unique_key, serial_key, limit_key,
       CASE WHEN ledgersync.json_within_bounds(args) THEN args
            ELSE jsonb_build_object('ledgersync_args_out_of_bounds', ledgersync.json_bounds_problem(args, 'args'))
       END AS args,
       errors
FROM ledgersync.jobs
WHERE ($1::bigint IS NULL OR id = $1::bigint)
  AND ($2::text[] IS NULL OR state::text = ANY ($2::text[]))
  AND ($3::text IS NULL OR kind = $3::text)
  AND ($4::text IS NULL OR queue = $4::text)
  AND ($5::double precision IS NULL OR created_at <= now() - make_interval(secs => $5::double precision))
  AND ($6::double precision IS NULL OR created_at >= now() - make_interval(secs => $6::double precision))
  AND ($7::bigint IS NULL OR id < $7::bigint)
  AND ($9::jsonb IS NULL OR args @> $9::jsonb)
  AND ($10::timestamptz IS NULL OR created_at > $10::timestamptz)
  AND ($11::timestamptz IS NULL OR created_at < $11::timestamptz)
ORDER BY id DESC
LIMIT $8::integer
