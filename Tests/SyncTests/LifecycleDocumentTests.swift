import Foundation
import Sync
import Testing

/// The document shapes of the transaction lifecycle (docs/billing-documents.md): a credit
/// note's credited and refunded parts, a payment's amount per invoice, a customer's
/// subsidiary. Every rule fails naming its field.
@Suite(.timeLimit(.minutes(2))) struct LifecycleDocumentTests {
    static let twoInvoices = ["inv_a", "inv_b"]

    static func payment(invoiceIDs: [String], amounts: [(String, Int64)]?, total: Int64 = 13101) throws -> String {
        var json = try Fixtures.edit(Fixtures.payment, ["invoice_ids"], invoiceIDs)
        json = try Fixtures.edit(json, ["amount_cents"], total)
        if let amounts {
            json = try Fixtures.edit(
                json, ["invoice_amounts"], amounts.map { ["invoice_id": $0.0, "amount_cents": $0.1] as [String: any Sendable] })
        }
        return json
    }

    @Test(
        "credit note: the part applied to the invoice is credit_amount_cents; the refunded part is refund_amount_cents; both within the total"
    )
    func creditNoteParts() throws {
        let whole = try DocumentDecoder.decode(BillingCreditMemo.self, from: Fixtures.creditNote)
        #expect(whole.appliedToInvoiceCents == 1681 && whole.refundCents == 0)

        var split = try Fixtures.edit(Fixtures.creditNote, ["credit_amount_cents"], 1000)
        split = try Fixtures.edit(split, ["refund_amount_cents"], 681)
        let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: split)
        #expect(memo.appliedToInvoiceCents == 1000 && memo.refundCents == 681)
        #expect(memo.refundExternalID == "5eb02857-a71e-4ea2-bcf9-57d3a41bc6ba-refund")

        // Without credit_amount_cents, what is not refunded is credited.
        let implicit = try DocumentDecoder.decode(BillingCreditMemo.self, from: try Fixtures.edit(split, ["credit_amount_cents"], nil))
        #expect(implicit.appliedToInvoiceCents == 1000)

        let tooMuch = try Fixtures.edit(split, ["refund_amount_cents"], 682)
        let error = try #require(throws: DocumentError.self) { _ = try DocumentDecoder.decode(BillingCreditMemo.self, from: tooMuch) }
        #expect(error.field == "credit_note.refund_amount_cents")
        #expect(error.message == "credit_amount_cents + refund_amount_cents = 1682 is more than total_amount_cents 1681")

        let overflow = try Fixtures.edit(split, ["refund_amount_cents"], Int64.max)
        let overflowError = try #require(throws: DocumentError.self) {
            _ = try DocumentDecoder.decode(BillingCreditMemo.self, from: overflow)
        }
        #expect(overflowError.field == "credit_note.refund_amount_cents")
        #expect(overflowError.message == "amounts overflow 64-bit minor units")
    }

    @Test("payment over several invoices: invoice_amounts in invoice_ids order, adding up to amount_cents")
    func paymentApplications() throws {
        let payment = try DocumentDecoder.decode(
            BillingPayment.self,
            from: try Self.payment(invoiceIDs: ["inv_a", "inv_b", "inv_c"], amounts: [("inv_c", 1), ("inv_a", 13000), ("inv_b", 100)]))
        #expect(payment.applications.map(\.invoiceID) == ["inv_a", "inv_b", "inv_c"])
        #expect(payment.applications.map(\.amountCents) == [13000, 100, 1])

        // One invoice and no amounts: the whole payment on it, as before.
        let single = try DocumentDecoder.decode(BillingPayment.self, from: Fixtures.payment)
        #expect(single.applications.map(\.amountCents) == [13101])
    }

    static let badPayments: [([String], [(String, Int64)]?, Int64, String, String)] = [
        (
            twoInvoices, nil, 13101, "payment.invoice_amounts",
            "is required when invoice_ids names more than one invoice (the amount applied to each)"
        ),
        (
            twoInvoices, [("inv_a", 13000), ("inv_b", 100)], 13101, "payment.invoice_amounts",
            "the amounts add up to 13100, not to amount_cents 13101"
        ),
        (twoInvoices, [("inv_a", 13101)], 13101, "payment.invoice_amounts", #"has no amount for invoice "inv_b" of invoice_ids"#),
        (
            twoInvoices, [("inv_a", 13101), ("inv_z", 0)], 13101, "payment.invoice_amounts[1].invoice_id",
            #""inv_z" is not one of invoice_ids"#
        ),
        (twoInvoices, [("inv_a", 13101), ("inv_a", 1)], 13101, "payment.invoice_amounts[1].invoice_id", #"names invoice "inv_a" twice"#),
        (twoInvoices, [("inv_a", 13102), ("inv_b", -1)], 13101, "payment.invoice_amounts[1].amount_cents", "must be positive, got -1"),
        (twoInvoices, [("inv_a", Int64.max), ("inv_b", 1)], 13101, "payment.invoice_amounts", "amounts overflow 64-bit minor units"),
        (["inv_a", "inv_a"], [("inv_a", 13101)], 13101, "payment.invoice_ids[1]", #"names invoice "inv_a" twice"#),
    ]

    @Test("a payment's bad amounts per invoice fail naming the field", arguments: 0..<badPayments.count)
    func badPayment(_ index: Int) throws {
        let (ids, amounts, total, field, message) = Self.badPayments[index]
        let json = try Self.payment(invoiceIDs: ids, amounts: amounts, total: total)
        let error = try #require(throws: DocumentError.self) { _ = try DocumentDecoder.decode(BillingPayment.self, from: json) }
        #expect(error.field == field)
        #expect(error.message == message)
    }

    @Test("customer subsidiary: netsuite_subsidiary, else the subsidiary_id of Lago's NetSuite integration_customers entry")
    func customerSubsidiary() throws {
        let plain = try DocumentDecoder.decode(BillingCustomer.self, from: Fixtures.customer)
        #expect(plain.netsuiteSubsidiary == nil)
        let direct = try DocumentDecoder.decode(
            BillingCustomer.self, from: try Fixtures.edit(Fixtures.customer, ["netsuite_subsidiary"], "7"))
        #expect(direct.netsuiteSubsidiary == "7")
        let integrations: [[String: any Sendable]] = [
            ["integration_type": "anrok", "subsidiary_id": "1"],
            ["integration_type": "netsuite", "subsidiary_id": "9", "external_customer_id": "412"],
        ]
        let lago = try DocumentDecoder.decode(
            BillingCustomer.self, from: try Fixtures.edit(Fixtures.customer, ["integration_customers"], integrations))
        #expect(lago.netsuiteSubsidiary == "9")
        let blank = try Fixtures.edit(Fixtures.customer, ["netsuite_subsidiary"], " ")
        let error = try #require(throws: DocumentError.self) { _ = try DocumentDecoder.decode(BillingCustomer.self, from: blank) }
        #expect(error.field == "customer.netsuite_subsidiary")
    }

    @Test("the lifecycle examples of docs/billing-documents.md decode as documented")
    func documentedExamples() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/billing-documents.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let blocks = text.components(separatedBy: "```json\n").dropFirst().compactMap { $0.components(separatedBy: "\n```").first }
        let subsidiary = try #require(blocks.first { $0.contains("integration_customers") })
        #expect(try DocumentDecoder.decode(BillingCustomer.self, from: subsidiary).netsuiteSubsidiary == "2")
        let split = try #require(blocks.first { $0.contains("\"refund_amount_cents\": 300") })
        let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: split)
        #expect(memo.appliedToInvoiceCents == 900 && memo.refundCents == 300)
        let spread = try #require(blocks.first { $0.contains("invoice_amounts") })
        let payment = try DocumentDecoder.decode(BillingPayment.self, from: spread)
        #expect(payment.applications.map(\.amountCents) == [10000, 2000, 25])
    }
}
