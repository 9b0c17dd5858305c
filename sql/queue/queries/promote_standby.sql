-- Gives standby runs ($2 ids, $3 run ids) of worker $1 a slot where their key has one free,
-- counted under the key's lock as fetch_jobs counts (013_standby_runs.sql). Returns the runs
-- promoted.
SELECT id, run_id FROM ledgersync.promote_standby($1::text, $2::bigint[], $3::bigint[])
