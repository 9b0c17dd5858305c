-- Ledgersync sync, migration 001: where the sync workers keep what they need to talk to an
-- accounting provider: the connections (credentials sealed), the mappings that turn billing
-- codes into provider items, the ids of every synced object, and the webhook endpoints.
--
-- Secrets are sealed by the application (AES-256-GCM, key from LEDGERSYNC_SECRET_KEY) before
-- they reach the database, so neither a dump, a replica nor a query log ever holds them in
-- clear. A `*_sealed` column reads `v1:<base64>`; without the key it is noise.

CREATE SCHEMA IF NOT EXISTS ledgersync;

-- One row per account at a provider. An installation may have many (several NetSuite
-- accounts, or sandbox and production side by side); jobs carry the connection id.
CREATE TABLE ledgersync.connections (
    -- A uuid, not a sequence: it appears in job args and in URLs, and must not be guessable
    -- nor collide when connections are copied between environments.
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    provider       text        NOT NULL,
    -- A human name for the connection ("NetSuite production").
    name           text        NOT NULL,
    -- The provider's account id (NetSuite: e.g. 1234567 or 1234567_SB1).
    account_id     text        NOT NULL,
    -- Non-secret configuration, readable by anyone with access to the table:
    --   default_subsidiary  text     the NetSuite subsidiary used when a customer has none
    --   objects_to_sync     text[]   which object types this connection syncs
    --   base_url            text     the provider's API root (the simulator stands in here)
    --   concurrency_limit   int ≥ 1  how many requests the account accepts at once
    settings       jsonb       NOT NULL DEFAULT '{}',
    -- Every secret (consumer key/secret, token id/secret) as ONE sealed JSON object.
    -- The database never sees them in clear; rotate by re-sealing the whole object.
    secrets_sealed text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT provider_known CHECK (provider IN ('netsuite', 'zoho_books')),
    CONSTRAINT name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT account_id_not_blank CHECK (btrim(account_id) <> ''),
    CONSTRAINT settings_is_object CHECK (jsonb_typeof(settings) = 'object'),
    CONSTRAINT concurrency_limit_positive CHECK (
        NOT settings ? 'concurrency_limit'
        OR (jsonb_typeof(settings -> 'concurrency_limit') = 'number'
            AND (settings ->> 'concurrency_limit')::numeric >= 1)),
    CONSTRAINT base_url_http CHECK (
        NOT settings ? 'base_url' OR settings ->> 'base_url' ~ '^https?://'),
    -- A guard against a caller storing secrets in clear: only sealed values are accepted.
    CONSTRAINT secrets_are_sealed CHECK (secrets_sealed LIKE 'v1:%')
);

COMMENT ON TABLE ledgersync.connections IS
    'One account at an accounting provider. settings holds non-secret config; secrets_sealed holds the credentials, encrypted by the application (AES-256-GCM).';

-- How billing codes become provider records, per connection (PROVIDERS.md 1.4). For a fee,
-- the workers look up: the one-to-one `item` for its code, else the `default_item` for its
-- kind, else the connection's `fallback_item`, else the job fails with invalid_mapping.
CREATE TABLE ledgersync.mappings (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connection_id uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    kind          text        NOT NULL,
    -- What is mapped, by kind:
    --   fallback_item  ''  (one per connection)
    --   default_item   subscription | minimum_commitment | coupon | credit_note | prepaid_credit
    --   item           a billable metric or add-on code
    --   tax            a billing tax code
    --   currency       an ISO 4217 code
    --   custom_field   a billing field or metadata key (with record_type)
    billing_key   text        NOT NULL,
    -- Only for custom_field: the NetSuite record type the field belongs to (e.g. invoice).
    record_type   text,
    -- The provider's internal id (item, tax code, currency) or the custom field id (custbody_x).
    provider_id   text        NOT NULL,
    provider_name text,
    -- The provider's income account for an item, when it has one.
    account_code  text,
    -- Extra data by kind; for tax: {"nexus": "...", "tax_type": "...", "tax_code": "...",
    -- "legacy_tax_item": "..."} (SuiteTax needs all three of nexus/type/code).
    details       jsonb       NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT kind_known CHECK (
        kind IN ('fallback_item', 'default_item', 'item', 'tax', 'currency', 'custom_field')),
    CONSTRAINT provider_id_not_blank CHECK (btrim(provider_id) <> ''),
    CONSTRAINT fallback_has_no_key CHECK (kind <> 'fallback_item' OR billing_key = ''),
    CONSTRAINT other_kinds_have_a_key CHECK (kind = 'fallback_item' OR btrim(billing_key) <> ''),
    CONSTRAINT default_item_key_known CHECK (
        kind <> 'default_item'
        OR billing_key IN ('subscription', 'minimum_commitment', 'coupon', 'credit_note', 'prepaid_credit')),
    CONSTRAINT record_type_only_for_custom_fields CHECK (
        (kind = 'custom_field') = (record_type IS NOT NULL AND btrim(record_type) <> '')),
    CONSTRAINT details_is_object CHECK (jsonb_typeof(details) = 'object')
);

-- One mapping per (connection, kind, key, record type): an upsert replaces it. record_type
-- is NULL for every kind but custom_field, hence the coalesce (NULLs would never collide).
CREATE UNIQUE INDEX mappings_one_per_key
    ON ledgersync.mappings (connection_id, kind, billing_key, (coalesce(record_type, '')));

COMMENT ON TABLE ledgersync.mappings IS
    'Per connection: billing code -> provider item/tax/currency/custom field. Resolution for a fee: item, then default_item, then fallback_item.';

-- The provider's id of every object the workers synced, so a retry updates instead of
-- creating twice and a payment can find its invoice. Readable by users: join on billing_id.
CREATE TABLE ledgersync.external_refs (
    connection_id uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    object_type   text        NOT NULL,
    -- The billing system's id of the object (customer id, invoice id, …).
    billing_id    text        NOT NULL,
    -- The provider's internal id (NetSuite internalId).
    provider_id   text        NOT NULL,
    synced_at     timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (connection_id, object_type, billing_id),
    CONSTRAINT object_type_known CHECK (
        object_type IN ('customer', 'invoice', 'sales_order', 'credit_memo', 'payment')),
    CONSTRAINT billing_id_not_blank CHECK (btrim(billing_id) <> ''),
    CONSTRAINT provider_id_not_blank CHECK (btrim(provider_id) <> '')
);

-- Inbound events (a payment at the provider) arrive with the provider's id.
CREATE INDEX external_refs_by_provider_id
    ON ledgersync.external_refs (connection_id, object_type, provider_id);

COMMENT ON TABLE ledgersync.external_refs IS
    'Billing id <-> provider internal id for every synced object, per connection and object type.';

-- Where Ledgersync sends its own webhooks (customer.accounting_provider_error, …), each
-- signed with HMAC-SHA256 under the endpoint's secret.
CREATE TABLE ledgersync.webhook_endpoints (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    url           text        NOT NULL,
    -- The signing secret, sealed like connections.secrets_sealed.
    secret_sealed text        NOT NULL,
    -- The event types this endpoint wants; NULL means every event.
    event_types   text[],
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT url_http CHECK (url ~ '^https?://'),
    CONSTRAINT secret_is_sealed CHECK (secret_sealed LIKE 'v1:%'),
    CONSTRAINT event_types_not_empty CHECK (event_types IS NULL OR cardinality(event_types) >= 1)
);

COMMENT ON TABLE ledgersync.webhook_endpoints IS
    'Receivers of Ledgersync webhooks. event_types NULL = all events; secret_sealed is encrypted by the application.';
