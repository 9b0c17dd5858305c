-- Job $1 waits for $3 (customer, invoice) $4 on connection $2; returns the unfinished job
-- that will create it, if one is queued (007_dependency_waits.sql).
SELECT ledgersync.record_dependency_wait($1::bigint, $2::uuid, $3::text, $4::text) AS awaited_job_id
