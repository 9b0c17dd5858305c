-- Ledgersync sync, migration 004: the keys of a sync job, as a function of their own.
--
-- enqueue_sync (migration 002) derived the serial and limit keys inline. The HTTP API's
-- POST /v1/jobs takes sync jobs too, and must give them the same keys, or a payment
-- enqueued over HTTP could overtake its invoice and the workers together could exceed the
-- account's concurrency limit. Both now ask this one function; enqueue_sync keeps its
-- signature and behaviour.

-- The keys (and the billing customer found on the way) of a sync job for `document` on
-- `connection_id`; raises 22023 naming the problem for an unknown kind, a document that is
-- not an object, or a connection that does not exist.
CREATE FUNCTION ledgersync.sync_job_keys(
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
    provider_name text;
    invoice_id    text;
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

    customer := coalesce(nullif(btrim(sync_job_keys.customer_id), ''),
                         ledgersync.document_customer_id(sync_job_keys.kind, sync_job_keys.document));
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

    -- Without a known customer the job still waits for what it needs (a dependency
    -- snooze); it only loses the ordering guarantee with that customer's other jobs.
    serial_key := CASE WHEN customer IS NULL THEN NULL
                       ELSE 'sync:' || sync_job_keys.connection_id || ':customer:' || customer END;
    limit_key := provider_name || ':' || sync_job_keys.connection_id;
END;
$$;

COMMENT ON FUNCTION ledgersync.sync_job_keys(uuid, text, jsonb, text) IS
    'The serial key (per connection and customer), limit key (per connection) and billing customer of a sync job.';

CREATE OR REPLACE FUNCTION ledgersync.enqueue_sync(
    connection_id uuid,
    kind          text,
    document      jsonb,
    customer_id   text        DEFAULT NULL,
    priority      integer     DEFAULT 0,
    run_at        timestamptz DEFAULT NULL,
    max_attempts  integer     DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    keys record;
BEGIN
    keys := ledgersync.sync_job_keys(enqueue_sync.connection_id, enqueue_sync.kind, enqueue_sync.document, enqueue_sync.customer_id);
    RETURN ledgersync.enqueue(
        kind         => enqueue_sync.kind,
        -- The connection and customer go last so that a document's own keys cannot override them.
        args         => enqueue_sync.document
                        || jsonb_build_object('connection_id', enqueue_sync.connection_id)
                        || CASE WHEN keys.customer IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('customer_id', keys.customer) END,
        priority     => enqueue_sync.priority,
        run_at       => enqueue_sync.run_at,
        max_attempts => enqueue_sync.max_attempts,
        serial_key   => keys.serial_key,
        limit_key    => keys.limit_key);
END;
$$;
