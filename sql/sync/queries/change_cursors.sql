-- Where connection $1's change polls stand, per record type.
SELECT object_type, modified_since, polled_at, last_error
FROM ledgersync.change_cursors
WHERE connection_id = $1::uuid
ORDER BY object_type
