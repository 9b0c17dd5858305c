-- Job $1 failed for good: its billing object is $2 ('failed' or 'needs_action') with error
-- $3 and code $4 (sync migration 016).
SELECT ledgersync.sync_status_failed($1::bigint, $2::text, $3::text, $4::text)
