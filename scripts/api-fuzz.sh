#!/usr/bin/env bash
# Holds the running API to its OpenAPI document with schemathesis: every operation of
# docs/openapi.json gets generated valid and invalid requests; the run fails on any 5xx,
# any answer whose status, content type or body the document does not describe, and any
# schema-violating request the server accepts.
#
# positive_data_acceptance is left out: a schema cannot say "a kind some worker runs", "an
# existing connection" or NetSuite's tax-detail rules, so schema-valid requests that break
# them rightly get 422 (each such 422 names its field; BadInputTests covers them).
#
#   scripts/api-fuzz.sh [--max-examples N] [extra schemathesis args]
#
# Installs schemathesis into .venv-fuzz (gitignored), starts a private PostgreSQL cluster
# (scripts/pg.sh), migrates, creates a token, runs `ledgersync api` on 127.0.0.1, and stops
# everything on exit. Takes a few minutes; not part of scripts/test.sh (see docs/api.md).
set -euo pipefail
cd "$(dirname "$0")/.."

max_examples=25
if [[ "${1:-}" == "--max-examples" ]]; then max_examples=$2; shift 2; fi

scripts/install-deps.sh
venv=.venv-fuzz
if [[ ! -x $venv/bin/schemathesis ]] || ! "$venv/bin/python" -c 'import prometheus_client, openapi_spec_validator' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'schemathesis>=4,<5' openapi-spec-validator prometheus_client
fi
"$venv/bin/python" -c 'import json, sys; from openapi_spec_validator import validate; validate(json.load(open("docs/openapi.json"))); print("docs/openapi.json: valid OpenAPI 3.0")'

swift build
bin=$(swift build --show-bin-path)/ledgersync

work=$(mktemp -d /tmp/ledgersync-fuzz.XXXXXX)
chmod 755 "$work"
pg_port=$((22000 + RANDOM % 2000))
api_port=$((24000 + RANDOM % 2000))
api_pid=
cleanup() {
    [[ -n $api_pid ]] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
    scripts/pg.sh stop "$work/data" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

export DATABASE_URL=$(scripts/pg.sh start "$work/data" "$pg_port")
export LEDGERSYNC_SECRET_KEY=$("$venv/bin/python" -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
"$bin" migrate >/dev/null 2>&1
# Every scope, so every operation is reached past authorization (scopes are tested in
# Tests/APITests/AuthorizationTests.swift).
token=$("$bin" tokens create --name fuzz --scope read,enqueue,operate,admin 2>/dev/null)

# Something for the id routes to find besides generated ids.
"$bin" enqueue diag.noop --args '{}' >/dev/null

LOG_LEVEL=warning "$bin" api --port "$api_port" --diagnostic-kinds >"$work/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

# One worker: with two, schemathesis 4.32's coverage phase now and then dies inside CPython's
# ast module ("SystemError: AST constructor recursion depth mismatch", a different operation
# each run: threads parsing lambdas at once), which reports a Runtime Error that is not the
# API's. One worker passes the same seed cleanly and costs a few seconds.
status=0
"$venv/bin/schemathesis" run "http://127.0.0.1:$api_port/openapi.json" \
    --url "http://127.0.0.1:$api_port" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --exclude-checks positive_data_acceptance \
    --max-examples "$max_examples" \
    --phases examples,coverage,fuzzing \
    --workers 1 \
    --request-timeout 10 \
    --suppress-health-check all \
    --seed 4242 \
    "$@" || status=$?

# /metrics after the run, read by the reference parser (prometheus_client): it must parse,
# and its job counts must be the database's.
curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port/metrics" >"$work/metrics.txt"
psql "$DATABASE_URL" -Atc "SELECT state, kind, queue, count(*) FROM ledgersync.jobs GROUP BY 1, 2, 3" >"$work/counts.txt"
"$venv/bin/python" - "$work/metrics.txt" "$work/counts.txt" <<'PY' || status=1
import sys
from prometheus_client.parser import text_string_to_metric_families
metrics = {}
for family in text_string_to_metric_families(open(sys.argv[1]).read()):
    for sample in family.samples:
        if sample.name == "ledgersync_jobs":
            metrics[(sample.labels["state"], sample.labels["kind"], sample.labels["queue"])] = sample.value
database = {}
for line in open(sys.argv[2]).read().splitlines():
    state, kind, queue, count = line.rsplit("|", 3)[0].split("|", 1)[0], *line.split("|")[1:3], line.split("|")[-1]
    database[(state, kind, queue)] = float(count)
if metrics != database:
    sys.exit(f"/metrics and the database disagree: {metrics} vs {database}")
print(f"/metrics parses (prometheus_client) and matches the database: {len(database)} (state, kind, queue) groups")
PY

if grep -q "request failed" "$work/api.log"; then
    echo "==> the API logged failures:"; grep "request failed" "$work/api.log" | head -20
    status=1
fi
exit $status
