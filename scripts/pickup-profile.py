#!/usr/bin/env python3
"""Where an idle pickup's time goes after the enqueue (docs/performance.md, "Pickup: what the
fetch costs on an idle queue").

One job at a time, as `ledgersync bench latency` does: a 20 ms idle gap, `ledgersync.enqueue`
on one connection, then, on the connection that LISTENs, the NOTIFY read straight off the
socket and the claim sent at once on that same connection (no thread hand-off: the floor of
what any worker could do). The claim is, in turn:

  fetch_jobs     ledgersync.fetch_jobs as it is
  -advance       a copy of it without the floor's advance after the claim (014)
  -floor         … and without the floor condition in the candidate scan (014)
  -keyed         … and without the steps for parked jobs, rate windows and limits
  -shape         … and with a candidate scan that takes only jobs without limit or serial key
  bare UPDATE    one statement: claim the first available job, FOR UPDATE SKIP LOCKED

The copies are made from sql/queue/014_fetch_floor.sql by text edits (the script stops if the
text moved) as ledgersync.fetch_jobs_profile, dropped at the end. Each removes a feature a
real queue needs; they say what each costs, not what could be dropped. Prints, per variant,
the median milliseconds from just before the enqueue call to the claim's answer, and from
the enqueue's answer to the claim's. Run it against a throwaway database with the Ledgersync
schema (it empties ledgersync.jobs), with the peers' venv that scripts/bench.sh makes:

    .bench-peers/.venv/bin/python scripts/pickup-profile.py --dsn postgresql://…/bench
"""
import argparse
import pathlib
import re
import select
import statistics
import time

import psycopg

SQL = pathlib.Path(__file__).resolve().parent.parent / "sql/queue/014_fetch_floor.sql"
NAME = "ledgersync.fetch_jobs_profile"
BARE = (
    "UPDATE ledgersync.jobs SET state = 'running', attempt = attempt + 1, attempted_at = now(), locked_by = 'profile', "
    "lease_expires_at = now() + interval '30 seconds', run_id = nextval('ledgersync.job_run_ids') "
    "WHERE id = (SELECT id FROM ledgersync.jobs WHERE state IN ('available', 'retryable') AND queue = 'default' "
    "AND run_at <= now() ORDER BY priority, run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
)
COMPLETE = (
    "UPDATE ledgersync.jobs SET state = 'completed', finalized_at = now(), locked_by = NULL, lease_expires_at = NULL "
    "WHERE id = %s AND state = 'running'"
)


def at(text: str, piece: str) -> int:
    """Where `piece` starts in `text`; stops the script, naming it, if 014's text moved."""
    if piece not in text:
        raise SystemExit(f"sql/queue/014_fetch_floor.sql changed: cannot find {piece[:60]!r}")
    return text.index(piece)


def cut(text: str, old: str) -> str:
    at(text, old)
    return text.replace(old, "")


def variants() -> dict[str, str | None]:
    """Variant name → the CREATE FUNCTION of its copy (None: not a copy)."""
    source = SQL.read_text()
    start = at(source, "CREATE OR REPLACE FUNCTION ledgersync.fetch_jobs(")
    original = source[start : source.index("\n$$;", start) + 4]
    copy = original.replace("ledgersync.fetch_jobs(", f"{NAME}(", 1).replace("fetch_jobs.", "fetch_jobs_profile.")
    no_advance = cut(copy, "    IF cardinality(claimed) > 0 THEN\n        PERFORM ledgersync.advance_fetch_floor(fetch_jobs_profile.queue);\n    END IF;\n")
    floor = re.search(r"\n\s+AND \(j\.priority, j\.run_at, j\.id\) >= \(\(SELECT fl\.priority.*?AS fl\)\)", no_advance, re.S)
    if not floor:
        raise SystemExit("sql/queue/014_fetch_floor.sql changed: cannot find the floor condition")
    no_floor = no_advance.replace(floor.group(0), "")
    keyed_start = at(no_floor, "    IF EXISTS (SELECT 1 FROM ledgersync.jobs j\n               WHERE j.wait_key IS NOT NULL")
    keyed_end = at(no_floor, "    WITH candidates AS MATERIALIZED")
    no_keyed = (
        no_floor[:keyed_start]
        + "    window_keys := '{}'; window_open := '{}'; window_left := '{}'; open_keys := '{}'; open_slots := '{}';\n"
        + no_floor[keyed_end:]
    )
    shape_start = at(no_keyed, "          AND (j.limit_key IS NULL\n               OR j.limit_key = ANY (open_keys)")
    shape_end = at(no_keyed, "        ORDER BY j.priority, j.run_at, j.id\n        LIMIT fetch_jobs_profile.max_jobs")
    no_shape = no_keyed[:shape_start] + "          AND j.limit_key IS NULL AND j.serial_key IS NULL\n" + no_keyed[shape_end:]
    return {"fetch_jobs": None, "-advance": no_advance, "-floor": no_floor, "-keyed": no_keyed, "-shape": no_shape, "bare UPDATE": None}


def claim_statement(name: str) -> str:
    if name == "bare UPDATE":
        return BARE
    function = "ledgersync.fetch_jobs" if name == "fetch_jobs" else NAME
    return f"SELECT id FROM {function}('profile', 'default', 10, 30.0, '{{}}'::bigint[], '{{}}'::bigint[])"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=90, help="jobs per variant and round (the first 10 are dropped)")
    args = parser.parse_args()

    enqueuer = psycopg.connect(args.dsn, autocommit=True)
    listener = psycopg.connect(args.dsn, autocommit=True)
    results: dict[str, list[tuple[float, float]]] = {}
    try:
        enqueuer.execute("DELETE FROM ledgersync.jobs")
        enqueuer.execute("VACUUM ledgersync.jobs")
        listener.execute('LISTEN "ledgersync_jobs"')
        order = list(variants().items())
        for number in range(args.rounds):
            # Every other round in reverse order, so a drift of the machine favours no variant.
            for name, ddl in order if number % 2 == 0 else reversed(order):
                if ddl:
                    enqueuer.execute(ddl)
                statement = claim_statement(name)
                for n in range(args.jobs):
                    time.sleep(0.02)
                    start = time.perf_counter()
                    enqueuer.execute("SELECT ledgersync.enqueue('diag.noop', '{}')")
                    enqueued = time.perf_counter()
                    while True:
                        listener.pgconn.consume_input()
                        if listener.pgconn.notifies() is not None:
                            break
                        select.select([listener.fileno()], [], [], 1)
                    ids = [row[0] for row in listener.execute(statement).fetchall() if row[0] is not None]
                    claimed = time.perf_counter()
                    if len(ids) != 1:
                        raise SystemExit(f"{name}: claimed {ids}, expected the one job just enqueued")
                    enqueuer.execute(COMPLETE, (ids[0],))
                    if n >= 10:
                        results.setdefault(name, []).append(((claimed - start) * 1e3, (claimed - enqueued) * 1e3))
    finally:
        enqueuer.execute(f"DROP FUNCTION IF EXISTS {NAME}")
        enqueuer.execute("DELETE FROM ledgersync.jobs")
    for name, values in results.items():
        total = statistics.median(v[0] for v in values)
        after = statistics.median(v[1] for v in values)
        print(f"{name:12s} enqueue → claimed p50 {total:.3f} ms, of which after the enqueue's answer {after:.3f} ms")


if __name__ == "__main__":
    main()
