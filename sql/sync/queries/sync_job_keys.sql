-- The serial key, limit key and billing customer of a sync job ($1 connection, $2 kind,
-- $3 document, $4 customer id or NULL), as ledgersync.enqueue_sync derives them; for the
-- HTTP API's POST /v1/jobs, which takes the keys apart from the enqueue.
SELECT serial_key, limit_key, customer
FROM ledgersync.sync_job_keys($1::uuid, $2, $3::jsonb, $4)
