-- Makes sure every (connection, record type) opted into reading changes back
-- (settings.read_changes; `paid_invoices` is read from the payments) has its
-- `changes.poll` job. The unique key makes this a no-op for those that have one, so every
-- worker runs it on start and on its timer. Returns how many (connection, record type)
-- pairs are opted in.
SELECT count(ledgersync.enqueue(
           'changes.poll',
           jsonb_build_object('connection_id', c.id::text, 'object_type', p.object_type),
           unique_key => 'changes:' || c.id::text || ':' || p.object_type,
           limit_key => c.provider || ':' || c.id::text))::bigint AS polls
FROM ledgersync.connections AS c
CROSS JOIN LATERAL (
    SELECT DISTINCT CASE WHEN t = 'paid_invoices' THEN 'payment' ELSE t END AS object_type
    FROM jsonb_array_elements_text(
        CASE WHEN jsonb_typeof(c.settings -> 'read_changes') = 'array' THEN c.settings -> 'read_changes' ELSE '[]'::jsonb END) AS t
    WHERE t IN ('paid_invoices', 'customer', 'invoice', 'sales_order', 'credit_memo', 'payment')
) AS p
