-- The enabled webhook endpoints that list event type $1 in their event types (an endpoint
-- for every event, with none listed, does not get the success events: docs/sync-status.md).
-- Ids only: the delivery job opens the signing secret when it sends.
SELECT id::text AS id FROM ledgersync.webhook_endpoints
WHERE NOT disabled AND $1::text = ANY (event_types)
ORDER BY created_at, id
