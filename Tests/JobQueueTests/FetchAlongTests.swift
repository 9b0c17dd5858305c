import Foundation
import JobQueueTesting
import Logging
import Postgres
import ServiceLifecycle
import Synchronization
import Testing

@testable import JobQueue

/// Results and the next fetch in one statement (queue migration 016,
/// `ledgersync.complete_and_fetch`; `Completer.FetchAlong`): the completions are stored
/// before the fetch looks, a failure rolls both back, and the completer then stores the
/// completions alone rather than lose them or blame them.
@Suite(.timeLimit(.minutes(2)))
struct FetchAlongTests {
    /// Claims up to `limit` jobs for worker "w", as the worker's fetch does.
    func claim(_ db: TestDatabase, limit: Int = 10) async throws -> [Job] {
        try await db.pool.query(QueueSQL.fetchJobs, ["w", "default", limit, 30.0, [Int64](), [Int64]()], prepare: true).rows
            .map(Job.init(row:)).sorted { $0.id < $1.id }
    }

    func state(_ db: TestDatabase, _ id: Int64) async throws -> String {
        try await db.pool.query("SELECT state::text AS state FROM ledgersync.jobs WHERE id = $1", [id]).rows[0].decode("state")
    }

    @Test("the completions go first: the next job of a completed job's lane is claimed by the same call; a stale run is left alone")
    func completionsBeforeTheFetch() async throws {
        try await withTestDatabase { db in
            let first = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "lane"))
            let second = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "lane"))
            let other = try await db.queue.enqueue(EnqueueRequest(kind: "k"))
            let claimed = try await claim(db)
            #expect(claimed.map(\.id) == [first, other], "the lane's second job waits for its first")
            let rows = try await db.pool.query(
                QueueSQL.completeAndFetchJobs,
                ["w", "default", 10, 30.0, [first, other], [claimed[0].runID, claimed[1].runID - 1]], prepare: true
            ).rows
            #expect(try rows.map { try $0.decode("id", as: Int64.self) } == [second])
            #expect(try await state(db, first) == "completed")
            #expect(try await state(db, other) == "running", "a run id that is not the job's current run changes nothing")
            #expect(try await state(db, second) == "running")
        }
    }

    @Test("a fetch that fails rolls the completions back with it")
    func failureRollsBothBack() async throws {
        try await withTestDatabase { db in
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "k"))
            _ = try await db.queue.enqueue(EnqueueRequest(kind: "k"))
            let claimed = try await claim(db, limit: 1)
            // A lease past interval's range: the fetch's claim fails (SQLSTATE 22008).
            await #expect(throws: PostgresError.self) {
                try await db.pool.query(
                    QueueSQL.completeAndFetchJobs, ["w", "default", 10, 1e300, [id], [claimed[0].runID]], prepare: true)
            }
            #expect(try await state(db, id) == "running")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'available'") == 1)
        }
    }

    /// Records what the completer asked and was answered.
    final class Calls: Sendable {
        let plans = Mutex<[Int]>([])
        let answers = Mutex<[[Int64]?]>([])
    }

    func completer(_ db: TestDatabase, calls: Calls, leaseSeconds: Double) -> Completer {
        Completer(
            pool: db.pool, logger: Logger(label: "test.completer"), workerID: "w",
            fetchAlong: Completer.FetchAlong(
                plan: { completions in
                    calls.plans.withLock { $0.append(completions) }
                    return Completer.FetchAlong.Plan(workerID: "w", queue: "default", limit: 5, leaseSeconds: leaseSeconds)
                },
                done: { _, rows in
                    let ids = try? rows.map { rows in try rows.map { try $0.decode("id", as: Int64.self) } }
                    calls.answers.withLock { $0.append(ids ?? nil) }
                }),
            onFlushed: { _ in })
    }

    @Test("the completer sends a batch of completions with a fetch, and hands the claimed jobs over")
    func completerFetchesAlong() async throws {
        try await withTestDatabase { db in
            let ids = try await db.queue.enqueueMany((0..<5).map { _ in EnqueueRequest(kind: "k") })
            let claimed = try await claim(db, limit: 2)
            let calls = Calls()
            let completer = completer(db, calls: calls, leaseSeconds: 30)
            for job in claimed { completer.add(job: job, outcome: .complete) }
            let running = Task { await completer.run() }
            #expect(await completer.finish(deadline: .now + .seconds(60)))
            await running.value
            #expect(calls.plans.withLock { $0 } == [2])
            #expect(calls.answers.withLock { $0 } == [Array(ids[2...])])
            for id in ids[..<2] { #expect(try await state(db, id) == "completed") }
            for id in ids[2...] { #expect(try await state(db, id) == "running") }
        }
    }

    @Test("when the fetch along fails, the completions are stored alone: not lost, not failed")
    func completerStoresAloneAfterAFailedFetch() async throws {
        try await withTestDatabase { db in
            let ids = try await db.queue.enqueueMany((0..<3).map { _ in EnqueueRequest(kind: "k") })
            let claimed = try await claim(db, limit: 2)
            let calls = Calls()
            let completer = completer(db, calls: calls, leaseSeconds: 1e300)
            for job in claimed { completer.add(job: job, outcome: .complete) }
            let running = Task { await completer.run() }
            #expect(await completer.finish(deadline: .now + .seconds(60)))
            await running.value
            #expect(calls.answers.withLock { $0.count } == 1)
            #expect(calls.answers.withLock { $0.first } == .some(nil), "told that nothing was claimed")
            for id in ids[..<2] { #expect(try await state(db, id) == "completed") }
            #expect(try await state(db, ids[2]) == "available")
        }
    }

    @Test("a batch with anything but completions is written as before, without a fetch")
    func onlyCompletionsTakeAFetch() async throws {
        try await withTestDatabase { db in
            let ids = try await db.queue.enqueueMany((0..<2).map { _ in EnqueueRequest(kind: "k", maxAttempts: 5) })
            let claimed = try await claim(db)
            let calls = Calls()
            let completer = completer(db, calls: calls, leaseSeconds: 30)
            completer.add(job: claimed[0], outcome: .complete)
            completer.add(job: claimed[1], outcome: .snooze(delaySeconds: 60))
            let running = Task { await completer.run() }
            #expect(await completer.finish(deadline: .now + .seconds(60)))
            await running.value
            #expect(calls.plans.withLock { $0 }.isEmpty)
            #expect(try await state(db, ids[0]) == "completed")
            #expect(try await state(db, ids[1]) == "available")
        }
    }

    final class Counts: Sendable {
        let value = Mutex((now: 0, most: 0, done: 0))
        func withLock<R>(_ body: (inout (now: Int, most: Int, done: Int)) -> R) -> R { value.withLock { body(&$0) } }
    }

    /// Counts the runs of its kind at once, and the highest count seen.
    struct Overlapping: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.overlapping"
        let counts: Counts
        func run(_ args: Args, context: JobContext) async throws {
            counts.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
            }
            // Runs that end at different moments, so results are stored in batches of all sizes.
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...15)))
            counts.withLock {
                $0.now -= 1
                $0.done += 1
            }
        }
    }

    @Test("with fetches sent along with results, a worker still never runs more jobs than its slots")
    func slotsHoldWithFetchesAlong() async throws {
        try await withTestDatabase { db in
            let counts = Counts()
            var registry = JobRegistry()
            registry.register(Overlapping(counts: counts))
            _ = try await db.queue.enqueueMany((0..<400).map { _ in EnqueueRequest(kind: Overlapping.kind) })
            let logger = Logger(label: "test.worker")
            let worker = WorkerPool(
                pool: db.pool, registry: registry,
                options: WorkerOptions(concurrency: 6, pollInterval: .milliseconds(50), lease: .seconds(30)), logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            let running = Task { try await group.run() }
            let drained = try await eventually(timeout: .seconds(60)) {
                try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == 400
            }
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(drained)
            #expect(counts.withLock { $0.most } <= 6)
            #expect(counts.withLock { $0.done } == 400, "each job ran once")
        }
    }

    /// Runs until the test opens its gate.
    struct Held: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.held"
        let gate: Gate<Void>
        func run(_ args: Args, context: JobContext) async throws { try await gate.wait() }
    }

    @Test("jobs a fetch along claims after shutdown began are back in the queue before the worker says it stopped")
    func fetchAlongDuringShutdownHandsBack() async throws {
        try await withTestDatabase { db in
            let gate = Gate<Void>()
            var registry = JobRegistry()
            registry.register(Held(gate: gate))
            registry.register(RunsTests.Quick())
            let held = try await db.queue.enqueue(EnqueueRequest(kind: Held.kind))
            // A hand-back that takes a while, so that a worker which did not wait for it
            // would say it stopped first. (The wait is what is tested, not its length.)
            try await db.pool.query(
                """
                CREATE FUNCTION slow_hand_back() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$
                """)
            try await db.pool.query(
                """
                CREATE TRIGGER slow_hand_back BEFORE UPDATE ON ledgersync.jobs FOR EACH ROW
                WHEN (OLD.state = 'running' AND NEW.state = 'available') EXECUTE FUNCTION slow_hand_back()
                """)
            let logs = RunsTests.LogRecorder()
            let logger = Logger(label: "test.worker") { _ in RunsTests.RecordingLogHandler(recorder: logs) }
            // One slot: while `held` runs, nothing else is fetched.
            let worker = WorkerPool(
                pool: db.pool, registry: registry,
                options: WorkerOptions(concurrency: 1, pollInterval: .milliseconds(50), lease: .seconds(30)), logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            let running = Task { try await group.run() }
            try #require(try await eventually(timeout: .seconds(30)) { try await state(db, held) == "running" })
            let next = try await db.queue.enqueue(EnqueueRequest(kind: RunsTests.Quick.kind))

            // Every write to the jobs table waits for this session, so the completion of
            // `held`, with the fetch along it, is in flight in the server as shutdown begins.
            let locker = try await Connection.connect(url: db.url)
            try await locker.query("BEGIN")
            try await locker.query("LOCK TABLE ledgersync.jobs IN EXCLUSIVE MODE")
            _ = gate.settle(.success(()))
            let inFlight = try await eventually(timeout: .seconds(30)) {
                try await db.count(
                    """
                    SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%complete_and_fetch%'
                    """) == 1
            }
            try #require(inFlight)
            await group.triggerGracefulShutdown()
            try #require(await eventually(timeout: .seconds(30)) { logs.all.contains { $0.hasPrefix("shutting down") } })
            try await locker.query("COMMIT")
            locker.close()
            try await running.value

            #expect(try await state(db, held) == "completed")
            #expect(try await state(db, next) == "available", "claimed along after shutdown began, and handed back")
            let handedBack = try #require(try await db.queue.job(id: next))
            #expect(handedBack.attempt == 0, "the attempt is given back")
            #expect(
                handedBack.errors.map(\.message) == [
                    "worker \(worker.options.workerID) shut down before the run started; the attempt is not counted"
                ])
            #expect(!logs.all.contains { $0.contains("could not hand back") })
        }
    }
}
