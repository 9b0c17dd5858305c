-- Ledgersync sync, migration 014: one description of each sync kind, read by the key
-- derivation and the dependency functions; enqueue_sync takes the options of enqueue.
--
-- What each sync kind means (the envelope key of its document, the object type it writes,
-- where the billing customer id is, what it depends on) was written in CASE branches of
-- document_customer_id, sync_job_keys, record_dependency_wait, dependency_creator and the
-- wake trigger (migrations 002–011), and again in Swift. It is now one row per kind in
-- ledgersync.sync_kinds; the functions below read it. The Swift side (`SyncJobKind`,
-- `SyncKindDescription` in Sources/Sync/Jobs/SyncKinds.swift) is the source: SyncKindTests
-- fails when a row differs from its Swift description, or a kind exists on one side only.
--
-- Paths are dotted paths in the kind's document (after its envelope): 'customer.lago_id',
-- 'invoice_ids.0' (an array index). Where several are given the first that is present wins.

CREATE TABLE ledgersync.sync_kinds (
    kind           text    PRIMARY KEY,
    -- The order kinds are listed in (messages, docs).
    position       integer NOT NULL UNIQUE,
    -- The keys its document may arrive under ({"invoice": {...}}); the first is its own. A
    -- bare document (one with a top-level lago_id) is read as it is.
    envelopes      text[]  NOT NULL CHECK (cardinality(envelopes) >= 1),
    -- The external_refs object type it writes.
    object_type    text    NOT NULL CHECK (object_type IN ('customer', 'invoice', 'sales_order', 'credit_memo', 'payment')),
    -- Whether it creates that object at the provider (a void does not): a job waiting for an
    -- object of this type waits for a job of this kind.
    creates        boolean NOT NULL,
    -- Where the billing customer id is in its document.
    customer_paths text[]  NOT NULL CHECK (cardinality(customer_paths) >= 1),
    -- Where the invoice it applies to is, whose synced ref knows the customer when the
    -- document names none (a payment, a credit note).
    invoice_paths  text[]  NOT NULL DEFAULT '{}',
    -- The object types that must be at the provider before it writes (it waits for them).
    depends_on     text[]  NOT NULL DEFAULT '{}'
);

-- One kind creates each object type: the one a waiting job waits for.
CREATE UNIQUE INDEX sync_kinds_one_creator ON ledgersync.sync_kinds (object_type) WHERE creates;

COMMENT ON TABLE ledgersync.sync_kinds IS
    'One row per sync job kind: its envelope keys, the object type it writes, where its customer and invoice are, what it depends on. Mirrors SyncKindDescription (Swift); SyncKindTests holds them equal.';

INSERT INTO ledgersync.sync_kinds (kind, position, envelopes, object_type, creates, customer_paths, invoice_paths, depends_on) VALUES
    ('customer.sync',    1, '{customer}',            'customer',    true,  '{lago_id}',                          '{}',                       '{}'),
    ('invoice.push',     2, '{invoice}',             'invoice',     true,  '{customer.lago_id,lago_customer_id}', '{}',                       '{customer}'),
    ('sales_order.push', 3, '{sales_order,invoice}', 'sales_order', true,  '{customer.lago_id,lago_customer_id}', '{}',                       '{customer}'),
    ('credit_memo.push', 4, '{credit_note}',         'credit_memo', true,  '{customer.lago_id,lago_customer_id}', '{lago_invoice_id}',        '{customer,invoice}'),
    ('payment.apply',    5, '{payment}',             'payment',     true,  '{customer.lago_id,lago_customer_id}', '{invoice_ids.0,invoice_id}', '{customer,invoice}'),
    ('invoice.void',     6, '{invoice}',             'invoice',     false, '{customer.lago_id,lago_customer_id}', '{}',                       '{customer,invoice}'),
    ('credit_memo.void', 7, '{credit_note}',         'credit_memo', false, '{customer.lago_id,lago_customer_id}', '{lago_invoice_id}',        '{customer,invoice,credit_memo}');

-- The value at the first of `paths` (dotted) present in `document`, as text; NULL when none is.
CREATE FUNCTION ledgersync.sync_path_value(document jsonb, paths text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT v FROM unnest(paths) WITH ORDINALITY AS p(path, n),
                  LATERAL (SELECT document #>> string_to_array(p.path, '.') AS v) AS found
    WHERE v IS NOT NULL
    ORDER BY n
    LIMIT 1
$$;

-- The document of a `kind` job in `args`: args itself when it is bare (has a top-level
-- lago_id), else the value under the first of the kind's envelopes present, else args.
CREATE FUNCTION ledgersync.sync_document(kind text, args jsonb) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN args ? 'lago_id' THEN args
        ELSE coalesce(
            (SELECT args -> e.key
             FROM ledgersync.sync_kinds k, unnest(k.envelopes) WITH ORDINALITY AS e(key, n)
             WHERE k.kind = sync_document.kind AND args ? e.key
             ORDER BY e.n LIMIT 1),
            args)
    END
$$;

-- The billing customer id a document names, or NULL (as in 011, from the kind's row).
CREATE OR REPLACE FUNCTION ledgersync.document_customer_id(kind text, document jsonb)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT nullif(btrim(ledgersync.sync_path_value(ledgersync.sync_document(k.kind, document_customer_id.document), k.customer_paths)), '')
    FROM ledgersync.sync_kinds k
    WHERE k.kind = document_customer_id.kind
$$;

-- The keys of a sync job, as in 011, the kind's row saying where its customer and the
-- invoice it applies to are.
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
    kind_invoice_paths text[];
    invoice_id        text;
    invoice_customer  text;
    document_customer text;
    given             text := nullif(btrim(sync_job_keys.customer_id), '');
BEGIN
    SELECT k.invoice_paths INTO kind_invoice_paths FROM ledgersync.sync_kinds k WHERE k.kind = sync_job_keys.kind;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: kind must be one of %; got %',
            (SELECT string_agg(k.kind, ', ' ORDER BY k.position) FROM ledgersync.sync_kinds k),
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
    -- the document carries; a different id would put the job in another lane (migration 008).
    document_customer := ledgersync.document_customer_id(sync_job_keys.kind, sync_job_keys.document);
    IF given IS NOT NULL AND document_customer IS NOT NULL AND given <> document_customer THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: customer_id % is not the document''s customer %: pass the billing system''s id of the customer (lago_id), or NULL to take it from the document',
            quote_literal(left(given, 100)), quote_literal(left(document_customer, 100))
            USING ERRCODE = '22023';
    END IF;
    customer := coalesce(given, document_customer);
    IF document_customer IS NULL AND cardinality(kind_invoice_paths) > 0 THEN
        -- The invoice it applies to may be synced already; its ref knows the customer.
        invoice_id := ledgersync.sync_path_value(ledgersync.sync_document(sync_job_keys.kind, sync_job_keys.document), kind_invoice_paths);
        SELECT r.customer_billing_id INTO invoice_customer
        FROM ledgersync.external_refs r
        WHERE r.connection_id = sync_job_keys.connection_id AND r.object_type = 'invoice' AND r.billing_id = invoice_id;
        IF given IS NOT NULL AND invoice_customer IS NOT NULL AND given <> invoice_customer THEN
            RAISE EXCEPTION 'ledgersync.enqueue_sync: customer_id % is not the customer % of invoice %: pass the billing system''s id of the customer (lago_id), or NULL',
                quote_literal(left(given, 100)), quote_literal(left(invoice_customer, 100)), quote_literal(left(invoice_id, 100))
                USING ERRCODE = '22023';
        END IF;
        customer := coalesce(customer, invoice_customer);
    END IF;

    -- Without a known customer the job still waits for what it needs; it only loses the
    -- ordering guarantee with that customer's other jobs.
    serial_key := CASE WHEN customer IS NULL THEN NULL
                       ELSE 'sync:' || sync_job_keys.connection_id || ':customer:' || customer END;
    limit_key := provider_name || ':' || sync_job_keys.connection_id;
END;
$$;

-- enqueue_sync gains queue and unique_key, so that the API and the CLI enqueue sync jobs
-- through it with every option they take (one path: no keys derived in one call and the
-- job enqueued in another). The old arguments keep their positions and defaults: calls of
-- the old signature, positional or named, work unchanged.
DROP FUNCTION ledgersync.enqueue_sync(uuid, text, jsonb, text, integer, timestamptz, integer);

CREATE FUNCTION ledgersync.enqueue_sync(
    connection_id uuid,
    kind          text,
    document      jsonb,
    -- The billing customer, when the document does not name it (a payment usually does not).
    customer_id   text        DEFAULT NULL,
    priority      integer     DEFAULT 0,
    run_at        timestamptz DEFAULT NULL,
    max_attempts  integer     DEFAULT NULL,
    queue         text        DEFAULT 'default',
    -- With a unique key an unfinished job already holds, nothing is enqueued and that job's
    -- id is returned (as ledgersync.enqueue).
    unique_key    text        DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    keys record;
BEGIN
    -- The args bounds, named for the caller's own parameter (migration 006).
    IF enqueue_sync.document IS NOT NULL AND NOT ledgersync.json_within_bounds(enqueue_sync.document) THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: %', ledgersync.json_bounds_problem(enqueue_sync.document, 'document')
            USING ERRCODE = '22023';
    END IF;
    keys := ledgersync.sync_job_keys(enqueue_sync.connection_id, enqueue_sync.kind, enqueue_sync.document, enqueue_sync.customer_id);
    RETURN ledgersync.enqueue(
        kind         => enqueue_sync.kind,
        -- The connection and customer go last so that a document's own keys cannot override them.
        args         => enqueue_sync.document
                        || jsonb_build_object('connection_id', enqueue_sync.connection_id)
                        || CASE WHEN keys.customer IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('customer_id', keys.customer) END,
        queue        => coalesce(enqueue_sync.queue, 'default'),
        priority     => enqueue_sync.priority,
        run_at       => enqueue_sync.run_at,
        max_attempts => enqueue_sync.max_attempts,
        unique_key   => enqueue_sync.unique_key,
        serial_key   => keys.serial_key,
        limit_key    => keys.limit_key);
END;
$$;

COMMENT ON FUNCTION ledgersync.enqueue_sync(uuid, text, jsonb, text, integer, timestamptz, integer, text, text) IS
    'Enqueues a sync job for a billing document with its serial key (per connection and customer) and limit key (per connection); queue, priority, run_at, max_attempts and unique_key as ledgersync.enqueue.';

-- The kind of job that creates an object of `object_type`, and its envelope (as in 009,
-- from the table: sales orders and payments now have theirs too).
CREATE OR REPLACE FUNCTION ledgersync.dependency_creator(object_type text, OUT kind text, OUT envelope text)
LANGUAGE sql STABLE AS $$
    SELECT k.kind, k.envelopes[1] FROM ledgersync.sync_kinds k
    WHERE k.object_type = dependency_creator.object_type AND k.creates
$$;

-- As in 007, the awaited job found through the creator kind's row (any of its envelopes),
-- for every object type.
CREATE OR REPLACE FUNCTION ledgersync.record_dependency_wait(job_id bigint, connection_id uuid, object_type text, billing_id text)
RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    awaited_kind text := (ledgersync.dependency_creator(object_type)).kind;
    awaited      bigint;
BEGIN
    DELETE FROM ledgersync.dependency_waits w
    WHERE NOT EXISTS (SELECT 1 FROM ledgersync.jobs j
                      WHERE j.id = w.job_id AND j.state IN ('available', 'running', 'retryable'));
    IF awaited_kind IS NOT NULL THEN
        SELECT j.id INTO awaited
        FROM ledgersync.jobs j
        WHERE j.kind = awaited_kind
          AND j.state IN ('available', 'running', 'retryable')
          AND j.args->>'connection_id' = connection_id::text
          AND ledgersync.sync_document(j.kind, j.args)->>'lago_id' = billing_id
        ORDER BY j.id
        LIMIT 1;
    END IF;
    INSERT INTO ledgersync.dependency_waits AS w (job_id, connection_id, object_type, billing_id, awaited_job_id, awaited_kind)
    VALUES (job_id, connection_id, object_type, billing_id, awaited, CASE WHEN awaited IS NULL THEN NULL ELSE awaited_kind END)
    ON CONFLICT ON CONSTRAINT dependency_waits_pkey DO UPDATE
        SET connection_id = excluded.connection_id, object_type = excluded.object_type, billing_id = excluded.billing_id,
            awaited_job_id = excluded.awaited_job_id, awaited_kind = excluded.awaited_kind,
            since = CASE WHEN w.object_type = excluded.object_type AND w.billing_id = excluded.billing_id
                         THEN w.since ELSE now() END;
    RETURN awaited;
END;
$$;

-- As in 009; record_dependency_wait now finds the awaited job of every object type.
CREATE OR REPLACE FUNCTION ledgersync.await_dependency(job_id bigint, connection_id uuid, object_type text, billing_id text)
RETURNS TABLE (awaited_job_id bigint, failed_job_id bigint, failed_state text, failed_reason text)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    creator  record := ledgersync.dependency_creator(object_type);
    awaited  bigint;
    latest   record;
BEGIN
    awaited := ledgersync.record_dependency_wait(job_id, connection_id, object_type, billing_id);
    IF creator.kind IS NULL OR awaited IS NOT NULL THEN
        RETURN QUERY SELECT awaited, NULL::bigint, NULL::text, NULL::text;
        RETURN;
    END IF;
    SELECT j.id, j.state::text AS state, j.errors -> -1 ->> 'message' AS reason INTO latest
    FROM ledgersync.jobs j
    WHERE j.kind = creator.kind
      AND j.state IN ('completed', 'failed', 'cancelled')
      AND j.args->>'connection_id' = connection_id::text
      AND ledgersync.sync_document(j.kind, j.args)->>'lago_id' = billing_id
    ORDER BY j.id DESC
    LIMIT 1;
    IF latest.id IS NOT NULL AND latest.state IN ('failed', 'cancelled') THEN
        DELETE FROM ledgersync.dependency_waits w WHERE w.job_id = await_dependency.job_id;
        RETURN QUERY SELECT NULL::bigint, latest.id::bigint, latest.state::text, latest.reason::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::bigint, NULL::bigint, NULL::text, NULL::text;
END;
$$;

-- As in 009, the object a failed or cancelled job would have created read through its
-- kind's row. The trigger's WHEN clause cannot read a table: it names the kinds others wait
-- for (customer.sync, invoice.push, credit_memo.push: the creators of what depends_on
-- lists), and SyncKindTests holds that list to the table.
CREATE OR REPLACE FUNCTION ledgersync.wake_waiters_of_ended_job() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    object_type text;
    billing_id  text;
    connection  text;
BEGIN
    SELECT k.object_type INTO object_type FROM ledgersync.sync_kinds k WHERE k.kind = NEW.kind AND k.creates;
    IF object_type IS NULL OR jsonb_typeof(NEW.args) <> 'object' THEN
        RETURN NULL;
    END IF;
    connection := NEW.args->>'connection_id';
    billing_id := ledgersync.sync_document(NEW.kind, NEW.args)->>'lago_id';
    IF connection IS NOT NULL AND billing_id IS NOT NULL AND billing_id <> '' THEN
        PERFORM ledgersync.wake(ledgersync.sync_wait_key(connection, object_type, billing_id));
    END IF;
    RETURN NULL;
END;
$$;
