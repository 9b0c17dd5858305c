-- Ledgersync sync, migration 017: changes read back from the providers (docs/changes.md).
--
-- A connection opts in per record type (settings.read_changes); every worker process keeps
-- one `changes.poll` job per (connection, record type) in the queue (unique key
-- `changes:<connection>:<object type>`), which reads the records the provider changed since
-- the cursor below, writes one change event per change read, and sends the webhooks, in one
-- transaction per page read.

-- Where the next poll of a connection's record type starts: the provider's modification
-- time of the last change read, and the provider ids already read AT that time (providers
-- answer "modified at or after", often in whole seconds or minutes, so the records of the
-- last instant come again and are dropped by id). Written only by the poll, in the
-- transaction that writes the events of what it read.
CREATE TABLE ledgersync.change_cursors (
    connection_id  uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    object_type    text        NOT NULL,
    modified_since timestamptz NOT NULL,
    seen_ids       text[]      NOT NULL DEFAULT '{}',
    -- The last poll that finished, and its error when it failed (NULL after a good one).
    polled_at      timestamptz,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (connection_id, object_type),
    CONSTRAINT change_cursor_object_type_known CHECK (
        object_type IN ('customer', 'invoice', 'sales_order', 'credit_memo', 'payment'))
);

COMMENT ON TABLE ledgersync.change_cursors IS
    'Per connection and record type read back: the provider modification time the next change poll starts at, and the provider ids already read at exactly that time.';

-- One row per change read back (a record created or updated at the provider), in the order
-- read. The same change read twice (a poll run again after a crash, two runs at once after
-- a lost lease, a provider answering a record again) is one row: the UNIQUE key below.
CREATE TABLE ledgersync.change_events (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    object_type   text        NOT NULL,
    provider_id   text        NOT NULL,
    -- The record's external id at the provider, and the billing id when the record is one
    -- Ledgersync synced (external_refs of this connection).
    external_id   text,
    billing_id    text,
    change        text        NOT NULL,
    -- When the provider says it changed the record (its clock).
    modified_at   timestamptz NOT NULL,
    number        text,
    -- Decimal text as the provider wrote it, never a floating point number.
    amount        text,
    currency      text,
    -- The record as the provider answered (body fields).
    record        jsonb,
    -- For a payment: the invoices it is applied to,
    -- [{"provider_id", "billing_id" (when synced), "amount"}].
    applications  jsonb       NOT NULL DEFAULT '[]',
    created_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT change_event_once UNIQUE (connection_id, object_type, provider_id, modified_at),
    CONSTRAINT change_event_object_type_known CHECK (
        object_type IN ('customer', 'invoice', 'sales_order', 'credit_memo', 'payment')),
    CONSTRAINT change_event_change_known CHECK (change IN ('created', 'updated')),
    CONSTRAINT change_event_provider_id_not_blank CHECK (btrim(provider_id) <> '')
);

-- GET /v1/connections/{id}/changes?since=…: a connection's events by id.
CREATE INDEX change_events_by_connection ON ledgersync.change_events (connection_id, id);

COMMENT ON TABLE ledgersync.change_events IS
    'Records created or updated at the provider, read back by the change polls (settings.read_changes), one row per change, id ascending in the order read.';

-- The echo rule (docs/changes.md) looks for Ledgersync's recent writes of a customer's
-- objects: a connection's refs by billing customer.
CREATE INDEX external_refs_by_customer ON ledgersync.external_refs (connection_id, customer_billing_id)
    WHERE customer_billing_id IS NOT NULL;

-- One invoice.paid_in_provider per (payment, invoice) read back: a payment edited later at
-- the provider (a new modification time, a new change) does not tell the billing system
-- again that the invoice was paid.
CREATE TABLE ledgersync.paid_notices (
    connection_id       uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    provider_payment_id text        NOT NULL,
    provider_invoice_id text        NOT NULL,
    invoice_billing_id  text        NOT NULL,
    amount              text,
    created_at          timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (connection_id, provider_payment_id, provider_invoice_id)
);

COMMENT ON TABLE ledgersync.paid_notices IS
    'The invoice.paid_in_provider webhooks sent for payments read back from the provider: one per payment and invoice.';
