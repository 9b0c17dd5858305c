-- Ledgersync sync, migration 018: reconciliation reports (`ledgersync reconcile`, the
-- `reconcile.run` job) and the indexes its page query reads the other documents through.
--
-- A run reads every synced record back from the provider and compares it with the last
-- document synced (sync_status.document, migration 016). Its counts and its drift rows are
-- kept here for the dashboard and GET /v1/connections/{id}/reconciliation. Bounded: the last
-- 10 runs per connection are kept (older ones are deleted by the run that stores a newer
-- one), and at most 1000 drift rows per run (the counts stay exact; `drift_truncated` says
-- rows were left out — the CLI's --json has them all).

CREATE TABLE ledgersync.reconcile_runs (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id   uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    -- The `reconcile.run` job that ran it; NULL for the CLI with --store.
    job_id          bigint,
    -- Only objects synced at or after this time were compared (--since).
    since           timestamptz,
    -- The object types compared; NULL for all.
    object_types    text[],
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT now(),
    -- Objects read back (records asked of the provider).
    checked         bigint      NOT NULL,
    matched         bigint      NOT NULL,
    missing         bigint      NOT NULL,
    -- Objects with at least one field changed (`changed_fields` counts the fields).
    changed         bigint      NOT NULL,
    changed_fields  bigint      NOT NULL,
    extra           bigint      NOT NULL,
    unlinked        bigint      NOT NULL,
    -- Pending objects with no provider record yet: in flight, not drift.
    in_flight       bigint      NOT NULL,
    drift_truncated boolean     NOT NULL DEFAULT false,

    CONSTRAINT reconcile_runs_counts_not_negative CHECK (
        checked >= 0 AND matched >= 0 AND missing >= 0 AND changed >= 0 AND changed_fields >= 0
        AND extra >= 0 AND unlinked >= 0 AND in_flight >= 0)
);

CREATE INDEX reconcile_runs_by_connection ON ledgersync.reconcile_runs (connection_id, id DESC);

CREATE TABLE ledgersync.reconcile_drift (
    run_id          bigint      NOT NULL REFERENCES ledgersync.reconcile_runs (id) ON DELETE CASCADE,
    position        integer     NOT NULL,
    kind            text        NOT NULL,
    object_type     text        NOT NULL,
    billing_id      text,
    document_number text,
    provider_id     text,
    -- For `changed`: the field (total, tax, lines, lines[2].amount, applied, amount_due,
    -- status, customer, name, currency) and both values (amounts formatted in the
    -- document's currency, minor units in `expected_minor`/`actual_minor`).
    field           text,
    expected        text,
    actual          text,
    expected_minor  bigint,
    actual_minor    bigint,
    -- What a person or `--repair` does about it; whether `--repair` fixes it.
    action          text        NOT NULL,
    repairable      boolean     NOT NULL,

    PRIMARY KEY (run_id, position),
    CONSTRAINT reconcile_drift_kind_known CHECK (kind IN ('missing', 'changed', 'extra', 'unlinked'))
);

COMMENT ON TABLE ledgersync.reconcile_runs IS
    'Reconciliation runs per connection (last 10 kept): objects compared with their provider records and what drifted.';
COMMENT ON TABLE ledgersync.reconcile_drift IS
    'The drift rows of a reconciliation run (at most 1000 per run): missing, changed, extra and unlinked records.';

-- The page query (queries/reconcile_page.sql) fills an invoice's amount due from the credit
-- memos and payments synced for it: found through these, not by scanning every document.
CREATE INDEX sync_status_credit_memos_by_invoice
    ON ledgersync.sync_status (connection_id, (document ->> 'lago_invoice_id'))
    WHERE object_type = 'credit_memo';

-- The billing invoices a payment document pays (`invoice_ids`, or the one `invoice_id`).
CREATE FUNCTION ledgersync.reconcile_payment_invoices(document jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN jsonb_typeof(document -> 'invoice_ids') = 'array' THEN document -> 'invoice_ids'
    WHEN document ? 'invoice_id' THEN jsonb_build_array(document -> 'invoice_id')
    ELSE '[]'::jsonb
END;

CREATE INDEX sync_status_payments_by_invoice
    ON ledgersync.sync_status USING gin (ledgersync.reconcile_payment_invoices(document))
    WHERE object_type = 'payment';
