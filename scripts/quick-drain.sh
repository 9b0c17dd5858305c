#!/usr/bin/env bash
# A quick drain figure, until `ledgersync bench` (issue 5) exists: N no-op jobs
# pre-enqueued, P `ledgersync worker` processes with C slots each, timed from starting
# the processes (start-up included) to the first poll that finds no unfinished job.
# Runs R repetitions on a private cluster (scripts/pg.sh settings: fsync and
# synchronous_commit on) and prints each rate and the median.
#
#   scripts/quick-drain.sh            N=10000 P=2 C=100 R=3
#   N=20000 P=4 C=50 R=5 scripts/quick-drain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}; P=${P:-2}; C=${C:-100}; R=${R:-3}

scripts/install-deps.sh
swift build -c release --product ledgersync --scratch-path .build-release >/dev/null
BIN=.build-release/release/ledgersync

tmp=$(mktemp -d /tmp/ledgersync-drain.XXXXXX)
chmod 755 "$tmp"
cleanup() { scripts/pg.sh stop "$tmp/data" || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
ADMIN=$(scripts/pg.sh start "$tmp/data" $((57000 + RANDOM % 2000)))
export PGOPTIONS="-c client_min_messages=warning"
PSQL=(psql -qtAX -v ON_ERROR_STOP=1)

rates=()
for rep in $(seq "$R"); do
    "${PSQL[@]}" "$ADMIN" -c "DROP DATABASE IF EXISTS drain" -c "CREATE DATABASE drain" >/dev/null
    URL=${ADMIN%/postgres}/drain
    "$BIN" migrate --database-url "$URL" >/dev/null 2>&1
    "${PSQL[@]}" "$URL" -c "INSERT INTO ledgersync.jobs (kind) SELECT 'diag.noop' FROM generate_series(1, $N)" \
        -c "CHECKPOINT" -c "ANALYZE ledgersync.jobs" >/dev/null
    pids=()
    start=$(date +%s.%N)
    for _ in $(seq "$P"); do
        LOG_LEVEL=warning "$BIN" worker --database-url "$URL" --diagnostic-kinds --concurrency "$C" \
            --poll-interval 50ms 2>>"$tmp/workers.log" &
        pids+=($!)
    done
    while [ "$("${PSQL[@]}" "$URL" -c "SELECT EXISTS (SELECT 1 FROM ledgersync.jobs WHERE state <> 'completed')")" = t ]; do
        sleep 0.02
    done
    end=$(date +%s.%N)
    kill -TERM "${pids[@]}"; wait "${pids[@]}" || true
    rate=$(python3 -c "print(round($N / ($end - $start)))")
    rates+=("$rate")
    echo "run $rep: $N jobs, $P processes x $C slots: $rate jobs/s"
done
python3 -c "import statistics,sys; print('median:', round(statistics.median(map(int, sys.argv[1:]))), 'jobs/s')" "${rates[@]}"
