-- Ledgersync sync, migration 009: a job waiting for its customer or invoice holds no lane,
-- runs as soon as that exists, and fails promptly when it never will.
--
-- Until now such a job snoozed (sync 007): as an `available` job of its serial key (one
-- customer's lane) it blocked every later job of that customer, including the job it waited
-- for when that was enqueued later, until the 30 s fallback or --dependency-timeout. A wake
-- that raced the waiter's own snooze was lost.
--
-- Now the job PARKS on the key of what it waits for (queue migration 009):
--   sync:<connection id>:<customer|invoice>:<billing id>
-- It does not block the customer's lane while parked, and rejoins it (behind every job that
-- exists then) when the key is woken:
--   - by wake_dependency_waits below, called when the provider id of that customer or
--     invoice is recorded (the key is woken after the dependency_waits rows are cleared);
--   - by the trigger below, when the customer.sync / invoice.push (/ credit_memo.push) job
--     that would create it
--     fails for good or is cancelled: the waiter then runs, finds no unfinished job that
--     creates its dependency and the latest one failed, and fails at once, naming it
--     (ledgersync.await_dependency).
-- sync 007's dependency_waits stays: it is what the job views show ("waiting for invoice
-- inv_1 (invoice.push job 12)").

-- The wait key of a customer or invoice on a connection. The connection id is text, lower
-- case (as uuid::text writes it), so a key built from a job's args matches.
CREATE FUNCTION ledgersync.sync_wait_key(connection_id text, object_type text, billing_id text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT 'sync:' || lower(connection_id) || ':' || object_type || ':' || billing_id;
$$;

-- As in 007 (waits cleared, snoozed waiters of an older version moved to now), and the
-- object's wait key woken: parked waiters rejoin their lanes at once.
CREATE OR REPLACE FUNCTION ledgersync.wake_dependency_waits(connection_id uuid, object_type text, billing_id text)
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
        WHERE j.id = waits.job_id AND j.state IN ('available', 'retryable') AND j.run_at > now() AND j.wait_key IS NULL
        RETURNING j.queue
    )
    SELECT count(*)::integer, coalesce(array_agg(DISTINCT moved.queue), '{}') INTO woken, queues FROM moved;
    PERFORM pg_notify('ledgersync_jobs', q) FROM unnest(queues) AS q;
    RETURN woken + ledgersync.wake(ledgersync.sync_wait_key(connection_id::text, object_type, billing_id));
END;
$$;

-- The kind of job that creates a customer, invoice or credit memo, and the envelope its
-- document sits in (credit_memo.push: {"credit_note": {...}}). NULL for other types.
CREATE FUNCTION ledgersync.dependency_creator(object_type text, OUT kind text, OUT envelope text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE object_type WHEN 'customer' THEN 'customer.sync' WHEN 'invoice' THEN 'invoice.push'
                            WHEN 'credit_memo' THEN 'credit_memo.push' END,
           CASE object_type WHEN 'customer' THEN 'customer' WHEN 'invoice' THEN 'invoice'
                            WHEN 'credit_memo' THEN 'credit_note' END;
$$;

-- What job `job_id`, waiting for `object_type` `billing_id` on `connection_id`, should do:
--   awaited_job_id: the unfinished customer.sync / invoice.push / credit_memo.push that will
--     create it (the wait is recorded, as record_dependency_wait in 007 does); wait for it;
--   failed_job_id (+ failed_state, failed_reason): no unfinished job creates it, and the
--     latest one that tried failed for good or was cancelled: fail now, naming it (its
--     wait record is removed);
--   all NULL: nothing creates it (yet); wait, until the dependency timeout.
CREATE FUNCTION ledgersync.await_dependency(job_id bigint, connection_id uuid, object_type text, billing_id text)
RETURNS TABLE (awaited_job_id bigint, failed_job_id bigint, failed_state text, failed_reason text)
LANGUAGE plpgsql AS $$
#variable_conflict use_variable
DECLARE
    creator  record := ledgersync.dependency_creator(object_type);
    awaited  bigint;
    latest   record;
BEGIN
    awaited := ledgersync.record_dependency_wait(job_id, connection_id, object_type, billing_id);
    IF creator.kind IS NULL THEN
        RETURN QUERY SELECT awaited, NULL::bigint, NULL::text, NULL::text;
        RETURN;
    END IF;
    IF awaited IS NULL AND object_type NOT IN ('customer', 'invoice') THEN
        -- 007's record_dependency_wait knows customers and invoices only.
        SELECT j.id INTO awaited
        FROM ledgersync.jobs j
        WHERE j.kind = creator.kind
          AND j.state IN ('available', 'running', 'retryable')
          AND j.args->>'connection_id' = connection_id::text
          AND (j.args->creator.envelope->>'lago_id' = billing_id OR j.args->>'lago_id' = billing_id)
        ORDER BY j.id
        LIMIT 1;
        IF awaited IS NOT NULL THEN
            UPDATE ledgersync.dependency_waits w SET awaited_job_id = awaited, awaited_kind = creator.kind
            WHERE w.job_id = await_dependency.job_id;
        END IF;
    END IF;
    IF awaited IS NOT NULL THEN
        RETURN QUERY SELECT awaited, NULL::bigint, NULL::text, NULL::text;
        RETURN;
    END IF;
    SELECT j.id, j.state::text AS state, j.errors -> -1 ->> 'message' AS reason INTO latest
    FROM ledgersync.jobs j
    WHERE j.kind = creator.kind
      AND j.state IN ('completed', 'failed', 'cancelled')
      AND j.args->>'connection_id' = connection_id::text
      AND (j.args->creator.envelope->>'lago_id' = billing_id OR j.args->>'lago_id' = billing_id)
    ORDER BY j.id DESC
    LIMIT 1;
    IF latest.id IS NOT NULL AND latest.state IN ('failed', 'cancelled') THEN
        DELETE FROM ledgersync.dependency_waits w WHERE w.job_id = await_dependency.job_id;
        RETURN QUERY SELECT NULL::bigint, latest.id::bigint, latest.state::text, latest.reason::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT NULL::bigint, NULL::bigint, NULL::text, NULL::text;
END;
$$;

-- A customer.sync / invoice.push / credit_memo.push job failed for good or was cancelled:
-- wake the jobs parked on what it would have created, so they fail now instead of at their
-- timeout. A job whose args do not name a connection and an object is left alone (it never
-- created anything anyone waits for).
CREATE FUNCTION ledgersync.wake_waiters_of_ended_job() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    object_type text := CASE NEW.kind WHEN 'customer.sync' THEN 'customer' WHEN 'invoice.push' THEN 'invoice'
                                      WHEN 'credit_memo.push' THEN 'credit_memo' END;
    envelope    text := (ledgersync.dependency_creator(object_type)).envelope;
    billing_id  text;
    connection  text;
BEGIN
    IF object_type IS NULL OR jsonb_typeof(NEW.args) <> 'object' THEN
        RETURN NULL;
    END IF;
    connection := NEW.args->>'connection_id';
    billing_id := coalesce(NEW.args->envelope->>'lago_id', NEW.args->>'lago_id');
    IF connection IS NOT NULL AND billing_id IS NOT NULL AND billing_id <> '' THEN
        PERFORM ledgersync.wake(ledgersync.sync_wait_key(connection, object_type, billing_id));
    END IF;
    RETURN NULL;
END;
$$;

-- Fires only on those kinds entering failed/cancelled: the WHEN clause is evaluated per
-- updated row without calling anything, so the queue's hot path (claims, completions) pays
-- nothing measurable.
CREATE TRIGGER jobs_wake_waiters_of_ended_job
    AFTER UPDATE OF state ON ledgersync.jobs
    FOR EACH ROW
    WHEN (NEW.state IN ('failed', 'cancelled') AND OLD.state IS DISTINCT FROM NEW.state
          AND NEW.kind IN ('customer.sync', 'invoice.push', 'credit_memo.push'))
    EXECUTE FUNCTION ledgersync.wake_waiters_of_ended_job();
