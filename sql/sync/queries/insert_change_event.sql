-- Stores one change read back; nothing when the same change (connection, object type,
-- provider id, modification time) is stored already. `change` is `created` for the first
-- event of a record created at or after $13 (where the poll started reading), else
-- `updated`. Returns the new row.
INSERT INTO ledgersync.change_events
    (connection_id, object_type, provider_id, external_id, billing_id, change, modified_at, number, amount, currency, record,
     applications)
SELECT $1::uuid, $2, $3, $4, $5,
       CASE WHEN ($12::timestamptz IS NULL OR $12::timestamptz >= $13::timestamptz)
                 AND NOT EXISTS (SELECT 1 FROM ledgersync.change_events AS e
                                 WHERE e.connection_id = $1::uuid AND e.object_type = $2 AND e.provider_id = $3)
            THEN 'created' ELSE 'updated' END,
       $6::timestamptz, $7, $8, $9, $10::jsonb, $11::jsonb
ON CONFLICT ON CONSTRAINT change_event_once DO NOTHING
RETURNING id, change, created_at
