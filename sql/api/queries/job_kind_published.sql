-- Whether a worker has published job kind $1 (ledgersync.job_kinds, written when a worker
-- starts): the API enqueues only kinds some worker runs.
SELECT EXISTS (SELECT 1 FROM ledgersync.job_kinds WHERE kind = $1::text) AS known
