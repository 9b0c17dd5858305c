-- Connection $1's token row, locked until the transaction ends: the lock every process
-- takes before asking the provider for a token, so only one does (013_provider_tokens.sql).
-- The row is inserted first (insert_provider_token_row.sql) so there is always one to lock.
SELECT access_token_sealed, expires_at, connection_version, issued_at
FROM ledgersync.provider_tokens
WHERE connection_id = $1::uuid
FOR UPDATE
