-- The changes of one page read back ($1 connection, $2 object type, $3 provider ids,
-- $4 external ids, $5 modification times, $6 the connection's limit key, $7 and $8 the
-- seconds before and after a change in which a write of Ledgersync's makes it its own),
-- in input order: the billing id and customer when the record is one Ledgersync synced,
-- and whether the change is Ledgersync's own write (docs/changes.md, "the echo rule"):
--   - a payment whose external id or provider id is a payment ref of this connection;
--   - a change of a record of ours (external id or provider id in the refs) when Ledgersync
--     recorded a write of that record, or of an object of its customer, from $7 seconds
--     before to $8 seconds after the change's modification time (the provider's clock);
--   - a change whose external id is mentioned by an unfinished sync job of the connection
--     (a job between its provider write and recording the ref; a payment applied to an
--     invoice, an invoice's currency added to its customer).
SELECT c.ord::bigint AS ord,
       r.billing_id,
       CASE WHEN $2 = 'customer' THEN r.billing_id ELSE r.customer_billing_id END AS customer_billing_id,
       CASE
           WHEN $2 = 'payment' AND r.billing_id IS NOT NULL THEN true
           WHEN r.billing_id IS NOT NULL AND EXISTS (
               SELECT 1 FROM ledgersync.external_refs AS o
               WHERE o.connection_id = $1::uuid
                 AND o.synced_at BETWEEN c.modified_at - make_interval(secs => $7::double precision)
                                     AND c.modified_at + make_interval(secs => $8::double precision)
                 AND ((o.object_type = $2 AND o.billing_id = r.billing_id)
                      OR (CASE WHEN $2 = 'customer' THEN r.billing_id ELSE r.customer_billing_id END) IN (o.customer_billing_id,
                          CASE WHEN o.object_type = 'customer' THEN o.billing_id END)))
               THEN true
           WHEN coalesce(c.external_id, r.billing_id) IS NOT NULL AND EXISTS (
               SELECT 1 FROM ledgersync.jobs AS j
               WHERE j.limit_key = $6
                 AND j.state IN ('available', 'running', 'retryable')
                 AND j.kind <> 'changes.poll'
                 AND strpos(j.args::text, to_jsonb(coalesce(r.billing_id, c.external_id))::text) > 0)
               THEN true
           ELSE false
       END AS own
FROM unnest($3::text[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS c(provider_id, external_id, modified_at, ord)
LEFT JOIN LATERAL (
    SELECT x.billing_id, x.customer_billing_id
    FROM ledgersync.external_refs AS x
    WHERE x.connection_id = $1::uuid AND x.object_type = $2
      AND (x.billing_id = c.external_id OR x.provider_id = c.provider_id)
    ORDER BY (x.billing_id = c.external_id) DESC, x.synced_at DESC
    LIMIT 1
) AS r ON true
ORDER BY c.ord
