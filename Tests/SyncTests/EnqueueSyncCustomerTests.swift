import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Testing

@testable import Sync

/// `customer_id` in `ledgersync.enqueue_sync` names the serial lane; one that contradicts the
/// document (the external id a billing UI shows, say) is refused (sql/sync/008).
@Suite("enqueue_sync's customer_id", .timeLimit(.minutes(3)))
struct EnqueueSyncCustomerTests {
    private static let key = try! SecretBox(key: Array(0..<32))

    private static func connection() -> AccountingConnection {
        AccountingConnection(
            provider: "netsuite", name: "sandbox", accountID: "1234567_SB1",
            settings: .init(baseURL: "http://127.0.0.1:9999/netsuite", concurrencyLimit: 5, extra: ["default_subsidiary": "1"]),
            secrets: ConnectionSecrets(["consumer_key": "ck", "consumer_secret": "cs", "token_id": "tid", "token_secret": "ts"]))
    }

    /// The SQLSTATE and message of `enqueue_sync`, or nil when it enqueued.
    private static func enqueue(
        _ db: TestDatabase, _ connection: UUID, _ kind: String, _ document: String, customer: String?
    ) async throws -> (state: String?, message: String)? {
        do {
            _ = try await db.pool.query(
                "SELECT ledgersync.enqueue_sync($1::uuid, $2, $3::jsonb, customer_id => $4)",
                [connection.uuidString, kind, document, customer])
            return nil
        } catch let error as PostgresError {
            return (error.sqlState, error.message)
        }
    }

    private static func jobCount(_ db: TestDatabase) async throws -> Int64 {
        try await db.pool.query("SELECT count(*)::int8 AS n FROM ledgersync.jobs").rows[0].decode("n", as: Int64.self)
    }

    @Test("a customer_id that differs from the document's customer is 22023 naming both; the same one, or none, enqueues")
    func contradictingCustomerIsRefused() async throws {
        try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations) { db in
            let id = try #require(try await ConnectionStore(pool: db.pool, secretBox: Self.key).create(Self.connection()).id)
            let invoice = #"{"invoice": {"lago_id": "inv_1", "lago_customer_id": "cus_lago_1"}}"#

            let refused = try #require(try await Self.enqueue(db, id, "invoice.push", invoice, customer: "acme-external-7"))
            #expect(refused.state == "22023")
            #expect(refused.message.contains("'acme-external-7'") && refused.message.contains("'cus_lago_1'"), "\(refused.message)")
            #expect(try await Self.jobCount(db) == 0, "nothing stored")

            #expect(try await Self.enqueue(db, id, "invoice.push", invoice, customer: "cus_lago_1") == nil)
            #expect(
                try await Self.enqueue(
                    db, id, "invoice.push", #"{"invoice": {"lago_id": "inv_2", "lago_customer_id": "cus_lago_1"}}"#, customer: nil) == nil)
            let lanes = try await db.pool.query("SELECT DISTINCT serial_key FROM ledgersync.jobs").rows.map {
                try $0.decode("serial_key", as: String.self)
            }
            #expect(lanes == ["sync:\(id.uuidString.lowercased()):customer:cus_lago_1"])
        }
    }

    @Test("a payment naming no customer: a customer_id other than its synced invoice's customer is refused")
    func paymentChecksItsInvoicesCustomer() async throws {
        try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations) { db in
            let id = try #require(try await ConnectionStore(pool: db.pool, secretBox: Self.key).create(Self.connection()).id)
            let payment = #"{"payment": {"lago_id": "pay_1", "invoice_ids": ["inv_9"], "amount_cents": 100}}"#
            // Before the invoice is synced nothing can be checked: the given customer stands.
            #expect(try await Self.enqueue(db, id, "payment.apply", payment, customer: "anyone") == nil)

            try await ExternalRefStore(pool: db.pool).record(
                connection: id, objectType: .invoice, billingID: "inv_9", providerID: "8801", customerBillingID: "cus_lago_9")
            let refused = try #require(try await Self.enqueue(db, id, "payment.apply", payment, customer: "acme-external-9"))
            #expect(refused.state == "22023" && refused.message.contains("'inv_9'"), "\(refused.message)")
            #expect(try await Self.enqueue(db, id, "payment.apply", payment, customer: "cus_lago_9") == nil)
            #expect(try await Self.jobCount(db) == 2)
        }
    }
}
