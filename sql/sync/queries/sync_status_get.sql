-- One row of ledgersync.billing_sync_status (sync migration 016): connection $1, object type
-- $2, billing id $3; with the last document written.
SELECT v.connection_id::text AS connection_id, v.connection_name, v.provider, v.object_type, v.billing_id, v.document_number,
       v.customer_billing_id, v.state, v.provider_id, v.provider_link, v.last_job_id, v.last_job_kind, v.last_error,
       v.last_error_code, v.document_digest, v.synced_at, v.updated_at, s.document::text AS document
FROM ledgersync.billing_sync_status v
JOIN ledgersync.sync_status s USING (connection_id, object_type, billing_id)
WHERE v.connection_id = $1::uuid AND v.object_type = $2::text AND v.billing_id = $3::text
