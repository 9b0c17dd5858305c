-- Removes the link of billing object $3 of type $2 on connection $1 (010_linked_refs.sql);
-- provider_id is NULL when it had no linked ref.
SELECT ledgersync.unlink_ref($1::uuid, $2::text, $3::text) AS provider_id
