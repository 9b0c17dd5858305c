-- The sync kinds as ledgersync.sync_kinds describes them (014_sync_kinds.sql), in their
-- order, the arrays as JSON: for SyncKindDescription.stored, which SyncKindTests compares
-- with Swift's.
SELECT kind, object_type, creates,
       to_jsonb(envelopes)::text AS envelopes, to_jsonb(customer_paths)::text AS customer_paths,
       to_jsonb(invoice_paths)::text AS invoice_paths, to_jsonb(depends_on)::text AS depends_on
FROM ledgersync.sync_kinds
ORDER BY position
