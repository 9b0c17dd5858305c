-- Creates the cursor of connection $1's record type $2 at now() minus $3 seconds (a first
-- poll reads what changed from a little before it started; the provider's clock may lag),
-- unless it exists.
INSERT INTO ledgersync.change_cursors (connection_id, object_type, modified_since)
VALUES ($1::uuid, $2, now() - make_interval(secs => $3::double precision))
ON CONFLICT (connection_id, object_type) DO NOTHING
