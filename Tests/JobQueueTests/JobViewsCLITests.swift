import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// `ledgersync jobs list/show` name the billing object of a sync job (two failed rows for
/// one invoice's jobs are told apart), and a completed job's earlier errors are not shown
/// as its last error.
@Suite(.timeLimit(.minutes(3)))
struct JobViewsCLITests {
    @Test("jobs list and show name the document kind, billing id and number; a completed job shows no last error")
    func billingObjectAndNoStaleError() async throws {
        try await withTestDatabase { db in
            let invoiceArgs =
                #"{"connection_id": "00000000-0000-0000-0000-000000000001", "invoice": {"lago_id": "inv-42", "number": "INV-2026-0042", "customer": {"lago_id": "cus-1"}}}"#
            let paymentArgs =
                #"{"connection_id": "00000000-0000-0000-0000-000000000001", "payment": {"lago_id": "pay-8", "invoice_ids": ["inv-42"]}}"#
            let failedInvoice = try await db.queue.enqueue(EnqueueRequest(kind: "invoice.push", args: JSONText(invoiceArgs), queue: "sync"))
            let completedPayment = try await db.queue.enqueue(
                EnqueueRequest(kind: "payment.apply", args: JSONText(paymentArgs), queue: "sync"))
            try await db.pool.query(
                """
                UPDATE ledgersync.jobs SET state = 'failed', attempt = 1, max_attempts = 1, attempted_at = now(), finalized_at = now(),
                    errors = '[{"at": "2026-12-01T10:00:00+00:00", "attempt": 1, "class": "permanent", "message": "CURRENT-FAILURE"}]'
                WHERE id = $1
                """, [failedInvoice])
            try await db.pool.query(
                """
                UPDATE ledgersync.jobs SET state = 'completed', attempt = 2, attempted_at = now(), finalized_at = now(),
                    errors = '[{"at": "2026-12-01T10:00:00+00:00", "attempt": 1, "class": "transient", "message": "STALE-ERROR"}]'
                WHERE id = $1
                """, [completedPayment])

            let list = try await LedgersyncProcess.run(["jobs", "list", "--queue", "sync"], databaseURL: db.url)
            #expect(list.status == 0, "\(list.stdout)")
            let lines = list.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.contains("OBJECT") == true, "\(list.stdout)")
            let invoiceLine = try #require(lines.first { $0.hasPrefix("\(failedInvoice) ") }, "\(list.stdout)")
            #expect(invoiceLine.contains("invoice inv-42 (INV-2026-0042)"), "\(invoiceLine)")
            #expect(invoiceLine.contains("CURRENT-FAILURE"), "\(invoiceLine)")
            let paymentLine = try #require(lines.first { $0.hasPrefix("\(completedPayment) ") }, "\(list.stdout)")
            #expect(paymentLine.contains("payment pay-8"), "\(paymentLine)")
            #expect(!paymentLine.contains("STALE-ERROR"), "a completed job shows an old error as its last: \(paymentLine)")

            let show = try await LedgersyncProcess.run(["jobs", "show", "\(failedInvoice)"], databaseURL: db.url)
            #expect(show.status == 0)
            #expect(show.stdout.contains("billing object: invoice inv-42 (INV-2026-0042)"), "\(show.stdout)")
            let shownPayment = try await LedgersyncProcess.run(["jobs", "show", "\(completedPayment)"], databaseURL: db.url)
            #expect(shownPayment.stdout.contains("billing object: payment pay-8"), "\(shownPayment.stdout)")
            #expect(shownPayment.stdout.contains("errors of earlier attempts (1):"), "\(shownPayment.stdout)")
        }
    }
}
