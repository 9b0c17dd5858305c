-- Ledgersync sync, migration 008: a customer_id that contradicts the document is refused.
--
-- enqueue_sync's customer_id (and POST /v1/jobs' args.customer_id) must be the billing
-- system's own id of the customer, the one the document carries (Lago's lago_id). A user who
-- passed the external id a billing UI shows got no error, and the job ran in another serial
-- lane than its customer's other documents: a payment could overtake its invoice. Now a
-- customer_id that differs from the document's customer, or (for a payment or credit memo
-- whose document names none) from the customer of the synced invoice it applies to, raises
-- 22023 naming both. Otherwise sync_job_keys is as in migration 004.

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
       OR sync_job_keys.kind NOT IN ('customer.sync', 'invoice.push', 'sales_order.push', 'credit_memo.push', 'payment.apply') THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: kind must be one of customer.sync, invoice.push, sales_order.push, credit_memo.push, payment.apply; got %',
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
    IF customer IS NULL AND sync_job_keys.kind IN ('payment.apply', 'credit_memo.push') THEN
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
       AND sync_job_keys.kind IN ('payment.apply', 'credit_memo.push') THEN
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
