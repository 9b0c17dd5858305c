import JobQueue
import JobQueueTesting
import Testing

@Suite(.timeLimit(.minutes(2)))
struct SendReceiptTests {
    @Test func sendsAReceiptAndRefusesABadAddress() async throws {
        // A fresh database with the queue's schema (LEDGERSYNC_TEST_DATABASE_URL: a superuser URL).
        try await TestDatabase.with { database in
            let worker = TestWorker(pool: database.pool)

            let sent = try await worker.work(SendReceipt(), args: .init(invoiceID: "inv_1", email: "ada@example.com"))
            #expect(sent.outcome == .complete)
            #expect(sent.job.state == .completed)

            let refused = try await worker.work(SendReceipt(), args: .init(invoiceID: "inv_2", email: "nobody"))
            #expect(refused.job.state == .failed)
            #expect(refused.error?.class == "permanent")
            #expect(refused.error?.message == "email \"nobody\" is not an address")
        }
    }
}
