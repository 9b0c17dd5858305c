-- A page of ledgersync.billing_sync_status (sync migration 016) in key order (connection,
-- object type, billing id), after the key ($7, $8, $9) when given. Filters (NULL: any):
-- billing id $1, document number $2, billing customer $3, states $4 (comma-separated),
-- connection $5, object type $6. At most $10 rows.
SELECT v.connection_id::text AS connection_id, v.connection_name, v.provider, v.object_type, v.billing_id, v.document_number,
       v.customer_billing_id, v.state, v.provider_id, v.provider_link, v.last_job_id, v.last_job_kind, v.last_error,
       v.last_error_code, v.document_digest, v.synced_at, v.updated_at
FROM ledgersync.billing_sync_status v
WHERE ($1::text IS NULL OR v.billing_id = $1::text)
  AND ($2::text IS NULL OR v.document_number = $2::text)
  AND ($3::text IS NULL OR v.customer_billing_id = $3::text)
  AND ($4::text IS NULL OR v.state = ANY (string_to_array($4::text, ',')))
  AND ($5::uuid IS NULL OR v.connection_id = $5::uuid)
  AND ($6::text IS NULL OR v.object_type = $6::text)
  AND ($7::uuid IS NULL OR (v.connection_id, v.object_type, v.billing_id) > ($7::uuid, $8::text, $9::text))
ORDER BY v.connection_id, v.object_type, v.billing_id
LIMIT $10::integer
