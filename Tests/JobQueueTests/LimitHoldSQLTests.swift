import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// Queue migration 008 in SQL: a hold of a timed-out request counts against its key's
/// limit in fetch until it expires, after its job has left `running`.
@Suite(.timeLimit(.minutes(3)))
struct LimitHoldSQLTests {
    @Test("a hold keeps the slot taken after its run ends, until held_until; limits list shows it")
    func holdCountsUntilItExpires() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 2)
            let ids = try await db.queue.enqueueMany((0..<4).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            let claimed = try await db.pool.query("SELECT id FROM ledgersync.fetch_jobs('w', 'default', 10, 30)").rows.count
            #expect(claimed == 2)
            let firstRun: Int64 = try await db.pool.query("SELECT run_id FROM ledgersync.jobs WHERE id = $1", [ids[0]]).rows[0].decode(
                "run_id")

            // The first run's request timed out: it holds its slot for a minute, then its run
            // ends (retryable, later), as a worker stores a transient failure.
            let until = try await db.pool.query(
                "SELECT ledgersync.hold_limit_slot($1, $2, 60) AS held_until", [ids[0], firstRun]
            ).rows[0]
                .decodeIfPresent("held_until", as: Date.self)
            #expect(until != nil)
            try await db.pool.query(
                "UPDATE ledgersync.jobs SET state = 'retryable', run_at = now() + interval '1 hour', locked_by = NULL WHERE id = $1",
                [ids[0]])

            // One job running plus one hold: the key is full, fetch claims nothing.
            let whileHeld = try await db.pool.query("SELECT id FROM ledgersync.fetch_jobs('w', 'default', 10, 30)").rows.count
            #expect(whileHeld == 0, "fetch claimed \(whileHeld) jobs while the limit was taken by a running job and a hold")

            let list = try await LedgersyncProcess.run(["limits", "list", "--json"], databaseURL: db.url)
            let acct = try #require((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])?.first)
            #expect(acct["held_after_timeout"] as? Int == 1, "\(list.stdout)")
            #expect(acct["holding"] as? Int == 1 && acct["running"] as? Int == 1)

            // Once the hold has expired the slot is free again.
            try await db.pool.query("UPDATE ledgersync.limit_holds SET held_until = now() - interval '1 second'")
            let afterExpiry = try await db.pool.query("SELECT id FROM ledgersync.fetch_jobs('w', 'default', 10, 30)").rows
                .map { try $0.decode("id", as: Int64.self) }
            #expect(afterExpiry == [ids[2]])
        }
    }

    @Test("hold_limit_slot: nothing for a run that is not running; a bound outside (0, 7 days) is refused naming it")
    func holdRefusals() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 2)
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "k", limitKey: "acct"))
            let notRunning = try await db.pool.query("SELECT ledgersync.hold_limit_slot($1, 12345, 60) AS held_until", [id]).rows[0]
                .decodeIfPresent("held_until", as: Date.self)
            #expect(notRunning == nil)
            let holds: Int = try await db.pool.query("SELECT count(*)::integer AS n FROM ledgersync.limit_holds").rows[0].decode("n")
            #expect(holds == 0)
            for seconds: Double in [0, -1, 7 * 86_400] {
                do {
                    try await db.pool.query("SELECT ledgersync.hold_limit_slot($1, 1, $2)", [id, seconds])
                    Issue.record("a hold of \(seconds) s was accepted")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "22023", "\(error)")
                    #expect("\(error)".contains("seconds must be more than 0"), "\(error)")
                }
            }
        }
    }
}
