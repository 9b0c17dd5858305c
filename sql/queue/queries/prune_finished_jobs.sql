-- Retention: delete up to $4 finished jobs older than their state's retention
-- ($1 seconds for completed, $2 for cancelled, $3 for failed). Bounded, so one run never
-- holds many locks or one long transaction; the pruner repeats while it deletes a full batch.
DELETE FROM ledgersync.jobs
WHERE id IN (
    SELECT id
    FROM ledgersync.jobs
    WHERE (state = 'completed' AND finalized_at < now() - make_interval(secs => $1::double precision))
       OR (state = 'cancelled' AND finalized_at < now() - make_interval(secs => $2::double precision))
       OR (state = 'failed'    AND finalized_at < now() - make_interval(secs => $3::double precision))
    LIMIT $4::integer
    FOR UPDATE SKIP LOCKED
)
