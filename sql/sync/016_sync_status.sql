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
