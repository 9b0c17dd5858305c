import Foundation
import JobQueueTesting
import Logging
import ServiceLifecycle
import Synchronization
import Testing

@testable import JobQueue
@testable import Postgres

/// Runs told apart (issue 11): a stale run's results, heartbeat and limit release are
/// refused in SQL; a worker that lost a lease abandons the run; the completer stores what
/// it can when the server refuses one result, and gives up at its deadline when the
/// database hangs; rate-limited snoozes are capped.
@Suite(.timeLimit(.minutes(2)))
struct RunsTests {
    // MARK: - SQL

    /// Claims for `worker`; returns (id, run id, attempt) of each claimed job.
    func claim(_ db: TestDatabase, worker: String, lease: Double = 30, released: [(Int64, Int64)] = []) async throws -> [(
        id: Int64, run: Int64, attempt: Int
    )] {
        try await db.pool.query(
            QueueSQL.fetchJobs, [worker, "default", 10, lease, released.map(\.0), released.map(\.1)]
        ).rows.map { (try $0.decode("id"), try $0.decode("run_id"), try $0.decode("attempt")) }
    }

    func leaseExpiry(_ db: TestDatabase, _ id: Int64) async throws -> Date {
        let row = try #require(try await db.pool.query("SELECT lease_expires_at FROM ledgersync.jobs WHERE id = $1", [id]).rows.first)
        return try row.decode("lease_expires_at")
    }

    /// What a rescue does to a run whose worker went quiet, without waiting for its lease:
    /// the lease is put in the past and the rescue statement runs in the same transaction
    /// (so a heartbeat cannot renew it in between), and the backoff is skipped. With
    /// `claimBy`, that worker claims the job in the same transaction too, so no other
    /// worker can take it first; returns the claim.
    @discardableResult
    func rescue(_ db: TestDatabase, _ id: Int64, claimBy worker: String? = nil) async throws -> (id: Int64, run: Int64, attempt: Int)? {
        try await db.pool.withTransaction { connection in
            try await connection.query("UPDATE ledgersync.jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [id])
            let rescued = try await connection.query(QueueSQL.rescueExpiredLeases, [100]).rows.count
            #expect(rescued == 1)
            try await connection.query("UPDATE ledgersync.jobs SET run_at = now() WHERE id = $1", [id])
            guard let worker else { return nil }
            return try await connection.query(QueueSQL.fetchJobs, [worker, "default", 10, 30.0, [Int64](), [Int64]()]).rows
                .map {
                    (
                        id: try $0.decode("id", as: Int64.self), run: try $0.decode("run_id", as: Int64.self),
                        attempt: try $0.decode("attempt", as: Int.self)
                    )
                }
                .first
        }
    }

    @Test("a stale run's results, heartbeat and limit release are refused after its job was rescued and claimed again")
    func staleRunRefusedInSQL() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 1)
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "k", limitKey: "acct"))
            let stale = try #require(try await claim(db, worker: "w").first)
            try await rescue(db, id)
            // The same worker claims it again: only the run id tells the two runs apart.
            let current = try #require(try await claim(db, worker: "w").first)
            #expect(current.id == id && current.run != stale.run)
            let leaseBefore = try await leaseExpiry(db, id)

            // Every statement of the stale run changes nothing.
            let error = JSONText(#"{"class":"transient","message":"late"}"#)
            #expect(try await db.pool.query(QueueSQL.completeJobs, [[id], [stale.run]]).affectedRows == 0)
            #expect(try await db.pool.query(QueueSQL.failJobs, [[id], [stale.run], [error]]).affectedRows == 0)
            #expect(try await db.pool.query(QueueSQL.retryJobs, [[id], [stale.run], [0.0], [error]]).affectedRows == 0)
            #expect(try await db.pool.query(QueueSQL.snoozeJobs, [[id], [stale.run], [0.0], [0.0]]).affectedRows == 0)
            #expect(try await db.pool.query(QueueSQL.releaseJobs, [[id], [stale.run], true]).affectedRows == 0)
            let heartbeat = try await db.pool.query(QueueSQL.extendLeases, ["w", [id], [stale.run], 3600.0]).rows
            #expect(heartbeat.isEmpty, "the heartbeat says the stale run is not held")
            #expect(try await leaseExpiry(db, id) == leaseBefore, "and did not extend the current run's lease")
            _ = try await claim(db, worker: "w", released: [(id, stale.run)])
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE id = $1 AND limit_released", [id]) == 0)

            var job = try #require(try await db.queue.job(id: id))
            #expect(job.state == .running && job.attempt == 2 && job.lockedBy == "w")
            #expect(job.errors.map(\.class) == ["lost"])

            // The current run's heartbeat is answered with the run, and extends its lease.
            let held = try await db.pool.query(QueueSQL.extendLeases, ["w", [id], [current.run], 3600.0]).rows
            #expect(try held.map { try $0.decode("run_id", as: Int64.self) } == [current.run])
            #expect(try await leaseExpiry(db, id) > leaseBefore)

            // A snooze gives the attempt back, so the next claim has the same attempt as the
            // run before it: (id, attempt) would let the earlier run's result through.
            #expect(try await db.pool.query(QueueSQL.snoozeJobs, [[id], [current.run], [0.0], [0.0]]).affectedRows == 1)
            let next = try #require(try await claim(db, worker: "w").first)
            #expect(next.attempt == current.attempt, "same attempt, new run")
            #expect(try await db.pool.query(QueueSQL.completeJobs, [[id], [current.run]]).affectedRows == 0)
            job = try #require(try await db.queue.job(id: id))
            #expect(job.state == .running)
            #expect(try await db.pool.query(QueueSQL.completeJobs, [[id], [next.run]]).affectedRows == 1)
        }
    }

    // MARK: - Worker

    /// Blocks until cancelled; says when it started and when it was cancelled.
    struct Blocker: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.blocker"
        let events: Events
        func run(_ args: Args, context: JobContext) async throws {
            events.record("started \(context.job.runID)")
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                events.record("cancelled \(context.job.runID)")
                throw error
            }
        }
    }

    struct Quick: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.quick"
        func run(_ args: Args, context: JobContext) async throws {}
    }

    /// Always refused for a rate limit, 1 s at a time.
    struct AlwaysRateLimited: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.always_rate_limited"
        let events: Events
        func run(_ args: Args, context: JobContext) async throws {
            events.record("run")
            throw JobError.rateLimited(.milliseconds(400), reason: "429 Too Many Requests", code: "429")
        }
    }

    final class Events: Sendable {
        private let list = Mutex<[String]>([])
        func record(_ event: String) { list.withLock { $0.append(event) } }
        var all: [String] { list.withLock { $0 } }
        func contains(_ event: String) -> Bool { all.contains(event) }
    }

    /// Keeps every log line, with its metadata, for tests that check what a worker said.
    final class LogRecorder: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    struct RecordingLogHandler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.append("\(event.message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }

    func withWorker(
        _ db: TestDatabase, registry: JobRegistry, options: WorkerOptions, logs: LogRecorder? = nil, _ body: () async throws -> Void
    ) async throws {
        let logger =
            logs.map { recorder in Logger(label: "test.worker") { _ in RecordingLogHandler(recorder: recorder) } }
            ?? Logger(label: "test.worker")
        let worker = WorkerPool(pool: db.pool, registry: registry, options: options, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await body()
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("a worker whose run was rescued and claimed elsewhere abandons it: cancelled, slot freed, result not stored")
    func workerAbandonsLostRun() async throws {
        try await withTestDatabase { db in
            let events = Events()
            let logs = LogRecorder()
            var registry = JobRegistry()
            registry.register(Blocker(events: events))
            registry.register(Quick())
            let id = try await db.queue.enqueue(EnqueueRequest(kind: Blocker.kind))
            // One slot, so a later job can only run once the lost run gave it back. The
            // heartbeat runs every lease / 3.
            let options = WorkerOptions(concurrency: 1, pollInterval: .milliseconds(50), lease: .seconds(3), workerID: "worker-a")
            try await withWorker(db, registry: registry, options: options, logs: logs) {
                let started = await eventually(timeout: .seconds(30)) { events.all.contains { $0.hasPrefix("started") } }
                try #require(started)
                let lostRun = try #require(try await db.queue.job(id: id)).state == .running
                #expect(lostRun)

                // The lease runs out (say the worker was partitioned away) and another
                // worker takes the job.
                let taken = try #require(try await rescue(db, id, claimBy: "worker-b"))

                let abandoned = await eventually(timeout: .seconds(30)) { events.all.contains { $0.hasPrefix("cancelled") } }
                #expect(abandoned, "the handler of the lost run was cancelled: \(events.all)")

                // The worker goes on: its one slot is free again.
                let quick = try await db.queue.enqueue(EnqueueRequest(kind: Quick.kind))
                let ran = try await eventually(timeout: .seconds(30)) { try await db.queue.job(id: quick)?.state == .completed }
                #expect(ran)

                // The new run is untouched: still worker b's, with only the rescue's entry.
                let job = try #require(try await db.queue.job(id: id))
                #expect(job.state == .running && job.lockedBy == "worker-b")
                #expect(job.errors.map(\.class) == ["lost"])
                #expect(try await db.pool.query(QueueSQL.completeJobs, [[id], [taken.run]]).affectedRows == 1)
            }
            let lines = logs.all
            #expect(lines.contains { $0.contains("lost the lease of running jobs") && $0.contains("\(id)/run") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("result of an abandoned run dropped") && $0.contains("job=\(id)") }, "\(lines)")
            #expect(try await db.queue.job(id: id)?.state == .completed)
        }
    }

    @Test("a job that keeps being rate limited fails for good once its snoozes pass the worker's cap")
    func rateLimitedSnoozesAreCapped() async throws {
        try await withTestDatabase { db in
            let events = Events()
            var registry = JobRegistry()
            registry.register(AlwaysRateLimited(events: events))
            let id = try await db.queue.enqueue(EnqueueRequest(kind: AlwaysRateLimited.kind, maxAttempts: 1))
            // 0.4 s a snooze, cap 1 s: two snoozes (0.8 s), and the third would pass it.
            let options = WorkerOptions(pollInterval: .milliseconds(50), lease: .seconds(5), maxRateLimited: .seconds(1))
            try await withWorker(db, registry: registry, options: options) {
                let failed = try await eventually(timeout: .seconds(30)) { try await db.queue.job(id: id)?.state == .failed }
                #expect(failed)
            }
            #expect(events.all.count == 3)
            let job = try #require(try await db.queue.job(id: id))
            #expect(job.attempt == 1, "snoozes used no attempt")
            let entry = try #require(job.errors.last)
            #expect(job.errors.count == 1)
            #expect(entry.class == "rate_limited" && entry.code == "429")
            #expect(entry.message.contains("still rate limited after waiting 0.8 s in total (the cap is 1 s)"), "\(entry.message)")
            #expect(
                try await db.count(
                    "SELECT count(*) FROM ledgersync.jobs WHERE id = $1 AND rate_limited_seconds BETWEEN 0.79 AND 0.81", [id]) == 1)
            // An operator's retry starts the count again.
            #expect(try await db.queue.retry(JobFilter(id: id)) == [id])
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE id = $1 AND rate_limited_seconds = 0", [id]) == 1)
        }
    }

    // MARK: - Completer

    @Test("a batch holding one result the database refuses: that job fails with the reason, the others are stored")
    func completerSplitsARefusedBatch() async throws {
        try await withTestDatabase { db in
            let ids = try await db.queue.enqueueMany((0..<6).map { _ in EnqueueRequest(kind: "k", maxAttempts: 5) })
            let jobs = try await db.pool.query(QueueSQL.fetchJobs, ["w", "default", 10, 30.0, [Int64](), [Int64]()]).rows.map(
                Job.init(row:)
            )
            .sorted { $0.id < $1.id }
            try #require(jobs.map(\.id) == ids)
            // A value this database refuses however it is sent: a stand-in for whatever a
            // cleaned entry could still hold that PostgreSQL will not store.
            try await db.pool.query(
                #"ALTER TABLE ledgersync.jobs ADD CONSTRAINT test_refuses_poison CHECK (NOT errors @> '[{"class": "poison"}]')"#)
            func outcome(_ error: JobError, attempt: Int = 1) -> JobOutcome {
                JobOutcome.decide(error: error, attempt: attempt, maxAttempts: 5, backoff: Backoff(base: 60, cap: 60), worker: "w")
            }
            let flushed = Mutex(0)
            let completer = Completer(pool: db.pool, logger: Logger(label: "test.completer"), workerID: "w") { count in
                flushed.withLock { $0 += count }
            }
            completer.add(job: jobs[0], outcome: .complete)
            completer.add(
                job: jobs[1],
                outcome: outcome(JobError(action: .retry, errorClass: "transient", message: "NUL\u{0}in the\u{0}message", code: "A\u{0}B")))
            completer.add(job: jobs[2], outcome: outcome(JobError(action: .fail, errorClass: "poison", message: "refused")))
            completer.add(job: jobs[3], outcome: .snooze(delaySeconds: 60))
            completer.add(job: jobs[4], outcome: .complete)
            completer.add(job: jobs[5], outcome: outcome(JobError.permanent("rejected", code: "USER_ERROR")))
            let running = Task { await completer.run() }
            #expect(await completer.finish(deadline: .now + .seconds(60)))
            await running.value
            #expect(flushed.withLock { $0 } == 6)

            let stored = try await db.queue.job(id: ids[2])
            #expect(stored?.state == .failed)
            let reason = try #require(stored?.errors.last)
            #expect(reason.class == "unstorable_result" && reason.code == "23514")
            #expect(reason.message.contains("refused to store this run's result (fail)"), "\(reason.message)")
            #expect(reason.worker == "w" && reason.attempt == 1)

            #expect(try await db.queue.job(id: ids[0])?.state == .completed)
            #expect(try await db.queue.job(id: ids[4])?.state == .completed)
            let retried = try #require(try await db.queue.job(id: ids[1]))
            #expect(retried.state == .retryable)
            #expect(retried.errors.last?.message == "NULin themessage" && retried.errors.last?.code == "AB")
            #expect(try await db.queue.job(id: ids[3])?.state == .available)
            #expect(try await db.queue.job(id: ids[5])?.errors.last?.code == "USER_ERROR")
        }
    }

    @Test("at shutdown the completer gives up at its deadline when the database does not answer")
    func completerGivesUpAtItsDeadline() async throws {
        // A "database" that accepts connections and never says a word.
        let silent = try SilentListener()
        defer { silent.close() }
        let pool = ConnectionPool(url: "postgresql://nobody@127.0.0.1:\(silent.port)/none?connect_timeout=0", maxConnections: 1)
        let completer = Completer(pool: pool, logger: Logger(label: "test.completer"), workerID: "w") { _ in }
        let job = try Job(row: Row(columns: Self.jobColumns, values: Self.jobValues))
        completer.add(job: job, outcome: .complete)
        _ = Task { await completer.run() }
        let clock = ContinuousClock()
        let started = clock.now
        let stored = await completer.finish(deadline: started + .seconds(1))
        let took = clock.now - started
        #expect(!stored)
        // A hanging write cannot hold it: it returns at the deadline (the margin is for
        // a loaded machine's scheduling, not for any database wait).
        #expect(took < .seconds(10), "finish took \(took)")
    }

    static let jobColumns = [
        "id", "kind", "queue", "priority", "attempt", "max_attempts", "args", "serial_key", "limit_key", "created_at", "run_id",
        "rate_limited_seconds",
    ]
    static let jobValues: [String?] = ["1", "k", "default", "0", "1", "5", "{}", nil, nil, "2026-12-03 00:00:00+00", "7", "0"]

    @Test(
        "the rate-limited cap: only snoozes of class rate_limited count, the total decides, odd totals never trap",
        arguments: [("0", 400, false), ("0.7", 300, false), ("0.7", 301, true), ("5", 0, true), ("NaN", 400, false), ("1e300", 400, true)])
    func rateLimitCapRule(waited: String, delayMilliseconds: Int, fails: Bool) throws {
        var values = Self.jobValues
        values[11] = waited
        let job = try Job(row: Row(columns: Self.jobColumns, values: values))
        let context = JobContext(
            job: job, workerID: "w", logger: Logger(label: "test.cap"),
            pool: ConnectionPool(url: "postgresql://nobody@127.0.0.1:1/unused", maxConnections: 1), maxRateLimited: .seconds(1))
        let snooze = JobError.rateLimited(.milliseconds(delayMilliseconds), reason: "429", code: "C")
        let capped = context.applyingRateLimitCap(to: snooze)
        #expect((capped.action == .fail) == fails, "\(capped)")
        #expect(capped.errorClass == "rate_limited" && capped.code == "C")
        #expect(context.applyingRateLimitCap(to: capped).action == capped.action, "applying it twice changes nothing")
        // Other snoozes and failures are not the cap's business.
        #expect(context.applyingRateLimitCap(to: JobError.snooze(.seconds(60), reason: "later")).action == .snooze(.seconds(60)))
        #expect(context.applyingRateLimitCap(to: JobError.transient("x")).action == .retry)
    }

    // MARK: - Stored text

    @Test("stored text: no NUL or control characters, capped in scalars, one line")
    func storedText() {
        #expect(StoredText.clean("a\u{0}b", limit: 10) == "ab")
        #expect(StoredText.clean("line one\r\n\tline two\u{7}\u{85}end", limit: 100) == "line one line two end")
        #expect(StoredText.clean("  padded  ", limit: 100) == "padded")
        let marks = "e" + String(repeating: "\u{301}", count: 10_000)
        let cut = StoredText.clean(marks, limit: 50)
        #expect(cut.unicodeScalars.count == 50 && cut.hasSuffix("…"))
        #expect(StoredText.clean(String(repeating: "x", count: 5000), limit: 2000).unicodeScalars.count == 2000)
        #expect(StoredText.clean("\u{0}\u{0}", limit: 10).isEmpty)
        #expect(StoredText.clean(Optional("\u{0}"), limit: 10) == nil)
        let entry = JobOutcome.ErrorEntry(
            at: Date(), attempt: 1, class: "c\u{0}", message: String(repeating: "m", count: 10_000), code: "X\u{0}Y", worker: "w")
        #expect(entry.class == "c" && entry.code == "XY" && entry.message.unicodeScalars.count == StoredText.maxMessage)
        #expect(!ErrorHistory.encode(entry).text.contains("\\u0000"))
    }
}

/// A TCP listener that never accepts: connections complete their handshake in the
/// kernel's backlog, and then nothing is ever said on them. libpq waits for the server's
/// first message forever (with connect_timeout=0).
final class SilentListener: Sendable {
    let socket: Int32
    let port: Int

    init() throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            Glibc.close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        socket = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { _ = Glibc.close(socket) }
}
