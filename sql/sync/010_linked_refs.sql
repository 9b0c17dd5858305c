-- Ledgersync sync, migration 010: a billing object can be linked to a record that already
-- exists at the provider, and a sync never overwrites the link.
--
-- A row put in external_refs by hand was ignored: customer.sync upserted by the billing id
-- (PUT …/customer/eid:<lago_id>), created a second customer, and replaced the ref with the
-- new one's id. Now a ref made by ledgersync.link_ref (or `ledgersync refs link`, or
-- PUT /v1/connections/{id}/refs/{object_type}/{billing_id}) carries linked_at; the workers
-- write a linked object by its internal id (PATCH …/<type>/<internalId>) and keep the ref's
-- provider_id as linked. docs/linking.md tells the whole story.

ALTER TABLE ledgersync.external_refs ADD COLUMN linked_at timestamptz;

COMMENT ON COLUMN ledgersync.external_refs.linked_at IS
    'Set when a person linked the billing object to an existing provider record (ledgersync.link_ref); a sync then updates that record by its internal id and never replaces provider_id. NULL for refs the workers recorded.';

-- Two billing objects linked to one provider record would overwrite each other there; the
-- functions below refuse it with a message, this index makes it hold under concurrency.
CREATE UNIQUE INDEX external_refs_one_link_per_provider_id
    ON ledgersync.external_refs (connection_id, object_type, provider_id)
    WHERE linked_at IS NOT NULL;

-- Links billing object `billing_id` of `object_type` on `connection_id` to the provider's
-- existing record `provider_id` (NetSuite's internal id). Replaces the object's earlier ref
-- (synced or linked). Refused with 23505 when another billing object of the same connection
-- and type already has that provider id (linked or synced): both would write one record.
-- Jobs waiting for the object (an invoice waiting for its customer) are woken. Returns the
-- ref as stored.
CREATE FUNCTION ledgersync.link_ref(connection_id uuid, object_type text, billing_id text, provider_id text)
RETURNS ledgersync.external_refs
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    other  text;
    linked ledgersync.external_refs;
BEGIN
    IF connection_id IS NULL OR NOT EXISTS (SELECT 1 FROM ledgersync.connections c WHERE c.id = connection_id) THEN
        RAISE EXCEPTION 'ledgersync.link_ref: no connection %', coalesce(connection_id::text, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    IF object_type IS NULL OR object_type NOT IN ('customer', 'invoice', 'sales_order', 'credit_memo', 'payment') THEN
        RAISE EXCEPTION 'ledgersync.link_ref: object_type must be one of customer, invoice, sales_order, credit_memo, payment; got %',
            coalesce(quote_literal(left(object_type, 40)), 'NULL') USING ERRCODE = '22023';
    END IF;
    IF nullif(btrim(billing_id), '') IS NULL THEN
        RAISE EXCEPTION 'ledgersync.link_ref: billing_id must not be empty' USING ERRCODE = '22023';
    END IF;
    -- NetSuite's internal ids are numbers; anything else would end up in a URL path.
    IF provider_id IS NULL OR btrim(provider_id) !~ '^[0-9]{1,18}$' THEN
        RAISE EXCEPTION 'ledgersync.link_ref: provider_id must be the provider''s internal id (digits), got %',
            coalesce(quote_literal(left(provider_id, 40)), 'NULL') USING ERRCODE = '22023';
    END IF;
    billing_id := btrim(billing_id);
    provider_id := btrim(provider_id);

    -- Serialises links of one provider record, so two concurrent links cannot both pass the
    -- check below (the unique index covers linked refs; this covers synced ones too).
    PERFORM pg_advisory_xact_lock(hashtextextended(connection_id::text || '/' || object_type || '/' || provider_id, 0));
    SELECT r.billing_id INTO other FROM ledgersync.external_refs r
    WHERE r.connection_id = connection_id AND r.object_type = object_type AND r.provider_id = provider_id
      AND r.billing_id <> billing_id
    ORDER BY r.linked_at DESC NULLS LAST, r.billing_id
    LIMIT 1;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'ledgersync.link_ref: % % is already the provider record of % % on this connection; unlink that one first',
            object_type, provider_id, object_type, quote_literal(left(other, 100)) USING ERRCODE = '23505';
    END IF;

    INSERT INTO ledgersync.external_refs AS r (connection_id, object_type, billing_id, provider_id, linked_at)
    VALUES (connection_id, object_type, billing_id, provider_id, now())
    ON CONFLICT ON CONSTRAINT external_refs_pkey
    DO UPDATE SET provider_id = EXCLUDED.provider_id, linked_at = now(), synced_at = now()
    RETURNING r.* INTO linked;

    IF object_type IN ('customer', 'invoice') THEN
        PERFORM ledgersync.wake_dependency_waits(connection_id, object_type, billing_id);
    END IF;
    RETURN linked;
END;
$$;

COMMENT ON FUNCTION ledgersync.link_ref(uuid, text, text, text) IS
    'Links a billing object to an existing provider record (internal id); later syncs update that record by id. Refuses (23505) a provider id another billing object of the connection and type already has.';

-- Removes the link of a billing object; returns the provider id it had, NULL when the object
-- had no linked ref (a ref the workers recorded is left alone: it is not a link). After an
-- unlink the next sync writes by external id again, as for any object.
CREATE FUNCTION ledgersync.unlink_ref(connection_id uuid, object_type text, billing_id text)
RETURNS text
LANGUAGE sql AS $$
    DELETE FROM ledgersync.external_refs r
    WHERE r.connection_id = $1 AND r.object_type = $2 AND r.billing_id = btrim($3) AND r.linked_at IS NOT NULL
    RETURNING r.provider_id
$$;

COMMENT ON FUNCTION ledgersync.unlink_ref(uuid, text, text) IS
    'Removes the link of a billing object (only a linked ref); returns the provider id it had, NULL when there was none.';
