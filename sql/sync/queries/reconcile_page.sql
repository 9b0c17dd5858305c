-- One page of the sync status rows a reconciliation compares ($1 connection, $2 since or
-- NULL: objects synced (or, never synced, changed) at or after it, $3 object types or NULL
-- for all, $4/$5 the (object_type, billing_id) the previous page ended at ('' '' first),
-- $6 page size), in key order, with what the comparison needs from elsewhere: the provider
-- id (the ref, else the status row's), the customer's provider id, and for an invoice the
-- credits applied by the credit memos synced for it (not voided) and the payments synced for
-- it, in minor units (numeric text: the caller checks they fit).
SELECT s.object_type, s.billing_id, s.document_number, s.customer_billing_id, s.state,
       COALESCE(r.provider_id, s.provider_id) AS provider_id,
       s.last_job_kind, s.document::text AS document, s.synced_at,
       cr.provider_id AS customer_provider_id,
       credits.cents::text AS credited_cents,
       payments.cents::text AS paid_cents
FROM ledgersync.sync_status s
LEFT JOIN ledgersync.external_refs r
       ON r.connection_id = s.connection_id AND r.object_type = s.object_type AND r.billing_id = s.billing_id
LEFT JOIN ledgersync.external_refs cr
       ON cr.connection_id = s.connection_id AND cr.object_type = 'customer'
      AND cr.billing_id = CASE WHEN s.object_type = 'customer' THEN NULL ELSE s.customer_billing_id END
LEFT JOIN LATERAL (
    SELECT sum(COALESCE((m.document ->> 'credit_amount_cents')::numeric,
                        (m.document ->> 'total_amount_cents')::numeric
                        - COALESCE((m.document ->> 'refund_amount_cents')::numeric, 0))) AS cents
    FROM ledgersync.sync_status m
    WHERE s.object_type = 'invoice'
      AND m.connection_id = s.connection_id AND m.object_type = 'credit_memo'
      AND (m.document ->> 'lago_invoice_id') = s.billing_id
      AND m.provider_id IS NOT NULL AND m.last_job_kind IS DISTINCT FROM 'credit_memo.void'
) credits ON true
LEFT JOIN LATERAL (
    SELECT sum(CASE
                   WHEN jsonb_typeof(p.document -> 'invoice_amounts') = 'array'
                        AND jsonb_array_length(p.document -> 'invoice_amounts') > 0
                   THEN (SELECT COALESCE(sum((a ->> 'amount_cents')::numeric), 0)
                         FROM jsonb_array_elements(p.document -> 'invoice_amounts') a
                         WHERE a ->> 'invoice_id' = s.billing_id)
                   WHEN ledgersync.reconcile_payment_invoices(p.document) ->> 0 = s.billing_id
                   THEN (p.document ->> 'amount_cents')::numeric
                   ELSE 0
               END) AS cents
    FROM ledgersync.sync_status p
    WHERE s.object_type = 'invoice'
      AND p.connection_id = s.connection_id AND p.object_type = 'payment'
      AND ledgersync.reconcile_payment_invoices(p.document) ? s.billing_id
      AND p.provider_id IS NOT NULL
) payments ON true
WHERE s.connection_id = $1::uuid
  AND ($2::timestamptz IS NULL OR COALESCE(s.synced_at, s.updated_at) >= $2::timestamptz)
  AND ($3::text[] IS NULL OR s.object_type = ANY ($3::text[]))
  AND (s.object_type, s.billing_id) > ($4::text, $5::text)
ORDER BY s.object_type, s.billing_id
LIMIT $6::int
