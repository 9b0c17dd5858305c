import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Sync
import Testing

/// One enqueue path for sync jobs: POST /v1/jobs, `SyncQueue` (Swift) and
/// `ledgersync.enqueue_sync` (SQL) write the same row for the same input, every option
/// included (the CLI's side is EnqueuePathsCLITests).
@Suite(.timeLimit(.minutes(3)))
struct EnqueuePathsTests {
    /// A job's row without what differs per insert (id, unique key, timestamps of creation).
    static func row(_ pool: ConnectionPool, _ id: Int64) async throws -> String {
        try await pool.query(
            """
            SELECT concat_ws(' | ', kind, args::text, queue, priority, max_attempts, serial_key, limit_key,
                             to_char(run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'), state::text, attempt) AS r
            FROM ledgersync.jobs WHERE id = $1
            """, [id]
        ).rows[0].decode("r")
    }

    @Test("HTTP, Swift and SQL enqueue the same sync job row; a unique key held from SQL is found over HTTP")
    func theThreePathsGiveTheSameRow() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            let connectionID = try #require(UUID(uuidString: connection))
            // A payment names no customer: customer_id gives it. Exact numbers must survive.
            let payment = #"{"lago_id": "pay_1", "invoice_ids": ["inv_1"], "amount_cents": 1230, "rate": 12.30}"#

            let fromSQL: Int64 = try await api.pool.query(
                """
                SELECT ledgersync.enqueue_sync($1::uuid, 'payment.apply', $2::jsonb, customer_id => 'cus_7', priority => 3,
                       run_at => '2030-01-02T03:04:05Z', max_attempts => 4, queue => 'sync', unique_key => 'sql-1') AS id
                """, [connection, #"{"payment": \#(payment)}"#]
            ).rows[0].decode("id")

            let answer = try await api.post(
                "/v1/jobs",
                #"""
                {"kind": "payment.apply", "args": {"connection_id": "\#(connection)", "customer_id": "cus_7", "payment": \#(payment)},
                 "queue": "sync", "priority": 3, "run_at": "2030-01-02T03:04:05Z", "max_attempts": 4, "unique_key": "api-1"}
                """#)
            #expect(answer.status == 201, "\(answer)")
            let fromHTTP = Int64(try #require((answer.object["job"] as? [String: Any])?["id"] as? Int))

            let fromSwift = try await SyncQueue(pool: api.pool).enqueue(
                connection: connectionID, kind: .paymentApply, document: JSONText(#"{"payment": \#(payment)}"#), customerID: "cus_7",
                options: SyncQueue.Options(
                    queue: "sync", priority: 3, runAt: ISO8601DateFormatter().date(from: "2030-01-02T03:04:05Z"), maxAttempts: 4,
                    uniqueKey: "swift-1"))

            let expected = try await Self.row(api.pool, fromSQL)
            #expect(expected.contains("sync:\(connection):customer:cus_7") && expected.contains("12.30"), "\(expected)")
            #expect(try await Self.row(api.pool, fromHTTP) == expected)
            #expect(try await Self.row(api.pool, fromSwift) == expected)

            // The SQL job's unique key over HTTP: that job, nothing new (200, created false).
            let again = try await api.post(
                "/v1/jobs",
                #"{"kind": "payment.apply", "args": {"connection_id": "\#(connection)", "payment": \#(payment)}, "unique_key": "sql-1"}"#)
            #expect(again.status == 200, "\(again)")
            #expect((again.object["job"] as? [String: Any])?["id"] as? Int == Int(fromSQL) && again.object["created"] as? Bool == false)
            // And in a batch.
            let batch = try await api.post(
                "/v1/jobs/batch",
                #"{"jobs": [{"kind": "payment.apply", "args": {"connection_id": "\#(connection)", "payment": \#(payment)}, "unique_key": "api-1"}]}"#
            )
            #expect(batch.status == 200 && batch.object["existing"] as? Int == 1, "\(batch)")
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.jobs") == 3)
        }
    }

    @Test("enqueue_sync's refusals over HTTP are 422s naming the field, and store nothing")
    func refusalsNameTheField() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            let before = try await api.snapshot()
            let contradicting = try await api.post(
                "/v1/jobs",
                #"{"kind": "invoice.push", "args": {"connection_id": "\#(connection)", "customer_id": "acme-ext", "invoice": {"lago_id": "i", "lago_customer_id": "cus_1"}}}"#
            )
            #expect(contradicting.status == 422, "\(contradicting)")
            #expect(contradicting.error["field"] as? String == "args.customer_id", "\(contradicting)")
            #expect((contradicting.error["message"] as? String)?.contains("'acme-ext'") == true, "\(contradicting)")

            let inBatch = try await api.post(
                "/v1/jobs/batch",
                #"""
                {"jobs": [{"kind": "customer.sync", "args": {"connection_id": "\#(connection)", "customer": {"lago_id": "cus_1"}}},
                          {"kind": "invoice.push", "args": {"connection_id": "\#(connection)", "customer_id": "acme-ext", "invoice": {"lago_id": "i", "lago_customer_id": "cus_1"}}}]}
                """#)
            #expect(inBatch.status == 422, "\(inBatch)")
            #expect(inBatch.error["field"] as? String == "jobs[1].args.customer_id", "\(inBatch)")
            #expect(try await api.snapshot() == before, "all or nothing: the batch's first job is not stored either")
        }
    }
}
