-- Ledgersync sync, migration 011: the lifecycle kinds invoice.void and credit_memo.void.
--
-- enqueue_sync (through sync_job_keys) accepts two more kinds, with the same checks as the
-- others: invoice.void carries the voided invoice ({"invoice": {...}}, Lago's invoice.voided
-- webhook) and credit_memo.void the voided credit note ({"credit_note": {...}}). Both run in
-- their customer's serial lane, so a void runs after the push of what it voids when both
-- are queued; a credit note that names no customer takes it from its synced invoice, as
-- credit_memo.push does. document_customer_id reads the two new envelopes. Otherwise both
-- functions are as in migrations 002 and 008.

CREATE OR REPLACE FUNCTION ledgersync.document_customer_id(kind text, document jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    WITH doc AS (
        SELECT CASE
            WHEN document ? 'lago_id' THEN document
            ELSE coalesce(
                document -> (CASE kind
                    WHEN 'customer.sync'    THEN 'customer'
                    WHEN 'invoice.push'     THEN 'invoice'
                    WHEN 'invoice.void'     THEN 'invoice'
                    WHEN 'sales_order.push' THEN (CASE WHEN document ? 'sales_order' THEN 'sales_order' ELSE 'invoice' END)
                    WHEN 'credit_memo.push' THEN 'credit_note'
                    WHEN 'credit_memo.void' THEN 'credit_note'
                    WHEN 'payment.apply'    THEN 'payment'
                END),
                document)
        END AS d
    )
    SELECT nullif(btrim(CASE kind
        WHEN 'customer.sync' THEN d ->> 'lago_id'
        ELSE coalesce(d -> 'customer' ->> 'lago_id', d ->> 'lago_customer_id')
    END), '')
    FROM doc
$$;

CREATE OR REPLACE FUNCTION ledgersync.sync_job_keys(
    connection_id uuid,
    kind          text,
    document      jsonb,
    customer_id   text DEFAULT NULL,
    OUT serial_key text,
    OUT limit_key  text,
    OUT customer   text
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    provider_name     text;
    invoice_id        text;
    document_customer text;
BEGIN
    IF sync_job_keys.kind IS NULL
       OR sync_job_keys.kind NOT IN ('customer.sync', 'invoice.push', 'sales_order.push', 'credit_memo.push', 'payment.apply',
                                     'invoice.void', 'credit_memo.void') THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: kind must be one of customer.sync, invoice.push, sales_order.push, credit_memo.push, payment.apply, invoice.void, credit_memo.void; got %',
            coalesce(sync_job_keys.kind, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF sync_job_keys.document IS NULL OR jsonb_typeof(sync_job_keys.document) <> 'object' THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: document must be a JSON object, got %',
            coalesce(jsonb_typeof(sync_job_keys.document), 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT c.provider INTO provider_name FROM ledgersync.connections c WHERE c.id = sync_job_keys.connection_id;
    IF provider_name IS NULL THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: no connection %', coalesce(sync_job_keys.connection_id::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;

    -- customer_id is the billing system's own id of the customer (Lago's lago_id), the one
    -- the document carries; a different id (the external id a billing UI shows, say) would
    -- silently put the job in another lane than its customer's other documents.
    document_customer := ledgersync.document_customer_id(sync_job_keys.kind, sync_job_keys.document);
    IF nullif(btrim(sync_job_keys.customer_id), '') IS NOT NULL AND document_customer IS NOT NULL
       AND btrim(sync_job_keys.customer_id) <> document_customer THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: customer_id % is not the document''s customer %: pass the billing system''s id of the customer (lago_id), or NULL to take it from the document',
            quote_literal(left(btrim(sync_job_keys.customer_id), 100)), quote_literal(left(document_customer, 100))
            USING ERRCODE = '22023';
    END IF;
    customer := coalesce(nullif(btrim(sync_job_keys.customer_id), ''), document_customer);
    IF customer IS NULL AND sync_job_keys.kind IN ('payment.apply', 'credit_memo.push', 'credit_memo.void') THEN
        -- The invoice it applies to may be synced already; its ref knows the customer.
        invoice_id := CASE sync_job_keys.kind
            WHEN 'payment.apply' THEN coalesce(
                sync_job_keys.document #>> '{payment,invoice_ids,0}', sync_job_keys.document #>> '{invoice_ids,0}',
                sync_job_keys.document #>> '{payment,invoice_id}', sync_job_keys.document ->> 'invoice_id')
            ELSE coalesce(sync_job_keys.document #>> '{credit_note,lago_invoice_id}', sync_job_keys.document ->> 'lago_invoice_id')
        END;
        SELECT r.customer_billing_id INTO customer
        FROM ledgersync.external_refs r
        WHERE r.connection_id = sync_job_keys.connection_id AND r.object_type = 'invoice' AND r.billing_id = invoice_id;
    END IF;
    IF nullif(btrim(sync_job_keys.customer_id), '') IS NOT NULL AND document_customer IS NULL
       AND sync_job_keys.kind IN ('payment.apply', 'credit_memo.push', 'credit_memo.void') THEN
        -- No customer in the document: the invoice it applies to, if synced, knows its customer.
        invoice_id := CASE sync_job_keys.kind
            WHEN 'payment.apply' THEN coalesce(
                sync_job_keys.document #>> '{payment,invoice_ids,0}', sync_job_keys.document #>> '{invoice_ids,0}',
                sync_job_keys.document #>> '{payment,invoice_id}', sync_job_keys.document ->> 'invoice_id')
            ELSE coalesce(sync_job_keys.document #>> '{credit_note,lago_invoice_id}', sync_job_keys.document ->> 'lago_invoice_id')
        END;
        SELECT r.customer_billing_id INTO document_customer
        FROM ledgersync.external_refs r
        WHERE r.connection_id = sync_job_keys.connection_id AND r.object_type = 'invoice' AND r.billing_id = invoice_id;
        IF document_customer IS NOT NULL AND btrim(sync_job_keys.customer_id) <> document_customer THEN
            RAISE EXCEPTION 'ledgersync.enqueue_sync: customer_id % is not the customer % of invoice %: pass the billing system''s id of the customer (lago_id), or NULL',
                quote_literal(left(btrim(sync_job_keys.customer_id), 100)), quote_literal(left(document_customer, 100)),
                quote_literal(left(invoice_id, 100))
                USING ERRCODE = '22023';
        END IF;
    END IF;

    -- Without a known customer the job still waits for what it needs (a dependency
    -- snooze); it only loses the ordering guarantee with that customer's other jobs.
    serial_key := CASE WHEN customer IS NULL THEN NULL
                       ELSE 'sync:' || sync_job_keys.connection_id || ':customer:' || customer END;
    limit_key := provider_name || ':' || sync_job_keys.connection_id;
END;
$$;
