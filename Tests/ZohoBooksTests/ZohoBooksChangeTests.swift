import ExactJSON
import Foundation
import Simulators
import Sync
import SyncTesting
import Synchronization
import Testing

@testable import ZohoBooks

/// The Zoho Books change reader (`ZohoBooksProvider.changes(of:since:page:)`) against the
/// simulator over real HTTP: records written by the sync and by hand come back oldest first
/// with their billing ids and a payment's applications; pages; a time in the future; an update
/// moving `last_modified_time`; every request after the first paced.
@Suite("Zoho Books changes read back", .timeLimit(.minutes(2)))
struct ZohoBooksChangeTests {
    static func reader(_ bed: ZohoTestBed) throws -> ZohoBooksProvider {
        try #require(try bed.provider(tokens: InMemoryTokenStore()) as? ZohoBooksProvider)
    }

    static func now() -> Date { Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)) }

    @Test("a payment the sync wrote and one entered by hand come back oldest first, with billing ids and applications")
    func paymentsBySyncAndByHand() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try Self.reader(bed)
            let target = bed.target()
            let since = Self.now()
            let customerID = try await provider.upsertCustomer(try ConformanceDocuments.customer("zc-1"), target: target)
            let invoiceID = try await provider.upsertInvoice(
                try ConformanceDocuments.invoice("zi-1", customerID: "zc-1"), customerRef: customerID, target: target)
            bed.simulator.advanceClock(by: 5)
            let payment = try ConformanceDocuments.payment("zp-1", invoiceID: "zi-1")
            let paymentID = try await provider.upsertPayment(
                payment, customerRef: customerID, invoiceRefs: ["zi-1": invoiceID], target: target)
            bed.simulator.advanceClock(by: 5)
            // By hand: POST without the unique-field headers, as a person's tool would.
            let balanceBefore = try #require(
                bed.records("invoices").first?["balance"]?.numberText.flatMap { ExactDecimal($0) })
            let hand = try await provider.client.send(
                "POST", "customerpayments",
                body: .object([
                    ("customer_id", .string(customerID)), ("payment_mode", .string("cash")), ("amount", .number("10")),
                    ("date", .string("2026-11-20")),
                    ("invoices", .array([.object([("invoice_id", .string(invoiceID)), ("amount_applied", .number("10"))])])),
                ]))
            let handID = try #require(hand["payment"]?["payment_id"]?.stringValue)
            // It applies like the sync's: the invoice's balance went down by 10.
            let balanceAfter = try #require(bed.records("invoices").first?["balance"]?.numberText.flatMap { ExactDecimal($0) })
            #expect((balanceBefore - balanceAfter - ExactDecimal(10)).isZero, "\(balanceBefore) → \(balanceAfter)")

            let page = try await provider.changes(of: .payment, since: since, page: nil)
            #expect(page.next == nil)
            #expect(page.changes.map(\.providerID) == [paymentID, handID])
            #expect(page.changes.map(\.externalID) == ["zp-1", nil])
            #expect(page.changes[0].modifiedAt < page.changes[1].modifiedAt)
            #expect(page.changes[0].applications.map(\.providerInvoiceID) == [invoiceID])
            let applied = try #require(page.changes[0].applications.first?.amount.flatMap { ExactDecimal($0) })
            let paid = try #require(ExactDecimal(units: Int128(payment.amountCents), scale: 2))
            #expect((applied - paid).isZero, "\(applied)")
            #expect(page.changes[1].applications == [ProviderPaymentApplication(providerInvoiceID: invoiceID, amount: "10")])
            #expect(page.changes[1].amount == "10")

            // The invoice changed when each payment applied to it: it is read as one change,
            // last modified at the hand payment's time.
            let invoices = try await provider.changes(of: .invoice, since: since, page: nil)
            #expect(invoices.changes.map(\.externalID) == ["zi-1"])
            #expect(invoices.changes.first?.modifiedAt == page.changes[1].modifiedAt)
            let customers = try await provider.changes(of: .customer, since: since, page: nil)
            #expect(customers.changes.map(\.providerID) == [customerID])
            #expect(customers.changes.first?.externalID == "zc-1")
        }
    }

    @Test("several list pages are read, newest first at Zoho, answered oldest first; each request after the first is paced")
    func pagingAndPacing() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try Self.reader(bed)
            let target = bed.target()
            let since = Self.now()
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await provider.upsertCustomer(try ConformanceDocuments.customer("pg-\(index)"), target: target))
                bed.simulator.advanceClock(by: 1)
            }
            let further = Mutex(0)
            let requestsBefore = bed.simulator.stats.requests
            let page = try await ProviderReadPacing.$beforeFurtherRequest.withValue({ further.withLock { $0 += 1 } }) {
                try await provider.changes(
                    of: .customer, since: since, page: nil, perPage: 2, pacer: ZohoRequestPacer(ProviderReadPacing.beforeFurtherRequest))
            }
            #expect(page.changes.map(\.providerID) == ids)
            #expect(page.changes.map(\.externalID) == (0..<5).map { "pg-\($0)" })
            #expect(page.next == nil)
            let requests = bed.simulator.stats.requests - requestsBefore
            #expect(requests == 3, "three pages of two")
            #expect(further.withLock { $0 } == requests - 1)

            // Invoices: the list's time filter, over pages.
            var invoices: [String] = []
            for index in 0..<3 {
                invoices.append(
                    try await provider.upsertInvoice(
                        try ConformanceDocuments.invoice("pi-\(index)", customerID: "pg-0"), customerRef: ids[0], target: target))
                bed.simulator.advanceClock(by: 1)
            }
            let read = try await provider.changes(
                of: .invoice, since: since, page: nil, perPage: 2, pacer: ZohoRequestPacer({}))
            #expect(read.changes.map(\.providerID) == invoices)
        }
    }

    @Test("a time in the future returns nothing; an update moves last_modified_time and not created_time")
    func futureAndUpdate() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try Self.reader(bed)
            let target = bed.target()
            let since = Self.now()
            let id = try await provider.upsertCustomer(try ConformanceDocuments.customer("u-1"), target: target)
            for type in [ExternalRef.ObjectType.customer, .invoice, .payment, .creditMemo] {
                let future = try await provider.changes(of: type, since: Date().addingTimeInterval(3_600), page: nil)
                #expect(future == ProviderChangePage(changes: [], next: nil), "\(type)")
            }
            let first = try #require(try await provider.changes(of: .customer, since: since, page: nil).changes.first)
            #expect(first.createdAt == first.modifiedAt)
            bed.simulator.advanceClock(by: 120)
            _ = try await provider.upsertCustomer(try ConformanceDocuments.customer("u-1", version: 2), target: target)
            let changes = try await provider.changes(of: .customer, since: first.modifiedAt.addingTimeInterval(1), page: nil).changes
            #expect(changes.map(\.providerID) == [id])
            #expect(changes.first.map { $0.modifiedAt >= first.modifiedAt.addingTimeInterval(120) } == true)
            #expect(changes.first?.createdAt == first.createdAt)
            await #expect(throws: SyncError.self) { try await provider.changes(of: .customer, since: since, page: "two") }
        }
    }

    @Test("credit notes and sales orders are read too, with their numbers, totals and billing ids")
    func creditNotesAndSalesOrders() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try Self.reader(bed)
            let target = bed.target()
            let since = Self.now()
            let customer = try await provider.upsertCustomer(try ConformanceDocuments.customer("cs-1"), target: target)
            let invoice = try await provider.upsertInvoice(
                try ConformanceDocuments.invoice("ci-1", customerID: "cs-1"), customerRef: customer, target: target)
            let memo = try await provider.upsertCreditMemo(
                try ConformanceDocuments.creditNote("cn-1", invoiceID: "ci-1"), customerRef: customer, invoiceRef: invoice, target: target)
            let order = try await provider.upsertSalesOrder(
                try ConformanceDocuments.salesOrder("so-1", customerID: "cs-1"), customerRef: customer, target: target)
            let memos = try await provider.changes(of: .creditMemo, since: since, page: nil).changes
            #expect(memos.map(\.providerID) == [memo])
            #expect(memos.first?.externalID == "cn-1")
            #expect(memos.first?.number?.hasPrefix("CN") == true, "\(memos)")
            #expect(memos.first?.amount == bed.records("creditnotes").first?["total"]?.numberText)
            let orders = try await provider.changes(of: .salesOrder, since: since, page: nil).changes
            #expect(orders.map(\.providerID) == [order])
            #expect(orders.first?.externalID == "so-1")
        }
    }
}
