#!/usr/bin/env bash
# A demo of the queue alone, with the diagnostic job kinds (the main job, the NetSuite
# sync, is scripts/demo.sh).
#
#   scripts/queue-demo.sh
#
# Installs what is missing, builds, starts a private throwaway PostgreSQL cluster in a
# temporary directory (unless DATABASE_URL is set), migrates, starts two worker
# processes, enqueues a realistic mix of jobs from plain SQL, shows progress until the
# queue is drained, checks the serial-key and limit-key guarantees against what the
# workers recorded, and prints a summary with the failed jobs and their errors.
# Everything it started is stopped on exit and on Ctrl-C.
#
# Environment: as scripts/lib/demo-common.sh says. With DATABASE_URL the demo only touches
# the queue `demo` (and ledgersync_diag.runs), so the jobs of other queues are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-common.sh

# ---- settings ----------------------------------------------------------------------
queue=demo
noop_jobs=3000          # diag.noop: nothing to do; shows raw throughput
record_jobs=300         # diag.record, 5-24 ms each
serial_keys=8           # customers; each one's jobs must run one at a time, in order
serial_jobs_per_key=15
limit_key="netsuite:1234567"   # one NetSuite account that accepts 3 concurrent requests
limit_max=3
limit_jobs=60           # 100 ms each: at least 2 s at 3 at a time
fail_jobs=5             # diag.fail with max_attempts 3: fail three times, then for good
drain_timeout=75        # seconds


# ---- 1. install, build, database -------------------------------------------------------
install_and_build
start_database "only queue '$queue' is touched"

step "ledgersync migrate"
"$ledgersync" migrate

step "ledgersync limits set $limit_key $limit_max"
"$ledgersync" limits set "$limit_key" "$limit_max"

# ---- 3. workers -----------------------------------------------------------------------
step "starting 2 workers: ledgersync worker --diagnostic-kinds --concurrency 8 --queues $queue"
for n in 1 2; do
    start_bg "worker-$n" "$ledgersync" worker --diagnostic-kinds --concurrency 8 --queues "$queue" --grace-period 5s
done
wait_for_workers 2
echo "workers ${bg_pids[*]} running; logs in $workdir/worker-{1,2}.log"

# ---- 4. enqueue, from plain SQL as a billing system would -----------------------------
base_id=$(sql -c "SELECT coalesce(max(id), 0) FROM ledgersync.jobs")
started=$SECONDS
step "enqueueing from SQL (ledgersync.enqueue, ledgersync.enqueue_many)"
sql -v queue="$queue" -v noop="$noop_jobs" -v records="$record_jobs" -v keys="$serial_keys" \
    -v per_key="$serial_jobs_per_key" -v limit_key="$limit_key" -v limit_jobs="$limit_jobs" \
    -v fails="$fail_jobs" <<'SQL'
\echo -n '  diag.noop, priority 0-2, one enqueue_many call:                 '
SELECT count(*) || ' jobs' FROM ledgersync.enqueue_many(
    (SELECT jsonb_agg(jsonb_build_object('kind', 'diag.noop', 'queue', :'queue', 'priority', i % 3))
     FROM generate_series(1, :noop) AS i));

\echo -n '  diag.record, sleep_ms 5-24:                                     '
SELECT count(*) || ' jobs' FROM ledgersync.enqueue_many(
    (SELECT jsonb_agg(jsonb_build_object('kind', 'diag.record', 'queue', :'queue',
                                         'args', jsonb_build_object('sleep_ms', 5 + i % 20)))
     FROM generate_series(1, :records) AS i));

\echo -n '  diag.record, serial_key per customer (8 keys x 15, in turn):    '
SELECT count(*) || ' jobs' FROM ledgersync.enqueue_many(
    (SELECT jsonb_agg(jsonb_build_object('kind', 'diag.record', 'queue', :'queue',
                                         'serial_key', 'netsuite:1234567:customer:' || k,
                                         'args', jsonb_build_object('sleep_ms', 10, 'step', s))
                      ORDER BY s, k)
     FROM generate_series(1, :per_key) AS s, generate_series(1, :keys) AS k));

\echo -n '  diag.record with limit_key (limit set above), 100 ms each:      '
SELECT count(*) || ' jobs' FROM ledgersync.enqueue_many(
    (SELECT jsonb_agg(jsonb_build_object('kind', 'diag.record', 'queue', :'queue', 'limit_key', :'limit_key',
                                         'args', jsonb_build_object('sleep_ms', 100)))
     FROM generate_series(1, :limit_jobs) AS i));

\echo -n '  diag.fail with max_attempts 3:                                  '
SELECT count(*) || ' jobs' FROM generate_series(1, :fails) AS i,
    LATERAL ledgersync.enqueue('diag.fail', jsonb_build_object('n', i), queue => :'queue', max_attempts => 3);

\echo -n '  a job of a kind no worker runs (invoice.push):                  job '
SELECT ledgersync.enqueue('invoice.push', '{"invoice_id": "inv_1001"}', queue => :'queue');

\echo -n '  diag.record with bad args (sleep_ms is a string):               job '
SELECT ledgersync.enqueue('diag.record', '{"sleep_ms": "fast"}', queue => :'queue');

\echo -n '  diag.record scheduled 2 s ahead (run_at), priority 9:           job '
SELECT ledgersync.enqueue('diag.record', '{"sleep_ms": 1}', queue => :'queue', priority => 9,
                          run_at => now() + interval '2 seconds');

\echo -n '  the same unique_key enqueued twice (no duplicate):              jobs '
SELECT ledgersync.enqueue('diag.record', '{"invoice_id": "inv_42"}', queue => :'queue', unique_key => 'invoice:inv_42')
       || ' and ' ||
       ledgersync.enqueue('diag.record', '{"invoice_id": "inv_42"}', queue => :'queue', unique_key => 'invoice:inv_42');

-- The job exists if and only if the enqueueing transaction commits.
BEGIN;
SELECT ledgersync.enqueue('diag.record', '{}', queue => :'queue', unique_key => 'demo:rolled-back') \gset
ROLLBACK;
\echo -n '  enqueued inside a transaction that rolled back:                 '
SELECT count(*) || ' jobs exist' FROM ledgersync.jobs WHERE unique_key = 'demo:rolled-back';
SQL

# What each kind should end as.
expected_completed=$((noop_jobs + record_jobs + serial_keys * serial_jobs_per_key + limit_jobs + 2))
expected_failed=$((fail_jobs + 2))
total=$((expected_completed + expected_failed))

# ---- 5. progress ---------------------------------------------------------------------
step "progress (every second until nothing is available, running or retryable; timeout ${drain_timeout}s)"
drained=false
while :; do
    line=$(sql -v queue="$queue" -v base="$base_id" <<'SQL'
SELECT string_agg(s.state || ' ' || coalesce(c.n, 0), '  ' ORDER BY s.ord)
       || '|' || coalesce(sum(c.n) FILTER (WHERE s.state IN ('available', 'running', 'retryable')), 0)
FROM unnest(enum_range(NULL::ledgersync.job_state)) WITH ORDINALITY AS s(state, ord)
LEFT JOIN (SELECT state, count(*) AS n FROM ledgersync.jobs
           WHERE queue = :'queue' AND id > :base GROUP BY state) AS c USING (state);
SQL
)
    printf '  %3ss  %s\n' "$((SECONDS - started))" "${line%|*}"
    if [ "${line##*|}" = 0 ]; then drained=true; break; fi
    [ $((SECONDS - started)) -lt "$drain_timeout" ] || break
    check_bg
    sleep 1
done
elapsed=$((SECONDS - started))

# ---- 6. stop the workers (SIGTERM), as a deploy would -----------------------------------
step "stopping the workers (SIGTERM)"
pids=("${bg_pids[@]}")
stop_bg
for n in 1 2; do
    wait "${pids[$((n - 1))]}" && code=0 || code=$?
    echo "  worker $n exited $code: $(grep -o 'worker stopped' "$workdir/worker-$n.log" || echo 'no "worker stopped" line')"
done

# ---- 7. summary ------------------------------------------------------------------------
step "summary: ledgersync jobs stats"
"$ledgersync" jobs stats

step "summary: counts by state (queue $queue)"
sql -v queue="$queue" -v base="$base_id" <<'SQL'
SELECT format('  %-10s %s', state, count(*)) FROM ledgersync.jobs
WHERE queue = :'queue' AND id > :base GROUP BY state ORDER BY state;
SQL
echo "  ($total jobs in $elapsed s)"

step "checks, from what the workers recorded in ledgersync_diag.runs"
checks=$(sql -v queue="$queue" -v base="$base_id" -v limit_key="$limit_key" -v limit_max="$limit_max" \
    -v completed="$expected_completed" -v failed="$expected_failed" <<'SQL'
WITH mine AS (
    SELECT * FROM ledgersync.jobs WHERE queue = :'queue' AND id > :base
), runs AS (
    SELECT r.* FROM ledgersync_diag.runs r JOIN mine ON mine.id = r.job_id
), limit_overlap AS (
    -- the most runs of the limit key in progress at the start of any one of them
    SELECT coalesce(max(n), 0) AS most FROM (
        SELECT count(*) AS n FROM runs a
        JOIN runs b ON b.limit_key = a.limit_key AND b.started_at <= a.started_at AND b.finished_at > a.started_at
        WHERE a.limit_key = :'limit_key' GROUP BY a.job_id) AS x
), serial AS (
    SELECT count(*) FILTER (WHERE started_at < prev_finished) AS overlapping,
           count(*) FILTER (WHERE started_at < prev_started) AS out_of_order
    FROM (SELECT started_at,
                 lag(finished_at) OVER w AS prev_finished,
                 lag(started_at) OVER w AS prev_started
          FROM runs WHERE serial_key IS NOT NULL
          WINDOW w AS (PARTITION BY serial_key ORDER BY job_id)) AS x
)
SELECT format('  %s completed: %s (expected %s)', ok1, c, :completed) || E'\n' ||
       format('  %s failed: %s (expected %s: diag.fail, unknown kind, bad args)', ok2, f, :failed) || E'\n' ||
       format('  %s limit key %s: at most %s ran at once (limit %s)', ok3, :'limit_key', most, :limit_max) || E'\n' ||
       format('  %s serial keys: %s overlapping runs, %s out of enqueue order', ok4, overlapping, out_of_order) || E'\n' ||
       format('  %s every diag.record job recorded exactly once: %s runs for %s completed jobs', ok5, runs_n, rec_n)
       || '|' || (ok1 || ok2 || ok3 || ok4 || ok5 = 'okokokokok')
FROM (SELECT count(*) FILTER (WHERE state = 'completed') AS c,
             count(*) FILTER (WHERE state = 'failed') AS f,
             count(*) FILTER (WHERE state = 'completed' AND kind = 'diag.record') AS rec_n
      FROM mine) AS counts,
     limit_overlap, serial,
     (SELECT count(*) AS runs_n FROM runs) AS r,
     LATERAL (SELECT CASE WHEN c = :completed THEN 'ok' ELSE 'NO' END AS ok1,
                     CASE WHEN f = :failed THEN 'ok' ELSE 'NO' END AS ok2,
                     CASE WHEN most <= :limit_max THEN 'ok' ELSE 'NO' END AS ok3,
                     CASE WHEN overlapping = 0 AND out_of_order = 0 THEN 'ok' ELSE 'NO' END AS ok4,
                     CASE WHEN runs_n = rec_n THEN 'ok' ELSE 'NO' END AS ok5) AS verdict;
SQL
)
echo "${checks%|*}"

step "summary: ledgersync jobs list --state failed --queue $queue"
"$ledgersync" jobs list --state failed --queue "$queue" --newer-than "$((SECONDS - started + 3))s"

failed_id=$(sql -v queue="$queue" -v base="$base_id" <<'SQL'
SELECT min(id) FROM ledgersync.jobs WHERE queue = :'queue' AND id > :base AND kind = 'diag.fail' AND state = 'failed';
SQL
)
if [ -n "$failed_id" ]; then
    step "summary: ledgersync jobs show $failed_id"
    "$ledgersync" jobs show "$failed_id"
fi

echo
if [ "$drained" = true ] && [ "${checks##*|}" = true ]; then
    succeeded=true
    echo "demo finished: $total jobs in ${elapsed}s, every check passed."
    echo "Replay a failure with: ledgersync jobs retry <id>   (see docs/operations.md)"
else
    [ "$drained" = true ] || echo "the queue did not drain within ${drain_timeout}s" >&2
    echo "demo finished with failed checks" >&2
    exit 1
fi
