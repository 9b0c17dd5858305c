-- Forgets connection $1's token after the provider refused it, under the row lock, once the
-- caller checked the stored token is still the refused one (013_provider_tokens.sql).
UPDATE ledgersync.provider_tokens
SET access_token_sealed = NULL, invalidated_at = now()
WHERE connection_id = $1::uuid
