-- Forgets the ref of $2 $3 on connection $1 when it still names provider record $4, which
-- reconciliation found deleted: the re-push `--repair` enqueues must create the record again,
-- not update one that is gone.
DELETE FROM ledgersync.external_refs
WHERE connection_id = $1::uuid AND object_type = $2::text AND billing_id = $3::text AND provider_id = $4::text
