-- Every connection (id, name, provider) with whether it has a stored reconciliation, by name:
-- the dashboard's reconciliation page.
SELECT c.id::text AS id, c.name, c.provider,
       EXISTS (SELECT 1 FROM ledgersync.reconcile_runs r WHERE r.connection_id = c.id) AS reconciled
FROM ledgersync.connections c
ORDER BY c.name, c.id
