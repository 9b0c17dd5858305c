import Foundation
import JobQueueTesting
import Postgres
import Testing

@testable import JobQueue

/// A worker stores results (`complete_jobs`, …) and renews leases (`extend_leases`) on the
/// same running rows, each in one statement over arrays of runs, on two pooled connections.
/// Each statement locks its rows in its arrays' order, so two of them given the same rows
/// in opposite orders can deadlock (PostgreSQL aborts one after `deadlock_timeout`, and its
/// batch waits a retry). The worker passes both in id order (`Completer.store`,
/// `WorkerPool.heartbeat`); this holds the statements to the order the worker relies on.
@Suite(.timeLimit(.minutes(1)))
struct ResultLockOrderTests {
    /// Two running runs of worker `w`, with their run ids, in a table of 20,000 finished
    /// jobs, analyzed: the statements' plan is then the one of a real queue (a nested loop
    /// over the arrays probing the primary key), not a scan of a table of two rows.
    static func twoRunning(_ db: TestDatabase) async throws -> [(id: Int64, runID: Int64)] {
        try await db.pool.query(
            """
            INSERT INTO ledgersync.jobs (kind, state, attempt, finalized_at)
            SELECT 'k', 'completed', 1, now() FROM generate_series(1, 20000)
            """)
        try await db.pool.query("ANALYZE ledgersync.jobs")
        return try await db.pool.query(
            """
            INSERT INTO ledgersync.jobs (kind, state, attempt, attempted_at, locked_by, lease_expires_at, run_id)
            SELECT 'k', 'running', 1, now(), 'w', now() + interval '60 seconds', nextval('ledgersync.job_run_ids')
            FROM generate_series(1, 2)
            RETURNING id, run_id
            """
        ).rows.map { (try $0.decode("id"), try $0.decode("run_id")) }.sorted { $0.id < $1.id }
    }

    /// Waits until `count` backends of this database wait for a row lock.
    static func waitForLockWaiters(_ db: TestDatabase, _ count: Int) async throws {
        let waiting = try await eventually(timeout: .seconds(10)) {
            let rows = try await db.pool.query(
                "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).rows
            let waiting: Int = try rows[0].decode("n")
            return waiting >= count
        }
        #expect(waiting, "\(count) sessions waiting for a row lock")
    }

    /// Holds the first run's row, starts `complete_jobs` over both runs in id order, then
    /// `extend_leases` over them in `heartbeatOrder`, and lets go: the deadlocks PostgreSQL
    /// reported (40P01), and whether each statement that got through changed its rows.
    static func race(_ db: TestDatabase, heartbeatOrder: (Int64, Int64) -> Bool) async throws -> Int {
        let runs = try await twoRunning(db)
        let holder = try await Connection.connect(url: db.url)
        defer { holder.close() }
        let completer = try await Connection.connect(url: db.url)
        defer { completer.close() }
        let heartbeat = try await Connection.connect(url: db.url)
        defer { heartbeat.close() }
        try await holder.execute("BEGIN")
        try await holder.query("SELECT 1 FROM ledgersync.jobs WHERE id = $1 FOR UPDATE", [runs[0].id])

        let renewed = runs.sorted { heartbeatOrder($0.id, $1.id) }
        let completing = Task { try await completer.query(QueueSQL.completeJobs, [runs.map(\.id), runs.map(\.runID)]) }
        try await waitForLockWaiters(db, 1)
        let renewing = Task { try await heartbeat.query(QueueSQL.extendLeases, ["w", renewed.map(\.id), renewed.map(\.runID), 60.0]) }
        try await waitForLockWaiters(db, 2)
        try await holder.execute("COMMIT")

        var deadlocks = 0
        for outcome in [await completing.result.map { _ in () }, await renewing.result.map { _ in () }] {
            if case .failure(let error) = outcome {
                let state = (error as? PostgresError)?.sqlState
                #expect(state == "40P01", "only a deadlock may stop them: \(error)")
                deadlocks += 1
            }
        }
        return deadlocks
    }

    @Test("results and the heartbeat given the same runs in id order never deadlock; in opposite orders they do")
    func idOrderAvoidsTheDeadlock() async throws {
        try await withTestDatabase { db in
            let deadlocks = try await Self.race(db, heartbeatOrder: <)
            #expect(deadlocks == 0)
            let rows = try await db.pool.query(
                "SELECT count(*)::int AS n FROM ledgersync.jobs WHERE state = 'running'"
            ).rows
            let stillRunning: Int = try rows[0].decode("n")
            #expect(stillRunning == 0, "both runs completed")
        }
        // The hazard the order avoids: the heartbeat's rows in the opposite order.
        try await withTestDatabase { db in
            let deadlocks = try await Self.race(db, heartbeatOrder: >)
            #expect(deadlocks == 1)
        }
    }
}
