-- Ledgersync queue, migration 001: the job table, its states, and the indexes that
-- serve each hot statement (fetch, serial check, limit count, rescue, prune).
--
-- One table holds every job. A job moves through these states (docs/job-states.md):
--
--   available ──fetch──► running ──complete──► completed
--       ▲                  │  │
--       │ (run_at passes)  │  └──fail (attempts used up, or permanent error)──► failed
--       └── retryable ◄────┘                                   cancel ──► cancelled
--
-- `retryable` is a job waiting out its backoff; fetch takes it once run_at has passed,
-- exactly as it takes `available`, so no scheduler process has to move it. A scheduled
-- job is `available` with a future run_at.

CREATE SCHEMA IF NOT EXISTS ledgersync;

CREATE TYPE ledgersync.job_state AS ENUM (
    'available',
    'running',
    'retryable',
    'completed',
    'failed',
    'cancelled'
);

CREATE TABLE ledgersync.jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state            ledgersync.job_state NOT NULL DEFAULT 'available',
    -- Lower runs sooner: 0 is the most urgent, 9 the least.
    priority         smallint    NOT NULL DEFAULT 0,
    -- How many times the job has been started (the current run's number while running).
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 20,
    run_at           timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempted_at     timestamptz,
    finalized_at     timestamptz,
    -- While running: the worker that holds the job and when its lease runs out unless
    -- the worker's heartbeat extends it.
    lease_expires_at timestamptz,
    locked_by        text,
    queue            text        NOT NULL DEFAULT 'default',
    kind             text        NOT NULL,
    -- While a job with this key is available, running or retryable, enqueueing another
    -- with the same key returns the existing job instead.
    unique_key       text,
    -- Jobs sharing a serial key run one at a time, in id (enqueue) order.
    serial_key       text,
    -- Jobs sharing a limit key run at most concurrency_limits.max_running at once,
    -- across every worker process.
    limit_key        text,
    args             jsonb       NOT NULL DEFAULT '{}',
    -- One object per attempt that did not complete: at, attempt, class, message, code, worker.
    errors           jsonb       NOT NULL DEFAULT '[]',

    CONSTRAINT kind_not_blank CHECK (kind <> ''),
    CONSTRAINT queue_not_blank CHECK (queue <> ''),
    CONSTRAINT priority_in_range CHECK (priority BETWEEN 0 AND 9),
    CONSTRAINT max_attempts_positive CHECK (max_attempts >= 1),
    CONSTRAINT attempt_not_negative CHECK (attempt >= 0),
    CONSTRAINT args_is_object CHECK (jsonb_typeof(args) = 'object'),
    CONSTRAINT errors_is_array CHECK (jsonb_typeof(errors) = 'array'),
    CONSTRAINT finalized_at_iff_finished
        CHECK ((finalized_at IS NOT NULL) = (state IN ('completed', 'failed', 'cancelled'))),
    CONSTRAINT lease_iff_running
        CHECK ((state = 'running') = (locked_by IS NOT NULL AND lease_expires_at IS NOT NULL))
)
-- Free space on each page lets the new row version of a state change land on the same
-- page. (Such updates are never HOT: state is in every partial index's predicate.)
-- Vacuum early and without pauses: a queue table churns all day.
WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);

-- Fetch: the runnable jobs of a queue in the order they must run. Partial, so finished
-- jobs (the bulk of the table) are not in it and fetch cost stays flat as they pile up.
CREATE INDEX jobs_fetch ON ledgersync.jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'retryable');

-- Serial keys: "is an earlier job of this key still unfinished?"
CREATE INDEX jobs_serial ON ledgersync.jobs (serial_key, id)
    WHERE serial_key IS NOT NULL AND state IN ('available', 'running', 'retryable');

-- Limit keys: "how many jobs of this key are running, and is any waiting?"
CREATE INDEX jobs_limit ON ledgersync.jobs (limit_key, state)
    WHERE limit_key IS NOT NULL AND state IN ('available', 'running', 'retryable');

-- Rescue: running jobs by lease deadline. Only running jobs have a lease (CHECK
-- lease_iff_running), but the predicate is deliberately not `state = 'running'`: the
-- planner would then drive every result statement (`… AND state = 'running'`) from this
-- index, trusting statistics taken when few jobs ran, and join it row by row against the
-- batch (seen: 7 s for 3,000 results). Without it, they go through the primary key.
CREATE INDEX jobs_lease ON ledgersync.jobs (lease_expires_at)
    WHERE lease_expires_at IS NOT NULL;

-- Unique keys: at most one unfinished job per key. INSERT … ON CONFLICT on this index is
-- what makes concurrent enqueues of one key safe without locks.
CREATE UNIQUE INDEX jobs_unique_key ON ledgersync.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable');

-- Pruning and listing finished jobs by age.
CREATE INDEX jobs_finalized ON ledgersync.jobs (state, finalized_at)
    WHERE finalized_at IS NOT NULL;

-- Defaults per job kind, written by workers when they start, so a job enqueued from SQL
-- without max_attempts gets its kind's default.
CREATE TABLE ledgersync.job_kinds (
    kind         text PRIMARY KEY,
    max_attempts integer NOT NULL CHECK (max_attempts >= 1),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Concurrency limits per limit key (for example one NetSuite account). 0 pauses the key.
-- A limit key with no row here is not limited.
CREATE TABLE ledgersync.concurrency_limits (
    limit_key   text PRIMARY KEY,
    max_running integer NOT NULL CHECK (max_running >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
