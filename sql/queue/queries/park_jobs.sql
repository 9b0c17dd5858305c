-- running → available, parked on a key: for runs ($1 ids, $2 run ids) whose handler waits
-- for key $3 for at most $4 seconds (009_wait_for_key.sql). A run whose key was woken after
-- it started is made runnable at once instead (no lost wake). The attempt is given back.
SELECT id, parked
FROM ledgersync.park_jobs($1::bigint[], $2::bigint[], $3::text[], $4::double precision[])
