-- Ledgersync api, migration 002: what a token may do, how long it lives, and dashboard
-- sessions of their own.
--
-- Scopes: `read` (jobs, stats, metrics, external refs), `enqueue` (POST /v1/jobs and the
-- batch), `operate` (retry and cancel), `admin` (connections and their secrets, mappings,
-- webhook endpoints, inbound secrets, tokens; it includes every other scope). Which route
-- needs which is the OpenAPI document's `x-scopes` (scripts/openapi.py; docs/api.md).
--
-- Tokens made before this migration could do everything; they keep every scope, so an
-- upgrade breaks no client. Narrow them by creating scoped tokens and revoking the old ones
-- (`ledgersync tokens list` shows the scopes of each).

ALTER TABLE ledgersync.api_tokens
    ADD COLUMN scopes text[] NOT NULL DEFAULT ARRAY['read', 'enqueue', 'operate', 'admin'],
    -- NULL: the token lives until revoked.
    ADD COLUMN expires_at timestamptz,
    ADD CONSTRAINT scopes_known CHECK (scopes <@ ARRAY['read', 'enqueue', 'operate', 'admin']);
-- New tokens say what they may do: no default from here on.
ALTER TABLE ledgersync.api_tokens ALTER COLUMN scopes DROP DEFAULT;

-- A one-time sign-in link of the dashboard (`ledgersync dashboard link`). Only the SHA-256 of
-- its code is kept; the code dies when used or when it expires (minutes), whichever comes first.
CREATE TABLE ledgersync.dashboard_sign_in_codes (
    code_sha256 bytea       PRIMARY KEY,
    -- What the session it opens may do.
    scopes      text[]      NOT NULL,
    -- For people: who asked for the link (`--for oncall-alice`).
    label       text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,

    CONSTRAINT code_sha256_is_sha256 CHECK (octet_length(code_sha256) = 32),
    CONSTRAINT code_scopes_known CHECK (scopes <@ ARRAY['read', 'enqueue', 'operate', 'admin'])
);

-- A signed-in browser. The cookie holds a random session key; the table holds its SHA-256,
-- so a dump of this table opens no session. A session opened with an API token (the sign-in
-- form) dies with that token; one opened with a link lives until it expires or signs out.
CREATE TABLE ledgersync.dashboard_sessions (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_sha256 bytea       NOT NULL,
    scopes         text[]      NOT NULL,
    label          text        NOT NULL,
    token_id       bigint      REFERENCES ledgersync.api_tokens (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,

    CONSTRAINT session_sha256_is_sha256 CHECK (octet_length(session_sha256) = 32),
    CONSTRAINT session_scopes_known CHECK (scopes <@ ARRAY['read', 'enqueue', 'operate', 'admin'])
);

CREATE UNIQUE INDEX dashboard_sessions_sha256 ON ledgersync.dashboard_sessions (session_sha256);
-- Pruning expired sessions and codes (done on each sign-in) finds them by expiry.
CREATE INDEX dashboard_sessions_expires_at ON ledgersync.dashboard_sessions (expires_at);
CREATE INDEX dashboard_sign_in_codes_expires_at ON ledgersync.dashboard_sign_in_codes (expires_at);
