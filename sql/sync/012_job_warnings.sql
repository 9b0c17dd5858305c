-- Ledgersync sync, migration 012: warnings a sync job leaves on a write that succeeded.
--
-- A job that completes can still have done something someone must look at: today, lines
-- of a document put on the connection's fallback_item (no item mapping for their code and
-- no default item for their kind; PROVIDERS.md 1.4), which an accountant must re-class by
-- hand. The sync job writes one row per job and code after its provider write succeeded
-- (code `fallback_item`); the job views (`ledgersync jobs show`, GET /v1/jobs/{id}, the
-- dashboard) show them and /metrics counts them (ledgersync_job_warnings).
--
-- A warning is about the latest write of a billing object: a later job for the same object
-- on the same connection replaces the warnings of the same code left by earlier ones (and
-- a run that no longer warns removes them), so the count is of objects that still need a
-- look, not of history. Rows go with their job: ON DELETE CASCADE, so pruning
-- (prune_finished_jobs.sql, a bounded DELETE) removes them through the primary key index.

CREATE TABLE ledgersync.job_warnings (
    job_id        bigint      NOT NULL REFERENCES ledgersync.jobs (id) ON DELETE CASCADE,
    code          text        NOT NULL CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    message       text        NOT NULL CHECK (length(message) BETWEEN 1 AND 4000),
    count         integer     NOT NULL CHECK (count >= 1),
    connection_id uuid        NOT NULL,
    object_type   text        NOT NULL,
    billing_id    text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, code)
);

-- The earlier warnings of an object, found when a later job writes it.
CREATE INDEX job_warnings_object ON ledgersync.job_warnings (connection_id, object_type, billing_id, code);
