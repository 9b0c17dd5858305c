#!/usr/bin/env python3
"""Medians of `ledgersync bench` and peer RESULT lines, and Ledgersync / best peer per figure.

  python3 scripts/bench_summary.py results.jsonl [more.jsonl ...]

Reads JSON lines (RESULT payloads tagged with "rep" and "ts" by scripts/bench.sh; the peer
harness's lines have the same shape). Prints two Markdown tables: every configuration with
its median (min..max) over repetitions, then the headline: each figure for Ledgersync and
the best peer configuration of the same run, and their ratio. Ratios are computed from the
medians of one run only: the machine is shared and only same-run ratios mean anything.
"""
import json
import statistics
import sys
from collections import defaultdict

# Fields that are measurements (or bookkeeping); every other field names the configuration.
MEASURES = {
    "secs", "rate", "handler_rate", "drain_s", "exit_s", "processed", "per_proc", "p50_ms", "p90_ms", "p99_ms",
    "max_ms", "enqueue_call_p50_ms", "rep", "ts", "completed_in_table", "rss_idle_mb", "rss_peak_mb", "requests",
    "refused_429", "max_in_flight", "completed", "ratio", "ceiling", "worker_cpu_us_per_job", "server_cpu_us_per_job",
    # bench monthend
    "jobs", "wall_s", "request_s", "series_request_s", "ideal_s", "mean_share", "plateau_min_share", "window_share",
    "series_requests", "tsv", "png",
    # bench sync: where the wall time went (the simulator's request log)
    "request_ms_mean", "busy_share", "first_request_ms", "tail_ms",
    "handover_ms_p50", "handover_ms_p90", "slow_handovers", "slow_handover_ms",
    # bench enqueue: WAL written per job (pg_stat_wal)
    "wal_bytes_per_job", "wal_records_per_job", "wal_fpi_per_job",
}


def load(paths):
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def config_key(row):
    return tuple(sorted((k, v) for k, v in row.items() if k not in MEASURES))


def median(rows, field):
    values = [r[field] for r in rows if isinstance(r.get(field), (int, float))]
    return statistics.median(values) if values else None


def fmt(value, unit=""):
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}{unit}"
    return f"{value:.2f}{unit}"


def spread(rows, field):
    values = [r[field] for r in rows if isinstance(r.get(field), (int, float))]
    if not values:
        return "–"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}..{fmt(max(values))})"


def main(paths):
    rows = load(paths)
    groups = defaultdict(list)
    for r in rows:
        groups[config_key(r)].append(r)

    print("### Every configuration (median (min..max) over repetitions)\n")
    print("| config | runs | figure | notes |")
    print("|---|---|---|---|")
    for key, rs in sorted(groups.items(), key=lambda kv: (dict(kv[0]).get("lib", ""), dict(kv[0]).get("cmd", ""), str(kv[0]))):
        cfg = " ".join(f"{k}={v}" for k, v in key)
        cmd = dict(key).get("cmd")
        if cmd == "latency":
            fig = "p50 " + spread(rs, "p50_ms") + " ms"
            notes = f"p90 {fmt(median(rs, 'p90_ms'))} ms, p99 {fmt(median(rs, 'p99_ms'))} ms, max {fmt(median(rs, 'max_ms'))} ms"
        elif cmd == "drain":
            fig = spread(rs, "rate") + " jobs/s"
            notes = f"drain {fmt(median(rs, 'drain_s'))} s; handler-side {fmt(median(rs, 'handler_rate'))} jobs/s"
            if median(rs, "rss_idle_mb") is not None:
                notes += f"; RSS idle {fmt(median(rs, 'rss_idle_mb'))} MiB, peak {fmt(median(rs, 'rss_peak_mb'))} MiB"
            if median(rs, "worker_cpu_us_per_job") is not None:
                notes += (f"; CPU/job worker {fmt(median(rs, 'worker_cpu_us_per_job'))} µs,"
                          f" server {fmt(median(rs, 'server_cpu_us_per_job'))} µs")
            bad = [r["processed"] for r in rs if r.get("processed") != r.get("n")]
            if bad:
                notes += f"; PROCESSED != N: {bad}"
        elif cmd == "monthend":
            fig = "wall/ideal " + spread(rs, "ratio")
            notes = (f"wall {fmt(median(rs, 'wall_s'))} s, ideal {fmt(median(rs, 'ideal_s'))} s; "
                     f"429s {[r.get('refused_429') for r in rs]}; completed {[r.get('completed') for r in rs]}")
            if dict(key).get("provider") == "zoho":
                notes += f"; window share {fmt(median(rs, 'window_share'))}"
            else:
                notes += f"; mean share of the limit {fmt(median(rs, 'mean_share'))}"
            notes += f"; plot {rs[-1].get('png') or rs[-1].get('tsv')}"
        elif cmd == "sync":
            fig = spread(rs, "rate") + " req/s"
            notes = f"ratio to limit/latency {fmt(median(rs, 'ratio'))}; 429 refusals {[r.get('refused_429') for r in rs]}"
            if all("handover_ms_p50" in r for r in rs):
                notes += (f"; hand-over p50 {fmt(median(rs, 'handover_ms_p50'))} ms, "
                          f"slow hand-overs {[r.get('slow_handovers') for r in rs]}")
        else:
            fig = spread(rs, "rate") + " jobs/s"
            notes = f"{fmt(median(rs, 'secs'))} s"
            # 0 means the backend had not flushed its WAL statistics yet (PostgreSQL 15 does so
            # at most once a second): a short run shows none, which is no figure.
            if (median(rs, "wal_records_per_job") or 0) > 0:
                notes += (f"; WAL per job {fmt(median(rs, 'wal_bytes_per_job'))} B, {fmt(median(rs, 'wal_records_per_job'))} records,"
                          f" {fmt(median(rs, 'wal_fpi_per_job'))} full-page images")
        print(f"| {cfg} | {len(rs)} | {fig} | {notes} |")

    def pick(lib, field, **match):
        """Median of `field` over the rows of `lib` matching `match`; for peers, the best configuration."""
        best = None
        for key, rs in groups.items():
            k = dict(key)
            if k.get("lib") != lib or any(k.get(f) != v for f, v in match.items()):
                continue
            m = median(rs, field)
            if m is None:
                continue
            label = " ".join(f"{f}={v}" for f, v in k.items() if f not in ("lib", "cmd", "n", "chunk", "jobs", "finished") and f not in match)
            lower_better = field.endswith("_ms") or field.endswith("_mb")
            if best is None or (m < best[0] if lower_better else m > best[0]):
                best = (m, label)
        return best

    peers = sorted({dict(k).get("lib") for k in groups} - {"ledgersync"})
    figures = [
        ("enqueue bulk 20k, 1 conn (jobs/s)", "rate", {"cmd": "enqueue", "n": 20000, "conc": 1, "chunk": 1000},
         [{"mode": "swift"}, {"mode": "sql"}], {"mode": "bulk"}),
        ("enqueue bulk 100k, 1 conn (jobs/s)", "rate", {"cmd": "enqueue", "n": 100000, "conc": 1, "chunk": 1000},
         [{"mode": "swift"}, {"mode": "sql"}], {"mode": "bulk"}),
        ("enqueue single, 1 conn (jobs/s)", "rate", {"cmd": "enqueue", "mode": "single", "conc": 1}, [{}], {}),
        ("enqueue single, 8 conns (jobs/s)", "rate", {"cmd": "enqueue", "mode": "single", "conc": 8}, [{}], {}),
        # held_xmin None: not the drains beside a transaction held open (their own row below).
        ("drain 20k, 2 procs (jobs/s)", "rate", {"cmd": "drain", "n": 20000, "procs": 2, "held_xmin": None}, [{"finished": 0}], {}),
        ("drain 100k, 2 procs (jobs/s)", "rate", {"cmd": "drain", "n": 100000, "procs": 2, "held_xmin": None}, [{"finished": 0}], {}),
        ("pickup latency p50 (ms)", "p50_ms", {"cmd": "latency"}, [{}], {}),
        ("pickup latency p99 (ms)", "p99_ms", {"cmd": "latency"}, [{}], {}),
    ]
    print("\n### Headline: Ledgersync / best peer, medians of the same run\n")
    print("| figure | Ledgersync | " + " | ".join(f"{p} (best config)" for p in peers) + " | Ledgersync / best peer |")
    print("|---|---|" + "---|" * len(peers) + "---|")
    for title, field, common, ours_variants, peer_extra in figures:
        for variant in ours_variants:
            ours = pick("ledgersync", field, **common, **variant)
            if ours is None:
                continue
            theirs = [pick(p, field, **common, **peer_extra) for p in peers]
            lower_better = field.endswith("_ms")
            present = [t for t in theirs if t]
            best = (min if lower_better else max)(present, key=lambda t: t[0]) if present else None
            ratio = f"{ours[0] / best[0]:.2f}" if best and best[0] else "–"
            label = title + (f" [{' '.join(f'{k}={v}' for k, v in variant.items())}]" if variant and variant != {"finished": 0} else "")
            ours_label = f"{fmt(ours[0])} ({ours[1]})" if ours[1] else fmt(ours[0])
            cells = [(f"{fmt(t[0])} ({t[1]})" if t[1] else fmt(t[0])) if t else "–" for t in theirs]
            print(f"| {label} | {ours_label} | " + " | ".join(cells) + f" | {ratio} |")

    # Ledgersync-only figures, each against the drain of the same slots with no finished jobs.
    kept = None
    for key, rs in groups.items():
        k = dict(key)
        if (k.get("lib") == "ledgersync" and k.get("cmd") == "drain" and k.get("n") == 100000 and (k.get("finished") or 0) > 0
                and not k.get("held_xmin")):
            kept = (median(rs, "rate"), k["finished"], k.get("slots"))
    slots = {"slots": kept[2]} if kept else {}
    empty = pick("ledgersync", "rate", cmd="drain", n=100000, procs=2, finished=0, held_xmin=None, **slots)
    if kept and empty:
        print(f"| drain 100k with {kept[1]:,} finished jobs kept (slots={kept[2]}) | {fmt(kept[0])} | | | {kept[0] / empty[0]:.2f} of drain with none |")
    # A transaction held open from before the enqueue to the end of the drain: Ledgersync
    # against its own drain without it (same slots), and against PgQueuer under the same
    # condition (its batch size as in the held run).
    for key, rs in groups.items():
        k = dict(key)
        if not (k.get("lib") == "ledgersync" and k.get("cmd") == "drain" and k.get("held_xmin")):
            continue
        ours = median(rs, "rate")
        without = pick("ledgersync", "rate", cmd="drain", n=k["n"], procs=k["procs"], finished=0, held_xmin=None, slots=k["slots"])
        theirs = pick("pgqueuer", "rate", cmd="drain", n=k["n"], procs=k["procs"], held_xmin=True)
        cells = [f"{fmt(theirs[0])} ({theirs[1]})" if theirs and p == "pgqueuer" else "" for p in peers]
        notes = []
        if without:
            notes.append(f"{ours / without[0]:.2f} of the drain without")
        if theirs:
            notes.append(f"{ours / theirs[0]:.2f} vs PgQueuer held")
        print(f"| drain {k['n'] // 1000}k, {k['procs']} procs, a transaction held open throughout (slots={k['slots']}) | {fmt(ours)} | "
              + " | ".join(cells) + f" | {'; '.join(notes)} |")
    # Memory at the most slots measured: the most jobs in a worker at once.
    most = max((dict(k).get("slots") or 0 for k in groups if dict(k).get("lib") == "ledgersync" and dict(k).get("cmd") == "drain"), default=0)
    idle = pick("ledgersync", "rss_idle_mb", cmd="drain", n=100000, procs=2, finished=0, held_xmin=None, slots=most)
    peak = pick("ledgersync", "rss_peak_mb", cmd="drain", n=100000, procs=2, finished=0, held_xmin=None, slots=most)
    if idle and peak:
        print(f"| worker RSS idle / peak while draining 100k, slots={most} (MiB) | {fmt(idle[0])} / {fmt(peak[0])} | | | |")
    # The pickup target's alternative (issue 16): a pickup can come no sooner than the enqueue's
    # own durable commit returns, so the machine's commit time, measured in the same runs (the
    # enqueue call: INSERT and COMMIT, fsync on), is shown beside it.
    commit = pick("ledgersync", "enqueue_call_p50_ms", cmd="latency")
    pickup = pick("ledgersync", "p50_ms", cmd="latency")
    if commit and pickup:
        print(f"| pickup p50 / the enqueue call's own p50 (INSERT + durable COMMIT), same runs (ms) | {fmt(pickup[0])} / {fmt(commit[0])} "
              f"| | | pickup {pickup[0] - commit[0]:+.2f} ms after the enqueue's commit |")
    for key, rs in groups.items():
        k = dict(key)
        if k.get("lib") == "ledgersync" and k.get("cmd") == "sync":
            refusals = sum(r.get("refused_429", 0) for r in rs)
            print(f"| sync: NetSuite req/s, limit {k['limit']}, {k['latency_ms']:g} ms, {k['procs']} procs | {fmt(median(rs, 'rate'))} "
                  f"| | | {fmt(median(rs, 'ratio'))} of limit/latency; 429 refusals in all runs: {refusals} |")

    # Month-end runs: wall time against the ideal, refusals, the share of the window sustained.
    for key, rs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        k = dict(key)
        if k.get("lib") != "ledgersync" or k.get("cmd") != "monthend":
            continue
        refusals = sum(r.get("refused_429", 0) for r in rs)
        unfinished = [r.get("documents", 0) - r.get("completed", 0) for r in rs]
        if k.get("provider") == "zoho":
            print(f"| month-end: Zoho Books, {k['documents']:,} documents, {k['window']} req/{k['window_s']:g} s | "
                  f"{fmt(median(rs, 'window_share'))} of the window's rate | | | wall/ideal {fmt(median(rs, 'ratio'))}; "
                  f"429s in all runs: {refusals}; documents not completed: {unfinished} |")
        else:
            print(f"| month-end: NetSuite, {k['documents']:,} documents, limit {k['limit']}, "
                  f"log-normal {k['median_ms']:g}/{rs[0].get('p99_ms', 0):g} ms | wall/ideal {fmt(median(rs, 'ratio'))} | | | "
                  f"429s in all runs: {refusals}; documents not completed: {unfinished} |")


if __name__ == "__main__":
    main(sys.argv[1:])
