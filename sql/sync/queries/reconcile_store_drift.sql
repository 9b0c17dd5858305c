-- Stores drift rows of run $1 from parallel arrays (positions, kinds, object types, billing
-- ids, numbers, provider ids, fields, expected, actual, expected/actual minor units, actions,
-- repairable).
INSERT INTO ledgersync.reconcile_drift
    (run_id, position, kind, object_type, billing_id, document_number, provider_id, field, expected, actual,
     expected_minor, actual_minor, action, repairable)
SELECT $1::bigint, x.*
FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
            $11::bigint[], $12::bigint[], $13::text[], $14::boolean[])
     AS x (position, kind, object_type, billing_id, document_number, provider_id, field, expected, actual,
           expected_minor, actual_minor, action, repairable)
