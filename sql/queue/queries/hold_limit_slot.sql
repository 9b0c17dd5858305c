-- Keeps the limit slot of run ($1 id, $2 run id) held for $3 seconds after the run ends:
-- its request timed out at the client and the provider may still be working on it
-- (008_limit_holds.sql). Returns the end of the hold, NULL when nothing was held.
SELECT ledgersync.hold_limit_slot($1::bigint, $2::bigint, $3::double precision) AS held_until
