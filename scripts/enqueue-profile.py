#!/usr/bin/env python3
"""Where a bulk enqueue's time goes on the server (docs/performance.md, "Bulk enqueue: the
floor of an INSERT").

Inserts 1,000-row batches from one connection, each its own committed transaction (as
`ledgersync bench enqueue --mode swift --chunk 1000` does), into:

  bare        a copy of ledgersync.jobs's columns, defaults and CHECKs, no index
  pk          the same with its primary key
  pk+fetch    and the fetch index (the only partial index a plain job enters)
  all         every index of ledgersync.jobs (LIKE … INCLUDING ALL), no trigger
  jobs        ledgersync.jobs itself, with its triggers, through
              sql/queue/queries/enqueue_batch.sql (what JobQueue.enqueueMany sends)
  jobs COPY   ledgersync.jobs, COPY … FROM STDIN (no ids back, no unique keys, no checks)

and prints, per target, the median microseconds per job of each round. Run it against a
throwaway database with the Ledgersync schema (it empties ledgersync.jobs), with the peers'
venv that scripts/bench.sh makes (it has psycopg):

    .bench-peers/.venv/bin/python scripts/enqueue-profile.py --dsn postgresql://…/bench
"""
import argparse
import json
import pathlib
import re
import statistics
import time

import psycopg

BATCH = 1000
LIKE = "CREATE TABLE enqueue_profile.t (LIKE ledgersync.jobs INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY) WITH (fillfactor = 80)"
TARGETS = {
    "bare": [LIKE],
    "pk": [LIKE, "ALTER TABLE enqueue_profile.t ADD PRIMARY KEY (id)"],
    "pk+fetch": [
        LIKE,
        "ALTER TABLE enqueue_profile.t ADD PRIMARY KEY (id)",
        "CREATE INDEX ON enqueue_profile.t (queue, priority, run_at, id) WHERE state IN ('available', 'retryable')",
    ],
    "all": ["CREATE TABLE enqueue_profile.t (LIKE ledgersync.jobs INCLUDING ALL) WITH (fillfactor = 80)"],
}
PLAIN = (
    "INSERT INTO enqueue_profile.t (kind, args, queue, priority) "
    "SELECT * FROM unnest(%s::text[], %s::jsonb[], %s::text[], %s::smallint[]) RETURNING id"
)


def batch_statement() -> str:
    """enqueue_batch.sql with psycopg's placeholders for $1…$9."""
    path = pathlib.Path(__file__).resolve().parent.parent / "sql/queue/queries/enqueue_batch.sql"
    sql = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("--"))
    return re.sub(r"\$(\d)", "%s", sql.replace("%", "%%"))


def timed(conn, reps, send) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        with conn.cursor() as cursor:
            send(cursor)
        conn.commit()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6 / BATCH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40, help="batches of 1,000 per target and round")
    args = parser.parse_args()

    kinds = ["diag.noop"] * BATCH
    docs = [json.dumps({"n": n}) for n in range(BATCH)]
    queues = ["default"] * BATCH
    priorities = [0] * BATCH
    batch = batch_statement()

    def plain(cursor):
        cursor.execute(PLAIN, (kinds, docs, queues, priorities))
        cursor.fetchall()

    def enqueue_batch(cursor):
        cursor.execute(batch, (kinds, docs, queues, priorities, None, None, None, None, None))
        cursor.fetchall()

    def copy(cursor):
        with cursor.copy("COPY ledgersync.jobs (kind, args, queue, priority) FROM STDIN") as stream:
            for row in zip(kinds, docs, queues, priorities):
                stream.write_row(row)

    results: dict[str, list[float]] = {}
    with psycopg.connect(args.dsn) as conn:
        try:
            for _ in range(args.rounds):
                for name, ddl in TARGETS.items():
                    conn.execute("DROP SCHEMA IF EXISTS enqueue_profile CASCADE")
                    conn.execute("CREATE SCHEMA enqueue_profile")
                    for statement in ddl:
                        conn.execute(statement)
                    conn.commit()
                    results.setdefault(name, []).append(timed(conn, args.batches, plain))
                for name, send in (("jobs", enqueue_batch), ("jobs COPY", copy)):
                    conn.execute("TRUNCATE ledgersync.jobs CASCADE")
                    conn.commit()
                    results.setdefault(name, []).append(timed(conn, args.batches, send))
        finally:
            conn.rollback()
            conn.execute("DROP SCHEMA IF EXISTS enqueue_profile CASCADE")
            conn.execute("TRUNCATE ledgersync.jobs CASCADE")
            conn.commit()
    for name, values in results.items():
        rounds = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:10s} µs/job per round: {rounds}  (median {statistics.median(values):.2f}, {1e6 / statistics.median(values):,.0f} jobs/s)")


if __name__ == "__main__":
    main()
