import Foundation
import JobQueueTesting
import Logging
import Postgres
import ServiceLifecycle
import Synchronization
import Testing

@testable import JobQueue

/// Standby runs (queue migration 013): the next job of a limited key is claimed and loaded
/// while the previous request is in flight, the slot is handed over in the worker's memory,
/// and the limit still holds in every worker; a standby run's slot accounting survives a
/// crash.
@Suite(.timeLimit(.minutes(3)))
struct StandbyRunTests {
    /// The requests in flight at the "provider", by job id, and what the handlers saw.
    final class Provider: Sendable {
        struct State {
            var inFlight: Set<Int64> = []
            var maxInFlight = 0
            /// Runs whose `waitForLimitSlot()` did not return at once (standby runs).
            var waited = 0
            var requests = 0
            /// Job ids in the order their requests began.
            var began: [Int64] = []
            var starts: [Int64: Int] = [:]
            /// Requests in flight per serial key, and the most at once of any key.
            var laneInFlight: [String: Int] = [:]
            var maxLaneInFlight = 0
        }
        let state = Mutex(State())
        func begin(_ id: Int64) {
            state.withLock {
                $0.inFlight.insert(id)
                $0.maxInFlight = max($0.maxInFlight, $0.inFlight.count)
                $0.requests += 1
                $0.began.append(id)
            }
        }
        func end(_ id: Int64) { _ = state.withLock { $0.inFlight.remove(id) } }
        var inFlight: Set<Int64> { state.withLock { $0.inFlight } }
    }

    /// Loads (a few ms), waits for its slot, makes one 30 ms "request", gives the slot back,
    /// then does 10 ms of bookkeeping. With `hold`, a 1.5 s request and no early release.
    struct Request: JobHandler {
        struct Args: Codable, Sendable { var hold: Bool? }
        static let kind = "test.standby_request"
        let provider: Provider
        var options: JobKindOptions { JobKindOptions(maxAttempts: 3, timeout: .seconds(60), standby: true) }
        func run(_ args: Args, context: JobContext) async throws {
            provider.state.withLock { $0.starts[context.job.id, default: 0] += 1 }
            await pause(.milliseconds(3))
            let before = ContinuousClock.now
            try await context.waitForLimitSlot()
            if ContinuousClock.now - before > .milliseconds(5) { provider.state.withLock { $0.waited += 1 } }
            provider.begin(context.job.id)
            if let lane = context.job.serialKey {
                provider.state.withLock {
                    $0.laneInFlight[lane, default: 0] += 1
                    $0.maxLaneInFlight = max($0.maxLaneInFlight, $0.laneInFlight[lane]!)
                }
            }
            await pause(args.hold == true ? .milliseconds(1500) : .milliseconds(30))
            if let lane = context.job.serialKey { provider.state.withLock { $0.laneInFlight[lane, default: 0] -= 1 } }
            provider.end(context.job.id)
            if args.hold == true { return }
            context.releaseLimitSlot()
            await pause(.milliseconds(10))
        }
    }

    static let counted =
        "SELECT count(*) FROM ledgersync.jobs WHERE limit_key = 'acct' AND state = 'running' AND NOT limit_released"

    @Test(
        "slots pass to standby runs in memory; across three workers the database never counts more than the limit nor fewer than the requests in flight"
    )
    func limitHoldsAcrossWorkers() async throws {
        try await withTestDatabase { db in
            let provider = Provider()
            var registry = JobRegistry()
            registry.register(Request(provider: provider))
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 3)
            let ids = try await db.queue.enqueueMany((0..<60).map { _ in EnqueueRequest(kind: Request.kind, limitKey: "acct") })
            let logger = Logger(label: "test.worker")
            let workers = (0..<3).map { n in
                WorkerPool(
                    pool: db.pool, registry: registry,
                    options: WorkerOptions(concurrency: 4, pollInterval: .milliseconds(50), lease: .seconds(10), workerID: "w\(n)"),
                    logger: logger)
            }
            let group = ServiceGroup(configuration: .init(services: workers, logger: logger))
            var samples = 0
            var tooMany: [Int] = []
            var tooFew: [(counted: Int, inFlight: Int)] = []
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // Sample the database's count against the requests in flight before and after
                // the query: a request in flight at both moments was in flight at the snapshot.
                while try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") < ids.count {
                    let before = provider.inFlight
                    let counted = try await db.count(Self.counted)
                    let inFlight = before.intersection(provider.inFlight).count
                    samples += 1
                    if counted > 3 { tooMany.append(counted) }
                    if counted < inFlight { tooFew.append((counted, inFlight)) }
                    try await Task.sleep(for: .milliseconds(2))
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let seen = provider.state.withLock { $0 }
            #expect(seen.maxInFlight <= 3, "the provider saw \(seen.maxInFlight) requests at once; the limit is 3")
            #expect(seen.requests == ids.count, "every job made its one request once")
            #expect(seen.waited > 0, "no run waited for a slot: no standby run was used")
            #expect(samples > 10)
            #expect(tooMany.isEmpty, "the database counted more than the limit: \(tooMany)")
            #expect(tooFew.isEmpty, "the database counted fewer runs than requests in flight: \(tooFew)")
            let attempts = try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed' AND attempt = 1")
            #expect(attempts == ids.count, "every job completed at its first attempt")
            let standbyLeft = try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'running'")
            #expect(standbyLeft == 0)
        }
    }

    @Test("standby runs wait in the queue's order, not the order of claim: a lagging lane's next document gets the next slot")
    func standbyRunsWaitInQueueOrder() {
        var state = WorkerPool.State()
        func add(_ id: Int64, priority: Int = 0, key: String = "netsuite:acct") {
            state.addStandby(
                WorkerPool.RunKey(id: id, runID: id * 10),
                WorkerPool.StandbyRun(limitKey: key, since: .now, order: QueueOrder(priority: priority, id: id)))
        }
        // Claimed while a lane's document ran: later jobs of other customers.
        add(500)
        add(507)
        add(611)
        // Then the lane's next document, enqueued long before them.
        add(42)
        // A job of higher priority (a smaller number) claimed last goes before all of them.
        add(900, priority: -1)
        add(7, key: "netsuite:other")
        #expect(state.standbyOrder["netsuite:acct"]?.map(\.id) == [900, 42, 500, 507, 611])
        #expect(state.standbyOrder["netsuite:other"]?.map(\.id) == [7])
        // Removing keeps the order of the rest; the last one out clears the key.
        _ = state.removeStandby(WorkerPool.RunKey(id: 42, runID: 420))
        #expect(state.standbyOrder["netsuite:acct"]?.map(\.id) == [900, 500, 507, 611])
        _ = state.removeStandby(WorkerPool.RunKey(id: 7, runID: 70))
        #expect(state.standbyOrder["netsuite:other"] == nil)
    }

    @Test("a worker whose slots all hold the limit still claims a standby run for each: standby runs take no slot")
    func standbyRunsTakeNoSlot() async throws {
        try await withTestDatabase { db in
            let provider = Provider()
            var registry = JobRegistry()
            registry.register(Request(provider: provider))
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 2)
            // Two holders (1.5 s requests) fill the worker's 2 slots and the key's 2; the two
            // jobs after them can only be claimed as standby runs beside them.
            let holders = try await db.queue.enqueueMany(
                (0..<2).map { _ in EnqueueRequest(kind: Request.kind, args: JSONText(#"{"hold": true}"#), limitKey: "acct") })
            let rest = try await db.queue.enqueueMany((0..<2).map { _ in EnqueueRequest(kind: Request.kind, limitKey: "acct") })
            let logger = Logger(label: "test.worker")
            var options = WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(10), workerID: "w")
            options.standbyPatience = .seconds(20)
            let worker = WorkerPool(pool: db.pool, registry: registry, options: options, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // Four claimed at once can only be the two holders and a standby run for each
                // (once the holders are stored, the rest would be claimed into their slots).
                let four = try await eventually(timeout: .seconds(20)) {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'running'") == 4
                }
                #expect(four, "the worker claimed no standby run beside the holders of its 2 slots")
                let done = try await eventually(timeout: .seconds(30)) {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == 4
                }
                #expect(done)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let seen = provider.state.withLock { $0 }
            #expect(seen.maxInFlight <= 2, "the provider saw \(seen.maxInFlight) requests at once; the limit is 2")
            #expect(Set(seen.began.prefix(2)) == Set(holders), "the holders went first: \(seen.began)")
            #expect(Set(seen.began.dropFirst(2)) == Set(rest))
            #expect(seen.waited == 2, "both later jobs waited for a slot as standby runs: \(seen.waited)")
        }
    }

    @Test("a standby run that no slot comes to goes back to the queue without using an attempt, and runs later")
    func standbyGivesUp() async throws {
        try await withTestDatabase { db in
            let provider = Provider()
            var registry = JobRegistry()
            registry.register(Request(provider: provider))
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 1)
            // The first job holds the key's one slot for 1.5 s and never gives it back early;
            // the second, claimed as a standby run beside it, waits past its patience.
            let holder = try await db.queue.enqueue(
                EnqueueRequest(kind: Request.kind, args: JSONText(#"{"hold": true}"#), limitKey: "acct"))
            let waiter = try await db.queue.enqueue(EnqueueRequest(kind: Request.kind, limitKey: "acct"))
            let logger = Logger(label: "test.worker")
            var options = WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(10), workerID: "w")
            options.standbyPromoteAfter = .milliseconds(50)
            options.standbyPatience = .milliseconds(400)
            let worker = WorkerPool(pool: db.pool, registry: registry, options: options, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let done = try await eventually(timeout: .seconds(30)) {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == 2
                }
                #expect(done)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let seen = provider.state.withLock { $0 }
            #expect(seen.maxInFlight == 1)
            #expect(seen.requests == 2)
            #expect(seen.starts[holder] == 1)
            #expect((seen.starts[waiter] ?? 0) >= 2, "the standby run gave up and ran again: \(seen.starts)")
            let job = try #require(try await db.queue.job(id: waiter))
            #expect(job.attempt == 1, "giving up is no attempt")
            #expect(job.errors.isEmpty, "\(job.errors)")
        }
    }

    @Test("a lane's next job that comes first in the queue's order gets its predecessor's slot, not a standby run claimed meanwhile")
    func laneSuccessorBeforeLaterStandby() async throws {
        try await withTestDatabase { db in
            let provider = Provider()
            var registry = JobRegistry()
            registry.register(Request(provider: provider))
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 1)
            // A lane of three (the lowest ids), then two jobs of no lane. While a lane job
            // runs its next one cannot be claimed, so the worker's standby run is the first
            // of the others, waiting for the slot when the lane job's answer comes.
            let lane = try await db.queue.enqueueMany(
                (0..<3).map { _ in EnqueueRequest(kind: Request.kind, serialKey: "lagging", limitKey: "acct") })
            let others = try await db.queue.enqueueMany((0..<2).map { _ in EnqueueRequest(kind: Request.kind, limitKey: "acct") })
            let logger = Logger(label: "test.worker")
            var options = WorkerOptions(concurrency: 4, pollInterval: .milliseconds(50), lease: .seconds(10), workerID: "w")
            // Only a hand-over or the fetch after a stored result may give the slot here, not
            // a promotion: the order below is then decided by the hand-over rule alone.
            options.standbyPromoteAfter = .seconds(30)
            options.standbyPatience = .seconds(60)
            let worker = WorkerPool(pool: db.pool, registry: registry, options: options, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // The lane, then the standby run the last lane job hands its slot to.
                let done = try await eventually(timeout: .seconds(30)) {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") >= 4
                }
                #expect(done)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let seen = provider.state.withLock { $0 }
            #expect(seen.maxInFlight == 1)
            // Queue order, the lane included: before, each lane job's slot went to the
            // standby run waiting, and the lane's next job came after it every time.
            #expect(Array(seen.began.prefix(4)) == lane + [others[0]], "\(seen.began), lane \(lane), others \(others)")
            #expect(seen.waited >= 1, "the first of the others waited as a standby run: \(seen)")
        }
    }

    @Test("a long serial lane takes one slot at a time: the other customers' jobs fill the limit and are not held back")
    func longLaneDoesNotHoldBackOthers() async throws {
        try await withTestDatabase { db in
            let provider = Provider()
            var registry = JobRegistry()
            registry.register(Request(provider: provider))
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 4)
            // The long lane first (lowest ids: first in fetch order), then 30 customers of 2.
            _ = try await db.queue.enqueueMany(
                (0..<40).map { _ in EnqueueRequest(kind: Request.kind, serialKey: "big", limitKey: "acct") })
            _ = try await db.queue.enqueueMany(
                (0..<60).map { n in EnqueueRequest(kind: Request.kind, serialKey: "c\(n % 30)", limitKey: "acct") })
            let logger = Logger(label: "test.worker")
            let workers = (0..<2).map { n in
                WorkerPool(
                    pool: db.pool, registry: registry,
                    options: WorkerOptions(concurrency: 6, pollInterval: .milliseconds(50), lease: .seconds(10), workerID: "w\(n)"),
                    logger: logger)
            }
            let group = ServiceGroup(configuration: .init(services: workers, logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let done = try await eventually(timeout: .seconds(60)) {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == 100
                }
                #expect(done)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            let seen = provider.state.withLock { $0 }
            #expect(seen.maxInFlight == 4, "the limit was filled, and never exceeded: \(seen.maxInFlight)")
            #expect(seen.maxLaneInFlight == 1, "a lane runs one job at a time")
            // When the other customers' last job finished, most of the long lane was still to
            // come: it took one slot, not the limit, and the others did not wait behind it.
            let bigLeft = try await db.count(
                """
                SELECT count(*) FROM ledgersync.jobs
                WHERE serial_key = 'big'
                  AND finalized_at > (SELECT max(finalized_at) FROM ledgersync.jobs WHERE serial_key <> 'big')
                """)
            #expect(bigLeft >= 10, "only \(bigLeft) of the long lane's 40 jobs finished after the others")
        }
    }

    @Test(
        "SQL: standby runs do not count; a swap keeps the count; promotion only into a free slot; a crashed worker's standby run is rescued"
    )
    func standbySQL() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 1)
            let ids = try await db.queue.enqueueMany((0..<4).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            func runID(_ id: Int64) async throws -> Int64 {
                try await db.pool.query("SELECT run_id FROM ledgersync.jobs WHERE id = $1", [id]).rows[0].decode("run_id")
            }
            let held = try await db.pool.query("SELECT id FROM ledgersync.fetch_jobs('w1', 'default', 10, 30)").rows
                .map { try $0.decode("id", as: Int64.self) }
            #expect(held == [ids[0]])
            let standby = try await db.pool.query(QueueSQL.fetchStandby, ["w1", "default", ["k"], ["acct"], [2], 30.0]).rows
                .map { try $0.decode("id", as: Int64.self) }
            #expect(standby == [ids[1], ids[2]])
            #expect(try await db.count(Self.counted) == 1, "standby runs are not counted")
            // Another worker sees the key full.
            #expect(try await db.pool.query("SELECT id FROM ledgersync.fetch_jobs('w2', 'default', 10, 30)").rows.isEmpty)

            // No free slot: no promotion.
            let none = try await db.pool.query(
                QueueSQL.promoteStandby, ["w1", standby, [try await runID(standby[0]), try await runID(standby[1])]]
            ).rows
            #expect(none.isEmpty)

            // The holder hands its slot to the first standby run: still one counted, now it.
            try await db.pool.query(
                QueueSQL.swapLimitSlot, [ids[0], try await runID(ids[0]), standby[0], try await runID(standby[0]), "w1"])
            let countedIDs = try await db.pool.query(Self.counted.replacingOccurrences(of: "count(*)", with: "id")).rows
                .map { try $0.decode("id", as: Int64.self) }
            #expect(countedIDs == [standby[0]])
            try await db.pool.query(QueueSQL.completeJobs, [[ids[0]], [try await runID(ids[0])]])
            #expect(try await db.count(Self.counted) == 1, "the giver's result stored after the swap: the count holds")

            // The new holder ends without a hand-over: its slot is free, and promotion takes it.
            try await db.pool.query(QueueSQL.completeJobs, [[standby[0]], [try await runID(standby[0])]])
            let promoted = try await db.pool.query(QueueSQL.promoteStandby, ["w1", [standby[1]], [try await runID(standby[1])]]).rows
                .map { try $0.decode("id", as: Int64.self) }
            #expect(promoted == [standby[1]])
            #expect(try await db.count(Self.counted) == 1)

            // w1 crashes with a holder (the promoted run) and a fresh standby run: lease
            // expiry gives both back, and another worker then gets exactly the limit.
            let second = try await db.pool.query(QueueSQL.fetchStandby, ["w1", "default", ["k"], ["acct"], [1], 30.0]).rows
            #expect(second.count == 1)
            try await db.pool.query("UPDATE ledgersync.jobs SET lease_expires_at = now() - interval '1 second' WHERE state = 'running'")
            let rescued = try await db.pool.query(QueueSQL.rescueExpiredLeases, [100]).rows.count
            #expect(rescued == 2)
            try await db.pool.query("UPDATE ledgersync.jobs SET run_at = now() WHERE state = 'retryable'")
            let after = try await db.pool.query("SELECT id FROM ledgersync.fetch_jobs('w2', 'default', 10, 30)").rows
            #expect(after.count == 1, "after the rescue the key's one slot is free, and only one")
            #expect(try await db.count(Self.counted) == 1)
        }
    }
}
