#!/usr/bin/env bash
# The test command: installs what is missing, builds, starts a throwaway PostgreSQL
# cluster in a temporary directory, runs every test against it, and stops it even when
# tests fail. Extra arguments go to one `swift test` (e.g. --filter Backoff); without any,
# the main job (scripts/demo.sh), the docs' examples, the deployment and API checks, the
# fuzzer and the dashboard's browser check run first, and the suite runs in three parts
# (see the end of this file).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then scripts/install-deps.sh --browser; else scripts/install-deps.sh; fi
python3 scripts/openapi.py --check
python3 scripts/embed-sql.py --check
# swift format with the committed .swift-format; a lint error fails the run (scripts/lint.sh --fix).
echo "==> swift format lint (scripts/lint.sh)"
scripts/lint.sh

swift build
bin_path=$(swift build --show-bin-path)

# A whole run (no arguments) also runs the main job (the README's first command) on a smaller
# month, so a change that breaks it fails here, and the checks below. Before the tests, so
# that their summary ends the output.
if [ $# -eq 0 ]; then
    echo "==> the main job on a 20-customer month (scripts/demo.sh)"
    demo_log=$(mktemp /tmp/ledgersync-demo-run.XXXXXX)
    LEDGERSYNC_DEMO_CUSTOMERS=20 scripts/demo.sh </dev/null >"$demo_log" 2>&1 || {
        cat "$demo_log"; echo "scripts/demo.sh failed" >&2; exit 1; }
    sed -n '/^==> checks/,$p' "$demo_log"
    rm -f "$demo_log"
    # The README's quick start and the docs' marked examples, run as written against a
    # throwaway cluster and the simulator (about 15 s).
    echo "==> the docs' examples (scripts/docs-check.py)"
    scripts/docs-check.py --bin "$bin_path/ledgersync"
    # The deployment files and the live API held to their specifications;
    # LEDGERSYNC_SKIP_API_FUZZ=1 skips the schemathesis run (about a minute).
    scripts/compose-check.py "$bin_path/ledgersync"
    if [[ -z ${LEDGERSYNC_SKIP_API_FUZZ:-} ]]; then scripts/api-fuzz.sh; fi
    # libFuzzer over the JSON reader and the document decoder, 30 s a target from the
    # committed corpus (about 90 s with its build); a crash fails the run.
    echo "==> fuzzing the JSON reader and the document decoder (scripts/fuzz.sh)"
    scripts/fuzz.sh "${LEDGERSYNC_FUZZ_SECONDS:-30}"
    # The dashboard in a real headless Chromium: one-time link, session cookie, the failed-jobs
    # page, its Retry button, checked in the database.
    echo "==> the dashboard in Chromium (scripts/dashboard-check.py)"
    scripts/dashboard-check.py --out "$(mktemp -d /tmp/ledgersync-dashboard-check.XXXXXX)"
fi

pgdir=$(mktemp -d /tmp/ledgersync-test-pg.XXXXXX)
# Below Linux's ephemeral range (32768-60999): a port there may be held by any outgoing
# connection, which no probe sees coming. The other scripts keep to their own ranges below it.
port=${LEDGERSYNC_TEST_PORT:-$((20000 + RANDOM % 2000))}
cleanup() { scripts/pg.sh stop "$pgdir/data" || true; rm -rf "$pgdir"; }
trap cleanup EXIT INT TERM
chmod 755 "$pgdir"
# The fast profile (no fsync): no test is about the server or the machine crashing.
export LEDGERSYNC_TEST_DATABASE_URL=$(LEDGERSYNC_PG_PROFILE=fast scripts/pg.sh start "$pgdir/data" "$port")
export LEDGERSYNC_BIN="$bin_path/ledgersync"
# The simulators, the webhook receivers and the API under test listen on 127.0.0.1; the
# tests of the private-network guard turn it on explicitly (docs/security.md).
export LEDGERSYNC_ALLOW_PRIVATE_NETWORK=1
# Webhook deliveries are verified by the `standardwebhooks` package from PyPI, not by our own
# code (Tests/APITests/WebhookSignatureTests.swift), in a gitignored venv made once.
verifier_venv=.venv-webhooks
if ! "$verifier_venv/bin/python" -c 'import standardwebhooks, cryptography' 2>/dev/null; then
    python3 -m venv "$verifier_venv"
    "$verifier_venv/bin/pip" install --quiet 'standardwebhooks>=1.0,<2' 'cryptography>=42'
fi
export LEDGERSYNC_WEBHOOK_VERIFIER_PYTHON="$PWD/$verifier_venv/bin/python"
echo "test cluster: $LEDGERSYNC_TEST_DATABASE_URL (data in $pgdir/data)"

# Not `exec`: the EXIT trap must still run and stop the cluster (an exec'd run left one
# PostgreSQL behind per filtered run). A failing `swift test` exits here with its status (set -e).
if [ $# -gt 0 ]; then swift test "$@"; exit 0; fi

# A whole run is three `swift test` runs, so that a test's timing is judged on a machine
# that is doing what the test expects, not whatever 60 other suites happen to do on 2 cores:
#  1. everything that is pure, in-process or database-only, all in parallel;
#  2. the tests that time HTTP and the worker pool (timeouts, leases, idle connections,
#     pool waits; the conformance runs, whose clients give up on a request after 5 s and
#     renew tokens, so that on a crowded machine late token answers count against Zoho's
#     10 tokens per 10 minutes), in parallel among themselves only;
#  3. the tests that start worker processes and the end-to-end suites, one suite at a time.
timing='HTTPClientTests\.|JobQueueTests\.WorkerPoolTests|JobQueueTests\.RunsTests|APITests\.ResourceLimitTests|PostgresTests\.PoolWaitTests|SimulatorTests\.NetSuiteSimulator(Concurrency|Fault)Tests|SimulatorTests\.NetSuiteConformanceTests|ZohoBooksTests\.ZohoBooksConformanceTests'
processes='EndToEndTests\.|JobQueueTests\.WorkerProcessTests|JobQueueTests\.RateWindowProcessTests'
swift build --build-tests
echo "==> tests, part 1 of 3: pure, in-process and database tests, in parallel"
swift test --skip-build --skip "$timing|$processes"
echo "==> tests, part 2 of 3: HTTP and worker-pool timing, on a machine doing nothing else"
swift test --skip-build --filter "$timing"
echo "==> tests, part 3 of 3: worker processes and end to end, one test at a time"
swift test --skip-build --no-parallel --filter "$processes"
