-- The provider id of $2 (customer, invoice) $3 on connection $1 was just recorded: the jobs
-- waiting for it run now (007_dependency_waits.sql). Returns how many were woken.
SELECT ledgersync.wake_dependency_waits($1::uuid, $2::text, $3::text) AS woken
