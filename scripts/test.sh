#!/usr/bin/env bash
# The test command: installs what is missing, builds, starts a throwaway PostgreSQL
# cluster in a temporary directory, runs every test against it, and stops it even when
# tests fail. Extra arguments go to `swift test` (e.g. --filter Backoff); without any, the
# main job (scripts/demo.sh) runs first on a small month.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
python3 scripts/openapi.py --check
python3 scripts/embed-sql.py --check

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
fi

pgdir=$(mktemp -d /tmp/ledgersync-test-pg.XXXXXX)
port=${LEDGERSYNC_TEST_PORT:-$((56000 + RANDOM % 4000))}
cleanup() { scripts/pg.sh stop "$pgdir/data" || true; rm -rf "$pgdir"; }
trap cleanup EXIT INT TERM
chmod 755 "$pgdir"
export LEDGERSYNC_TEST_DATABASE_URL=$(scripts/pg.sh start "$pgdir/data" "$port")
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

swift test "$@"
