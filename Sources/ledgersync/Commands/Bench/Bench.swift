import ArgumentParser
import Foundation
import JobQueue
import Postgres

/// `ledgersync bench …`: the peer harness's protocol (shared/bench/peers/qbench.py) for
/// Ledgersync, one `RESULT {json}` line per result. docs/performance.md has the figures and
/// scripts/bench.sh runs these and the peers alternately.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that follow the peer harness's protocol; each prints RESULT {json} lines.",
        discussion: """
            Every command EMPTIES ledgersync.jobs of the database it is given (--database-url, else $BENCH_DSN, else $DATABASE_URL) and migrates it first. Use a throwaway cluster (shared/bench/peers/pg-up.sh settings: fsync on, synchronous_commit on, shared_buffers 256MB).
            """,
        subcommands: [BenchEnqueue.self, BenchDrain.self, BenchLatency.self, BenchSync.self, BenchReconcile.self, BenchMonthend.self])
}

struct BenchEnqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Time enqueueing N diag.noop jobs: bulk from Swift, bulk from SQL, or one call per job.",
        discussion: """
            --mode swift: JobQueue.enqueueMany, sequential calls of --chunk jobs on one connection.
            --mode sql: SELECT ledgersync.enqueue_many($1) with a JSON array of --chunk jobs, as any SQL client would call it.
            --mode single: one JobQueue.enqueue per job, from --conc concurrent loops with a connection each.
            The clock covers the calls only, as qbench.py's does.
            """)

    enum Mode: String, ExpressibleByArgument, CaseIterable { case swift, sql, single }

    @Option(name: .customLong("database-url")) var databaseURL: String?
    @Option var n = 20_000
    @Option var mode = Mode.swift
    @Option(help: "Jobs per bulk call.") var chunk = 1000
    @Option(help: "Concurrent enqueuers (single mode).") var conc = 1

    func validate() throws {
        guard n > 0, chunk > 0, conc > 0 else { throw ValidationError("--n, --chunk and --conc must be positive") }
        if mode != .single, conc != 1 { throw ValidationError("--conc applies to --mode single only") }
    }

    func run() async throws {
        let url = try BenchDatabase.url(databaseURL)
        let pool = try await Bench.openDatabase(url, connections: max(conc, 1))
        try await Bench.reset(pool)
        let queue = JobQueue(pool: pool)
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        let walBefore = try await WALCounters.read(pool)
        switch mode {
        case .swift:
            let requests = (0..<chunk).map { _ in EnqueueRequest(kind: "diag.noop") }
            try await pool.withConnection { connection in
                let start = clock.now
                var left = n
                while left > 0 {
                    let k = min(chunk, left)
                    try await queue.enqueueMany(k == chunk ? requests : Array(requests.prefix(k)), on: connection, batchSize: chunk)
                    left -= k
                }
                elapsed = clock.now - start
            }
        case .sql:
            func array(_ k: Int) -> String { "[" + Array(repeating: #"{"kind":"diag.noop"}"#, count: k).joined(separator: ",") + "]" }
            let full = array(chunk)
            try await pool.withConnection { connection in
                let start = clock.now
                var left = n
                while left > 0 {
                    let k = min(chunk, left)
                    try await connection.query(
                        "SELECT count(*) FROM ledgersync.enqueue_many($1::jsonb)", [JSONText(k == chunk ? full : array(k))], prepare: true)
                    left -= k
                }
                elapsed = clock.now - start
            }
        case .single:
            let connections = try await withThrowingTaskGroup(of: Connection.self) { group in
                for _ in 0..<conc { group.addTask { try await Connection.connect(url: url, applicationName: "ledgersync-bench") } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let shares = (0..<conc).map { n / conc + ($0 < n % conc ? 1 : 0) }
            let start = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (connection, share) in zip(connections, shares) {
                    group.addTask {
                        for _ in 0..<share { try await queue.enqueue(EnqueueRequest(kind: "diag.noop"), on: connection) }
                    }
                }
                try await group.waitForAll()
            }
            elapsed = clock.now - start
            for connection in connections { connection.close() }
        }
        let seconds = elapsed.seconds
        let wal = try await WALCounters.read(pool).perJob(since: walBefore, jobs: n)
        let stored = try await pool.query("SELECT count(*)::bigint AS n FROM ledgersync.jobs").rows[0].decode("n", as: Int.self)
        guard stored == n else { throw CLIError.failed("enqueued \(n) jobs but the table holds \(stored)") }
        Bench.emit(
            [
                "cmd": "enqueue", "mode": mode.rawValue, "n": n, "chunk": mode == .single ? 1 : chunk, "conc": mode == .single ? conc : 1,
                "secs": Bench.round(seconds, 3), "rate": Bench.round(Double(n) / seconds, 1),
            ].merging(wal) { first, _ in first })
        try await Bench.reset(pool)
        await pool.close()
    }
}

struct BenchDrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Drain N pre-enqueued diag.noop jobs with P worker processes of C slots, released together.",
        discussion: """
            As qbench.py: empty the queue, enqueue N jobs (untimed), CHECKPOINT and ANALYZE, start P `ledgersync worker --diagnostic-kinds` processes, wait until each has connected, opened its connections and is listening (READY), write GO to all at t_go, and poll every 50 ms for an unfinished job; t_done is the first poll that finds none. rate = N / (t_done - t_go). Also: the handler-side rate, jobs each process ran, and each worker's memory from /proc (VmRSS when ready = idle; VmHWM after the drain = peak while draining).
            --finished M first puts M completed jobs in the table (vacuumed, as old finished jobs are), to show that kept history does not slow the queue.
            --hold-xmin: a separate session runs `BEGIN; SELECT txid_current();` before the queue is emptied and the jobs are enqueued, and stays open until the drain ends (a reporting query or a forgotten session holding the xmin horizon: no dead row version can be cleaned up meanwhile). The RESULT says held_xmin: true.
            """)

    @Option(name: .customLong("database-url")) var databaseURL: String?
    @Option var n = 20_000
    @Option(help: "Worker processes.") var procs = 2
    @Option(help: "Slots (--concurrency) of each worker process.") var slots = 100
    @Option(help: "Completed jobs already in the table before the drain.") var finished = 0
    @Option(help: "Extra arguments for each worker, e.g. \"--connections 8\".") var workerArgs = ""
    @Option(help: "Worker stderr goes here.") var log = "/tmp/ledgersync-bench-workers.log"
    @Option(help: "Give up after this many seconds.") var timeout = 600.0
    @Flag(name: .customLong("hold-xmin"), help: "Hold a transaction open on another session from the enqueue to the drain's end.")
    var holdXmin = false

    func validate() throws {
        guard n > 0, procs > 0, slots > 0, finished >= 0 else { throw ValidationError("--n, --procs, --slots must be positive") }
    }

    func run() async throws {
        let url = try BenchDatabase.url(databaseURL)
        let pool = try await Bench.openDatabase(url, connections: 2)
        // Opened before the queue is emptied and refilled, so every row version the drain
        // leaves behind is one this transaction might still see.
        let holder = holdXmin ? try await Bench.holdXmin(url) : nil
        try await Bench.reset(pool)
        if finished > 0 {
            try await pool.query(
                """
                INSERT INTO ledgersync.jobs (kind, state, attempt, attempted_at, finalized_at)
                SELECT 'diag.noop', 'completed', 1, now(), now() FROM generate_series(1, $1::integer)
                """, [finished])
            try await pool.query("VACUUM ledgersync.jobs")
        }
        try await pool.query("INSERT INTO ledgersync.jobs (kind) SELECT 'diag.noop' FROM generate_series(1, $1::integer)", [n])
        try await pool.query("CHECKPOINT")
        try await pool.query("ANALYZE ledgersync.jobs")

        let extra = workerArgs.split(separator: " ").map(String.init)
        let workers = try (0..<procs).map { _ in
            try BenchWorkerProcess(
                arguments: ["--diagnostic-kinds", "--concurrency", "\(slots)"] + extra, databaseURL: url, logPath: log)
        }
        defer { for worker in workers { worker.kill9() } }
        for worker in workers { try await worker.waitUntilReady() }
        // For attributing CPU in a system-wide profile (the machine may be shared).
        FileHandle.standardError.write(Data("bench drain: worker pids \(workers.map(\.pid))\n".utf8))
        let idle = workers.compactMap { ProcessMemory.read(pid: $0.pid) }

        let unfinished = Bench.drainUnfinishedQuery
        // The workers' server processes, for CPU per job (workers connect as "ledgersync").
        let backends = try await ProcessCPU.backendPIDs(pool, applicationPrefix: "ledgersync")
            .filter { pid in !workers.contains { $0.pid == pid } }
        func cpu(_ pids: [Int32]) -> Double { pids.compactMap { ProcessCPU.seconds(pid: $0) }.reduce(0, +) }
        let workerCPUBefore = cpu(workers.map(\.pid))
        let serverCPUBefore = cpu(backends)
        let tGo = Date().timeIntervalSince1970
        for worker in workers { worker.go() }
        var tDone: Double?
        var peakSampled = 0.0
        let deadline = tGo + timeout
        while Date().timeIntervalSince1970 < deadline {
            let left: Bool = try await pool.query(unfinished, prepare: true).rows[0].decode("left")
            let now = Date().timeIntervalSince1970
            if !left {
                tDone = now
                break
            }
            for worker in workers { peakSampled = max(peakSampled, ProcessMemory.read(pid: worker.pid)?.rssMiB ?? 0) }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let tDone else { throw CLIError.failed("drain timed out after \(timeout) s") }
        let draining = workers.compactMap { ProcessMemory.read(pid: $0.pid) }
        let workerCPU = cpu(workers.map(\.pid)) - workerCPUBefore
        let serverCPU = cpu(backends) - serverCPUBefore
        if let holder {
            try await holder.execute("ROLLBACK")
            holder.close()
        }
        var results: [[String: Any]] = []
        for worker in workers { if let result = await worker.stop() { results.append(result) } }
        let tExit = Date().timeIntervalSince1970
        let counts = results.map { $0["count"] as? Int ?? 0 }
        let last = results.compactMap { $0["last"] as? Double }.max() ?? tDone
        let completed = try await pool.query("SELECT count(*)::bigint AS n FROM ledgersync.jobs WHERE state = 'completed'")
            .rows[0].decode("n", as: Int.self)
        var fields: [String: Any] = [
            "cmd": "drain", "n": n, "procs": procs, "slots": slots, "finished": finished,
            "processed": counts.reduce(0, +), "completed_in_table": completed - finished,
            "drain_s": Bench.round(tDone - tGo, 3), "rate": Bench.round(Double(n) / (tDone - tGo), 1),
            "handler_rate": Bench.round(Double(n) / (last - tGo), 1), "exit_s": Bench.round(tExit - tGo, 3),
            "per_proc": counts,
            "rss_idle_mb": Bench.round(idle.map(\.rssMiB).max() ?? 0, 1),
            "rss_peak_mb": Bench.round(max(draining.map(\.peakMiB).max() ?? 0, peakSampled), 1),
            // CPU per job of the worker processes and of their PostgreSQL backends (not the
            // bench's own poll): steadier than the rate on a shared machine.
            "worker_cpu_us_per_job": Bench.round(workerCPU * 1e6 / Double(n), 1),
            "server_cpu_us_per_job": Bench.round(serverCPU * 1e6 / Double(n), 1),
        ]
        if holdXmin { fields["held_xmin"] = true } // only then: the other rows keep their configuration
        Bench.emit(fields)
        try await Bench.reset(pool)
        await pool.close()
    }
}
