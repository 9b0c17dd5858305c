-- Enqueues a sync job ($1 connection, $2 kind, $3 document, $4 customer id or NULL, $5
-- priority, $6 run_at or NULL, $7 max_attempts or NULL, $8 queue, $9 unique key or NULL)
-- through ledgersync.enqueue_sync (014_sync_kinds.sql): the one call Swift, the HTTP API
-- and the CLI enqueue a sync job with.
SELECT ledgersync.enqueue_sync($1::uuid, $2::text, $3::jsonb, $4::text, $5::integer, $6::timestamptz, $7::integer,
                               $8::text, $9::text) AS id
