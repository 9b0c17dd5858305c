#!/usr/bin/env bash
# The test command: installs what is missing, builds, starts a throwaway PostgreSQL
# cluster in a temporary directory, runs every test against it, and stops it even when
# tests fail. Extra arguments go to `swift test` (e.g. --filter Backoff).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
python3 scripts/openapi.py --check
python3 scripts/embed-sql.py --check

swift build
bin_path=$(swift build --show-bin-path)

pgdir=$(mktemp -d /tmp/ledgersync-test-pg.XXXXXX)
port=${LEDGERSYNC_TEST_PORT:-$((56000 + RANDOM % 4000))}
cleanup() { scripts/pg.sh stop "$pgdir/data" || true; rm -rf "$pgdir"; }
trap cleanup EXIT INT TERM
chmod 755 "$pgdir"
export LEDGERSYNC_TEST_DATABASE_URL=$(scripts/pg.sh start "$pgdir/data" "$port")
export LEDGERSYNC_BIN="$bin_path/ledgersync"
echo "test cluster: $LEDGERSYNC_TEST_DATABASE_URL (data in $pgdir/data)"

swift test "$@"

# The whole suite (no arguments) also holds the deployment files and the live API to their
# specifications; LEDGERSYNC_SKIP_API_FUZZ=1 skips the schemathesis run (about a minute).
if [[ $# -eq 0 ]]; then
    scripts/compose-check.py "$LEDGERSYNC_BIN"
    if [[ -z ${LEDGERSYNC_SKIP_API_FUZZ:-} ]]; then scripts/api-fuzz.sh; fi
fi
