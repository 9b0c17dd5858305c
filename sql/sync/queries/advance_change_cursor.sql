-- Moves the cursor of connection $1's record type $2 to $3 with the provider ids $4 read at
-- exactly that time, after a page was written; clears its error.
UPDATE ledgersync.change_cursors
SET modified_since = $3::timestamptz, seen_ids = $4::text[], polled_at = now(), last_error = NULL, updated_at = now()
WHERE connection_id = $1::uuid AND object_type = $2
