-- Ledgersync sync, migration 002: enqueueing sync jobs from SQL with the right keys.
--
-- A billing system enqueues a sync inside its own transaction, with nothing but the
-- connection, the job kind and the document it already has:
--
--   BEGIN;
--   UPDATE invoices SET status = 'finalized' WHERE id = …;
--   SELECT ledgersync.enqueue_sync('1b6a…', 'invoice.push', '{"invoice": {…}}');
--   COMMIT;
--
-- The function derives the keys the workers rely on, so no caller can get them wrong:
--   serial_key  sync:<connection>:customer:<billing customer id>
--               one customer's jobs run one at a time, in enqueue order, on every worker:
--               a payment never overtakes its invoice, an invoice never its customer.
--   limit_key   <provider>:<connection>
--               all workers together stay under the account's concurrency limit (set by
--               `ledgersync connections add|update` in ledgersync.concurrency_limits).
-- No unique key: a second push of the same document (an update) must run after the first,
-- not be dropped; NetSuite writes are upserts by external id, so running both is safe.

-- The billing customer of an invoice, sales order or credit memo, so a payment or credit memo
-- that names only its invoice still finds its customer (and its serial key).
ALTER TABLE ledgersync.external_refs ADD COLUMN customer_billing_id text;

COMMENT ON COLUMN ledgersync.external_refs.customer_billing_id IS
    'For invoices, sales orders and credit memos: the billing id of their customer.';

-- The billing customer id a document names, or NULL: customer.lago_id for a customer,
-- <doc>.customer.lago_id or <doc>.lago_customer_id for the others. Documents may be bare or
-- wrapped in their envelope key ({"invoice": {…}}), as the job args are.
CREATE FUNCTION ledgersync.document_customer_id(kind text, document jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    WITH doc AS (
        SELECT CASE
            WHEN document ? 'lago_id' THEN document
            ELSE coalesce(
                document -> (CASE kind
                    WHEN 'customer.sync'    THEN 'customer'
                    WHEN 'invoice.push'     THEN 'invoice'
                    WHEN 'sales_order.push' THEN (CASE WHEN document ? 'sales_order' THEN 'sales_order' ELSE 'invoice' END)
                    WHEN 'credit_memo.push' THEN 'credit_note'
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

CREATE FUNCTION ledgersync.enqueue_sync(
    connection_id uuid,
    kind          text,
    document      jsonb,
    -- The billing customer, when the document does not name it (a payment usually does not).
    customer_id   text        DEFAULT NULL,
    priority      integer     DEFAULT 0,
    run_at        timestamptz DEFAULT NULL,
    max_attempts  integer     DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    provider_name text;
    customer      text;
    invoice_id    text;
BEGIN
    IF enqueue_sync.kind IS NULL
       OR enqueue_sync.kind NOT IN ('customer.sync', 'invoice.push', 'sales_order.push', 'credit_memo.push', 'payment.apply') THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: kind must be one of customer.sync, invoice.push, sales_order.push, credit_memo.push, payment.apply; got %',
            coalesce(enqueue_sync.kind, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF enqueue_sync.document IS NULL OR jsonb_typeof(enqueue_sync.document) <> 'object' THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: document must be a JSON object, got %',
            coalesce(jsonb_typeof(enqueue_sync.document), 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT c.provider INTO provider_name FROM ledgersync.connections c WHERE c.id = enqueue_sync.connection_id;
    IF provider_name IS NULL THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: no connection %', coalesce(enqueue_sync.connection_id::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;

    customer := coalesce(nullif(btrim(enqueue_sync.customer_id), ''),
                         ledgersync.document_customer_id(enqueue_sync.kind, enqueue_sync.document));
    IF customer IS NULL AND enqueue_sync.kind IN ('payment.apply', 'credit_memo.push') THEN
        -- The invoice it applies to may be synced already; its ref knows the customer.
        invoice_id := CASE enqueue_sync.kind
            WHEN 'payment.apply' THEN coalesce(
                enqueue_sync.document #>> '{payment,invoice_ids,0}', enqueue_sync.document #>> '{invoice_ids,0}',
                enqueue_sync.document #>> '{payment,invoice_id}', enqueue_sync.document ->> 'invoice_id')
            ELSE coalesce(enqueue_sync.document #>> '{credit_note,lago_invoice_id}', enqueue_sync.document ->> 'lago_invoice_id')
        END;
        SELECT r.customer_billing_id INTO customer
        FROM ledgersync.external_refs r
        WHERE r.connection_id = enqueue_sync.connection_id AND r.object_type = 'invoice' AND r.billing_id = invoice_id;
    END IF;

    RETURN ledgersync.enqueue(
        kind         => enqueue_sync.kind,
        -- The connection and customer go last so that a document's own keys cannot override them.
        args         => enqueue_sync.document
                        || jsonb_build_object('connection_id', enqueue_sync.connection_id)
                        || CASE WHEN customer IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('customer_id', customer) END,
        priority     => enqueue_sync.priority,
        run_at       => enqueue_sync.run_at,
        max_attempts => enqueue_sync.max_attempts,
        -- Without a known customer the job still waits for what it needs (a dependency
        -- snooze); it only loses the ordering guarantee with that customer's other jobs.
        serial_key   => CASE WHEN customer IS NULL THEN NULL
                             ELSE 'sync:' || enqueue_sync.connection_id || ':customer:' || customer END,
        limit_key    => provider_name || ':' || enqueue_sync.connection_id);
END;
$$;

COMMENT ON FUNCTION ledgersync.enqueue_sync(uuid, text, jsonb, text, integer, timestamptz, integer) IS
    'Enqueues a sync job for a billing document with its serial key (per connection and customer) and limit key (per connection).';
