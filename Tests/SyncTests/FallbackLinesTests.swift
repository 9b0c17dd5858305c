import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

@testable import Sync

/// Which lines land on the connection's fallback item (PROVIDERS.md 1.4, decided in Sync for
/// every provider), the warning a job leaves about them, and how that warning is stored
/// (sync migration 012): replaced by a later write of the same object, removed when that
/// write no longer uses the fallback, gone with its job.
@Suite("Fallback-item lines and job warnings", .timeLimit(.minutes(3)))
struct FallbackLinesTests {
    static let connection = UUID(uuidString: "00000000-0000-0000-0000-0000000000c1")!
    static let fallback = Mapping.fallbackItem(connectionID: connection, providerID: "900", providerName: "Billing (fallback)")

    static func mappings(_ extra: [Mapping]) -> MappingSet {
        MappingSet(connectionID: connection, mappings: [fallback] + extra)
    }

    @Test(
        "invoice: a fee without item or default item, credits and prepaid credit without default items are on the fallback; a zero fee among paid ones is no line"
    )
    func invoiceLines() throws {
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: Fixtures.invoice)
        // Only the fallback: every line of the invoice lands on it (the zero "setup" add-on
        // is not pushed, so it is not listed).
        let all = Self.mappings([]).fallbackLines(invoice)
        #expect(all.map(\.code) == ["startup", "api_calls", "coupon", "credit_note", "prepaid_credit"])
        #expect(
            all.map(\.description) == [
                "startup (Startup)", "api_calls (API calls)", "coupon (Welcome coupon)", "credit_note (HOO-2024-0014-CN1)",
                "prepaid_credit (Prepaid credits)",
            ])

        // A one-to-one item for api_calls and a default item for subscriptions take theirs
        // off; the deductions still have no default item.
        let some = Self.mappings([
            .item(connectionID: Self.connection, code: "api_calls", providerID: "601"),
            .defaultItem(connectionID: Self.connection, for: .subscription, providerID: "510"),
        ])
        #expect(some.fallbackLines(invoice).map(\.code) == ["coupon", "credit_note", "prepaid_credit"])
        #expect(some.usesFallback(feeKind: .charge, code: "storage_gb"))
        #expect(!some.usesFallback(feeKind: .charge, code: "api_calls"))
        #expect(!some.usesFallback(feeKind: .subscription, code: "anything"), "a default item is not the fallback")

        let mapped = Self.mappings([
            .item(connectionID: Self.connection, code: "api_calls", providerID: "601"),
            .defaultItem(connectionID: Self.connection, for: .subscription, providerID: "510"),
            .defaultItem(connectionID: Self.connection, for: .coupon, providerID: "530"),
            .defaultItem(connectionID: Self.connection, for: .creditNote, providerID: "540"),
            .defaultItem(connectionID: Self.connection, for: .prepaidCredit, providerID: "550"),
        ])
        #expect(mapped.fallbackLines(invoice).isEmpty)
        #expect(mapped.fallbackWarning(mapped.fallbackLines(invoice)) == nil)

        // No fallback item at all: nothing is "on the fallback" (the job fails as
        // invalid_mapping instead, naming what is missing).
        let none = MappingSet(connectionID: Self.connection, mappings: [])
        #expect(none.fallbackLines(invoice).isEmpty)
        #expect(!none.usesFallback(feeKind: .charge, code: "api_calls"))
    }

    @Test("credit memo: an item crediting an unmapped fee, an item without a fee and the coupon adjustment without default items")
    func creditMemoLines() throws {
        let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: Fixtures.creditNote)
        #expect(
            Self.mappings([]).fallbackLines(memo).map(\.description) == [
                "startup (Startup plan)", "credit_note (Credit)", "coupon (Coupon adjustment)",
            ])
        let subscription = Self.mappings([.defaultItem(connectionID: Self.connection, for: .subscription, providerID: "510")])
        #expect(subscription.fallbackLines(memo).map(\.code) == ["credit_note", "coupon"])
    }

    @Test("the warning counts lines, names the fallback item and lists each code once")
    func warningMessage() throws {
        let lines = [
            FallbackLine(code: "storage_gb", name: "Storage"), FallbackLine(code: "storage_gb", name: "Storage"),
            FallbackLine(code: "egress", name: nil), FallbackLine(code: "seats", name: "seats"),
        ]
        let warning = try #require(Self.mappings([]).fallbackWarning(lines))
        #expect(warning.code == "fallback_item")
        #expect(warning.count == 4)
        #expect(warning.message == "4 lines on the fallback item 900 (Billing (fallback)): storage_gb (Storage), egress, seats")
        let one = try #require(Self.mappings([]).fallbackWarning([FallbackLine(code: "storage_gb", name: "Storage")]))
        #expect(one.message == "1 line on the fallback item 900 (Billing (fallback)): storage_gb (Storage)")
        #expect(Self.mappings([]).fallbackWarning([]) == nil)
    }

    @Test(
        "stored per job and code: a re-run updates it, a later job on the same object replaces it, a write without fallback lines removes it, pruning the job removes it"
    )
    func stored() async throws {
        try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations) { db in
            let pool = db.pool
            let queue = JobQueue(pool: pool)
            let first = try await queue.enqueue(EnqueueRequest(kind: "invoice.push"))
            let second = try await queue.enqueue(EnqueueRequest(kind: "invoice.push"))
            let other = try await queue.enqueue(EnqueueRequest(kind: "invoice.push"))
            func record(_ job: Int64, _ message: String?, billingID: String = "inv_1") async throws {
                try await JobWarnings.record(
                    message.map { JobWarning(code: JobWarning.fallbackItem, message: $0, count: 2) }, code: JobWarning.fallbackItem,
                    jobID: job, connection: Self.connection, objectType: "invoice", billingID: billingID, pool: pool)
            }
            func messages(_ job: Int64) async throws -> [String] {
                try await JobWarnings.warnings(jobID: job, pool: pool).map(\.message)
            }

            try await record(first, "first attempt")
            try await record(first, "second attempt")
            #expect(try await messages(first) == ["second attempt"], "a re-run updates its own row")
            try await record(other, "another invoice", billingID: "inv_2")

            try await record(second, "later push")
            #expect(try await messages(first).isEmpty, "a later job's warning on the same object replaces the earlier one")
            #expect(try await messages(second) == ["later push"])
            #expect(try await JobWarnings.counts(pool: pool).map(\.jobs) == [2])

            try await record(second, nil)
            #expect(try await messages(second).isEmpty, "a write without fallback lines removes the object's warning")
            #expect(try await messages(other) == ["another invoice"], "another object's warning stays")
            #expect(try await JobWarnings.jobsWithWarnings([first, second, other], pool: pool) == [other])

            // Rows go with their job (ON DELETE CASCADE), as pruning deletes jobs.
            try await pool.query("DELETE FROM ledgersync.jobs WHERE id = $1", [other])
            let left = try await pool.query("SELECT count(*) AS n FROM ledgersync.job_warnings").rows.first?.decode("n", as: Int64.self)
            #expect(left == 0)

            // The message is bounded by the column: a longer one is cut, not refused.
            try await record(first, String(repeating: "x", count: 5000))
            #expect(try await messages(first).first?.count == 4000)
        }
    }
}
