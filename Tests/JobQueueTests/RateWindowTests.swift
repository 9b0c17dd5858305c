import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// Queue migration 010: rate windows, "at most N starts of a limit key per window", across
/// every worker process, a blocked job unclaimed (attempts kept), the worker woken when the
/// window turns, a provider's 429 spending the rest of the window.
@Suite(.timeLimit(.minutes(4)))
struct RateWindowTests {
    static let fetchSQL = "SELECT id, attempt, window_wait_seconds FROM ledgersync.fetch_jobs($1, 'default', $2::integer, 30)"

    /// Claims up to `max` jobs as worker `worker`: the ids claimed, and the wait hint if any.
    static func fetch(_ pool: ConnectionPool, worker: String = "w", max: Int = 100) async throws -> (ids: [Int64], wait: Double?) {
        var ids: [Int64] = []
        var wait: Double?
        for row in try await pool.query(fetchSQL, [worker, max]).rows {
            if let id = try row.decodeIfPresent("id", as: Int64.self) {
                ids.append(id)
            } else {
                wait = try row.decodeIfPresent("window_wait_seconds", as: Double.self)
            }
        }
        return (ids, wait)
    }

    // Windows of a year, so a test never sees one turn (they are aligned to the epoch).
    static let year = 365 * 86_400
    static let leapYear = 366 * 86_400

    @Test(
        "two windows on one key: the tighter wins; blocked jobs stay available with their attempts; the fetch says when to come back; limits list shows used and left"
    )
    func tighterWindowWins() async throws {
        try await withTestDatabase { db in
            try await db.queue.setRateWindows(
                "acct", [RateWindow(maxStarts: 5, seconds: Self.year), RateWindow(maxStarts: 3, seconds: Self.leapYear)])
            let ids = try await db.queue.enqueueMany((0..<8).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            let free = try await db.queue.enqueue(EnqueueRequest(kind: "k"))
            let first = try await Self.fetch(db.pool)
            #expect(Set(first.ids) == Set(ids.prefix(3) + [free]), "claimed \(first.ids)")
            let wait = try #require(first.wait, "a blocked key must come with a wait hint")
            #expect(wait > 0 && wait <= Double(Self.leapYear))

            // The blocked jobs were not touched: still available, no attempt used.
            let untouched = try await db.count(
                "SELECT count(*) FROM ledgersync.jobs WHERE id = ANY ($1) AND state = 'available' AND attempt = 0",
                [Array(ids.dropFirst(3))])
            #expect(untouched == 5)
            // A second fetch (another worker) claims nothing of the key either.
            let second = try await Self.fetch(db.pool, worker: "w2")
            #expect(second.ids.isEmpty && second.wait != nil)

            let statuses = try await db.queue.rateWindows()
            #expect(statuses.map(\.used) == [3, 3] && statuses.map(\.left) == [2, 0], "\(statuses)")

            let list = try await LedgersyncProcess.run(["limits", "list", "--json"], databaseURL: db.url)
            #expect(list.status == 0, "\(list.stderr)")
            let keys = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
            let acct = try #require(keys.first { $0["limit_key"] as? String == "acct" })
            #expect(acct["max_running"] == nil, "no concurrency limit: \(list.stdout)")
            let windows = try #require(acct["windows"] as? [[String: Any]])
            #expect(windows.map { $0["window"] as? String } == ["5/365d", "3/366d"], "\(list.stdout)")
            #expect(windows.map { $0["used"] as? Int } == [3, 3] && windows.map { $0["left"] as? Int } == [2, 0])
            let text = try await LedgersyncProcess.run(["limits", "list"], databaseURL: db.url)
            #expect(text.stdout.contains("3/366d") && text.stdout.contains("LEFT"), "\(text.stdout)")

            // Raising the tighter window (kept at its length, so its count stays) frees two starts.
            try await db.queue.setRateWindows(
                "acct", [RateWindow(maxStarts: 5, seconds: Self.year), RateWindow(maxStarts: 6, seconds: Self.leapYear)])
            let third = try await Self.fetch(db.pool)
            #expect(third.ids.count == 2 && third.wait != nil, "\(third)")
        }
    }

    @Test("windows and the concurrency limit together: each bounds the key")
    func windowsAndConcurrency() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 2)
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: 3, seconds: Self.year)])
            try await db.queue.enqueueMany((0..<6).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            let first = try await Self.fetch(db.pool)
            #expect(first.ids.count == 2 && first.wait == nil, "the concurrency limit bounds the first fetch: \(first)")
            let none = try await Self.fetch(db.pool)
            #expect(none.ids.isEmpty && none.wait == nil, "two running, limit 2, a start left: \(none)")
            try await db.pool.query(
                "UPDATE ledgersync.jobs SET state = 'completed', finalized_at = now(), locked_by = NULL, lease_expires_at = NULL WHERE id = ANY ($1)",
                [first.ids])
            let second = try await Self.fetch(db.pool)
            #expect(second.ids.count == 1 && second.wait != nil, "one slot... one start left of 3: \(second)")
            try await db.pool.query(
                "UPDATE ledgersync.jobs SET state = 'completed', finalized_at = now(), locked_by = NULL, lease_expires_at = NULL WHERE id = ANY ($1)",
                [second.ids])
            let third = try await Self.fetch(db.pool)
            #expect(third.ids.isEmpty && third.wait != nil, "window spent with slots free: \(third)")
        }
    }

    @Test("two fetchers racing for one key: the second waits for the first's lock and sees its claims, so the window is never overspent")
    func racingFetchers() async throws {
        try await withTestDatabase { db in
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: 5, seconds: Self.year)])
            try await db.queue.enqueueMany((0..<10).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            // The first fetch claims 3 (its batch) in a transaction still open: it holds the key.
            let first = try await Connection.connect(url: db.url)
            defer { first.close() }
            try await first.execute("BEGIN")
            let firstIDs = try await first.query(Self.fetchSQL, ["w1", 3]).rows.compactMap {
                try $0.decodeIfPresent("id", as: Int64.self)
            }
            #expect(firstIDs.count == 3)
            // The second, from another connection, asks for everything: it waits for the key…
            let otherPool = ConnectionPool(url: db.url, maxConnections: 1)
            let second = Task { try await Self.fetch(otherPool, worker: "w2") }
            let waits = await eventually(timeout: .seconds(30), every: .milliseconds(5)) {
                (try? await db.count(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database WHERE d.datname = $1 AND l.locktype = 'advisory' AND NOT l.granted",
                    [db.name])) == 1
            }
            #expect(waits, "the second fetch did not wait for the first's key lock")
            try await first.execute("COMMIT")
            // … and then sees the first's 3 starts: 2 left, and the hint.
            let result = try await second.value
            await otherPool.close()
            #expect(result.ids.count == 2 && result.wait != nil, "\(result)")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'running'") == 5)
        }
    }

    struct RefusedByProvider: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.refused"
        func run(_ args: Args, context: JobContext) async throws {
            // The provider answered 429: its window is spent; wait for the turn.
            let wait = try await context.exhaustRateWindows(upTo: .seconds(RateWindowTests.year))
            throw JobError.rateLimited(wait ?? .seconds(60), reason: "429 from the provider")
        }
    }

    @Test("a handler's exhaustRateWindows stops every fetcher until the window turns, only for the windows asked for")
    func exhaustFromHandler() async throws {
        try await withTestDatabase { db in
            try await db.queue.setRateWindows(
                "acct", [RateWindow(maxStarts: 100, seconds: Self.year), RateWindow(maxStarts: 1000, seconds: Self.leapYear)])
            let waiting = try await db.queue.enqueueMany((0..<3).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            let result = try await TestWorker(pool: db.pool, maxRateLimited: .seconds(2 * Self.leapYear)).work(
                RefusedByProvider(), args: .init(), limitKey: "acct")
            guard case .snooze(let delay) = result.outcome else {
                Issue.record("expected a snooze, got \(result.outcome)")
                return
            }
            #expect(delay > 60, "the snooze lasts until the window turns: \(delay)")
            // Another process's pool: nothing of the key starts.
            let otherPool = ConnectionPool(url: db.url, maxConnections: 1)
            let other = try await Self.fetch(otherPool, worker: "other")
            await otherPool.close()
            #expect(other.ids.isEmpty && other.wait != nil, "\(other)")
            let statuses = try await db.queue.rateWindows()
            #expect(statuses.map(\.left) == [0, 1000], "only the year window was exhausted: \(statuses)")
            let attempts = try await db.count(
                "SELECT count(*) FROM ledgersync.jobs WHERE id = ANY ($1) AND attempt = 0 AND state = 'available'", [waiting])
            #expect(attempts == 3)
        }
    }

    @Test(
        "3 worker processes never start more than N per window; the key resumes when the window turns, woken by the fetch's hint, not a poll"
    )
    func acrossProcesses() async throws {
        try await withTestDatabase { db in
            let perWindow = 10
            let windowSeconds = 2
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: perWindow, seconds: windowSeconds)])
            let total = 35
            try await db.queue.enqueueMany(
                (0..<total).map { _ in EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": 20}"#), limitKey: "acct") })
            // A poll of 10 minutes: only the window hint (or a notification) can start the
            // jobs after the first window, so finishing at all shows the hint works.
            let workers = try (0..<3).map { _ in
                try LedgersyncProcess(
                    ["worker", "--diagnostic-kinds", "--concurrency", "8", "--poll-interval", "10m", "--lease", "5s"], databaseURL: db.url)
            }
            let done = try await db.waitForCount(
                "SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'", total, timeout: .seconds(60))
            #expect(done, "\(workers.map(\.output).joined(separator: "\n---\n").suffix(4000))")
            await stopWorkers(workers)

            let perBucket = try await db.pool.query(
                """
                SELECT floor(extract(epoch FROM attempted_at) / $1)::bigint AS bucket, count(*)::integer AS starts
                FROM ledgersync.jobs GROUP BY 1 ORDER BY 1
                """, [windowSeconds]
            ).rows.map { (try $0.decode("bucket", as: Int64.self), try $0.decode("starts", as: Int.self)) }
            #expect(perBucket.allSatisfy { $0.1 <= perWindow }, "starts per window: \(perBucket)")
            #expect(perBucket.count >= (total + perWindow - 1) / perWindow, "\(perBucket)")
            let attempts = try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE attempt <> 1")
            #expect(attempts == 0, "a job that waited for its window used an attempt")
            let workersUsed = try await db.count("SELECT count(DISTINCT worker) FROM ledgersync_diag.runs")
            #expect(workersUsed >= 2, "the jobs should spread over the processes")
        }
    }

    @Test("window syntax: STARTS/LENGTH with a unit; bad ones are refused naming what is wrong")
    func parsing() throws {
        #expect(try RateWindow(parsing: "100/60s") == RateWindow(maxStarts: 100, seconds: 60))
        #expect(try RateWindow(parsing: "1000/1d") == RateWindow(maxStarts: 1000, seconds: 86_400))
        #expect(try RateWindow(parsing: "50/2s").text == "50/2s")
        #expect(try RateWindow(parsing: "10/5m").text == "10/5m")
        #expect(try RateWindow(parsing: "3/1h").seconds == 3600)
        for bad in ["100", "0/60s", "x/60s", "100/60", "100/0s", "100/1w", "100/367d", "100/60s/2"] {
            #expect(throws: RateWindowError.self, "\(bad)") { try RateWindow(parsing: bad) }
        }
    }

    @Test("limits set --window sets the windows; a bad window is one clear line")
    func cli() async throws {
        try await withTestDatabase { db in
            let set = try await LedgersyncProcess.run(
                ["limits", "set", "acct", "4", "--window", "100/60s", "--window", "1000/1d"], databaseURL: db.url)
            #expect(set.status == 0, "\(set.stderr)")
            #expect(set.stdout.contains("100/60s, 1000/1d"), "\(set.stdout)")
            let windows = try await db.queue.rateWindows()
            #expect(windows.map(\.seconds) == [60, 86_400] && windows.map(\.maxStarts) == [100, 1000])
            let limit = try await db.count("SELECT max_running FROM ledgersync.concurrency_limits WHERE limit_key = 'acct'")
            #expect(limit == 4)

            let bad = try await LedgersyncProcess.run(["limits", "set", "acct", "--window", "100/60"], databaseURL: db.url)
            #expect(bad.status == 64, "\(bad.stderr)")
            #expect(bad.stderr.contains("--window") && bad.stderr.contains("unit"), "\(bad.stderr)")

            let removed = try await LedgersyncProcess.run(["limits", "set", "acct", "--remove-windows"], databaseURL: db.url)
            #expect(removed.status == 0, "\(removed.stderr)")
            #expect(try await db.queue.rateWindows().isEmpty)
            #expect(try await db.count("SELECT count(*) FROM ledgersync.concurrency_limits WHERE limit_key = 'acct'") == 1)
        }
    }
}
