import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Synchronization
import Testing

/// Queue migration 011: rate windows are sliding, "at most N starts in ANY span of W
/// seconds" (a ring of the last starts per window), exact up to 200 starts a window and
/// conservative above; `take_rate_window_start` spends a start for a handler's second
/// request; 010's counts are carried over.
@Suite(.timeLimit(.minutes(3)))
struct SlidingWindowTests {
    static let fetchSQL = RateWindowTests.fetchSQL

    /// Marks claimed jobs completed, as a worker would after running them.
    static func complete(_ pool: ConnectionPool, _ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await pool.query(
            "UPDATE ledgersync.jobs SET state = 'completed', finalized_at = now(), locked_by = NULL, lease_expires_at = NULL WHERE id = ANY ($1)",
            [ids])
    }

    /// One fetcher: small batches as fast as it can, completing what it claimed; when it got
    /// nothing it waits half the fetch's hint (so two fetchers meet at the moment a start
    /// frees), until no job is left or the deadline passes.
    static func fetchUntilDone(_ pool: ConnectionPool, worker: String, deadline: ContinuousClock.Instant) async throws {
        while ContinuousClock.now < deadline {
            let batch = try await RateWindowTests.fetch(pool, worker: worker, max: 2)
            try await complete(pool, batch.ids)
            guard batch.ids.isEmpty else { continue }
            let left = try await pool.query("SELECT count(*)::integer AS n FROM ledgersync.jobs WHERE state <> 'completed'").rows.first?
                .decode("n", as: Int.self)
            if left == 0 { return }
            if let wait = batch.wait, wait > 0.002 {
                try await Task.sleep(for: .seconds(wait / 2))
            } else if batch.wait == nil {
                try await Task.sleep(for: .milliseconds(5)) // nothing due yet: a worker's poll, short
            }
        }
    }

    @Test("the window slides: a start counts for exactly W seconds from its time, not until an aligned turn")
    func slides() async throws {
        try await withTestDatabase { db in
            // An hour, with starts minutes apart: a slow machine's seconds change nothing.
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: 3, seconds: 3600)])
            // Three earlier starts, written into the ring: 70 min ago (gone), 30 min and 1 min ago.
            try await db.pool.query(
                """
                UPDATE ledgersync.rate_windows
                SET starts = ARRAY[now() - interval '70 min', now() - interval '30 min', now() - interval '1 min'],
                    head = 3, head_count = 1
                WHERE limit_key = 'acct'
                """)
            let status = try #require(try await db.queue.rateWindows().first)
            #expect(status.used == 2 && status.left == 1, "\(status)")
            // LEFT rises next when the start of 30 min ago leaves: in 30 min.
            #expect(status.turnsInSeconds > 1740 && status.turnsInSeconds <= 1800, "\(status)")

            let ids = try await db.queue.enqueueMany((0..<5).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            let first = try await RateWindowTests.fetch(db.pool)
            #expect(first.ids == [ids[0]], "one start was left: \(first)")
            let wait = try #require(first.wait)
            #expect(wait > 1740 && wait <= 1800, "the next start frees when the one of 30 min ago is an hour old: \(wait)")
            let second = try await RateWindowTests.fetch(db.pool, worker: "w2")
            #expect(second.ids.isEmpty && second.wait != nil)
            let after = try #require(try await db.queue.rateWindows().first)
            #expect(after.used == 3 && after.left == 0, "\(after)")

            // A start exactly W old has left (spans are half-open): the ring's oldest, an
            // hour before the UPDATE's now(), is out for any later now().
            try await db.pool.query(
                """
                UPDATE ledgersync.rate_windows
                SET starts = ARRAY[now() - interval '1 hour', now() - interval '30 min', now() - interval '30 min'],
                    head = 3, head_count = 1
                WHERE limit_key = 'acct'
                """)
            let third = try await RateWindowTests.fetch(db.pool)
            #expect(third.ids == [ids[1]], "\(third)")
            #expect(third.wait.map { $0 > 1740 && $0 <= 1800 } == true, "both starts of 30 min ago must leave: \(third)")
        }
    }

    @Test("over 200 starts a window, starts are counted in groups: never over N, the budget kept but for one group")
    func groupedAboveTwoHundred() async throws {
        try await withTestDatabase { db in
            // 1,000 a year: groups of 5, 200 slots.
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: 1000, seconds: RateWindowTests.year)])
            let ring = try #require(
                try await db.pool.query("SELECT per_slot, cardinality(starts) AS slots FROM ledgersync.rate_windows").rows.first)
            #expect(try ring.decode("per_slot", as: Int.self) == 5 && ring.decode("slots", as: Int.self) == 200)
            try await db.queue.enqueueMany((0..<1010).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            var claimed = 0
            var lastWait: Double?
            // Batches of 7, so groups are filled across fetches.
            for _ in 0..<200 {
                let batch = try await RateWindowTests.fetch(db.pool, max: 7)
                claimed += batch.ids.count
                lastWait = batch.wait
                if batch.ids.isEmpty { break }
            }
            #expect(claimed == 1000, "a year's budget, all of it within one year: \(claimed)")
            #expect(lastWait != nil)
            let status = try #require(try await db.queue.rateWindows().first)
            #expect(status.used == 1000 && status.left == 0, "\(status)")
            // Lowering keeps the newest starts: still full.
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: 300, seconds: RateWindowTests.year)])
            let lowered = try #require(try await db.queue.rateWindows().first)
            #expect(lowered.used == 300 && lowered.left == 0, "\(lowered)")
            // Raising gives the difference.
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: 310, seconds: RateWindowTests.year)])
            let raised = try await RateWindowTests.fetch(db.pool, max: 100)
            #expect(raised.ids.count == 10, "\(raised)")
        }
    }

    @Test(
        "two fetchers, bursts of jobs just before and just after each turn of a clock second: never more than N starts in any span of W (every span checked)"
    )
    func twoFetchersNeverOverspend() async throws {
        try await withTestDatabase { db in
            let perWindow = 5
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: perWindow, seconds: 1)])
            let total = 30
            let ids = try await db.queue.enqueueMany((0..<total).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            // Bursts of 5 due every 0.35 s from 0.7 s past the next whole second: 0.7, 1.05,
            // 1.4, … Windows aligned to the clock (010) started the bursts of 0.7 and 1.05 in
            // two windows, 10 starts within 0.35 s; sliding, the second waits until 1.7.
            try await db.pool.query(
                """
                UPDATE ledgersync.jobs j
                SET run_at = to_timestamp(ceil(extract(epoch FROM now()))) + interval '0.7 s'
                             + ((j.id - $1) / 5) * interval '0.35 s'
                WHERE j.id = ANY ($2)
                """, [ids[0], ids])
            let deadline = ContinuousClock.now + .seconds(60)
            // Each fetcher: its own connection, small batches, as fast as it can; it waits
            // for the fetch's hint only when told to (what a worker's timer does).
            try await withThrowingTaskGroup(of: Void.self) { group in
                for fetcher in 0..<2 {
                    group.addTask {
                        let pool = ConnectionPool(url: db.url, maxConnections: 1)
                        do {
                            try await Self.fetchUntilDone(pool, worker: "f\(fetcher)", deadline: deadline)
                        } catch {
                            await pool.close()
                            throw error
                        }
                        await pool.close()
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed' AND attempt = 1") == total)
            let most = try await db.maxStartsInAnySpan(seconds: 1)
            #expect(most == perWindow, "at most \(perWindow) starts in any 1 s: \(most)")
        }
    }

    @Test("take_rate_window_start: many tasks at once never spend more than N in any span; the wait says when to try again")
    func takeConcurrently() async throws {
        try await withTestDatabase { db in
            let perWindow = 4
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: perWindow, seconds: 1)])
            try await db.pool.query("CREATE TABLE test_takes (at timestamptz NOT NULL)")
            // A take and its time (the transaction's now(), as the ring records it) in one statement.
            let take = """
                WITH t AS MATERIALIZED (SELECT ledgersync.take_rate_window_start('acct') AS wait),
                     taken AS (INSERT INTO test_takes SELECT now() FROM t WHERE t.wait = 0)
                SELECT wait FROM t
                """
            let tasks = 10
            let perTask = 2
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<tasks {
                    group.addTask {
                        let pool = ConnectionPool(url: db.url, maxConnections: 1)
                        var got = 0
                        do {
                            while got < perTask {
                                let wait = try #require(try await pool.query(take).rows.first?.decodeIfPresent("wait", as: Double.self))
                                if wait == 0 {
                                    got += 1
                                } else {
                                    #expect(wait > 0 && wait <= 1.0, "\(wait)")
                                    try await Task.sleep(for: .seconds(wait))
                                }
                            }
                        } catch {
                            await pool.close()
                            throw error
                        }
                        await pool.close()
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await db.count("SELECT count(*) FROM test_takes") == tasks * perTask)
            let most = try await db.maxStartsInAnySpan(seconds: 1, table: "test_takes", column: "at")
            #expect(most == perWindow, "at most \(perWindow) takes in any 1 s: \(most)")
            // A key without windows: nothing to spend.
            #expect(try await db.queue.takeRateWindowStart(key: "no-windows") == nil)
        }
    }

    final class Flag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    /// Takes `times` starts of its key through the context; notes a wait ended by cancellation.
    struct TakesStarts: JobHandler {
        struct Args: Codable, Sendable { var times: Int }
        static let kind = "test.takes"
        var timeout: Duration = .seconds(60)
        var options: JobKindOptions { JobKindOptions(timeout: timeout) }
        let cancelled = Flag()

        func run(_ args: Args, context: JobContext) async throws {
            do {
                for _ in 0..<args.times { try await context.takeRateWindowStart() }
            } catch is CancellationError {
                cancelled.set()
                throw CancellationError()
            }
        }
    }

    @Test("JobContext.takeRateWindowStart spends one start of every window; waits for a free one; a cancelled run stops waiting")
    func contextTakes() async throws {
        try await withTestDatabase { db in
            try await db.queue.setRateWindows(
                "acct", [RateWindow(maxStarts: 3, seconds: 1), RateWindow(maxStarts: 100, seconds: RateWindowTests.year)])
            let worker = TestWorker(pool: db.pool)
            let handler = TakesStarts()
            // 5 starts under 3 per second: the last two wait for the first ones to leave.
            let clock = ContinuousClock()
            let began = clock.now
            let result = try await worker.work(handler, args: .init(times: 5), limitKey: "acct")
            let took = clock.now - began
            guard case .complete = result.outcome else {
                Issue.record("expected the run to complete: \(result.outcome)")
                return
            }
            #expect(took >= .milliseconds(900), "the 4th start had to wait for the 1st to leave the 1 s window: \(took)")
            let year = try #require(try await db.queue.rateWindows().first { $0.seconds == RateWindowTests.year })
            #expect(year.used == 5, "each take spent a start of every window: \(year)")

            // No limit key: a no-op.
            let free = try await worker.work(handler, args: .init(times: 3))
            #expect({ if case .complete = free.outcome { true } else { false } }())

            // Spent for a year: the wait is cut short by the run's timeout, which cancels it.
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: 1, seconds: RateWindowTests.year)])
            let impatient = TakesStarts(timeout: .seconds(1))
            let stuck = try await worker.work(impatient, args: .init(times: 2), limitKey: "acct")
            #expect({ if case .complete = stuck.outcome { false } else { true } }(), "\(stuck.outcome)")
            // The run returns at its deadline without waiting for the handler; the handler's
            // wait ends when its task is cancelled, just after.
            let ended = await eventually(timeout: .seconds(10), every: .milliseconds(10)) { impatient.cancelled.isSet }
            #expect(ended, "the wait must end with CancellationError when the run is cancelled")
        }
    }

    @Test("exhaust_rate_windows spends the next W seconds of the windows asked for, even with starts left")
    func exhaust() async throws {
        try await withTestDatabase { db in
            try await db.queue.setRateWindows(
                "acct", [RateWindow(maxStarts: 10, seconds: 3600), RateWindow(maxStarts: 1000, seconds: RateWindowTests.year)])
            let ids = try await db.queue.enqueueMany((0..<3).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            let first = try await RateWindowTests.fetch(db.pool, max: 1)
            #expect(first.ids == [ids[0]])
            let wait = try #require(
                try await db.pool.query("SELECT ledgersync.exhaust_rate_windows('acct', 3600) AS w").rows.first?.decode(
                    "w", as: Double.self))
            #expect(wait > 3540 && wait <= 3600, "\(wait)")
            let blocked = try await RateWindowTests.fetch(db.pool)
            #expect(blocked.ids.isEmpty, "\(blocked)")
            #expect(blocked.wait.map { $0 > 3540 && $0 <= 3600 } == true, "\(blocked)")
            let statuses = try await db.queue.rateWindows()
            #expect(statuses.map(\.used) == [10, 1] && statuses.map(\.left) == [0, 999], "\(statuses)")
            #expect(try await db.queue.takeRateWindowStart(key: "acct").map { $0 > .seconds(3540) } == true)
            // A year-long window with 200+ starts (grouped) is exhausted as well.
            try await db.pool.query("SELECT ledgersync.exhaust_rate_windows('acct')")
            #expect(try await db.queue.rateWindows().map(\.left) == [0, 0])
        }
    }

    @Test("010's counts carry over to 011: starts counted in the aligned window stay counted for W from their last update")
    func migratesTenRows() async throws {
        let upTo10 = allMigrations.filter { $0.line != "queue" || $0.version <= 10 }
        let database = try await TestDatabase.create(migrations: upTo10)
        do {
            try await database.pool.query("SELECT ledgersync.set_rate_windows('a', ARRAY[5, 1000], ARRAY[60, 86400])")
            try await database.pool.query("SELECT ledgersync.set_rate_windows('b', ARRAY[7], ARRAY[10])")
            try await database.pool.query(
                "UPDATE ledgersync.rate_windows SET used = 3, window_start = ledgersync.rate_window_start(seconds, now()) WHERE limit_key = 'a'"
            )
            // b's count is older than its window: nothing counted any more.
            try await database.pool.query(
                "UPDATE ledgersync.rate_windows SET used = 7, window_start = now(), updated_at = now() - interval '20 s' WHERE limit_key = 'b'"
            )
            let connection = try await Connection.connect(url: database.url)
            defer { connection.close() }
            let applied = try await Migrator(migrations: allMigrations).migrate(connection)
            #expect(applied.map(\.name).contains("011_sliding_windows"), "\(applied.map(\.name))")
            let statuses = try await JobQueue(pool: database.pool).rateWindows()
            #expect(statuses.map(\.limitKey) == ["a", "a", "b"])
            #expect(statuses.map(\.used) == [3, 3, 0] && statuses.map(\.left) == [2, 997, 7], "\(statuses)")
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }
}

extension TestDatabase {
    /// The most rows of `table` whose `column` lies in one half-open span [t, t + seconds),
    /// over every t that is one of the times (the spans that can hold the most). In SQL, in
    /// microseconds, so no rounding can hide or invent a start.
    func maxStartsInAnySpan(seconds: Double, table: String = "ledgersync.jobs", column: String = "attempted_at") async throws -> Int {
        try await count(
            """
            SELECT coalesce(max(s.n), 0)::integer FROM (
                SELECT (SELECT count(*) FROM \(table) b
                        WHERE b.\(column) >= a.\(column) AND b.\(column) < a.\(column) + make_interval(secs => $1)) AS n
                FROM \(table) a WHERE a.\(column) IS NOT NULL) AS s
            """, [seconds])
    }
}
