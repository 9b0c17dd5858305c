-- Whether job $1 was inserted by the current transaction: after ledgersync.enqueue, tells a
-- new job from the one that already held the unique key. A row's xmin is the transaction
-- that wrote its current version; an existing job was written (or last updated) by another.
-- pg_current_xact_id() gives this transaction an id if the enqueue inserted nothing, which
-- is then no row's xmin.
SELECT (xmin::text = (pg_current_xact_id()::xid)::text) AS created
FROM ledgersync.jobs
WHERE id = $1::bigint
