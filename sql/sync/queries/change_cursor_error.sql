-- Records the error of a failed poll of connection $1's record type $2 ($3, NULL after a
-- good poll that read nothing new).
UPDATE ledgersync.change_cursors
SET polled_at = now(), last_error = $3, updated_at = now()
WHERE connection_id = $1::uuid AND object_type = $2
