-- Ledgersync sync, migration 016: the sync status of every billing object, per connection.
--
-- "Is invoice INV-1042 in NetSuite, and if not, why?" had no answer but reading job rows,
-- which retention prunes. One row per (connection, object type, billing id), kept current by
-- the sync jobs: `pending` once a job for it is known, `synced` after a write succeeded,
-- `failed` when the latest job failed for good, `needs_action` when what failed is for a
-- person to fix (a missing mapping, a closed period, a locked record). The row keeps the
-- provider's id and a link to the record in the provider's web UI, the last error, and the
-- last document synced (with its digest), which reconciliation (`ledgersync reconcile`)
-- compares with the provider's record.

CREATE TABLE ledgersync.sync_status (
    connection_id       uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    object_type         text        NOT NULL,
    billing_id          text        NOT NULL,
    -- The document's number in the billing system (INV-2026-0042), a customer's external id.
    document_number     text,
    -- The billing customer the object belongs to (its own id for a customer).
    customer_billing_id text,
    state               text        NOT NULL,
    provider_id         text,
    -- The record in the provider's web UI (ProviderDriver.recordLink), for people.
    provider_link       text,
    last_job_id         bigint,
    last_job_kind       text,
    last_error          text,
    last_error_code     text,
    -- The last document written to the provider (the job's document, bare, without its
    -- envelope) and the SHA-256 (hex) of its text: what the provider's record should equal.
    document            jsonb,
    document_digest     text,
    synced_at           timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (connection_id, object_type, billing_id),
    CONSTRAINT sync_status_object_type_known CHECK (
        object_type IN ('customer', 'invoice', 'sales_order', 'credit_memo', 'payment')),
    CONSTRAINT sync_status_state_known CHECK (state IN ('pending', 'synced', 'failed', 'needs_action')),
    CONSTRAINT sync_status_billing_id_not_blank CHECK (btrim(billing_id) <> '')
);

COMMENT ON TABLE ledgersync.sync_status IS
    'Per connection and billing object: pending, synced, failed or needs_action, the provider id and link, the last error and the last document synced. Kept by the sync jobs.';

-- The job whose success was last recorded on the row (the status helper): a job run again
-- after a crash between its provider write and its completion records its success again but
-- sends no second success webhook.
ALTER TABLE ledgersync.sync_status ADD COLUMN synced_job_id bigint;

-- GET /v1/sync-status and the dashboard's search look a billing object up by its id or its
-- number across connections, list a customer's objects, and what is not synced.
CREATE INDEX sync_status_billing_id ON ledgersync.sync_status (billing_id);
CREATE INDEX sync_status_document_number ON ledgersync.sync_status (document_number) WHERE document_number IS NOT NULL;
CREATE INDEX sync_status_customer ON ledgersync.sync_status (customer_billing_id, connection_id);
CREATE INDEX sync_status_unsynced ON ledgersync.sync_status (state, updated_at) WHERE state <> 'synced';

-- The jobs of each billing object, so that its page lists them without searching the job
-- table's args (the job table is large; its args are not indexed). A row per job that
-- made the object pending, ran for it, or synced it (an invoice job that pushed its
-- customer is a job of the customer too). Rows go with their job when retention prunes it.
CREATE TABLE ledgersync.sync_status_jobs (
    connection_id uuid   NOT NULL,
    object_type   text   NOT NULL,
    billing_id    text   NOT NULL,
    job_id        bigint NOT NULL REFERENCES ledgersync.jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (connection_id, object_type, billing_id, job_id),
    FOREIGN KEY (connection_id, object_type, billing_id)
        REFERENCES ledgersync.sync_status (connection_id, object_type, billing_id) ON DELETE CASCADE
);
CREATE INDEX sync_status_jobs_job ON ledgersync.sync_status_jobs (job_id);

COMMENT ON TABLE ledgersync.sync_status_jobs IS
    'The jobs of each billing object in sync_status (enqueued, run or synced for it); pruned with the jobs.';

-- Objects synced before this migration have a ref and no status: they are synced, their
-- document unknown (a status row's document is the last one written after 016).
INSERT INTO ledgersync.sync_status (connection_id, object_type, billing_id, customer_billing_id, state, provider_id, synced_at)
SELECT r.connection_id, r.object_type, r.billing_id, r.customer_billing_id, 'synced', r.provider_id, r.synced_at
FROM ledgersync.external_refs r
ON CONFLICT DO NOTHING;

-- The billing object a sync job of `kind` with `args` is about: its connection, object type
-- (the kind's, ledgersync.sync_kinds), billing id (the document's lago_id), number (an
-- invoice's or credit note's `number`, a customer's `external_id`) and billing customer.
-- No row (all NULL) for another kind, args without a connection or a lago_id.
CREATE FUNCTION ledgersync.sync_status_subject(
    kind text, args jsonb,
    OUT connection_id uuid, OUT object_type text, OUT billing_id text, OUT document_number text, OUT customer_billing_id text
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    kind_object text;
    doc         jsonb;
BEGIN
    SELECT k.object_type INTO kind_object FROM ledgersync.sync_kinds k WHERE k.kind = sync_status_subject.kind;
    IF kind_object IS NULL OR args IS NULL OR jsonb_typeof(args) <> 'object'
       OR coalesce(args->>'connection_id', '') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN;
    END IF;
    doc := ledgersync.sync_document(sync_status_subject.kind, args);
    IF jsonb_typeof(doc) <> 'object' OR jsonb_typeof(doc->'lago_id') <> 'string' OR btrim(doc->>'lago_id') = '' THEN
        RETURN;
    END IF;
    connection_id := (args->>'connection_id')::uuid;
    object_type := kind_object;
    billing_id := doc->>'lago_id';
    document_number := left(CASE WHEN kind_object = 'customer'
                                  THEN coalesce(doc->>'external_id', doc->>'external_customer_id')
                                  ELSE doc->>'number' END, 200);
    customer_billing_id := coalesce(nullif(btrim(args->>'customer_id'), ''), ledgersync.document_customer_id(sync_status_subject.kind, args));
END;
$$;

-- The object of job `job_id` is pending: a job for it is enqueued or running. The row is
-- created when missing; an existing one keeps its provider id, link and last document
-- synced (what the provider holds until this job writes), and its error is cleared unless
-- `reason` says why the job waits (a dependency, a rate limit, a retry). A row whose latest
-- job is newer than this one is left alone (that job's state stands). Nothing happens for
-- a job that is not a sync job of a known connection or whose document has no lago_id.
CREATE FUNCTION ledgersync.sync_status_pending(job_id bigint, reason text DEFAULT NULL, reason_code text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    job     record;
    subject record;
BEGIN
    SELECT j.id, j.kind, j.args INTO job FROM ledgersync.jobs j WHERE j.id = job_id;
    IF job.id IS NULL THEN
        RETURN;
    END IF;
    subject := ledgersync.sync_status_subject(job.kind, job.args);
    IF subject.billing_id IS NULL OR NOT EXISTS (SELECT 1 FROM ledgersync.connections c WHERE c.id = subject.connection_id) THEN
        RETURN;
    END IF;
    INSERT INTO ledgersync.sync_status AS s (
        connection_id, object_type, billing_id, document_number, customer_billing_id, state, last_job_id, last_job_kind,
        last_error, last_error_code)
    VALUES (subject.connection_id, subject.object_type, subject.billing_id, subject.document_number, subject.customer_billing_id,
            'pending', job.id, job.kind, left(reason, 2000), left(reason_code, 100))
    ON CONFLICT ON CONSTRAINT sync_status_pkey DO UPDATE
    SET state = 'pending', last_job_id = excluded.last_job_id, last_job_kind = excluded.last_job_kind,
        document_number = coalesce(excluded.document_number, s.document_number),
        customer_billing_id = coalesce(excluded.customer_billing_id, s.customer_billing_id),
        last_error = excluded.last_error, last_error_code = excluded.last_error_code, updated_at = now()
    WHERE s.last_job_id IS NULL OR s.last_job_id <= excluded.last_job_id;
    INSERT INTO ledgersync.sync_status_jobs (connection_id, object_type, billing_id, job_id)
    VALUES (subject.connection_id, subject.object_type, subject.billing_id, job.id)
    ON CONFLICT DO NOTHING;
END;
$$;

-- Job `job_id` failed for good: its object is `state` ('failed', or 'needs_action' when a
-- person must fix something first: a mapping, a closed period, a locked record), with the
-- error and its code. As for pending, a newer job's state stands.
CREATE FUNCTION ledgersync.sync_status_failed(job_id bigint, state text, error text, error_code text)
RETURNS void
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    job     record;
    subject record;
BEGIN
    IF state NOT IN ('failed', 'needs_action') THEN
        RAISE EXCEPTION 'ledgersync.sync_status_failed: state must be failed or needs_action, got %', coalesce(state, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    SELECT j.id, j.kind, j.args INTO job FROM ledgersync.jobs j WHERE j.id = job_id;
    IF job.id IS NULL THEN
        RETURN;
    END IF;
    subject := ledgersync.sync_status_subject(job.kind, job.args);
    IF subject.billing_id IS NULL OR NOT EXISTS (SELECT 1 FROM ledgersync.connections c WHERE c.id = subject.connection_id) THEN
        RETURN;
    END IF;
    INSERT INTO ledgersync.sync_status AS s (
        connection_id, object_type, billing_id, document_number, customer_billing_id, state, last_job_id, last_job_kind,
        last_error, last_error_code)
    VALUES (subject.connection_id, subject.object_type, subject.billing_id, subject.document_number, subject.customer_billing_id,
            state, job.id, job.kind, left(error, 2000), left(error_code, 100))
    ON CONFLICT ON CONSTRAINT sync_status_pkey DO UPDATE
    SET state = excluded.state, last_job_id = excluded.last_job_id, last_job_kind = excluded.last_job_kind,
        document_number = coalesce(excluded.document_number, s.document_number),
        customer_billing_id = coalesce(excluded.customer_billing_id, s.customer_billing_id),
        last_error = excluded.last_error, last_error_code = excluded.last_error_code, updated_at = now()
    WHERE s.last_job_id IS NULL OR s.last_job_id <= excluded.last_job_id;
    INSERT INTO ledgersync.sync_status_jobs (connection_id, object_type, billing_id, job_id)
    VALUES (subject.connection_id, subject.object_type, subject.billing_id, job.id)
    ON CONFLICT DO NOTHING;
END;
$$;

-- Job `job_id` wrote `object_type` `billing_id` to the provider as `provider_id`: the row is
-- synced, with the link, the document written (the object at `document_path` in the job's
-- args, or the job's own document when NULL: bare, without its envelope and without the
-- connection_id/customer_id enqueue_sync adds to a bare document) and the SHA-256 (hex) of
-- that document's text as PostgreSQL prints the jsonb (`document::text`), so the digest can
-- be recomputed from the column. The error is cleared. A newer job's state stands (its
-- provider id and document are still recorded: they are what the provider holds).
--
-- `first`: the object had no provider id before (a creation); `repeated`: this job's
-- success was already recorded (run again after a crash): no second success webhook.
CREATE FUNCTION ledgersync.sync_status_synced(
    job_id bigint, object_type text, billing_id text, document_path text[], provider_id text, provider_link text,
    customer_billing_id text,
    OUT first boolean, OUT repeated boolean, OUT document_number text, OUT out_customer_billing_id text, OUT synced_at timestamptz
)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    job      record;
    doc      jsonb;
    previous record;
    conn     uuid;
    doc_number text;
BEGIN
    SELECT j.id, j.kind, j.args INTO job FROM ledgersync.jobs j WHERE j.id = job_id;
    IF job.id IS NULL OR coalesce(job.args->>'connection_id', '') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN;
    END IF;
    conn := (job.args->>'connection_id')::uuid;
    IF document_path IS NULL THEN
        doc := ledgersync.sync_document(job.kind, job.args);
        IF job.args ? 'lago_id' THEN
            doc := doc - 'connection_id' - 'customer_id';
        END IF;
    ELSE
        doc := job.args #> document_path;
    END IF;
    IF jsonb_typeof(doc) IS DISTINCT FROM 'object' THEN
        doc := NULL;
    END IF;
    doc_number := left(CASE WHEN object_type = 'customer' THEN coalesce(doc->>'external_id', doc->>'external_customer_id')
                        ELSE doc->>'number' END, 200);
    SELECT s.provider_id, s.synced_job_id, s.last_job_id INTO previous
    FROM ledgersync.sync_status s
    WHERE s.connection_id = conn AND s.object_type = sync_status_synced.object_type AND s.billing_id = sync_status_synced.billing_id
    FOR UPDATE;
    first := previous.provider_id IS NULL;
    repeated := previous.synced_job_id IS NOT DISTINCT FROM job.id AND NOT first;
    INSERT INTO ledgersync.sync_status AS s (
        connection_id, object_type, billing_id, document_number, customer_billing_id, state, provider_id, provider_link,
        last_job_id, last_job_kind, last_error, last_error_code, document, document_digest, synced_at, synced_job_id)
    VALUES (conn, object_type, billing_id, doc_number, customer_billing_id, 'synced', provider_id, provider_link,
            job.id, job.kind, NULL, NULL, doc, CASE WHEN doc IS NULL THEN NULL ELSE encode(sha256(convert_to(doc::text, 'UTF8')), 'hex') END,
            now(), job.id)
    ON CONFLICT ON CONSTRAINT sync_status_pkey DO UPDATE
    SET state = CASE WHEN s.last_job_id IS NULL OR s.last_job_id <= excluded.last_job_id THEN 'synced' ELSE s.state END,
        last_job_id = greatest(s.last_job_id, excluded.last_job_id),
        last_job_kind = CASE WHEN s.last_job_id IS NULL OR s.last_job_id <= excluded.last_job_id THEN excluded.last_job_kind ELSE s.last_job_kind END,
        last_error = CASE WHEN s.last_job_id IS NULL OR s.last_job_id <= excluded.last_job_id THEN NULL ELSE s.last_error END,
        last_error_code = CASE WHEN s.last_job_id IS NULL OR s.last_job_id <= excluded.last_job_id THEN NULL ELSE s.last_error_code END,
        provider_id = excluded.provider_id, provider_link = excluded.provider_link,
        document_number = coalesce(excluded.document_number, s.document_number),
        customer_billing_id = coalesce(excluded.customer_billing_id, s.customer_billing_id),
        document = coalesce(excluded.document, s.document), document_digest = coalesce(excluded.document_digest, s.document_digest),
        synced_at = excluded.synced_at, synced_job_id = excluded.synced_job_id, updated_at = now()
    RETURNING s.document_number, s.customer_billing_id, s.synced_at INTO document_number, out_customer_billing_id, synced_at;
    INSERT INTO ledgersync.sync_status_jobs (connection_id, object_type, billing_id, job_id)
    VALUES (conn, object_type, billing_id, job.id)
    ON CONFLICT DO NOTHING;
END;
$$;

-- enqueue_sync as in 014, and the object it enqueues a job for becomes pending in the same
-- statement (a job inserted by plain INSERT, or by ledgersync.enqueue, becomes pending when
-- it starts running: the sync jobs call sync_status_pending then).
CREATE OR REPLACE FUNCTION ledgersync.enqueue_sync(
    connection_id uuid,
    kind          text,
    document      jsonb,
    customer_id   text        DEFAULT NULL,
    priority      integer     DEFAULT 0,
    run_at        timestamptz DEFAULT NULL,
    max_attempts  integer     DEFAULT NULL,
    queue         text        DEFAULT 'default',
    unique_key    text        DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    keys record;
    new_id bigint;
BEGIN
    IF enqueue_sync.document IS NOT NULL AND NOT ledgersync.json_within_bounds(enqueue_sync.document) THEN
        RAISE EXCEPTION 'ledgersync.enqueue_sync: %', ledgersync.json_bounds_problem(enqueue_sync.document, 'document')
            USING ERRCODE = '22023';
    END IF;
    keys := ledgersync.sync_job_keys(enqueue_sync.connection_id, enqueue_sync.kind, enqueue_sync.document, enqueue_sync.customer_id);
    new_id := ledgersync.enqueue(
        kind         => enqueue_sync.kind,
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
    PERFORM ledgersync.sync_status_pending(new_id);
    RETURN new_id;
END;
$$;

-- The documented view: one row per billing object and connection, with the connection's
-- name and provider. Read it from SQL, GET /v1/sync-status, `ledgersync status list`.
CREATE VIEW ledgersync.billing_sync_status AS
SELECT s.connection_id, c.name AS connection_name, c.provider, s.object_type, s.billing_id, s.document_number,
       s.customer_billing_id, s.state, s.provider_id, s.provider_link, s.last_job_id, s.last_job_kind, s.last_error,
       s.last_error_code, s.document_digest, s.synced_at, s.updated_at
FROM ledgersync.sync_status s
JOIN ledgersync.connections c ON c.id = s.connection_id;

COMMENT ON VIEW ledgersync.billing_sync_status IS
    'The sync status of every billing object per connection (docs/sync-status.md): pending, synced, failed or needs_action, with the connection name and provider, the provider id and link, the last job and error.';
COMMENT ON COLUMN ledgersync.billing_sync_status.object_type IS 'customer, invoice, sales_order, credit_memo or payment.';
COMMENT ON COLUMN ledgersync.billing_sync_status.billing_id IS 'The billing system''s id of the object (Lago''s lago_id).';
COMMENT ON COLUMN ledgersync.billing_sync_status.document_number IS 'The document''s number in the billing system (INV-2026-0042); a customer''s external id.';
COMMENT ON COLUMN ledgersync.billing_sync_status.customer_billing_id IS 'The billing customer the object belongs to (its own id for a customer).';
COMMENT ON COLUMN ledgersync.billing_sync_status.state IS 'pending (a job for it is queued or running, or waits), synced (the last write succeeded), failed (the latest job failed for good), needs_action (it failed on something a person must fix: a missing mapping, a closed period, a locked record).';
COMMENT ON COLUMN ledgersync.billing_sync_status.provider_id IS 'The provider''s id of the record (NetSuite internal id, Zoho Books id), once written.';
COMMENT ON COLUMN ledgersync.billing_sync_status.provider_link IS 'The record in the provider''s web UI, for people.';
COMMENT ON COLUMN ledgersync.billing_sync_status.last_error IS 'Why the latest job failed, or what a pending job waits for; NULL once synced.';
COMMENT ON COLUMN ledgersync.billing_sync_status.last_error_code IS 'The provider''s error code or the job''s error class (invalid_mapping, dependency, …).';
COMMENT ON COLUMN ledgersync.billing_sync_status.document_digest IS 'SHA-256 (hex) of the last document written, as sync_status.document::text.';
COMMENT ON COLUMN ledgersync.billing_sync_status.synced_at IS 'When the last write succeeded.';
