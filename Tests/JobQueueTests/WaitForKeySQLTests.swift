import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Synchronization
import Testing

/// Queue migration 009 in SQL: a job waiting for a key (parked) holds no lane, rejoins it
/// behind everything when woken, never misses a wake that comes while it is still running,
/// and two jobs of one serial key never run at once.
@Suite(.timeLimit(.minutes(4)))
struct WaitForKeySQLTests {
    static let fetchSQL = "SELECT id, run_id, serial_key FROM ledgersync.fetch_jobs('w', 'default', $1::integer, 60)"
    static let parkSQL = """
        SELECT id, parked FROM ledgersync.park_jobs(ARRAY[$1::bigint], ARRAY[$2::bigint], ARRAY[$3::text], ARRAY[$4::float8])
        """
    static let completeSQL = """
        UPDATE ledgersync.jobs SET state = 'completed', finalized_at = now(), locked_by = NULL, lease_expires_at = NULL
        WHERE id = $1 AND run_id = $2 AND state = 'running'
        """

    final class SharedBox<Value: Sendable>: Sendable {
        private let mutex: Mutex<Value>
        init(_ value: Value) { mutex = Mutex(value) }
        func withLock<T>(_ body: (inout sending Value) throws -> sending T) rethrows -> sending T { try mutex.withLock(body) }
    }

    struct Claimed: Sendable {
        let id: Int64
        let runID: Int64
        let serialKey: String?
    }

    static func fetch(_ db: TestDatabase, _ max: Int = 10) async throws -> [Claimed] {
        try await db.pool.query(fetchSQL, [max]).rows.map {
            Claimed(
                id: try $0.decode("id"), runID: try $0.decode("run_id"), serialKey: try $0.decodeIfPresent("serial_key", as: String.self))
        }
    }

    static func park(_ db: TestDatabase, _ job: Claimed, key: String, fallback: Double) async throws -> Bool? {
        try await db.pool.query(parkSQL, [job.id, job.runID, key, fallback]).rows.first?.decode("parked", as: Bool.self)
    }

    static func complete(_ db: TestDatabase, _ job: Claimed) async throws {
        try await db.pool.query(completeSQL, [job.id, job.runID])
    }

    /// Whether some session waits for an advisory lock of this database (a park or wake
    /// blocked behind the other's open transaction).
    static func someoneWaitsForTheKey(_ db: TestDatabase) async throws -> Bool {
        try await db.count(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = $1 AND l.locktype = 'advisory' AND NOT l.granted",
            [db.name]) == 1
    }

    @Test("a parked job does not block its lane; a wake makes it runnable at once, behind every job that exists then")
    func parkedJobHoldsNoLane() async throws {
        try await withTestDatabase { db in
            let ids = try await db.queue.enqueueMany((0..<2).map { _ in EnqueueRequest(kind: "k", serialKey: "cus_1") })
            let first = try #require(try await Self.fetch(db).first)
            #expect(first.id == ids[0])
            #expect(try await Self.park(db, first, key: "invoice:inv_1", fallback: 3600) == true)
            // The lane moves on without it: the second job of the key runs.
            let second = try await Self.fetch(db)
            #expect(second.map(\.id) == [ids[1]], "the parked job held its lane")
            // A job enqueued now is ahead of the parked job once it rejoins.
            let third = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "cus_1"))
            try await Self.complete(db, try #require(second.first))
            #expect(
                try await db.count(
                    "SELECT count(*) FROM ledgersync.jobs WHERE id = $1 AND state = 'available' AND wait_key = 'invoice:inv_1'", [ids[0]])
                    == 1)

            // Woken: no timer (its fallback is an hour away), it rejoins now, behind `third`.
            let woken: Int = try await db.pool.query("SELECT ledgersync.wake('invoice:inv_1') AS n").rows[0].decode("n")
            #expect(woken == 1)
            #expect(try await db.queue.wake(key: "invoice:inv_1") == 0, "a second wake found a parked job")
            let next = try await Self.fetch(db)
            #expect(next.map(\.id) == [third], "the woken job did not rejoin behind the job enqueued while it was parked")
            try await Self.complete(db, try #require(next.first))
            let last = try await Self.fetch(db)
            #expect(last.map(\.id) == [ids[0]])
            let attempt: Int = try await db.pool.query("SELECT attempt FROM ledgersync.jobs WHERE id = $1", [ids[0]]).rows[0].decode(
                "attempt")
            #expect(attempt == 1, "parking used an attempt")
        }
    }

    @Test("a parked job rejoins its lane when its fallback time passes; bad keys and fallbacks are refused naming them")
    func fallbackAndRefusals() async throws {
        try await withTestDatabase { db in
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "cus_1"))
            let job = try #require(try await Self.fetch(db).first)
            #expect(try await Self.park(db, job, key: "never-woken", fallback: 3600) == true)
            #expect(try await Self.fetch(db).isEmpty)
            // Its fallback time passes (moved, rather than waited for).
            try await db.pool.query("UPDATE ledgersync.jobs SET run_at = now() - interval '1 second' WHERE id = $1", [id])
            let again = try await Self.fetch(db)
            #expect(again.map(\.id) == [id])
            #expect(
                try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE id = $1 AND wait_key IS NULL AND lane_position > id", [id])
                    == 1)

            let running = try #require(again.first)
            for (key, fallback, words) in [("", 10.0, "wait key"), ("k", -1.0, "fallback_seconds")] {
                do {
                    _ = try await Self.park(db, running, key: key, fallback: fallback)
                    Issue.record("park with key '\(key)' and fallback \(fallback) was accepted")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023" && "\(error)".contains(words), "\(error)")
                }
            }
            do {
                try await db.queue.wake(key: "")
                Issue.record("an empty wake key was accepted")
            } catch let error as PostgresError {
                #expect(error.sqlState == "22023" && "\(error)".contains("wait_key"), "\(error)")
            }
        }
    }

    @Test("a wake that commits while the run is still finishing is not lost (wake first, then park)")
    func wakeBeforeParkIsNotLost() async throws {
        try await withTestDatabase { db in
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "cus_1"))
            let job = try #require(try await Self.fetch(db).first)
            // The dependency arrives and its wake is in flight while the run decides to wait.
            let waker = try await Connection.connect(url: db.url)
            defer { waker.close() }
            try await waker.execute("BEGIN")
            try await waker.query("SELECT ledgersync.wake('invoice:inv_1')")
            let park = Task { try await Self.park(db, job, key: "invoice:inv_1", fallback: 3600) }
            #expect(
                await eventually(timeout: .seconds(30), every: .milliseconds(5)) { (try? await Self.someoneWaitsForTheKey(db)) == true },
                "the park did not wait for the wake's key lock")
            try await waker.execute("COMMIT")
            // The park comes second and sees the wake: not parked, runnable now.
            #expect(try await park.value == false)
            #expect(try await Self.fetch(db).map(\.id) == [id])
        }
    }

    @Test("a wake that comes while the park is being stored is not lost (park first, then wake)")
    func parkBeforeWakeIsNotLost() async throws {
        try await withTestDatabase { db in
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "cus_1"))
            let job = try #require(try await Self.fetch(db).first)
            let parker = try await Connection.connect(url: db.url)
            defer { parker.close() }
            try await parker.execute("BEGIN")
            let parked = try await parker.query(Self.parkSQL, [job.id, job.runID, "invoice:inv_1", 3600.0]).rows[0].decode(
                "parked", as: Bool.self)
            #expect(parked)
            let wake = Task { try await db.queue.wake(key: "invoice:inv_1") }
            #expect(
                await eventually(timeout: .seconds(30), every: .milliseconds(5)) { (try? await Self.someoneWaitsForTheKey(db)) == true },
                "the wake did not wait for the park's key lock")
            try await parker.execute("COMMIT")
            // The wake comes second and finds the job parked.
            #expect(try await wake.value == 1)
            #expect(try await Self.fetch(db).map(\.id) == [id])
        }
    }

    @Test("a wake from before the run started does not stop the park (no spurious rerun)")
    func oldWakeDoesNotCount() async throws {
        try await withTestDatabase { db in
            _ = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "cus_1"))
            try await db.queue.wake(key: "invoice:inv_1")
            let job = try #require(try await Self.fetch(db).first)
            #expect(try await Self.park(db, job, key: "invoice:inv_1", fallback: 3600) == true)
            #expect(try await Self.fetch(db).isEmpty)
        }
    }

    @Test("a job whose lane position was drawn before, but committed after, another job's claim does not run beside it (enqueue and wake)")
    func lanePositionCommittedLate() async throws {
        try await withTestDatabase { db in
            let late = try await Connection.connect(url: db.url)
            defer { late.close() }

            // An enqueue whose id is drawn first and committed last.
            try await late.execute("BEGIN")
            let early: Int64 = try await late.query("SELECT ledgersync.enqueue('k', '{}', serial_key => 'cus_1') AS id").rows[0].decode(
                "id")
            let second = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "cus_1"))
            #expect(early < second)
            let running = try await Self.fetch(db)
            #expect(running.map(\.id) == [second])
            try await late.execute("COMMIT")
            #expect(try await Self.fetch(db).isEmpty, "a job of cus_1 was claimed while another of its jobs was running")
            try await Self.complete(db, try #require(running.first))
            #expect(try await Self.fetch(db).map(\.id) == [early])

            // A wake whose lane position is drawn first and committed last.
            let parkedJob = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "cus_2"))
            let claimed = try #require(try await Self.fetch(db).first { $0.id == parkedJob })
            #expect(try await Self.park(db, claimed, key: "invoice:inv_9", fallback: 3600) == true)
            try await late.execute("BEGIN")
            #expect(try await late.query("SELECT ledgersync.wake('invoice:inv_9') AS n").rows[0].decode("n", as: Int.self) == 1)
            let other = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "cus_2"))
            let otherRun = try await Self.fetch(db)
            #expect(otherRun.map(\.id) == [other])
            try await late.execute("COMMIT")
            #expect(try await Self.fetch(db).isEmpty, "the woken job of cus_2 was claimed while another of its jobs was running")
            try await Self.complete(db, try #require(otherRun.first))
            #expect(try await Self.fetch(db).map(\.id) == [parkedJob])
        }
    }

    /// Four fetching sessions, a waker and an enqueuer at once over five serial keys: jobs
    /// park (some with a fallback of 0, which the fetch's rejoin step handles), are woken at
    /// random, and complete. Every claim is checked against the others in memory (a claim
    /// is registered after its fetch committed and dropped before its completion is sent,
    /// a window inside the database's own), and the jobs that never parked complete in
    /// enqueue order within their key.
    @Test("two jobs of one serial key never run at once, with concurrent fetches, parks, wakes and enqueues")
    func neverTwoRunningPerKey() async throws {
        try await withTestDatabase { db in
            let keys = (0..<5).map { "s\($0)" }
            _ = try await db.queue.enqueueMany((0..<200).map { EnqueueRequest(kind: "k", serialKey: keys[$0 % keys.count]) })
            struct Shared: Sendable {
                var running: [String: Int64] = [:]
                var violations: [String] = []
                var parkedOnce: Set<Int64> = []
                var completed: [String: [Int64]] = [:]
                var enqueuing = true
            }
            let shared = SharedBox(Shared())
            let waitKeys = (0..<7).map { "w\($0)" }

            func worker(_ n: Int) async throws {
                let connection = try await Connection.connect(url: db.url)
                defer { connection.close() }
                var idleSince = ContinuousClock.now
                while ContinuousClock.now - idleSince < .seconds(60) {
                    let claimed = try await connection.query(Self.fetchSQL, [3]).rows.map {
                        Claimed(
                            id: try $0.decode("id"), runID: try $0.decode("run_id"),
                            serialKey: try $0.decodeIfPresent("serial_key", as: String.self))
                    }
                    if claimed.isEmpty {
                        let left = try await connection.query(
                            "SELECT count(*)::integer AS n FROM ledgersync.jobs WHERE state <> 'completed'"
                        ).rows[0]
                            .decode("n", as: Int.self)
                        if left == 0 && !shared.withLock({ $0.enqueuing }) { return }
                        // What is left is parked until the waker wakes its key (or its
                        // fallback passes), or running on another worker.
                        await Task.yield()
                        continue
                    }
                    idleSince = ContinuousClock.now
                    // Registered once the claim committed, dropped just before the job's
                    // result is sent: a window inside the database's own.
                    shared.withLock { state in
                        for job in claimed {
                            let key = job.serialKey ?? ""
                            if let other = state.running[key] {
                                state.violations.append("jobs \(other) and \(job.id) of \(key) ran at once")
                            }
                            state.running[key] = job.id
                        }
                    }
                    for job in claimed {
                        let key = try #require(job.serialKey)
                        // And as the database sees it, while this one is surely running.
                        let runningOfKey = try await connection.query(
                            "SELECT count(*)::integer AS n FROM ledgersync.jobs WHERE serial_key = $1 AND state = 'running'", [key]
                        ).rows[0].decode("n", as: Int.self)
                        let parkNow = shared.withLock { state -> Bool in
                            if runningOfKey != 1 { state.violations.append("\(runningOfKey) jobs of \(key) running with job \(job.id)") }
                            state.running.removeValue(forKey: key)
                            let park = job.id % 3 == 0 && state.parkedOnce.insert(job.id).inserted
                            if !park { state.completed[key, default: []].append(job.id) }
                            return park
                        }
                        if parkNow {
                            let fallback: Double = job.id % 2 == 0 ? 0 : 2
                            _ = try await connection.query(
                                Self.parkSQL, [job.id, job.runID, waitKeys[Int(job.id) % waitKeys.count], fallback])
                        } else {
                            try await connection.query(Self.completeSQL, [job.id, job.runID])
                        }
                    }
                }
                Issue.record("worker \(n) gave up with jobs left")
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<4 { group.addTask { try await worker(n) } }
                group.addTask {
                    let waker = try await Connection.connect(url: db.url)
                    defer { waker.close() }
                    var i = 0
                    while try await waker.query("SELECT count(*)::integer AS n FROM ledgersync.jobs WHERE state <> 'completed'").rows[0]
                        .decode("n", as: Int.self) > 0 || shared.withLock({ $0.enqueuing })
                    {
                        try await waker.query("SELECT ledgersync.wake($1)", [waitKeys[i % waitKeys.count]])
                        i += 1
                    }
                }
                group.addTask {
                    for round in 0..<50 {
                        _ = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: keys[round % keys.count]))
                    }
                    shared.withLock { $0.enqueuing = false }
                }
                try await group.waitForAll()
            }

            let state = shared.withLock { $0 }
            #expect(state.violations.isEmpty, "\(state.violations)")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == 250)
            #expect(!state.parkedOnce.isEmpty)
            for (key, order) in state.completed {
                let neverParked = order.filter { !state.parkedOnce.contains($0) }
                #expect(neverParked == neverParked.sorted(), "jobs of \(key) that never parked ran out of enqueue order: \(neverParked)")
            }
        }
    }
}
