-- Of one page of provider records of type $2 on connection $1 that carry an external id
-- ($3 provider ids, $4 their external ids, same order), those no billing object here is:
-- no ref of that type has the record's provider id. `known_billing_id` says whether the
-- external id is nonetheless a billing id known here (a duplicate of a synced object)
-- rather than one Ledgersync never saw.
SELECT x.provider_id, x.external_id,
       (EXISTS (SELECT 1 FROM ledgersync.sync_status s
                WHERE s.connection_id = $1::uuid AND s.object_type = $2::text AND s.billing_id = x.external_id)
        OR EXISTS (SELECT 1 FROM ledgersync.external_refs r
                   WHERE r.connection_id = $1::uuid AND r.object_type = $2::text AND r.billing_id = x.external_id))
           AS known_billing_id
FROM unnest($3::text[], $4::text[]) AS x (provider_id, external_id)
WHERE NOT EXISTS (
        SELECT 1 FROM ledgersync.external_refs r
        WHERE r.connection_id = $1::uuid AND r.object_type = $2::text AND r.provider_id = x.provider_id)
