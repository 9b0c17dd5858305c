-- Ledgersync sync, migration 007: a job waiting for a dependency says what it waits for,
-- and wakes when that arrives.
--
-- A sync job whose customer or invoice is not at the provider yet snoozes (30 s, no
-- attempt used) until the job that creates it has run. The snooze stored no reason, so the
-- job showed as `available` with no error, and it slept out its 30 s even when the
-- dependency arrived a moment later. Now the job records its wait here before it snoozes
-- (ledgersync.record_dependency_wait), and whoever records the provider id of a customer
-- or invoice wakes the jobs waiting for it (ledgersync.wake_dependency_waits): their
-- run_at becomes now and workers are notified, as for an enqueue. The 30 s snooze stays
-- the fallback (a wake that races the waiter's own snooze being stored finds it still
-- running and changes nothing).

CREATE TABLE ledgersync.dependency_waits (
    job_id         bigint      PRIMARY KEY,   -- no foreign key: pruning the job ends nothing here
    connection_id  uuid        NOT NULL,
    object_type    text        NOT NULL,      -- customer, invoice
    billing_id     text        NOT NULL,
    -- The unfinished job that will create the object, when one is queued.
    awaited_job_id bigint,
    awaited_kind   text,
    since          timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX dependency_waits_object ON ledgersync.dependency_waits (connection_id, object_type, billing_id);

-- Records that job `job_id` waits for `object_type` `billing_id` on `connection_id`, with
-- the unfinished job that will create it (customer.sync / invoice.push of that object on
-- that connection), and returns that job's id (NULL when none is queued). Waits of jobs
-- that are no longer waiting are cleared on the way: the table stays as small as the
-- number of waiting jobs.
CREATE FUNCTION ledgersync.record_dependency_wait(job_id bigint, connection_id uuid, object_type text, billing_id text)
RETURNS bigint
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    awaited_kind text := CASE object_type WHEN 'customer' THEN 'customer.sync' WHEN 'invoice' THEN 'invoice.push' END;
    awaited      bigint;
BEGIN
    DELETE FROM ledgersync.dependency_waits w
    WHERE NOT EXISTS (SELECT 1 FROM ledgersync.jobs j
                      WHERE j.id = w.job_id AND j.state IN ('available', 'running', 'retryable'));
    IF awaited_kind IS NOT NULL THEN
        SELECT j.id INTO awaited
        FROM ledgersync.jobs j
        WHERE j.kind = awaited_kind
          AND j.state IN ('available', 'running', 'retryable')
          AND j.args->>'connection_id' = connection_id::text
          AND (j.args->object_type->>'lago_id' = billing_id OR j.args->>'lago_id' = billing_id)
        ORDER BY j.id
        LIMIT 1;
    END IF;
    INSERT INTO ledgersync.dependency_waits AS w (job_id, connection_id, object_type, billing_id, awaited_job_id, awaited_kind)
    VALUES (job_id, connection_id, object_type, billing_id, awaited, CASE WHEN awaited IS NULL THEN NULL ELSE awaited_kind END)
    ON CONFLICT ON CONSTRAINT dependency_waits_pkey DO UPDATE
        SET connection_id = excluded.connection_id, object_type = excluded.object_type, billing_id = excluded.billing_id,
            awaited_job_id = excluded.awaited_job_id, awaited_kind = excluded.awaited_kind,
            since = CASE WHEN w.object_type = excluded.object_type AND w.billing_id = excluded.billing_id
                         THEN w.since ELSE now() END;
    RETURN awaited;
END;
$$;

-- Wakes the jobs waiting for `object_type` `billing_id` on `connection_id`: their waits are
-- removed and, if they are snoozed, they run now. Returns how many were woken.
CREATE FUNCTION ledgersync.wake_dependency_waits(connection_id uuid, object_type text, billing_id text)
RETURNS integer
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    woken integer;
    queues text[];
BEGIN
    WITH waits AS (
        DELETE FROM ledgersync.dependency_waits w
        WHERE w.connection_id = connection_id AND w.object_type = object_type AND w.billing_id = billing_id
        RETURNING w.job_id
    ), moved AS (
        UPDATE ledgersync.jobs j SET run_at = now()
        FROM waits
        WHERE j.id = waits.job_id AND j.state IN ('available', 'retryable') AND j.run_at > now()
        RETURNING j.queue
    )
    SELECT count(*)::integer, coalesce(array_agg(DISTINCT moved.queue), '{}') INTO woken, queues FROM moved;
    -- Workers listen on this channel for new work (queue migration 002).
    PERFORM pg_notify('ledgersync_jobs', q) FROM unnest(queues) AS q;
    RETURN woken;
END;
$$;
