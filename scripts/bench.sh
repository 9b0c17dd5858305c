#!/usr/bin/env bash
# Ledgersync against its peers (PgQueuer's best configuration and Procrastinate), in ONE run
# on ONE throwaway cluster, alternating the systems inside every repetition so that noise on
# this shared machine spreads over all of them; then a table of medians with the ratio
# Ledgersync / best peer for each figure (scripts/bench_summary.py). docs/performance.md has
# the latest figures and how to read them.
#
#   scripts/bench.sh                 # 3 repetitions
#   REPS=5 scripts/bench.sh
#   ONLY='drain' scripts/bench.sh    # only runs whose label matches the regex
#   ONLY='monthend' scripts/bench.sh # only the month-end runs (NetSuite and Zoho Books)
#
# Settings (environment):
#   REPS=3              repetitions
#   OUT=<tmp>/bench.jsonl   where the tagged RESULT lines go (kept after the run)
#   PEERS_DIR           the peer harness to copy (default ../shared/bench/peers next to the repo)
#   PORT=55433          port of the throwaway cluster (its settings: the peers' pg-up.sh)
#   SKIP_BUILD=1        use the release binary already built
#   ONLY / SKIP         regexes over run labels ("ledgersync drain 100000 2 100 0", …)
#
# The peers' code is copied to .bench-peers/ (gitignored) with its own venv; nothing of it is
# committed. Do not build or run anything heavy meanwhile (the peers' RESULTS.md shows what a
# concurrent Swift build does to fsync-bound figures).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-3}
PORT=${PORT:-55433}
ONLY=${ONLY:-.}
SKIP=${SKIP:-}
PEERS_DIR=${PEERS_DIR:-}
if [ -z "$PEERS_DIR" ]; then
    for candidate in "$ROOT/../shared/bench/peers" /work/shared/bench/peers; do
        [ -f "$candidate/qbench.py" ] && PEERS_DIR=$candidate && break
    done
fi
[ -n "$PEERS_DIR" ] && [ -f "$PEERS_DIR/qbench.py" ] || { echo "bench.sh: peer harness not found; set PEERS_DIR" >&2; exit 1; }

tmp=$(mktemp -d /tmp/ledgersync-bench.XXXXXX)
chmod 755 "$tmp"
OUT=${OUT:-$tmp/bench.jsonl}
PGDATA_DIR=$tmp/pg

# --bench: gnuplot too, for the month-end run's PNG.
scripts/install-deps.sh --bench >/dev/null
if [ -z "${SKIP_BUILD:-}" ]; then
    swift build -c release --product ledgersync >&2
fi
BIN=$(swift build -c release --show-bin-path)/ledgersync
[ -x "$BIN" ] || { echo "bench.sh: no release binary at $BIN" >&2; exit 1; }

# The peers' harness, writable, with its venv (the shared copy is read-only).
PEERS=$ROOT/.bench-peers
mkdir -p "$PEERS"
for f in qbench.py bench_pgqueuer.py bench_procrastinate.py setup.sh pg-up.sh pg-down.sh requirements.lock.txt; do
    cp "$PEERS_DIR/$f" "$PEERS/$f"
done
chmod u+w "$PEERS"/*
"$PEERS/setup.sh" >&2

cleanup() { "$PEERS/pg-down.sh" "$PGDATA_DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM
"$PEERS/pg-up.sh" "$PGDATA_DIR" "$PORT" >&2
# The simulators listen on 127.0.0.1 (docs/security.md: outgoing requests to private networks).
export LEDGERSYNC_ALLOW_PRIVATE_NETWORK=1
export BENCH_DSN=postgresql://postgres@127.0.0.1:$PORT/bench
PY=$PEERS/.venv/bin/python

# A transaction held open on its own session (psql) around a command, as a reporting query or
# a forgotten session would: `BEGIN; SELECT txid_current();` runs BEFORE the command starts, so
# before the harness empties the queue and enqueues, and ends after it. The command's RESULT
# lines get "held_xmin": true (Ledgersync's own --hold-xmin says it itself).
held() { # cmd...
    local fifo=$tmp/hold.fifo rc=0
    rm -f "$fifo"; mkfifo "$fifo"
    psql -q -At -v ON_ERROR_STOP=1 "$BENCH_DSN" <"$fifo" >"$tmp/hold.out" 2>&1 &
    local psql_pid=$!
    exec 7>"$fifo"
    echo "BEGIN; SELECT txid_current();" >&7
    for _ in $(seq 100); do [ -s "$tmp/hold.out" ] && break; sleep 0.05; done
    [ -s "$tmp/hold.out" ] || { echo "bench.sh: the holding session did not start" >&2; exec 7>&-; return 1; }
    "$@" | sed -u 's/^RESULT {/RESULT {"held_xmin": true, /' || rc=$?
    echo "ROLLBACK;" >&7
    exec 7>&-
    wait "$psql_pid" || true
    return $rc
}

run() { # label rep cmd...
    local label=$1 rep=$2; shift 2
    [[ $label =~ $ONLY ]] || return 0
    if [[ -n $SKIP && $label =~ $SKIP ]]; then return 0; fi
    echo "--- rep $rep: $label" >&2
    "$@" 2>>"$tmp/stderr.log" | sed -n 's/^RESULT //p' | while read -r l; do
        echo "{\"rep\": $rep, \"ts\": \"$(date -u +%FT%TZ)\", ${l#\{}" | tee -a "$OUT"
    done
}

(cd "$PEERS" && $PY bench_pgqueuer.py setup >/dev/null 2>&1 && $PY bench_procrastinate.py setup >/dev/null)
L="$BIN bench"
PQ="$PY $PEERS/bench_pgqueuer.py"
PR="$PY $PEERS/bench_procrastinate.py"
for r in $(seq "$REPS"); do
    # Each figure: the three systems back to back, so they see the same machine.
    for n in 20000 100000; do
        run "ledgersync enqueue swift $n" "$r" $L enqueue --n $n --mode swift --chunk 1000
        run "pgqueuer enqueue bulk $n" "$r" $PQ enqueue --n $n --mode bulk --chunk 1000
        run "ledgersync enqueue sql $n" "$r" $L enqueue --n $n --mode sql --chunk 1000
        run "procrastinate enqueue bulk $n" "$r" $PR enqueue --n $n --mode bulk --chunk 1000
    done
    for cfg in "5000 1" "10000 8"; do set -- $cfg
        run "ledgersync enqueue single $2" "$r" $L enqueue --n $1 --mode single --conc $2
        run "pgqueuer enqueue single $2" "$r" $PQ enqueue --n $1 --mode single --conc $2
        run "procrastinate enqueue single $2" "$r" $PR enqueue --n $1 --mode single --conc $2
    done
    # Drain: both systems at the same two batch sizes (Ledgersync's slots per process are the
    # most jobs one fetch claims, PgQueuer's batch_size the same), the best of each counts.
    for n in 20000 100000; do
        for b in 100 500; do
            run "ledgersync drain $n 2 $b 0" "$r" $L drain --n $n --procs 2 --slots $b --log "$tmp/workers.log"
            run "pgqueuer drain $n 2 1 $b" "$r" $PQ drain --n $n --procs 2 --qms 1 --batch $b
        done
    done
    # Drain while another session holds a transaction open from before the enqueue to the
    # end (queue migration 014; docs/performance.md "A long transaction held open"), beside
    # the same drain without it.
    run "ledgersync drain 100000 2 500 0 held" "$r" $L drain --n 100000 --procs 2 --slots 500 --hold-xmin --log "$tmp/workers.log"
    run "pgqueuer drain 100000 2 1 500 held" "$r" held $PQ drain --n 100000 --procs 2 --qms 1 --batch 500
    run "procrastinate drain 20000 2 10" "$r" $PR drain --n 20000 --procs 2 --conc 10
    run "ledgersync drain 100000 2 500 1000000" "$r" $L drain --n 100000 --procs 2 --slots 500 --finished 1000000 --log "$tmp/workers.log"
    run "ledgersync latency" "$r" $L latency --jobs 200
    run "pgqueuer latency" "$r" $PQ latency --jobs 200
    run "procrastinate latency" "$r" $PR latency --jobs 200
    run "ledgersync sync" "$r" $L sync --n 1000 --procs 4 --limit 5 --latency-ms 50 --log "$tmp/sync-workers.log"
    # Month-end (docs/performance.md "Month-end run"): 2,000 documents to NetSuite at limit 5 with
    # log-normal request times (median 400 ms, p99 2 s; ~3.5 min), and 200 to Zoho Books at 100
    # requests a minute (~2–3 min). The per-second series and PNG go next to $OUT, one folder a rep.
    run "ledgersync monthend netsuite 2000" "$r" $L monthend netsuite --n 2000 --limit 5 --procs 2 \
        --plot-dir "$(dirname "$OUT")/monthend-rep$r" --log "$tmp/monthend-workers.log"
    run "ledgersync monthend zoho 200" "$r" $L monthend zoho --n 200 --limit 5 --window 100 --window-seconds 60 --procs 2 \
        --plot-dir "$(dirname "$OUT")/monthend-rep$r" --log "$tmp/monthend-workers.log"
done

echo >&2
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ); results in $OUT" >&2
python3 scripts/bench_summary.py "$OUT"
