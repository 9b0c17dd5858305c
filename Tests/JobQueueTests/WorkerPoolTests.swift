import Foundation
import JobQueueTesting
import Logging
import Postgres
import ServiceLifecycle
import Synchronization
import Testing

@testable import JobQueue

/// The worker engine in-process, with handlers written for each rule: per-kind timeouts
/// (also for a handler that ignores cancellation), snooze, a provider's retry-after, and
/// shutdown that stores every result.
@Suite(.timeLimit(.minutes(2)))
struct WorkerPoolTests {
    /// Counts runs per job across handler calls.
    final class Runs: Sendable {
        private let counts = Mutex<[Int64: Int]>([:])
        func next(_ id: Int64) -> Int {
            counts.withLock {
                $0[id, default: 0] += 1
                return $0[id]!
            }
        }
        var total: Int { counts.withLock { $0.values.reduce(0, +) } }
    }

    struct Stubborn: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.stubborn"
        var options: JobKindOptions { JobKindOptions(maxAttempts: 2, timeout: .milliseconds(200), backoff: Backoff(base: 0.05, cap: 0.05)) }
        func run(_ args: Args, context: JobContext) async throws {
            await pause(.seconds(10)) // ignores cancellation, like a call stuck in C code
        }
    }

    /// Stops as soon as it is cancelled: at its deadline its own error (a cancellation)
    /// comes back at once, racing the timeout.
    struct Punctual: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.punctual"
        var options: JobKindOptions { JobKindOptions(maxAttempts: 1, timeout: .milliseconds(200)) }
        func run(_ args: Args, context: JobContext) async throws {
            try await Task.sleep(for: .seconds(10))
        }
    }

    struct Snoozer: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.snoozer"
        let runs: Runs
        func run(_ args: Args, context: JobContext) async throws {
            if runs.next(context.job.id) <= 2 { throw JobError.snooze(.milliseconds(100), reason: "not yet") }
        }
    }

    struct RateLimited: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.rate_limited"
        /// A backoff far from the hint (40 s, no jitter), so the delay used says which one won.
        static let backoff = Backoff(base: 40, cap: 40, jitter: 0)
        let runs: Runs
        var options: JobKindOptions { JobKindOptions(maxAttempts: 3, backoff: Self.backoff) }
        func run(_ args: Args, context: JobContext) async throws {
            if runs.next(context.job.id) == 1 {
                throw JobError(
                    action: .retryAfter(.milliseconds(300)), errorClass: "rate_limited", message: "429 from provider", code: "429")
            }
        }
    }

    struct Quick: JobHandler {
        struct Args: Codable, Sendable { let n: Int }
        static let kind = "test.quick"
        let runs: Runs
        func run(_ args: Args, context: JobContext) async throws { _ = runs.next(context.job.id) }
    }

    /// Talks to a "provider" of one limit key, then does bookkeeping; optionally gives its
    /// limit slot back in between. Records the most calls in flight and runs at once.
    struct ProviderCall: JobHandler {
        struct Args: Codable, Sendable { let release: Bool }
        static let kind = "test.provider_call"
        let meter: Meter
        func run(_ args: Args, context: JobContext) async throws {
            meter.enter(\.running)
            defer { meter.leave(\.running) }
            meter.enter(\.calling)
            await pause(.milliseconds(150))
            meter.leave(\.calling)
            if args.release {
                context.releaseLimitSlot()
                // Bookkeeping (writing the provider's id, say) that lasts until the next job
                // of the key has started: the claim is then seen, not hoped for within a
                // fixed window. Bounded, so a slot never given back fails instead of hanging.
                await meter.waitUntil(timeout: .seconds(30)) { $0.running >= 2 || $0.finished + $0.running >= 3 }
            } else {
                // Nothing can signal "the next job did not start"; a second is how long the
                // test looks for one that should not.
                await pause(.seconds(1))
            }
            meter.finish()
        }
    }

    final class Meter: Sendable {
        struct Counts { var running = 0, calling = 0, maxRunning = 0, maxCalling = 0, finished = 0 }
        private let counts = Mutex(Counts())
        func enter(_ key: WritableKeyPath<Counts, Int>) {
            counts.withLock {
                $0[keyPath: key] += 1
                $0.maxRunning = max($0.maxRunning, $0.running)
                $0.maxCalling = max($0.maxCalling, $0.calling)
            }
        }
        func leave(_ key: WritableKeyPath<Counts, Int>) { counts.withLock { $0[keyPath: key] -= 1 } }
        func finish() { counts.withLock { $0.finished += 1 } }
        /// Returns once `condition` holds, or after `timeout`.
        func waitUntil(timeout: Duration, _ condition: (Counts) -> Bool) async {
            let deadline = ContinuousClock.now + timeout
            while !counts.withLock({ condition($0) }), ContinuousClock.now < deadline, !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
        var maxima: (running: Int, calling: Int) { counts.withLock { ($0.maxRunning, $0.maxCalling) } }
    }

    func withWorker(
        _ db: TestDatabase, registry: JobRegistry, concurrency: Int = 8, _ body: () async throws -> Void
    ) async throws {
        let logger = Logger(label: "test.worker")
        let worker = WorkerPool(
            pool: db.pool, registry: registry,
            options: WorkerOptions(concurrency: concurrency, pollInterval: .milliseconds(50), lease: .seconds(5)), logger: logger)
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

    @Test("a run past its kind's timeout is abandoned and retried, even if the handler ignores cancellation")
    func timeoutAbandonsStuckRuns() async throws {
        try await withTestDatabase { db in
            var registry = JobRegistry()
            registry.register(Stubborn())
            let id = try await db.queue.enqueue(EnqueueRequest(kind: Stubborn.kind, maxAttempts: 2))
            try await withWorker(db, registry: registry) {
                let done = try await eventually(timeout: .seconds(30)) { try await db.queue.job(id: id)?.state == .failed }
                #expect(done)
            }
            let job = try #require(try await db.queue.job(id: id))
            #expect(job.errors.map(\.class) == ["timeout", "timeout"])
            // The last attempt, from its start to its recorded error, lasted far less than the
            // handler's 10 s: it was given up at 0.2 s (measured by the database's clock, so a
            // slow worker start-up does not count; the margin absorbs a loaded machine, where
            // 2.5 s was seen).
            let lastRun = try #require(job.errors.last?.at).timeIntervalSince(try #require(job.attemptedAt))
            #expect(lastRun < 6, "the last attempt took \(lastRun) s")
            #expect(job.errors.first?.message.contains("timeout of 0.2 seconds") == true, "\(job.errors)")
        }
    }

    @Test("a handler that stops when cancelled at its deadline is recorded as timed out, not as cancelled")
    func timeoutWinsOverTheCancellationItSends() async throws {
        try await withTestDatabase { db in
            var registry = JobRegistry()
            registry.register(Punctual())
            let ids = try await db.queue.enqueueMany((0..<8).map { _ in EnqueueRequest(kind: Punctual.kind, maxAttempts: 1) })
            try await withWorker(db, registry: registry) {
                let done = try await eventually(timeout: .seconds(30)) {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'failed'") == 8
                }
                #expect(done)
            }
            for id in ids {
                let job = try #require(try await db.queue.job(id: id))
                #expect(job.errors.map(\.class) == ["timeout"], "job \(id): \(job.errors)")
            }
        }
    }

    @Test("a job that gives its limit slot back lets the next job of the key start while it finishes", arguments: [true, false])
    func limitSlotGivenBackEarly(release: Bool) async throws {
        try await withTestDatabase { db in
            let meter = Meter()
            var registry = JobRegistry()
            registry.register(ProviderCall(meter: meter))
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 1)
            let ids = try await db.queue.enqueueMany(
                (0..<3).map { _ in
                    EnqueueRequest(kind: ProviderCall.kind, args: JSONText(#"{"release": \#(release)}"#), limitKey: "acct")
                })
            try await withWorker(db, registry: registry) {
                let done = try await eventually(timeout: .seconds(30)) {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == 3
                }
                #expect(done)
            }
            #expect(ids.count == 3)
            let (running, calling) = meter.maxima
            #expect(calling == 1, "never more provider calls at once than the limit")
            if release {
                #expect(running >= 2, "the next job started during the previous one's bookkeeping")
            } else {
                #expect(running == 1, "without giving the slot back, the jobs of the key run one at a time")
            }
        }
    }

    @Test("snooze runs the job again later without using attempts")
    func snoozeGivesTheAttemptBack() async throws {
        try await withTestDatabase { db in
            let runs = Runs()
            var registry = JobRegistry()
            registry.register(Snoozer(runs: runs))
            let id = try await db.queue.enqueue(EnqueueRequest(kind: Snoozer.kind, maxAttempts: 1))
            try await withWorker(db, registry: registry) {
                let done = try await eventually(timeout: .seconds(30)) { try await db.queue.job(id: id)?.state == .completed }
                #expect(done)
            }
            let job = try #require(try await db.queue.job(id: id))
            #expect(runs.total == 3)
            #expect(job.attempt == 1, "two snoozes, one counted attempt")
            #expect(job.errors.isEmpty)
        }
    }

    @Test("a provider's retry-after is used instead of the backoff")
    func retryAfterHint() async throws {
        try await withTestDatabase { db in
            let runs = Runs()
            var registry = JobRegistry()
            registry.register(RateLimited(runs: runs))
            let id = try await db.queue.enqueue(EnqueueRequest(kind: RateLimited.kind))
            try await withWorker(db, registry: registry) {
                // Well inside the 40 s the backoff would have waited.
                let done = try await eventually(timeout: .seconds(30)) { try await db.queue.job(id: id)?.state == .completed }
                #expect(done)
            }
            let job = try #require(try await db.queue.job(id: id))
            #expect(job.attempt == 2)
            #expect(job.errors.count == 1)
            #expect(RateLimited.backoff.ceiling(afterAttempt: 1) == 40)
            #expect(
                job.errors.first?.retryIn == 0.3,
                "the retry waited \(String(describing: job.errors.first?.retryIn)) s, not the hint's 0.3 s")
            #expect(job.errors.first?.code == "429")
        }
    }

    @Test("graceful shutdown stores the result of every job that ran")
    func shutdownFlushesResults() async throws {
        try await withTestDatabase { db in
            let runs = Runs()
            var registry = JobRegistry()
            registry.register(Quick(runs: runs))
            try await db.queue.enqueueMany((0..<2_000).map { try EnqueueRequest(Quick.self, args: .init(n: $0)) })
            try await withWorker(db, registry: registry, concurrency: 50) {
                let done = await eventually { runs.total >= 500 }
                #expect(done)
            }
            // Whatever ran is stored as completed, and nothing is left running.
            let completed = try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'")
            #expect(completed == runs.total)
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'running'") == 0)
        }
    }
}
