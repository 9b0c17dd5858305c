-- Connection $1's change events after event id $2, of object type $3 (NULL: all), id
-- ascending, at most $4.
SELECT id, object_type, provider_id, external_id, billing_id, change, modified_at, number, amount, currency,
       record::text AS record, applications::text AS applications, created_at
FROM ledgersync.change_events
WHERE connection_id = $1::uuid AND id > $2::bigint AND ($3::text IS NULL OR object_type = $3)
ORDER BY id
LIMIT $4::integer
