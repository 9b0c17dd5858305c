-- Many jobs in one statement, for JobQueue.enqueueMany: parallel arrays with one element per
-- job ($1 kind, $2 args, $3 queue, $4 priority, $5 run_at, $6 max_attempts, $7 unique_key,
-- $8 serial_key, $9 limit_key). The same rows as ledgersync.enqueue_many, without building,
-- parsing and checking a JSON document per job: Swift's types already hold what that checks,
-- and the table's CHECK constraints hold the rest. Ids of the inserted jobs come back in
-- input order; a job whose unique key is held (or repeats an earlier one of the batch) is
-- skipped. $5 to $9 may be NULL when no job of the batch sets that column: unnest pads a
-- NULL array with NULLs. Each args is held to the bounds of migration 007 first (the test of
-- ledgersync.json_within_bounds, inline: a function call would cost more than the insert);
-- the first out of bounds (or not an object) raises 22023 naming it, and nothing is inserted.
INSERT INTO ledgersync.jobs AS j
    (kind, args, queue, priority, run_at, max_attempts, unique_key, serial_key, limit_key)
SELECT r.kind,
       CASE WHEN jsonb_typeof(r.args) = 'object'
                 AND pg_column_size(r.args) <= 262144
                 AND NOT jsonb_path_exists(r.args, 'strict $.**{32 to last} ? (@.type() == "object" || @.type() == "array")')
                 AND NOT EXISTS (SELECT FROM jsonb_path_query(r.args, 'strict $.** ? (@.type() == "number")') AS n(v)
                                 WHERE abs(n.v::numeric) >= 1e30 OR scale(n.v::numeric) > 30)
                 AND (pg_column_size(r.args) <= 65536 OR ledgersync.json_within_bounds(r.args))
            THEN r.args
            ELSE ledgersync.refuse_out_of_bounds(r.args, format('jobs[%s].args', r.n - 1), 'JobQueue.enqueueMany')
       END,
       r.queue, r.priority, coalesce(r.run_at, now()),
       coalesce(r.max_attempts, k.max_attempts, 20), r.unique_key, r.serial_key, r.limit_key
FROM unnest($1::text[], $2::jsonb[], $3::text[], $4::smallint[], $5::timestamptz[], $6::integer[],
            $7::text[], $8::text[], $9::text[])
     WITH ORDINALITY AS r(kind, args, queue, priority, run_at, max_attempts, unique_key, serial_key, limit_key, n)
LEFT JOIN ledgersync.job_kinds k ON k.kind = r.kind
ORDER BY r.n
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable')
DO NOTHING
RETURNING j.id
