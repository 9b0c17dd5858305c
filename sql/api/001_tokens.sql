-- Ledgersync api, migration 001: the bearer tokens of the HTTP API.
--
-- A token is shown once, when `ledgersync tokens create` makes it, and only its SHA-256
-- is kept: a dump, a replica or a query log of this table cannot be replayed against the
-- API. Tokens are random (32 bytes), so an unsalted hash is enough; a slow password hash
-- would only make every request slower.

CREATE SCHEMA IF NOT EXISTS ledgersync;

CREATE TABLE ledgersync.api_tokens (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- For people: who or what holds the token ("billing-backend", "oncall laptop").
    name         text        NOT NULL,
    -- SHA-256 of the token's UTF-8 text.
    token_sha256 bytea       NOT NULL,
    -- The token's first characters (`lsk_` and 4 more), so people can tell tokens apart in
    -- a list; far too short to guess the rest from.
    hint         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Updated at most once a minute per token, so authentication is not a write per request.
    last_used_at timestamptz,
    revoked_at   timestamptz,

    CONSTRAINT name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT token_sha256_is_sha256 CHECK (octet_length(token_sha256) = 32)
);

-- Authentication looks a token up by its hash; unique, so two tokens can never collide.
CREATE UNIQUE INDEX api_tokens_sha256 ON ledgersync.api_tokens (token_sha256);
