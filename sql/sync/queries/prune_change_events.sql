-- Deletes change events of connection $1 stored more than $2 seconds ago, looking at its
-- oldest $3 events only (change_events_by_connection, so the statement reads at most $3 index
-- entries however many events the connection has); returns nothing. Events are numbered in
-- the order they were stored, so the oldest ids are the oldest rows: when none of those is
-- old enough, none is.
--
-- Run by a poll that has caught up, so the table keeps what the retention keeps
-- (ChangePollOptions.eventRetention, 90 days by default) and no more, a bounded batch per
-- poll. Safe for the echo rule and for "created" vs "updated": a cursor never reads that far
-- back. paid_notices (one row per payment and invoice: what keeps a paid invoice from being
-- told twice) are not pruned.
WITH oldest AS (
    SELECT id, created_at FROM ledgersync.change_events
    WHERE connection_id = $1::uuid
    ORDER BY id
    LIMIT $3::integer
)
DELETE FROM ledgersync.change_events AS e
USING oldest
WHERE e.id = oldest.id AND oldest.created_at < now() - make_interval(secs => $2::double precision)
