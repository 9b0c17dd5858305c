import ExactJSON
import Foundation
import Simulators
import Sync
import SyncTesting
import Testing
import ZohoBooks

/// The bodies of `ZohoPayloads` as Zoho computes them: written through the provider to the
/// simulator, which computes taxes, discounts and totals as Zoho's "Invoices" page describes
/// (and rounds each line's tax), every invoice, sales order and credit note of a billing month
/// in USD, EUR, JPY and KWD has at Zoho exactly the billing total, to the minor unit.
@Suite("Zoho Books totals at Zoho", .timeLimit(.minutes(3)))
struct ZohoTotalsAtZohoTests {
    static let scenario = BillingScenario.generate(customers: 8, invoicesPerCustomer: 3, creditNoteEvery: 2, payments: 0)

    static func cents(_ json: ExactJSON?, _ currency: Currency) -> Int64? {
        json?.numberText.flatMap { try? Money(parsing: $0, currency: currency).amountCents }
    }

    @Test("every invoice, sales order and credit note of the scenario: Zoho's total is the billing total; Zoho records the tax inside")
    func totalsExactAtZoho() async throws {
        // The windows wide enough for the month's requests (limits are not what this checks).
        try await ZohoTestBed.run(.init(requestsPerWindow: 100_000, dailyQuota: 100_000)) { bed in
            let provider = try bed.provider(tokens: InMemoryTokenStore())
            let id = ZohoTestBed.connectionID
            let target = SyncTarget(
                connectionID: id, connection: bed.connection(),
                mappings: MappingSet(connectionID: id, mappings: BillingScenario.zohoMappings(connection: id)))
            var contacts: [String: String] = [:]
            for customer in Self.scenario.customers {
                contacts[customer.lagoID] = try await provider.upsertCustomer(
                    try DocumentDecoder.decode(BillingCustomer.self, from: customer.json), target: target)
            }
            var invoiceRefs: [String: String] = [:]
            var sawTax = false
            for generated in Self.scenario.invoices {
                let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: generated.json)
                let customer = try #require(contacts[generated.customerID])
                let ref = try await provider.upsertInvoice(invoice, customerRef: customer, target: target)
                invoiceRefs[generated.lagoID] = ref
                let record = try #require(bed.records("invoices").first { $0["invoice_id"]?.stringValue == ref })
                #expect(Self.cents(record["total"], invoice.currency) == generated.totalCents, "\(invoice.number): \(record)")
                #expect(Self.cents(record["balance"], invoice.currency) == generated.totalCents, "\(invoice.number)")
                // The tax Zoho back-computes is the billing tax up to a minor unit per line.
                let tax = try #require(Self.cents(record["tax_total"], invoice.currency))
                #expect(
                    abs(tax - generated.taxesCents) <= Int64(invoice.fees.count), "\(invoice.number): \(tax) vs \(generated.taxesCents)")
                sawTax = sawTax || tax > 0

                let order = try DocumentDecoder.decode(BillingSalesOrder.self, from: generated.json)
                let orderRef = try await provider.upsertSalesOrder(order, customerRef: customer, target: target)
                let orderRecord = try #require(bed.records("salesorders").first { $0["salesorder_id"]?.stringValue == orderRef })
                #expect(Self.cents(orderRecord["total"], invoice.currency) == generated.totalCents, "\(invoice.number) as a sales order")
            }
            #expect(sawTax)
            #expect(Set(Self.scenario.invoices.map(\.currency.code)) == ["USD", "EUR", "JPY", "KWD"])
            for generated in Self.scenario.creditNotes {
                let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: generated.json)
                let ref = try await provider.upsertCreditMemo(
                    memo, customerRef: try #require(contacts[generated.customerID]),
                    invoiceRef: try #require(invoiceRefs[generated.invoiceID]), target: target)
                let record = try #require(bed.records("creditnotes").first { $0["creditnote_id"]?.stringValue == ref })
                #expect(Self.cents(record["total"], memo.currency) == generated.totalCents, "\(memo.number): \(record)")
            }
        }
    }
}
