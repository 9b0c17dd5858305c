import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// The queue's promises, shown with real `ledgersync worker` OS processes against a real
/// PostgreSQL. Serialized: each test runs several processes on a 2-core machine.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct WorkerProcessTests {
    @Test("four worker processes drain 10,000 jobs: each ran exactly once, none left")
    func fourWorkersDrainTenThousandJobs() async throws {
        try await withTestDatabase { db in
            let jobs = (0..<10_000).map { _ in EnqueueRequest(kind: "diag.record") }
            let ids = try await db.queue.enqueueMany(jobs)
            #expect(ids.count == 10_000)

            let workers = try startWorkers(4, on: db, concurrency: 16)
            let drained = try await db.waitForCount(
                "SELECT count(*) FROM ledgersync.jobs WHERE state <> 'completed'", 0, timeout: .seconds(180))
            await stopWorkers(workers)
            let left = try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state <> 'completed'")
            #expect(drained, "jobs left: \(left)")

            // runs.job_id is a primary key, so a second completed run of a job would have
            // failed its insert and shown up as an error on the job.
            #expect(try await db.count("SELECT count(*) FROM ledgersync_diag.runs") == 10_000)
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE attempt <> 1 OR errors <> '[]'") == 0)
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state IN ('running', 'available', 'retryable')") == 0)
            #expect(try await db.count("SELECT count(DISTINCT worker) FROM ledgersync_diag.runs") == 4)
        }
    }

    @Test("a worker killed with SIGKILL mid-job: the job is rescued after its lease and completes elsewhere")
    func killedWorkersJobIsRescued() async throws {
        try await withTestDatabase { db in
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": 4000}"#)))
            let doomed = try LedgersyncProcess(
                ["worker", "--diagnostic-kinds", "--poll-interval", "100ms", "--lease", "2s"], databaseURL: db.url)
            let running = try await eventually(timeout: .seconds(30)) {
                try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE id = $1 AND state = 'running'", [id]) == 1
            }
            #expect(running, "\(doomed.output)")
            let rescuer = try LedgersyncProcess(
                ["worker", "--diagnostic-kinds", "--poll-interval", "100ms", "--lease", "2s", "--rescue-interval", "300ms"],
                databaseURL: db.url)
            doomed.signal(SIGKILL)
            _ = await doomed.waitForExit(timeout: .seconds(10))

            let completed = try await eventually(timeout: .seconds(30)) {
                try await db.queue.job(id: id)?.state == .completed
            }
            await stopWorkers([rescuer])
            #expect(completed, "rescuer log:\n\(rescuer.output.suffix(3000))")

            let job = try #require(try await db.queue.job(id: id))
            #expect(job.attempt == 2)
            let lost = try #require(job.errors.first)
            #expect(job.errors.count == 1)
            #expect(lost.class == "lost")
            #expect(lost.attempt == 1)
            #expect(lost.worker?.contains(":\(doomed.pid):") == true)
            let run = try #require(try await RecordedRun.all(in: db).first)
            #expect(run.attempt == 2)
            #expect(!run.worker.contains(":\(doomed.pid):"))
        }
    }

    @Test("SIGTERM: running jobs finish within the grace period, the rest stay available, exit 0")
    func sigtermLetsRunningJobsFinish() async throws {
        try await withTestDatabase { db in
            let jobs = (0..<6).map { _ in EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": 1500}"#)) }
            try await db.queue.enqueueMany(jobs)
            let worker = try LedgersyncProcess(
                ["worker", "--diagnostic-kinds", "--concurrency", "2", "--grace-period", "10s"], databaseURL: db.url)
            let started = try await db.waitForCount(
                "SELECT count(*) FROM ledgersync.jobs WHERE state = 'running'", 2, timeout: .seconds(30))
            #expect(started)
            let signalledAt = Date()
            worker.signal(SIGTERM)
            let status = await worker.waitForExit(timeout: .seconds(15))
            worker.stop()
            #expect(status == 0, "\(worker.output)")
            // Judged by when each run started, not by how quickly the signal followed the
            // second start: on a busy machine the first pair may finish and a second pair start
            // before SIGTERM arrives. Every run that started before the signal completed; none
            // started after it; the rest are untouched.
            let runs = try await RecordedRun.all(in: db)
            #expect(runs.count >= 2, "\(runs.count) runs")
            for run in runs {
                #expect(run.startedAt <= signalledAt.addingTimeInterval(0.05), "job \(run.jobID) started after SIGTERM")
            }
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == runs.count)
            #expect(
                try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'available' AND attempt = 0 AND errors = '[]'") == 6
                    - runs.count)
        }
    }

    @Test("SIGTERM with a job longer than the grace period: it is handed back, not lost, and the attempt not counted")
    func graceOverHandsJobsBack() async throws {
        try await withTestDatabase { db in
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": 20000}"#)))
            let worker = try LedgersyncProcess(
                ["worker", "--diagnostic-kinds", "--grace-period", "500ms"], databaseURL: db.url)
            #expect(try await eventually { try await db.queue.job(id: id)?.state == .running })
            worker.signal(SIGTERM)
            let status = await worker.waitForExit(timeout: .seconds(10))
            worker.stop()
            #expect(status == 0, "\(worker.output)")
            let job = try #require(try await db.queue.job(id: id))
            #expect(job.state == .available)
            #expect(job.attempt == 0)
            #expect(job.errors.map(\.class) == ["interrupted"])
            #expect(job.errors.first?.message.hasSuffix("shut down before the run finished; the attempt is not counted") == true)
        }
    }

    @Test("serial keys: 1,000 jobs over 10 keys, 4 processes: one key's runs never overlap and follow enqueue order")
    func serialKeysRunInOrderOneAtATime() async throws {
        try await withTestDatabase { db in
            // Interleave the keys so that ids of one key are spread over the whole range.
            let jobs = (0..<1_000).map { index in
                EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": \#(index % 3)}"#), serialKey: "customer-\(index % 10)")
            }
            try await db.queue.enqueueMany(jobs)
            // 8 slots in all for 10 keys: no process can hold every key, so keys pass from
            // one process to another. (With more slots, the process that first claims a
            // key's job may keep the key: a batch of completions claims, in the same
            // statement, the keys' next jobs it just made runnable.)
            let workers = try startWorkers(4, on: db, concurrency: 2)
            let drained = try await db.waitForCount("SELECT count(*) FROM ledgersync_diag.runs", 1_000, timeout: .seconds(240))
            await stopWorkers(workers)
            #expect(drained)

            let runs = try await RecordedRun.all(in: db)
            #expect(runs.count == 1_000)
            for (key, keyRuns) in Dictionary(grouping: runs, by: { $0.serialKey ?? "" }) {
                let byStart = keyRuns.sorted { $0.startedAt < $1.startedAt }
                #expect(byStart.map(\.jobID) == keyRuns.map(\.jobID).sorted(), "runs of \(key) out of enqueue order")
                for (earlier, later) in zip(byStart, byStart.dropFirst()) {
                    #expect(later.startedAt >= earlier.finishedAt, "runs of \(key) overlap: jobs \(earlier.jobID) and \(later.jobID)")
                }
            }
            #expect(Set(runs.map(\.worker)).count > 1, "only one process ran jobs; the test shows nothing across processes")
            let keysAcrossProcesses = Dictionary(grouping: runs, by: { $0.serialKey ?? "" }).values.filter {
                Set($0.map(\.worker)).count > 1
            }
            #expect(!keysAcrossProcesses.isEmpty, "no key's runs were spread over processes; the order across processes is untested")
        }
    }

    @Test("limit keys: limit 3, 4 processes x 2 slots: at most, and at peak exactly, 3 run at once, from several processes")
    func limitKeysHoldAcrossProcesses() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("netsuite:acct", maxRunning: 3)
            var jobs = (0..<60).map { _ in
                EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": 150}"#), limitKey: "netsuite:acct")
            }
            jobs += (0..<200).map { _ in EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": 20}"#)) }
            try await db.queue.enqueueMany(jobs.shuffled())
            // Two slots a process, fewer than the limit: the limit can only be reached, and so
            // only be tested, by runs of several processes at once. With more slots than the
            // limit, the process that ends a limited run fetches the freed slot back before the
            // others poll, and one process could run every limited job (it did, under load).
            // The in-process side (one pool with more slots than the limit) is
            // JobQueueTests' concern.
            let workers = try startWorkers(4, on: db, concurrency: 2)
            let drained = try await db.waitForCount("SELECT count(*) FROM ledgersync_diag.runs", 260, timeout: .seconds(120))
            await stopWorkers(workers)
            #expect(drained)

            let limited = try await RecordedRun.all(in: db).filter { $0.limitKey == "netsuite:acct" }
            #expect(limited.count == 60)
            // Sweep over start/end events (ends first on ties), tracking who runs at the peak.
            // `order` 0 for an end, 1 for a start.
            let events = limited.flatMap { [(at: $0.startedAt, order: 1, run: $0), (at: $0.finishedAt, order: 0, run: $0)] }
                .sorted { ($0.at, $0.order) < ($1.at, $1.order) }
            var running: [RecordedRun] = []
            var peak: [RecordedRun] = []
            for event in events {
                if event.order == 1 {
                    running.append(event.run)
                    if running.count > peak.count { peak = running }
                } else {
                    running.removeAll { $0.jobID == event.run.jobID }
                }
            }
            #expect(peak.count == 3)
            #expect(Set(peak.map(\.worker)).count > 1, "the peak was one process's runs; the limit was not tested across processes")
        }
    }

    @Test("backoff: an always-failing job is retried at growing, jittered, capped delays and fails after max_attempts")
    func backoffGrowsJittersAndCaps() async throws {
        try await withTestDatabase { db in
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "diag.fail", maxAttempts: 6))
            let workers = try startWorkers(1, on: db, extra: ["--poll-interval", "20ms"])
            let failed = try await eventually(timeout: .seconds(30)) { try await db.queue.job(id: id)?.state == .failed }
            await stopWorkers(workers)
            #expect(failed)

            let job = try #require(try await db.queue.job(id: id))
            #expect(job.attempt == 6)
            #expect(job.errors.map(\.attempt) == [1, 2, 3, 4, 5, 6])
            #expect(job.errors.allSatisfy { $0.class == "transient" && $0.code == "DIAG" })
            // diag.fail's backoff: base 0.1 s doubling, cap 0.4 s, jitter shortens by up to 25%.
            let ceilings = [0.1, 0.2, 0.4, 0.4, 0.4]
            let delays = job.errors.prefix(5).compactMap(\.retryIn)
            #expect(delays.count == 5)
            #expect(job.errors.last?.retryIn == nil, "the last attempt is not retried")
            for (delay, ceiling) in zip(delays, ceilings) {
                #expect(delay <= ceiling && delay >= ceiling * 0.75, "delay \(delay) outside [\(ceiling * 0.75), \(ceiling)]")
            }
            #expect(delays[2] > delays[0], "delays do not grow")
            #expect(zip(delays, ceilings).contains { $0 < $1 - 0.000_001 }, "no jitter: every delay equals its ceiling")
            // And the job really waited that long between attempts.
            for index in 0..<5 {
                let gap = job.errors[index + 1].at.timeIntervalSince(job.errors[index].at)
                #expect(gap >= delays[index] - 0.005, "attempt \(index + 2) came \(gap)s after a \(delays[index])s backoff")
            }
        }
    }

    @Test("ledgersync.enqueue in a transaction: none if rolled back, one if committed, picked up through NOTIFY")
    func sqlEnqueueIsTransactionalAndWakesWorkers() async throws {
        try await withTestDatabase { db in
            // A probe job waiting before the worker starts: its start-up fetch takes it, and
            // the probe's recorded run is the sign that the start-up fetch has passed and the
            // worker is idle (it was a one-second sleep that guessed so).
            _ = try await db.queue.enqueue(EnqueueRequest(kind: "diag.record", uniqueKey: "probe"))
            // A 30 s poll: only a notification can wake the worker in time.
            let workers = try startWorkers(1, on: db, extra: ["--poll-interval", "30s"])
            #expect(
                try await eventually {
                    try await db.count(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ledgersync-listener'", [db.name])
                        == 1
                })
            #expect(
                try await db.waitForCount(
                    "SELECT count(*) FROM ledgersync.jobs WHERE unique_key = 'probe' AND state = 'completed'", 1, timeout: .seconds(60)))

            let billing = try await Connection.connect(url: db.url)
            try await billing.execute("BEGIN")
            try await billing.query("SELECT ledgersync.enqueue('diag.record', '{}')")
            try await billing.execute("ROLLBACK")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE unique_key IS DISTINCT FROM 'probe'") == 0)

            for round in 1...3 {
                try await billing.execute("BEGIN")
                try await billing.query("SELECT ledgersync.enqueue('diag.record', '{}', unique_key => $1)", ["round-\(round)"])
                try await billing.execute("COMMIT")
                let committedAt = Date()
                #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE unique_key = $1", ["round-\(round)"]) == 1)
                // Any pick-up well inside the 30 s poll was woken by the notification; the bound
                // is half the poll, not a guess at how fast a busy machine is.
                let picked = try await eventually(timeout: .seconds(15), every: .milliseconds(10)) {
                    try await db.count("SELECT count(*) FROM ledgersync_diag.runs") == round + 1
                }
                #expect(picked)
                let started: Date = try await db.pool.query("SELECT max(started_at) AS s FROM ledgersync_diag.runs").rows[0].decode("s")
                #expect(started.timeIntervalSince(committedAt) < 15, "picked up \(started.timeIntervalSince(committedAt))s after commit")
            }
            billing.close()
            await stopWorkers(workers)
        }
    }

    @Test("bad jobs fail with the reason and the worker keeps working")
    func badJobsFailWithTheReason() async throws {
        try await withTestDatabase { db in
            let unknown = try await db.queue.enqueue(EnqueueRequest(kind: "no.such.kind"))
            let badArgs = try await db.queue.enqueue(EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": "soon"}"#)))
            let badValue = try await db.queue.enqueue(EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": -5}"#)))
            let workers = try startWorkers(1, on: db)
            #expect(
                try await eventually {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'failed'") == 3
                })
            // A good job after the bad ones still runs.
            let good = try await db.queue.enqueue(EnqueueRequest(kind: "diag.record"))
            #expect(try await eventually { try await db.queue.job(id: good)?.state == .completed })
            #expect(workers[0].process.isRunning)
            await stopWorkers(workers)

            let unknownJob = try #require(try await db.queue.job(id: unknown))
            #expect(unknownJob.attempt == 1, "an unknown kind is not retried")
            #expect(unknownJob.errors.first?.class == "unknown_kind")
            #expect(unknownJob.errors.first?.message.contains("no handler for job kind 'no.such.kind'") == true)
            let badArgsJob = try #require(try await db.queue.job(id: badArgs))
            #expect(badArgsJob.attempt == 1)
            #expect(badArgsJob.errors.first?.class == "bad_args")
            #expect(badArgsJob.errors.first?.message.contains("sleep_ms") == true, "\(badArgsJob.errors)")
            let badValueJob = try #require(try await db.queue.job(id: badValue))
            #expect(badValueJob.errors.first?.class == "permanent")
            #expect(badValueJob.errors.first?.message.contains("sleep_ms must be from 0 to 60000, got -5") == true)
        }
    }

    @Test("a worker rides out a PostgreSQL restart and carries on with new jobs")
    func survivesServerRestart() async throws {
        // A cluster of its own: restarting the shared one would break tests running beside this one.
        let cluster = try PrivateCluster()
        defer { cluster.remove() }
        let url = cluster.url
        #expect(try await LedgersyncProcess.run(["migrate"], databaseURL: url).status == 0)
        let pool = ConnectionPool(url: url, maxConnections: 2)
        let queue = JobQueue(pool: pool)
        let worker = try LedgersyncProcess(["worker", "--diagnostic-kinds", "--poll-interval", "200ms"], databaseURL: url)

        let before = try await queue.enqueue(EnqueueRequest(kind: "diag.record"))
        #expect(try await eventually { try await queue.job(id: before)?.state == .completed })

        try cluster.run(["restart"])
        // Our own pool heals too: its first borrow after the restart may meet a dead connection.
        let after = try #require(try await retrying { try await queue.enqueue(EnqueueRequest(kind: "diag.record")) })
        let done = await eventually(timeout: .seconds(30)) { (try? await queue.job(id: after))?.state == .completed }
        #expect(done, "worker log:\n\(worker.output.suffix(3000))")
        #expect(worker.process.isRunning)
        await stopWorkers([worker])
        await pool.close()
    }

    @Test(
        "runs that end while PostgreSQL is down: their results are kept and stored when it is back, each job completed on its first attempt"
    )
    func resultsStoredAfterOutage() async throws {
        let cluster = try PrivateCluster()
        defer { cluster.remove() }
        #expect(try await LedgersyncProcess.run(["migrate"], databaseURL: cluster.url).status == 0)
        let pool = ConnectionPool(url: cluster.url, maxConnections: 2)
        let queue = JobQueue(pool: pool)
        // A lease far longer than the outage: a job completed after it can only have been
        // completed by the run that ended during it, not by a rescue and a second run.
        let worker = try LedgersyncProcess(
            ["worker", "--diagnostic-kinds", "--concurrency", "16", "--poll-interval", "200ms", "--lease", "120s"], databaseURL: cluster.url
        )
        var ids: [Int64] = []
        for _ in 0..<10 { ids.append(try await queue.enqueue(EnqueueRequest(kind: "diag.noop", args: JSONText(#"{"sleep_ms": 1500}"#)))) }
        let running = try await eventually(timeout: .seconds(30)) {
            try await records(ids, queue).allSatisfy { $0.state == .running }
        }
        #expect(running, "worker log:\n\(worker.output.suffix(3000))")
        await pool.close()

        try cluster.run(["stop"])
        // The runs end (1.5 s) while the server is down: the worker says it keeps their results.
        let kept = await eventually(timeout: .seconds(30)) { worker.output.contains("could not store job results; retrying") }
        #expect(kept, "worker log:\n\(worker.output.suffix(3000))")
        try cluster.run(["resume"])

        let reopened = ConnectionPool(url: cluster.url, maxConnections: 2)
        let again = JobQueue(pool: reopened)
        let stored = await eventually(timeout: .seconds(60)) {
            ((try? await records(ids, again)) ?? []).allSatisfy { $0.state == .completed }
        }
        #expect(stored, "worker log:\n\(worker.output.suffix(3000))")
        for job in try await records(ids, again) {
            #expect(
                job.state == .completed && job.attempt == 1 && job.errors.isEmpty,
                "job \(job.id): \(job.state) attempt \(job.attempt) \(job.errors)")
        }
        #expect(worker.process.isRunning)
        await stopWorkers([worker])
        await reopened.close()
    }

    func records(_ ids: [Int64], _ queue: JobQueue) async throws -> [JobRecord] {
        var records: [JobRecord] = []
        for id in ids { records.append(try #require(try await queue.job(id: id))) }
        return records
    }

    /// `body`'s value, retrying while the database is coming back.
    func retrying<T>(_ body: () async throws -> T) async throws -> T? {
        for _ in 0..<50 {
            if let value = try? await body() { return value }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }
}

/// A PostgreSQL cluster of one test's own (scripts/pg.sh), for tests that stop or restart the
/// server: doing that to the shared one would break tests running beside them.
struct PrivateCluster {
    let directory: URL
    let url: String
    var dataDirectory: String { directory.appendingPathComponent("data").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ledgersync-cluster-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        url = try Self.startServer(data: directory.appendingPathComponent("data").path, in: directory)
    }

    /// Ports below Linux's ephemeral range (32768-60999, ip_local_port_range): a port there can
    /// be held by any outgoing connection on this machine (the test's own, a worker's), which a
    /// probe cannot see coming. A listener that took the port first is met with a retry.
    private static func startServer(data: String, in directory: URL) throws -> String {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try pg(["start", data, "\(Int.random(in: 30_000...32_499))"], in: directory)
            } catch let error as CocoaError where attempt < 5 && "\(error)".contains("Address already in use") {
                continue
            }
        }
    }

    /// `pg.sh <command> DIR` on this cluster (stop, resume, restart).
    func run(_ command: [String]) throws {
        _ = try Self.pg([command[0], dataDirectory] + command.dropFirst(), in: directory)
    }

    func remove() {
        _ = try? Self.pg(["stop", dataDirectory], in: directory)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Output goes to a file, not a pipe: the server pg.sh starts inherits descriptors, and a
    /// pipe it holds would never reach end-of-file.
    static func pg(_ arguments: [String], in directory: URL) throws -> String {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/pg.sh").path
        let output = directory.appendingPathComponent("pg.out")
        let errors = directory.appendingPathComponent("pg.err")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            throw CocoaError(
                .fileReadUnknown,
                userInfo: [NSLocalizedDescriptionKey: "pg.sh \(arguments[0]) failed (\(process.terminationStatus)): \(message)"])
        }
        return try String(contentsOf: output, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
