-- The cursor of connection $1's record type $2 (no row: never polled). `FOR UPDATE` when
-- read inside the poll's transaction.
SELECT modified_since, array_to_json(seen_ids)::text AS seen_ids, polled_at, last_error
FROM ledgersync.change_cursors
WHERE connection_id = $1::uuid AND object_type = $2
FOR UPDATE
