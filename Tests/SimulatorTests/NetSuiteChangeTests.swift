import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import SyncTesting
import Testing

/// The NetSuite change reader (`NetSuiteProvider.changes(of:since:page:)`) against the
/// simulator's record collection over real HTTP, TBA-signed query parameters included: records
/// the sync wrote and records written by hand come back oldest first with their external ids and
/// a payment's applications; pages; a time in the future; an update moving `lastModifiedDate`.
@Suite("NetSuite changes read back", .timeLimit(.minutes(2)))
struct NetSuiteChangeTests {
    static func provider(_ sim: SimulatorHarness) -> NetSuiteProvider {
        NetSuiteProvider(client: NetSuiteClient(account: sim.account, credentials: SimulatorHarness.credentials, http: sim.http))
    }

    /// A time a little before now by the simulator's clock, whole seconds.
    static func now(_ sim: SimulatorHarness) throws -> Date {
        Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
    }

    @Test("a payment written by the sync and one entered by hand come back oldest first, with their external ids and applications")
    func paymentsBySyncAndByHand() async throws {
        try await SimulatorHarness.run { sim in
            let harness = NetSuiteConformanceHarness(sim: sim)
            let target = harness.target()
            let provider = Self.provider(sim)
            let since = try Self.now(sim)
            let customer = try ConformanceDocuments.customer("cus_r1")
            let customerID = try await provider.upsertCustomer(customer, target: target)
            let invoice = try ConformanceDocuments.invoice("inv_r1", customerID: "cus_r1")
            let invoiceID = try await provider.upsertInvoice(invoice, customerRef: customerID, target: target)
            sim.simulator.advanceClock(by: 5)
            let payment = try ConformanceDocuments.payment("pay_r1", invoiceID: "inv_r1")
            let paymentID = try await provider.upsertPayment(
                payment, customerRef: customerID, invoiceRefs: ["inv_r1": invoiceID], target: target)
            sim.simulator.advanceClock(by: 5)
            // By hand: a person's own external id, the record API as the sync uses it.
            let dueBefore = try #require(sim.simulator.amountRemaining(.invoice, externalID: "inv_r1").flatMap { ExactDecimal($0) })
            let hand = try await sim.upsert(
                "customerPayment", "HAND-PMT-1",
                Bodies.payment("HAND-PMT-1", customer: customerID, payment: "10.00", applies: [(invoiceID, "10.00")]))
            #expect(hand.status == 204, "\(hand.text)")
            let handID = String(hand.header("Location")?.split(separator: "/").last ?? "")
            // The hand payment applies like the sync's: the invoice's amount due went down by 10.
            let dueAfter = try #require(sim.simulator.amountRemaining(.invoice, externalID: "inv_r1").flatMap { ExactDecimal($0) })
            #expect((dueBefore - dueAfter - (try #require(ExactDecimal("10")))).isZero)
            let syncPaid = ExactDecimal(units: Int128(payment.amountCents), scale: 2)

            let page = try await provider.changes(of: .payment, since: since, page: nil)
            #expect(page.next == nil)
            #expect(page.changes.map(\.providerID) == [paymentID, handID])
            #expect(page.changes.map(\.externalID) == ["pay_r1", "HAND-PMT-1"])
            #expect(page.changes[0].modifiedAt < page.changes[1].modifiedAt)
            #expect(page.changes[0].applications.map(\.providerInvoiceID) == [invoiceID])
            let applied = try #require(page.changes[0].applications.first?.amount.flatMap { ExactDecimal($0) })
            #expect((applied - (try #require(syncPaid))).isZero, "\(applied)")
            #expect(page.changes[1].applications == [ProviderPaymentApplication(providerInvoiceID: invoiceID, amount: "10.00")])
            #expect(page.changes[1].amount == "10.00")
            #expect(page.changes.allSatisfy { $0.createdAt == $0.modifiedAt && $0.objectType == .payment })
            // The record passed on holds body fields only.
            #expect(page.changes[1].record?["apply"] == nil)
            #expect(page.changes[1].record?["payment"]?.numberText == "10.00")

            // Invoices and customers are read the same way; each type only its own records.
            let invoices = try await provider.changes(of: .invoice, since: since, page: nil)
            #expect(invoices.changes.map(\.externalID) == ["inv_r1"])
            let customers = try await provider.changes(of: .customer, since: since, page: nil)
            #expect(customers.changes.map(\.providerID) == [customerID])
        }
    }

    @Test("the collection is read page by page: every record once, each page oldest first, next an offset until the last")
    func paging() async throws {
        try await SimulatorHarness.run { sim in
            let provider = Self.provider(sim)
            let since = try Self.now(sim)
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await sim.createCustomer("pg-\(index)"))
                sim.simulator.advanceClock(by: 1)
            }
            var pages: [ProviderChangePage] = []
            var next: String? = nil
            repeat {
                let page = try await provider.changes(of: .customer, since: since, page: next, pageSize: 2)
                pages.append(page)
                next = page.next
            } while next != nil && pages.count < 10
            #expect(pages.map(\.next) == ["2", "4", nil])
            #expect(pages.flatMap(\.changes).map(\.providerID) == ids)
            #expect(pages.flatMap(\.changes).map(\.externalID) == (0..<5).map { "pg-\($0)" })
            for page in pages { #expect(page.changes.map(\.modifiedAt) == page.changes.map(\.modifiedAt).sorted()) }
            // The provider a worker builds (`NetSuiteDriver.makeProvider`) reads changes too.
            let harness = NetSuiteConformanceHarness(sim: sim)
            let built = try harness.driverProvider(harness.connection(), tokens: InMemoryTokenStore())
            let reader = try #require(built as? any ChangeReading)
            #expect(try await reader.changes(of: .customer, since: since, page: nil).changes.map(\.providerID) == ids)
            // Three collection GETs and five record GETs, each signed with its query (the
            // simulator refuses a bad signature): no authentication failure.
            #expect(sim.simulator.stats.authFailures == 0)
        }
    }

    @Test("a time in the future returns nothing; a bad page is refused naming it")
    func futureAndBadPage() async throws {
        try await SimulatorHarness.run { sim in
            let provider = Self.provider(sim)
            _ = try await sim.createCustomer("f-1")
            let tomorrow = Date().addingTimeInterval(2 * 86_400)
            #expect(try await provider.changes(of: .customer, since: tomorrow, page: nil) == ProviderChangePage(changes: [], next: nil))
            // Later today (the filter's day matches, the exact comparison drops it).
            let later = Date().addingTimeInterval(3_600)
            #expect(try await provider.changes(of: .customer, since: later, page: nil).changes.isEmpty)
            await #expect(throws: SyncError.self) { try await provider.changes(of: .customer, since: .distantPast, page: "next-please") }
        }
    }

    @Test("an update moves the record's lastModifiedDate, not its dateCreated, and a poll since the first write finds it again")
    func updateMovesModifiedAt() async throws {
        try await SimulatorHarness.run { sim in
            let provider = Self.provider(sim)
            let since = try Self.now(sim)
            let id = try await sim.createCustomer("up-1")
            let first = try #require(try await provider.changes(of: .customer, since: since, page: nil).changes.first)
            sim.simulator.advanceClock(by: 90)
            let again = try await sim.upsert("customer", "up-1", Bodies.customer("up-1", extra: #", "email": "new@example.com""#))
            #expect(again.status == 204)
            let after = first.modifiedAt.addingTimeInterval(1)
            let changes = try await provider.changes(of: .customer, since: after, page: nil).changes
            #expect(changes.map(\.providerID) == [id])
            let updated = try #require(changes.first)
            #expect(updated.modifiedAt >= first.modifiedAt.addingTimeInterval(90))
            #expect(updated.createdAt == first.createdAt)
            #expect(updated.record?["email"]?.stringValue == "new@example.com")
        }
    }
}

/// The simulator's record collection as Oracle's "Record Collection Filtering" and "Collection
/// Paging" describe it.
@Suite("NetSuite simulator: record collection", .timeLimit(.minutes(2)))
struct RecordCollectionTests {
    @Test("q on lastModifiedDate and externalId, limit and offset, hasMore, totalResults and the next link")
    func filterAndPage() async throws {
        try await SimulatorHarness.run { sim in
            for index in 0..<3 { _ = try await sim.createCustomer("c-\(index)") }
            let base = "\(sim.account.restBaseURL)/customer"
            let today = Date()
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let parts = calendar.dateComponents([.year, .month, .day], from: today)
            let day = "\(parts.month!)/\(parts.day!)/\(parts.year!)"
            let q = "lastModifiedDate%20ON_OR_AFTER%20%22\(day.replacingOccurrences(of: "/", with: "%2F"))%22"

            let first = try await sim.send("GET", "\(base)?q=\(q)&limit=2&offset=0")
            #expect(first.status == 200, "\(first.text)")
            let answer = try #require(first.exactJSON)
            #expect(answer["count"]?.numberText == "2")
            #expect(answer["hasMore"]?.boolValue == true)
            #expect(answer["totalResults"]?.numberText == "3")
            #expect(answer["items"]?.arrayValue?.count == 2)
            let next = answer["links"]?.arrayValue?.first { $0["rel"]?.stringValue == "next" }?["href"]?.stringValue
            #expect(next?.hasSuffix("limit=2&offset=2") == true, "\(next ?? "no next link")")
            let second = try await sim.send("GET", try #require(next))
            #expect(second.exactJSON?["hasMore"]?.boolValue == false)
            #expect(second.exactJSON?["items"]?.arrayValue?.count == 1)

            // AFTER today: nothing yet. externalId IS: the one.
            let after = try await sim.send("GET", "\(base)?q=\(q.replacingOccurrences(of: "ON_OR_AFTER", with: "AFTER"))")
            #expect(after.exactJSON?["totalResults"]?.numberText == "0")
            let one = try await sim.send("GET", "\(base)?q=externalId%20IS%20%22c-1%22")
            #expect(
                one.exactJSON?["items"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
                    == [sim.simulator.record(.customer, externalID: "c-1")?.internalID].compactMap { $0 })

            // A record's GET carries its dates, ISO 8601 to the second.
            let id = try #require(sim.simulator.record(.customer, externalID: "c-0")?.internalID)
            let record = try await sim.send("GET", sim.url("customer", id) + "?expandSubResources=true")
            let modified = try #require(record.exactJSON?["lastModifiedDate"]?.stringValue)
            #expect(modified.count == 20 && modified.hasSuffix("Z"), "\(modified)")
            #expect(record.exactJSON?["dateCreated"]?.stringValue == modified)
        }
    }

    @Test("what is not simulated or not allowed is refused with a 400 naming it")
    func refusals() async throws {
        try await SimulatorHarness.run { sim in
            let base = "\(sim.account.restBaseURL)/invoice"
            let or = try await sim.send("GET", "\(base)?q=externalId%20IS%20%22a%22%20OR%20externalId%20IS%20%22b%22")
            #expect(or.status == 400)
            #expect(or.netSuiteError.detail?.contains("AND") == true, "\(or.text)")
            let limit = try await sim.send("GET", "\(base)?limit=1001")
            #expect(limit.status == 400)
            #expect(limit.netSuiteError.detail?.contains("limit") == true, "\(limit.text)")
            let time = try await sim.send("GET", "\(base)?q=lastModifiedDate%20AFTER%20%222026-12-03T10%3A00%3A00Z%22")
            #expect(time.status == 400)
            #expect(time.netSuiteError.detail?.contains("M/D/YYYY") == true, "\(time.text)")
            let empty = try await sim.send("GET", base)
            #expect(empty.status == 200 && empty.exactJSON?["totalResults"]?.numberText == "0")
        }
    }
}
