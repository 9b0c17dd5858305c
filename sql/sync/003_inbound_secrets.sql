-- Ledgersync sync, migration 003: the secrets that authenticate a provider's inbound events.
--
-- A NetSuite account (a workflow or SuiteScript on a customer payment) POSTs payment events
-- to /v1/inbound/netsuite/<connection>/payments, signed with HMAC-SHA256 of the body under
-- its connection's inbound secret. One secret per connection, so a leaked one lets nobody
-- speak for another account, and rotating it touches one integration. Sealed like every
-- other secret (v1:<base64>, key LEDGERSYNC_SECRET_KEY).

CREATE TABLE ledgersync.inbound_secrets (
    connection_id uuid        PRIMARY KEY REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    secret_sealed text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE ledgersync.inbound_secrets IS
    'Per connection: the sealed HMAC-SHA256 secret its provider signs inbound events with.';
