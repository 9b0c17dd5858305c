-- Job $1's billing object is pending (sync migration 016): a job for it runs or waits; $2 is
-- what it waits for, $3 that wait's class (NULL when it starts running).
SELECT ledgersync.sync_status_pending($1::bigint, $2::text, $3::text)
