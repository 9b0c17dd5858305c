-- Ledgersync sync, migration 019: the results of generic record actions (issue 15).
--
-- A `record.action` job (create, get, update, upsert or delete of any record type at the
-- provider, or a query such as SuiteQL) stores what the provider answered here, one row per
-- job, so the API (`GET /v1/jobs/{id}`, `?wait=`) and the CLI can show it after the job ended
-- and job retention pruned nothing it needs. The result is bounded: at most 1 MiB of JSON
-- (RecordActionJob refuses to store more and fails the job, naming the limit); a failed
-- action keeps its error message instead. Rows go with their connection.

CREATE TABLE ledgersync.record_action_results (
    job_id        bigint      PRIMARY KEY,
    connection_id uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    action        text        NOT NULL,
    record_type   text,
    succeeded     boolean     NOT NULL,
    result        jsonb,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT record_action_results_action_known CHECK (
        action IN ('create', 'get', 'update', 'upsert', 'delete', 'query')),
    CONSTRAINT record_action_results_result_bounded CHECK (result IS NULL OR octet_length(result::text) <= 1048576 + 1024),
    CONSTRAINT record_action_results_error_bounded CHECK (error IS NULL OR length(error) <= 2000)
);

CREATE INDEX record_action_results_connection ON ledgersync.record_action_results (connection_id, created_at);
