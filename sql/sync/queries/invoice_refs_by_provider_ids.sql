-- The synced invoices of connection $1 among the provider ids $2: what a payment read back
-- is applied to.
SELECT provider_id, billing_id, customer_billing_id
FROM ledgersync.external_refs
WHERE connection_id = $1::uuid AND object_type = 'invoice' AND provider_id = ANY($2::text[])
