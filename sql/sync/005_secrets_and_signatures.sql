-- Ledgersync sync, migration 005: secrets bound to their rows under a key id, webhook secrets
-- that can be rotated, and replay protection for inbound provider events (issue 11).
--
-- Sealed values now read `v2:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`: AES-256-GCM whose
-- associated data names the table, the row and the column ("ledgersync.connections|<id>|
-- secrets_sealed"), so a sealed value copied into another row or column no longer opens, and
-- whose key id (8 hex digits derived from the key) says which key sealed it, so a keyring can
-- open values sealed under the previous key while `ledgersync secrets rotate-key` re-seals
-- them. `v1:` values (one key, no associated data) still open until rotation re-seals them.

ALTER TABLE ledgersync.connections DROP CONSTRAINT secrets_are_sealed;
ALTER TABLE ledgersync.connections ADD CONSTRAINT secrets_are_sealed
    CHECK (secrets_sealed LIKE 'v1:%' OR secrets_sealed ~ '^v2:[0-9a-f]{8}:');

ALTER TABLE ledgersync.webhook_endpoints DROP CONSTRAINT secret_is_sealed;
ALTER TABLE ledgersync.webhook_endpoints ADD CONSTRAINT secret_is_sealed
    CHECK (secret_sealed LIKE 'v1:%' OR secret_sealed ~ '^v2:[0-9a-f]{8}:');

ALTER TABLE ledgersync.inbound_secrets ADD CONSTRAINT secret_is_sealed
    CHECK (secret_sealed LIKE 'v1:%' OR secret_sealed ~ '^v2:[0-9a-f]{8}:');

-- Rotating an endpoint's signing secret keeps the previous one signing beside the new one
-- (two signatures in webhook-signature) until previous_secret_expires_at, so the receiver
-- can switch to the new secret at any moment of the overlap without refusing a delivery.
ALTER TABLE ledgersync.webhook_endpoints
    ADD COLUMN previous_secret_sealed     text,
    ADD COLUMN previous_secret_expires_at timestamptz,
    ADD CONSTRAINT previous_secret_is_sealed
        CHECK (previous_secret_sealed IS NULL OR previous_secret_sealed ~ '^v2:[0-9a-f]{8}:'),
    ADD CONSTRAINT previous_secret_has_an_end
        CHECK ((previous_secret_sealed IS NULL) = (previous_secret_expires_at IS NULL));

-- The ids of the inbound messages accepted in the last few minutes, per connection: a
-- message whose id is here is a replay and is refused. A message older than 5 minutes is
-- refused by its timestamp, so rows older than that (plus a margin for clock skew between
-- API processes) are pruned by the API as it accepts new ones.
CREATE TABLE ledgersync.inbound_seen_messages (
    connection_id     uuid        NOT NULL REFERENCES ledgersync.connections (id) ON DELETE CASCADE,
    message_id        text        NOT NULL,
    -- The sender's webhook-timestamp.
    message_timestamp timestamptz NOT NULL,
    seen_at           timestamptz NOT NULL DEFAULT now(),

    PRIMARY KEY (connection_id, message_id),
    CONSTRAINT message_id_length CHECK (length(message_id) BETWEEN 1 AND 200)
);

CREATE INDEX inbound_seen_messages_by_age ON ledgersync.inbound_seen_messages (seen_at);

COMMENT ON TABLE ledgersync.inbound_seen_messages IS
    'Ids of inbound provider messages accepted recently (replay protection); pruned after 15 minutes.';

-- One sealed known value, so every process can tell at start-up whether its key opens this
-- database's secrets (a wrong key refuses to start instead of failing every job it touches)
-- and which key id the database expects.
CREATE TABLE ledgersync.secret_key_check (
    singleton  boolean     PRIMARY KEY DEFAULT true,
    sealed     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT one_row CHECK (singleton),
    CONSTRAINT check_is_sealed CHECK (sealed ~ '^v2:[0-9a-f]{8}:')
);

COMMENT ON TABLE ledgersync.secret_key_check IS
    'A sealed known value: processes open it at start-up to check LEDGERSYNC_SECRET_KEY.';
