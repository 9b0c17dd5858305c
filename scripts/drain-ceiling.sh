#!/usr/bin/env bash
# The drain's server-side ceiling (docs/performance.md, "The drain, measured again"): the
# queue's own statements, driven by pgbench instead of the Swift worker, so the client costs
# next to nothing. Two sessions, as `bench drain --procs 2`, each repeating
#   1. ledgersync.fetch_jobs(worker, 'default', BATCH, 60), its ids gathered with \gset;
#   2. complete_jobs.sql's UPDATE for those runs,
# each statement its own transaction, as a worker sends them. Prints jobs/s per round.
#
# DESTRUCTIVE: it empties ledgersync.jobs of the database it is given. Point it at a bench
# database only (scripts/bench.sh's, or the peers' pg-up.sh cluster), already migrated.
#
#   scripts/drain-ceiling.sh postgresql://postgres@127.0.0.1:25432/bench [N] [ROUNDS] [BATCH]
set -euo pipefail

dsn=${1:?usage: scripts/drain-ceiling.sh DSN [N] [ROUNDS] [BATCH]}
n=${2:-100000}
rounds=${3:-3}
batch=${4:-500}
(( n > 0 && rounds > 0 && batch > 0 )) || { echo "drain-ceiling: N, ROUNDS and BATCH must be positive" >&2; exit 2; }
(( n % (2 * batch) == 0 )) || { echo "drain-ceiling: N must be a multiple of 2 x BATCH ($((2 * batch)))" >&2; exit 2; }

script=$(mktemp)
trap 'rm -f "$script"' EXIT
# complete_jobs.sql's statement, with the gathered arrays as its two parameters.
cat >"$script" <<SQL
SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(run_id), '{}') AS rids
FROM ledgersync.fetch_jobs('drain-ceiling-' || :client_id, 'default', $batch, 60) \gset
UPDATE ledgersync.jobs AS j SET state = 'completed', finalized_at = now(), locked_by = NULL, lease_expires_at = NULL
FROM unnest(:ids::bigint[], :rids::bigint[]) AS done(id, run_id)
WHERE j.id = done.id AND j.run_id = done.run_id AND j.state = 'running';
SQL

for round in $(seq 1 "$rounds"); do
    psql "$dsn" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET client_min_messages = warning;
TRUNCATE ledgersync.jobs CASCADE;
DELETE FROM ledgersync.fetch_floors;
DELETE FROM ledgersync.fetch_floor_lowerings;
INSERT INTO ledgersync.jobs (kind, args, queue) SELECT 'diag.noop', '{}', 'default' FROM generate_series(1, $n);
CHECKPOINT;
VACUUM ANALYZE ledgersync.jobs;
SQL
    start=$(date +%s.%N)
    pgbench -n -M prepared -c 2 -j 2 -t $((n / (2 * batch))) -f "$script" "$dsn" >/dev/null
    end=$(date +%s.%N)
    done_jobs=$(psql "$dsn" -Atc "SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'")
    [ "$done_jobs" = "$n" ] || { echo "drain-ceiling: round $round completed $done_jobs of $n jobs" >&2; exit 1; }
    awk -v n="$n" -v s="$start" -v e="$end" -v r="$round" 'BEGIN { printf "round %d: %d jobs in %.2f s = %.0f jobs/s\n", r, n, e - s, n / (e - s) }'
done
