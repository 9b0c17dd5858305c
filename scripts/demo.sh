#!/usr/bin/env bash
# The main job: a billing month synced to NetSuite and to Zoho Books (the simulators), end to end.
#
#   scripts/demo.sh
#
# Installs what is missing, builds, starts a private throwaway PostgreSQL cluster (unless
# DATABASE_URL is set), migrates, starts the NetSuite simulator (with 5% injected faults and
# an account limit of 5 concurrent requests), a webhook receiver standing in for the billing
# system, and two workers; then enqueues a billing month the way a billing system would
# (`ledgersync.enqueue_sync`, from its own transactions) with five bad documents on purpose,
# shows progress every second, and ends with a summary: what was synced, what failed and why,
# the webhooks the billing system received, checks of the guarantees, and the address of the
# dashboard (`ledgersync api`). Run from a terminal, it then keeps everything up until Ctrl-C;
# otherwise (CI, scripts/test.sh) it exits. Everything it started is stopped on the way out.
#
# Environment (besides those of scripts/lib/demo-common.sh):
#   LEDGERSYNC_DEMO_CUSTOMERS   customers in the month (default 60, 4 invoices each)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-common.sh

customers=${LEDGERSYNC_DEMO_CUSTOMERS:-60}
account_limit=5
drain_timeout=240   # seconds
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[k]
print(d)' "$@"; }
http_get() { python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1"; }

# ---- 1. install, build, database --------------------------------------------------------
install_and_build
start_database "a new connection is created; only its jobs are counted"
step "ledgersync migrate"
"$ledgersync" migrate

# Sealing key and webhook secret for this run only; a real deployment keeps both in its
# secret store (docs/connections.md).
export LEDGERSYNC_SECRET_KEY=${LEDGERSYNC_SECRET_KEY:-$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')}
# The simulator and the receiver listen on 127.0.0.1, which outgoing requests may not reach
# unless allowed (docs/security.md).
export LEDGERSYNC_ALLOW_PRIVATE_NETWORK=1
export LEDGERSYNC_WEBHOOK_SECRET=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')

# ---- 2. the provider, the billing system's receiver, the workers --------------------------
step "starting the NetSuite simulator: 5% faults (500s, late answers, dropped connections), 10-40 ms per request, limit $account_limit"
start_bg simulator "$ledgersync" simulate netsuite --port 0 --concurrency-limit "$account_limit" \
    --fault-rate 0.05 --latency-ms 10-40 --timeout-delay 3s
deadline=$((SECONDS + 30))
until netsuite_url=$(grep -o 'http://[0-9.:]*' "$workdir/simulator.log" 2>/dev/null | head -n 1) && [ -n "$netsuite_url" ]; do
    check_bg
    [ "$SECONDS" -lt "$deadline" ] || { echo "the simulator did not start within 30 s" >&2; exit 1; }
    sleep 0.1
done
echo "  $netsuite_url"

zoho_window=10s
step "starting the Zoho Books simulator: 5% faults, 100 requests per $zoho_window window (Zoho's minute, shortened), 5 calls at once"
start_bg zoho "$ledgersync" simulate zoho-books --port 0 --concurrency-limit 5 --fault-rate 0.05 --timeout-delay 3s \
    --requests-per-window 100 --window "$zoho_window" --daily-quota 10000 \
    --unique-field contacts=cf_ledgersync_id --unique-field invoices=cf_ledgersync_id --unique-field creditnotes=cf_ledgersync_id \
    --unique-field salesorders=cf_ledgersync_id --unique-field customerpayments=cf_ledgersync_id
deadline=$((SECONDS + 30))
until zoho_url=$(grep -o 'http://[0-9.:]*' "$workdir/zoho.log" 2>/dev/null | head -n 1) && [ -n "$zoho_url" ] &&
    zoho_code=$(grep -o 'grant code for client [^:]*: [^ ]*' "$workdir/zoho.log" 2>/dev/null | sed 's/.*: //') && [ -n "$zoho_code" ]; do
    check_bg
    [ "$SECONDS" -lt "$deadline" ] || { echo "the Zoho Books simulator did not start within 30 s" >&2; exit 1; }
    sleep 0.1
done
echo "  $zoho_url (a self client's grant code, good for 3 minutes, for the connection)"

step "starting the billing system's webhook receiver (scripts/demo-receiver.py: checks every signature)"
start_bg receiver python3 scripts/demo-receiver.py "$workdir/receiver.port" "$workdir/webhooks.jsonl" $$
until [ -f "$workdir/receiver.port" ]; do check_bg; sleep 0.1; done
webhook_url="http://127.0.0.1:$(cat "$workdir/receiver.port")/ledgersync-events"
touch "$workdir/webhooks.jsonl"
echo "  $webhook_url"

step "starting the HTTP API and dashboard (ledgersync api)"
api_port=$(free_port 28000)
start_bg api "$ledgersync" api --port "$api_port"
deadline=$((SECONDS + 30))
until http_get "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1; do
    check_bg
    [ "$SECONDS" -lt "$deadline" ] || { echo "the API did not answer within 30 s" >&2; exit 1; }
    sleep 0.2
done
echo "  http://127.0.0.1:$api_port (a one-time dashboard sign-in link at the end)"

step "starting 2 workers: ledgersync worker --concurrency 8 (retries from 1 s, requests time out after 2 s)"
# --server-timeout: how long a request the worker gave up on may still run at the provider,
# its limit slot held meanwhile. The simulators are done with a late answer after their
# --timeout-delay (3 s); NetSuite takes up to 15 minutes and Zoho Books is given 2, which would
# leave the demo's small limits held by its injected timeouts.
for n in 1 2; do
    start_bg "worker-$n" "$ledgersync" worker --concurrency 8 --grace-period 5s --retry-base-delay 1s --request-timeout 2s \
        --server-timeout 3s
done
wait_for_workers 2

# ---- 3. the billing month ------------------------------------------------------------------
step "the billing system: a connection, its mappings, a webhook endpoint, and a month of documents (ledgersync demo seed)"
seed=$("$ledgersync" demo seed --netsuite-url "$netsuite_url" --webhook-url "$webhook_url" \
    --customers "$customers" --concurrency-limit "$account_limit" \
    --zoho-books-url "$zoho_url" --zoho-grant-code "$zoho_code" --zoho-request-window "100/$zoho_window")
connection=$(json_get connection_id <<<"$seed")
zoho_connection=$(json_get zoho connection_id <<<"$seed")
zoho_total=$(json_get zoho jobs <<<"$seed")
endpoint=$(json_get webhook_endpoint_id <<<"$seed")
total=$(json_get jobs <<<"$seed")
python3 -c 'import json,sys; s=json.loads(sys.argv[1])
for kind, n in sorted(s["enqueued"].items()): print(f"  {kind:<18} {n:>5} jobs")
print("  bad on purpose:")
for b in s["bad_documents"]: print("    %-28s %-46s expect %s" % (b["invoice"], b["problem"], b["expected"]))' "$seed"
echo "  NetSuite connection $connection"
echo "  Zoho Books connection $zoho_connection: the same month, $zoho_total jobs (no bad documents)"
started=$SECONDS

# ---- 4. progress ---------------------------------------------------------------------------
step "progress (every second until every job of the month and every webhook is done)"
progress_sql() {
    sql -v conn="$connection" -v zconn="$zoho_connection" -v endpoint="$endpoint" <<'SQL'
SELECT format('synced %s/%s  failed %s  retrying %s  running %s  webhooks %s',
              count(*) FILTER (WHERE state = 'completed' AND kind <> 'webhook.deliver'),
              count(*) FILTER (WHERE kind <> 'webhook.deliver'),
              count(*) FILTER (WHERE state = 'failed' AND kind <> 'webhook.deliver'),
              count(*) FILTER (WHERE state = 'retryable'),
              count(*) FILTER (WHERE state = 'running'),
              count(*) FILTER (WHERE state = 'completed' AND kind = 'webhook.deliver'))
       || '|' || count(*) FILTER (WHERE state IN ('available', 'running', 'retryable'))
FROM ledgersync.jobs
WHERE args ->> 'connection_id' IN (:'conn', :'zconn') OR args ->> 'endpoint_id' = :'endpoint';
SQL
}
drained=false
while :; do
    line=$(progress_sql)
    stats=$(http_get "$netsuite_url/_simulator/stats")
    zstats=$(http_get "$zoho_url/_simulator/stats")
    printf '  %3ss  %s  · NetSuite: %s requests, %s faults · Zoho Books: %s requests, %s faults\n' "$((SECONDS - started))" "${line%|*}" \
        "$(json_get requests <<<"$stats")" "$(python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["faultsInjected"].values()))' <<<"$stats")" \
        "$(json_get requests <<<"$zstats")" "$(python3 -c 'import json,sys; print(sum(json.load(sys.stdin)["faultsInjected"].values()))' <<<"$zstats")"
    if [ "${line##*|}" = 0 ]; then drained=true; break; fi
    [ $((SECONDS - started)) -lt "$drain_timeout" ] || break
    check_bg
    sleep 1
done
elapsed=$((SECONDS - started))

stats=$(http_get "$netsuite_url/_simulator/stats")
records=$(python3 -c 'import json,sys,urllib.request
counts=[len(json.load(urllib.request.urlopen(f"{sys.argv[1]}/_simulator/records/{t}"))) for t in ("customer","invoice","creditMemo","customerPayment")]
print(" ".join(map(str, counts)))' "$netsuite_url")

zstats=$(http_get "$zoho_url/_simulator/stats")
zrecords=$(python3 -c 'import json,sys,urllib.request
counts=[len(json.load(urllib.request.urlopen(f"{sys.argv[1]}/_simulator/records/{t}"))["records"]) for t in ("contacts","invoices","creditnotes","customerpayments")]
print(" ".join(map(str, counts)))' "$zoho_url")

# ---- 5. summary ----------------------------------------------------------------------------
step "summary, NetSuite connection: the month, by kind"
sql -v conn="$connection" <<'SQL'
SELECT format('  %-18s %5s synced  %3s failed  %5s attempts', kind,
              count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state = 'failed'), sum(attempt))
FROM ledgersync.jobs WHERE args ->> 'connection_id' = :'conn' GROUP BY kind ORDER BY min(id);
SQL
read -r ns_customers ns_invoices ns_credit_memos ns_payments <<<"$records"
echo "  at NetSuite: $ns_customers customers, $ns_invoices invoices, $ns_credit_memos credit memos, $ns_payments payments;" \
    "$(sql -c "SELECT count(*) FROM ledgersync.external_refs WHERE connection_id = '$connection'") provider ids in ledgersync.external_refs"
echo "  NetSuite saw $(json_get requests <<<"$stats") requests, at most $(json_get maxInFlight <<<"$stats") at once (limit $account_limit)," \
    "$(json_get rejectedOverLimit <<<"$stats") refused for the limit; faults injected: $(json_get faultsInjected <<<"$stats")"

step "summary, Zoho Books connection: the month, by kind"
sql -v conn="$zoho_connection" <<'SQL'
SELECT format('  %-18s %5s synced  %3s failed  %5s attempts', kind,
              count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state = 'failed'), sum(attempt))
FROM ledgersync.jobs WHERE args ->> 'connection_id' = :'conn' GROUP BY kind ORDER BY min(id);
SQL
read -r zb_contacts zb_invoices zb_credit_notes zb_payments <<<"$zrecords"
echo "  at Zoho Books: $zb_contacts contacts, $zb_invoices invoices, $zb_credit_notes credit notes, $zb_payments customer payments;" \
    "$(sql -c "SELECT count(*) FROM ledgersync.external_refs WHERE connection_id = '$zoho_connection'") provider ids in ledgersync.external_refs"
echo "  Zoho Books saw $(json_get requests <<<"$zstats") requests, at most $(json_get maxInFlight <<<"$zstats") at once (limit 5);" \
    "429s: $(json_get rejectedMinuteWindow <<<"$zstats") for the request window, $(json_get rejectedConcurrent <<<"$zstats") for concurrency;" \
    "$(json_get tokenRequests <<<"$zstats") token requests; faults injected: $(json_get faultsInjected <<<"$zstats")"
"$ledgersync" limits list | sed -n '/WINDOW/,$p' | sed 's/^/  /'

step "summary: what failed, and why (ledgersync jobs list --state failed)"
"$ledgersync" jobs list --state failed --newer-than "$((SECONDS - started + 60))s"

step "summary: webhooks the billing system received"
python3 - "$workdir/webhooks.jsonl" <<'PY'
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for e in entries:
    print(f"  {e['event']}  {e.get('billing_object')}  {e.get('error_code')}  signature {'valid' if e['signature_valid'] else 'INVALID'}")
print(f"  {len(entries)} deliveries, {len({e['unique_key'] for e in entries})} distinct events")
PY

step "checks"
checks=$(sql -v conn="$connection" -v endpoint="$endpoint" -v total="$total" <<'SQL'
WITH month AS (SELECT * FROM ledgersync.jobs WHERE args ->> 'connection_id' = :'conn'),
     failed AS (SELECT errors -> -1 ->> 'class' AS class FROM month WHERE state = 'failed')
SELECT format('  %s every good document synced: %s of %s', ok1, good, :total - 5) || E'\n' ||
       format('  %s exactly the 5 bad documents failed, for the right reason, not retried: %s', ok2, classes) || E'\n' ||
       format('  %s one webhook delivered per failure: %s', ok3, delivered)
       || '|' || (ok1 || ok2 || ok3 = 'okokok')
FROM (SELECT count(*) FILTER (WHERE state = 'completed') AS good FROM month) AS g,
     (SELECT coalesce(string_agg(class, ',' ORDER BY class), '') AS classes,
             count(*) AS n FROM failed) AS f,
     (SELECT count(*) AS delivered FROM ledgersync.jobs
      WHERE kind = 'webhook.deliver' AND state = 'completed' AND args ->> 'endpoint_id' = :'endpoint') AS w,
     LATERAL (SELECT CASE WHEN good = :total - 5 THEN 'ok' ELSE 'NO' END AS ok1,
                     CASE WHEN classes = 'invalid_document,invalid_document,invalid_document,invalid_mapping,permanent'
                               -- not retried: one final error each (an injected fault may come first)
                               AND NOT EXISTS (
                                   SELECT 1 FROM month WHERE state = 'failed'
                                   AND (SELECT count(*) FROM jsonb_array_elements(errors) AS e
                                        WHERE e ->> 'class' IN ('invalid_document', 'invalid_mapping', 'permanent')) <> 1)
                          THEN 'ok' ELSE 'NO' END AS ok2,
                     CASE WHEN delivered = 5 THEN 'ok' ELSE 'NO' END AS ok3) AS verdict;
SQL
)
echo "${checks%|*}"
checks_ok=${checks##*|}
received_ok=$(python3 -c 'import json,sys
e=[json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("true" if len(e)==5 and all(x["signature_valid"] for x in e) and len({x["unique_key"] for x in e})==5 else "false")' "$workdir/webhooks.jsonl")
echo "  $([ "$received_ok" = true ] && echo ok || echo NO) the receiver got 5 signed events, each once"
limit_ok=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print("true" if s["maxInFlight"] <= int(sys.argv[2]) and s["rejectedOverLimit"] == 0 else "false")' "$stats" "$account_limit")
echo "  $([ "$limit_ok" = true ] && echo ok || echo NO) NetSuite never saw more than $account_limit requests at once"
expected_records="$customers $(( $(json_get enqueued invoice.push <<<"$seed") - 5 )) $(json_get enqueued credit_memo.push <<<"$seed") $(json_get enqueued payment.apply <<<"$seed")"
[ "$records" = "$expected_records" ] && unique_ok=t || unique_ok=f
echo "  $([ "$unique_ok" = t ] && echo ok || echo NO) every record exists once at NetSuite: $records (expected $expected_records)"

zoho_done=$(sql -c "SELECT count(*) FROM ledgersync.jobs WHERE args ->> 'connection_id' = '$zoho_connection' AND state = 'completed'")
[ "$zoho_done" = "$zoho_total" ] && zoho_jobs_ok=t || zoho_jobs_ok=f
echo "  $([ "$zoho_jobs_ok" = t ] && echo ok || echo NO) every Zoho Books job completed: $zoho_done of $zoho_total"
zoho_expected="$customers $(json_get zoho enqueued invoice.push <<<"$seed") $(json_get zoho enqueued credit_memo.push <<<"$seed") $(json_get zoho enqueued payment.apply <<<"$seed")"
[ "$zrecords" = "$zoho_expected" ] && zoho_unique_ok=t || zoho_unique_ok=f
echo "  $([ "$zoho_unique_ok" = t ] && echo ok || echo NO) every record exists once at Zoho Books: $zrecords (expected $zoho_expected)"
zoho_limits_ok=$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print("true" if s["rejectedMinuteWindow"] == 0 and s["rejectedConcurrent"] == 0 and s["tokenMaxInFlight"] <= 1 else "false")' "$zstats")
echo "  $([ "$zoho_limits_ok" = true ] && echo ok || echo NO) Zoho Books never answered 429: the queue's rate window held every worker to the organization's"

echo
if [ "$drained" = true ] && [ "$checks_ok" = true ] && [ "$received_ok" = true ] && [ "$limit_ok" = true ] && [ "$unique_ok" = t ] &&
    [ "$zoho_jobs_ok" = t ] && [ "$zoho_unique_ok" = t ] && [ "$zoho_limits_ok" = true ]; then
    succeeded=true
    echo "demo finished: $((total + zoho_total)) jobs (NetSuite $total, Zoho Books $zoho_total) in ${elapsed}s, every check passed."
    echo "Fix a cause, then replay: ledgersync jobs retry <id>, or by filter: ledgersync jobs retry --kind invoice.push (docs/operations.md)"
    # A one-time sign-in link (works once, for 30 minutes); no API token ever goes in a URL.
    dashboard=$("$ledgersync" dashboard link --for demo --url "http://127.0.0.1:$api_port" --expires-in 30m 2>/dev/null)
    echo "Dashboard (failed jobs, their errors, retry buttons), one-time sign-in link: $dashboard"
    if [ -t 0 ] && [ -t 1 ]; then
        # Someone is watching: leave the API, the workers and the simulator up to look around.
        echo "Everything keeps running so you can look; press Ctrl-C to stop it all."
        trap 'echo; echo "stopping everything the demo started"; exit 0' INT TERM
        while :; do check_bg; sleep 1; done
    fi
else
    [ "$drained" = true ] || echo "the month did not finish within ${drain_timeout}s" >&2
    echo "demo finished with failed checks" >&2
    exit 1
fi
