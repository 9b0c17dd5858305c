-- Job $1 wrote $5 $6 on connection $4 and leaves warning $2 ($3, about $7 lines): it
-- replaces the warnings of code $2 earlier jobs left on the same object, and a re-run of
-- the job updates its own row (012_job_warnings.sql).
WITH superseded AS (
    DELETE FROM ledgersync.job_warnings
    WHERE connection_id = $4::uuid AND object_type = $5::text AND billing_id = $6::text
      AND code = $2::text AND job_id <> $1::bigint
)
INSERT INTO ledgersync.job_warnings (job_id, code, message, count, connection_id, object_type, billing_id)
VALUES ($1::bigint, $2::text, $3::text, $7::integer, $4::uuid, $5::text, $6::text)
ON CONFLICT (job_id, code) DO UPDATE
SET message = EXCLUDED.message, count = EXCLUDED.count, connection_id = EXCLUDED.connection_id,
    object_type = EXCLUDED.object_type, billing_id = EXCLUDED.billing_id, updated_at = now()
