-- Makes sure connection $1 has a token row to lock (013_provider_tokens.sql). A missing
-- connection fails with a foreign key violation (23503). An insert racing another
-- transaction's waits for it, then does nothing.
INSERT INTO ledgersync.provider_tokens (connection_id) VALUES ($1::uuid)
ON CONFLICT (connection_id) DO NOTHING
