-- Job $1 wrote $2 $3 (the document at path $4 of its args, NULL: its own document) as the
-- provider's $5, linked at $6, customer $7 (sync migration 016). `first`: no provider id
-- before; `repeated`: this job's success was recorded already (no second webhook).
SELECT first, repeated, document_number, out_customer_billing_id AS customer_billing_id, synced_at
FROM ledgersync.sync_status_synced($1::bigint, $2::text, $3::text, $4::text[], $5::text, $6::text, $7::text)
