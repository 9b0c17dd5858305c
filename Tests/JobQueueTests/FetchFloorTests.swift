import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// Queue migration 014: while another session holds a transaction open (the xmin horizon
/// pinned, so no claimed job's index entry can be cleaned up), fetches start at the queue's
/// floor and still claim the right jobs in the right order: every job once, by (priority,
/// run_at, id), jobs written below the floor included, and never past a write that has not
/// committed yet.
@Suite(.timeLimit(.minutes(2)))
struct FetchFloorTests {
    static let fetchSQL = "SELECT id, run_id FROM ledgersync.fetch_jobs('w', 'default', $1::integer, 60)"

    /// Claims up to `max` jobs and completes them; returns their ids in claim order (the
    /// fetch's rows sorted by the key the queue orders by).
    static func claim(_ db: TestDatabase, _ max: Int) async throws -> [Int64] {
        let rows = try await db.pool.query(fetchSQL, [max]).rows
        let runs: [(Int64, Int64)] = try rows.map { (try $0.decode("id"), try $0.decode("run_id")) }
        for (id, runID) in runs {
            try await db.pool.query(
                """
                UPDATE ledgersync.jobs SET state = 'completed', finalized_at = now(), locked_by = NULL, lease_expires_at = NULL
                WHERE id = $1 AND run_id = $2 AND state = 'running'
                """, [id, runID])
        }
        return try await db.pool.query(
            "SELECT id FROM ledgersync.jobs WHERE id = ANY ($1::bigint[]) ORDER BY priority, run_at, id", [runs.map(\.0)]
        ).rows.map { try $0.decode("id") }
    }

    /// Inserts a job (a plain INSERT) with this priority and a run_at `secondsAgo` in the past; returns its id.
    static func insert(_ on: Connection, priority: Int = 0, secondsAgo: Double) async throws -> Int64 {
        try await on.query(
            """
            INSERT INTO ledgersync.jobs (kind, priority, run_at)
            VALUES ('k', $1::smallint, now() - make_interval(secs => $2::float8)) RETURNING id
            """, [priority, secondsAgo]
        ).rows[0].decode("id")
    }

    /// The floor row of queue `default` as the id it points at, nil without one.
    static func floorID(_ db: TestDatabase) async throws -> Int64? {
        try await db.pool.query("SELECT id FROM ledgersync.fetch_floors WHERE queue = 'default'").rows.first?.decode("id")
    }

    /// A session that holds the horizon: `BEGIN; SELECT txid_current();`, left open.
    static func holdHorizon(_ db: TestDatabase) async throws -> Connection {
        let holder = try await Connection.connect(url: db.url)
        try await holder.execute("BEGIN")
        try await holder.query("SELECT txid_current()")
        return holder
    }

    @Test("under a held transaction, fetches take every job once in (priority, run_at, id) order, also jobs written below the floor")
    func orderUnderHeldTransaction() async throws {
        try await withTestDatabase { db in
            let holder = try await Self.holdHorizon(db)
            defer { holder.close() }
            let writer = try await Connection.connect(url: db.url)
            defer { writer.close() }
            // 30 jobs at priority 5, run_at ascending with the id.
            var ids: [Int64] = []
            for i in 0..<30 { ids.append(try await Self.insert(writer, priority: 5, secondsAgo: Double(300 - i))) }

            #expect(try await Self.claim(db, 10) == Array(ids[0..<10]))
            // The fetch moved the floor to the first job left; the claimed jobs' rows are
            // dead but the held transaction keeps them (and their index entries).
            #expect(try await Self.floorID(db) == ids[10])
            #expect(
                try await db.count(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_xid IS NOT NULL AND state = 'idle in transaction'",
                    [db.name]) == 1)

            // Below the floor by priority, by an earlier run_at, and a claimed job handed back
            // as retryable with its old key (a rescue, a hand-back): each is taken first.
            let urgent = try await Self.insert(writer, priority: 0, secondsAgo: 0)
            let late = try await Self.insert(writer, priority: 5, secondsAgo: 1000)
            #expect(try await Self.claim(db, 1) == [urgent])
            #expect(try await Self.claim(db, 1) == [late])
            try await writer.query(
                """
                UPDATE ledgersync.jobs SET state = 'retryable', finalized_at = NULL, run_at = now() - interval '2000 seconds'
                WHERE id = $1
                """, [ids[3]])
            #expect(try await Self.claim(db, 3) == [ids[3], ids[10], ids[11]])

            // The rest, in order, each once; then nothing.
            #expect(try await Self.claim(db, 100) == Array(ids[12...]))
            #expect(try await Self.claim(db, 100) == [])
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state <> 'completed'") == 0)
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE attempt <> 1 AND id <> $1", [ids[3]]) == 0)
            try await holder.execute("ROLLBACK")
        }
    }

    @Test("a queue that keeps up has no floor: the fetch that empties it removes it, and a job enqueued then writes no lowering")
    func idleQueueHasNoFloor() async throws {
        try await withTestDatabase { db in
            let writer = try await Connection.connect(url: db.url)
            defer { writer.close() }
            let first = try await Self.insert(writer, secondsAgo: 2)
            let second = try await Self.insert(writer, secondsAgo: 1)
            #expect(try await Self.claim(db, 1) == [first])
            #expect(try await Self.floorID(db) == second, "the floor moves to the job still waiting")
            #expect(try await Self.claim(db, 1) == [second])
            #expect(try await Self.floorID(db) == nil, "nothing waits: no floor")
            // Each job of an idle queue: enqueued, then taken; no lowering is written for it.
            for _ in 0..<3 {
                let id = try await Self.insert(writer, secondsAgo: 0)
                #expect(try await db.count("SELECT count(*) FROM ledgersync.fetch_floor_lowerings") == 0)
                #expect(try await Self.claim(db, 1) == [id])
                #expect(try await Self.floorID(db) == nil)
            }
        }
    }

    @Test("a role that may only insert jobs (docs/operations.md) still enqueues, also below the floor")
    func enqueueOnlyRole() async throws {
        try await withTestDatabase { db in
            try await db.withEnqueueOnlyRole { role in
                let writer = try await Connection.connect(url: db.url)
                defer { writer.close() }
                let first = try await Self.insert(writer, secondsAgo: 10)
                _ = try await Self.insert(writer, secondsAgo: 5)
                #expect(try await Self.claim(db, 1) == [first])
                try await writer.execute("SET ROLE \(role)")
                let below = try await writer.query(
                    "SELECT ledgersync.enqueue('k', '{}', priority => 0, run_at => now() - interval '1 hour') AS id"
                )
                .rows[0].decode("id", as: Int64.self)
                let plain = try await Self.insert(writer, secondsAgo: 7200)
                try await writer.execute("RESET ROLE")
                #expect(try await Self.claim(db, 2) == [plain, below])
            }
        }
    }

    @Test("a fetch does not move the floor past a job whose insert has not committed yet")
    func floorWaitsForWritesInFlight() async throws {
        try await withTestDatabase { db in
            let holder = try await Self.holdHorizon(db)
            defer { holder.close() }
            let writer = try await Connection.connect(url: db.url)
            defer { writer.close() }
            var ids: [Int64] = []
            for i in 0..<30 { ids.append(try await Self.insert(writer, secondsAgo: Double(100 * (100 - i)))) }
            #expect(try await Self.claim(db, 10) == Array(ids[0..<10]))
            #expect(try await Self.floorID(db) == ids[10])

            // An insert in flight whose run_at lies between those of the 15th and 16th jobs:
            // above the floor, but below where the next fetch would otherwise move it.
            try await writer.execute("BEGIN")
            let inFlight = try await Self.insert(writer, secondsAgo: 100 * (100 - 14) - 50)
            #expect(try await Self.claim(db, 10) == Array(ids[10..<20]))
            #expect(try await Self.floorID(db) == ids[10], "the floor must wait for the write in flight")
            try await writer.execute("COMMIT")

            #expect(try await Self.claim(db, 1) == [inFlight])
            #expect(try await Self.floorID(db) == ids[20])
            #expect(try await Self.claim(db, 100) == Array(ids[20...]))
            try await holder.execute("ROLLBACK")
        }
    }
}
