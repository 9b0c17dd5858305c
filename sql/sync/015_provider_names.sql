-- Ledgersync sync, migration 015: which providers exist is the application's business, not the table's.
--
-- Each accounting provider is a module with a driver that the executable registers
-- (docs/architecture.md, "The provider seam"); a new provider must not need a migration to be
-- stored. The column keeps a shape check (the names drivers use: lower-case letters, digits,
-- underscores), so a typo in hand-written SQL is still refused here; a name no driver of the
-- running executable knows fails the connection's jobs with invalid_config naming it.
ALTER TABLE ledgersync.connections DROP CONSTRAINT provider_known;
ALTER TABLE ledgersync.connections
    ADD CONSTRAINT provider_name_shape CHECK (provider ~ '^[a-z][a-z0-9_]{0,39}$');
