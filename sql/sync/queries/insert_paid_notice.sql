-- Notes that the billing system is told of payment $2 on invoice $3 (billing id $4, amount
-- $5) of connection $1; returns a row only the first time.
INSERT INTO ledgersync.paid_notices (connection_id, provider_payment_id, provider_invoice_id, invoice_billing_id, amount)
VALUES ($1::uuid, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING created_at
