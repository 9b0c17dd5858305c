import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Sync
import Testing

/// One enqueue path for sync jobs: `ledgersync enqueue` writes the row
/// `ledgersync.enqueue_sync` writes from SQL for the same input (the HTTP API's side is
/// APITests' EnqueuePathsTests).
@Suite(.timeLimit(.minutes(3)))
struct EnqueuePathsCLITests {
    /// A job's row without what differs per insert (id, unique key, run_at, timestamps).
    static func row(_ pool: ConnectionPool, _ id: Int64) async throws -> String {
        try await pool.query(
            """
            SELECT concat_ws(' | ', kind, args::text, queue, priority, max_attempts, serial_key, limit_key, state::text, attempt) AS r
            FROM ledgersync.jobs WHERE id = $1
            """, [id]
        ).rows[0].decode("r")
    }

    @Test("ledgersync enqueue of a sync kind is enqueue_sync's row, options and unique key included")
    func cliAndSQLGiveTheSameRow() async throws {
        try await withTestDatabase { db in
            let connection = try await SyncCLITests.createConnection(db)
            let invoice = #"{"lago_id": "inv_1", "total": 12.30, "customer": {"lago_id": "cus_7"}}"#
            let fromSQL: Int64 = try await db.pool.query(
                """
                SELECT ledgersync.enqueue_sync($1::uuid, 'invoice.push', $2::jsonb, priority => 2, max_attempts => 6,
                       queue => 'sync', unique_key => 'sql-1') AS id
                """, [connection, #"{"invoice": \#(invoice)}"#]
            ).rows[0].decode("id")

            func cli(_ uniqueKey: String) async throws -> Int64 {
                let run = try await SyncCLITests.run(
                    [
                        "enqueue", "invoice.push", "--json", "--queue", "sync", "--priority", "2", "--max-attempts", "6",
                        "--unique-key", uniqueKey, "--args", #"{"connection_id": "\#(connection)", "invoice": \#(invoice)}"#,
                    ],
                    databaseURL: db.url)
                #expect(run.status == 0, "\(run)")
                return Int64(try #require((try SyncCLITests.json(run) as? [String: Any])?["id"] as? Int, "\(run)"))
            }
            let fromCLI = try await cli("cli-1")
            #expect(fromCLI != fromSQL)
            let expected = try await Self.row(db.pool, fromSQL)
            #expect(expected.contains("sync:\(connection):customer:cus_7") && expected.contains("12.30"), "\(expected)")
            #expect(try await Self.row(db.pool, fromCLI) == expected)
            // The SQL job's unique key from the CLI: that job's id, nothing new.
            #expect(try await cli("sql-1") == fromSQL)
            #expect(try await db.pool.query("SELECT count(*)::int8 AS n FROM ledgersync.jobs").rows[0].decode("n", as: Int64.self) == 2)

            // A refusal of enqueue_sync is a usage error (64) naming the field.
            let refused = try await SyncCLITests.run(
                [
                    "enqueue", "invoice.push", "--args",
                    #"{"connection_id": "\#(connection)", "customer_id": "acme-ext", "invoice": \#(invoice)}"#,
                ],
                databaseURL: db.url)
            #expect(refused.status == 64 && refused.stderr.contains("customer_id 'acme-ext'"), "\(refused)")
        }
    }
}
