-- Links billing object $3 of type $2 on connection $1 to the provider's existing record $4
-- (010_linked_refs.sql): 23505 when another billing object already has that record.
SELECT connection_id::text AS connection_id, object_type, billing_id, provider_id, customer_billing_id, synced_at, linked_at
FROM ledgersync.link_ref($1::uuid, $2::text, $3::text, $4::text)
