import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Testing

@testable import Sync

/// `ledgersync.enqueue_sync` accepts the void kinds with the checks of the others (sync
/// migration 011): each lands in its customer's serial lane, read from its envelope or, for a
/// credit note naming no customer, from its synced invoice.
@Suite("enqueue_sync's void kinds", .timeLimit(.minutes(3)))
struct LifecycleEnqueueTests {
    private static let key = try! SecretBox(key: Array(0..<32))

    @Test("invoice.void and credit_memo.void enqueue in their customer's lane; an unknown kind's error lists them")
    func voidKinds() async throws {
        try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations) { db in
            let connection = AccountingConnection(
                provider: "netsuite", name: "sandbox", accountID: "1234567_SB1",
                settings: .init(baseURL: "http://127.0.0.1:9999/netsuite", concurrencyLimit: 5, extra: ["default_subsidiary": "1"]),
                secrets: ConnectionSecrets(["consumer_key": "ck", "consumer_secret": "cs", "token_id": "tid", "token_secret": "ts"]))
            let id = try #require(try await ConnectionStore(pool: db.pool, secretBox: Self.key).create(connection).id)
            let lane = "sync:\(id.uuidString.lowercased()):customer:cus_1"
            func enqueue(_ kind: String, _ document: String, customer: String? = nil) async throws -> String? {
                let job = try await db.pool.query(
                    "SELECT ledgersync.enqueue_sync($1::uuid, $2, $3::jsonb, customer_id => $4) AS id",
                    [id.uuidString, kind, document, customer]
                ).rows[0].decode("id", as: Int64.self)
                let row = try await db.pool.query("SELECT serial_key FROM ledgersync.jobs WHERE id = $1", [job]).rows.first
                return try row?.decodeIfPresent("serial_key", as: String.self)
            }

            #expect(try await enqueue("invoice.void", #"{"invoice": {"lago_id": "inv_1", "customer": {"lago_id": "cus_1"}}}"#) == lane)
            #expect(
                try await enqueue(
                    "credit_memo.void", #"{"credit_note": {"lago_id": "cn_1", "lago_customer_id": "cus_1", "lago_invoice_id": "inv_1"}}"#)
                    == lane)

            // A credit note naming no customer: its synced invoice's customer.
            try await ExternalRefStore(pool: db.pool).record(
                connection: id, objectType: .invoice, billingID: "inv_1", providerID: "101", customerBillingID: "cus_1")
            #expect(try await enqueue("credit_memo.void", #"{"credit_note": {"lago_id": "cn_2", "lago_invoice_id": "inv_1"}}"#) == lane)

            do {
                _ = try await enqueue("invoice.delete", #"{"invoice": {"lago_id": "inv_1"}}"#)
                Issue.record("an unknown kind was enqueued")
            } catch let error as PostgresError {
                #expect(error.sqlState == "22023")
                #expect(error.message.contains("invoice.void, credit_memo.void"), "\(error.message)")
            }
        }
    }
}
