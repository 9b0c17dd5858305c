import ExactJSON
import Foundation
import Simulators
import Sync
import Testing

@testable import NetSuite

/// The bodies of the transaction lifecycle: a credit memo applied to its invoice, the refund
/// of a credit note's refunded part, a payment over several invoices, voids, a customer's
/// own subsidiary and an added currency.
@Suite(.timeLimit(.minutes(2))) struct LifecyclePayloadTests {
    static let target = NetSuitePayloadTests.target()

    static func creditNote(credit: Int64?, refund: Int64?, subsidiary: String? = nil) throws -> BillingCreditMemo {
        var note: [String: Any] = [
            "lago_id": "cn_1", "number": "CN-1", "lago_invoice_id": "inv_1", "issuing_date": "2026-11-02", "currency": "EUR",
            "items": [["lago_id": "cn_1-item", "amount_cents": 1000, "amount_currency": "EUR"]],
            "applied_taxes": [
                [
                    "tax_code": "vat_20", "tax_name": "VAT", "tax_rate": "20", "amount_cents": 200, "amount_currency": "EUR",
                    "base_amount_cents": 1000,
                ]
            ],
            "sub_total_excluding_taxes_amount_cents": 1000, "taxes_amount_cents": 200, "total_amount_cents": 1200,
        ]
        if let credit { note["credit_amount_cents"] = credit }
        if let refund { note["refund_amount_cents"] = refund }
        if let subsidiary {
            note["customer"] = ["lago_id": "cus_1", "external_id": "C1", "name": "Acme", "netsuite_subsidiary": subsidiary]
        }
        let json = String(decoding: try JSONSerialization.data(withJSONObject: ["credit_note": note]), as: UTF8.self)
        return try DocumentDecoder.decode(BillingCreditMemo.self, from: json)
    }

    @Test("credit memo: one apply line on its invoice for the credited part, an empty apply when all of it is refunded")
    func creditMemoApply() throws {
        let memo = try Self.creditNote(credit: 900, refund: 300)
        let body = try NetSuitePayloads.creditMemo(memo, customerRef: "5", invoiceRef: "99", target: Self.target)
        #expect(body["apply"] == .sublist([.object([("doc", .reference("99")), ("apply", .bool(true)), ("amount", .number("9.00"))])]))
        let whole = try NetSuitePayloads.creditMemo(
            try Self.creditNote(credit: nil, refund: nil), customerRef: "5", invoiceRef: "99", target: Self.target)
        #expect(NetSuitePayloadTests.items(whole["apply"]).first?["amount"] == .number("12.00"))
        let refundedOnly = try NetSuitePayloads.creditMemo(
            try Self.creditNote(credit: 0, refund: 1200), customerRef: "5", invoiceRef: "99", target: Self.target)
        #expect(refundedOnly["apply"] == .sublist([]))
    }

    @Test("customer refund: external id <credit note>-refund, applied to the credit memo for the refunded amount")
    func customerRefund() throws {
        let memo = try Self.creditNote(credit: 900, refund: 300)
        let body = try NetSuitePayloads.customerRefund(memo, customerRef: "5", creditMemoRef: "120", target: Self.target)
        #expect(body["externalId"] == .string("cn_1-refund"))
        #expect(body["customer"] == .reference("5"))
        #expect(body["currency"] == .reference("2"))
        #expect(body["apply"] == .sublist([.object([("doc", .reference("120")), ("apply", .bool(true)), ("amount", .number("3.00"))])]))
    }

    @Test("payment over three invoices: one apply line per invoice with its own amount; the payment is the total")
    func paymentOverInvoices() throws {
        let json =
            #"{"payment": {"lago_id": "pay_1", "invoice_ids": ["a", "b", "c"], "amount_cents": 12025, "amount_currency": "USD", "paid_at": "2026-11-10", "invoice_amounts": [{"invoice_id": "a", "amount_cents": 10000}, {"invoice_id": "b", "amount_cents": 2000}, {"invoice_id": "c", "amount_cents": 25}]}}"#
        let payment = try DocumentDecoder.decode(BillingPayment.self, from: json)
        let body = try NetSuitePayloads.payment(
            payment, customerRef: "5", invoiceRefs: ["a": "101", "b": "102", "c": "103"], target: Self.target)
        #expect(body["payment"] == .number("120.25"))
        let lines = NetSuitePayloadTests.items(body["apply"])
        #expect(lines.map { $0["doc"] } == [.reference("101"), .reference("102"), .reference("103")])
        #expect(lines.map { $0["amount"] } == [.number("100.00"), .number("20.00"), .number("0.25")])

        let missing = try #require(throws: DocumentError.self) {
            _ = try NetSuitePayloads.payment(payment, customerRef: "5", invoiceRefs: ["a": "101", "b": "102"], target: Self.target)
        }
        #expect(missing.field == "payment.invoice_ids[2]")
    }

    @Test("void: the same record with every amount, rate and tax amount zero, memo VOID, and (credit memo) no application")
    func voids() throws {
        let memo = try Self.creditNote(credit: 900, refund: 300)
        let body = try NetSuitePayloads.voidedCreditMemo(memo, customerRef: "5", invoiceRef: "99", target: Self.target)
        #expect(body["externalId"] == .string("cn_1"))
        #expect(body["memo"] == .string("VOID"))
        #expect(body["apply"] == .sublist([]))
        for line in NetSuitePayloadTests.items(body["item"]) {
            #expect(line["amount"] == .number("0.00") && line["rate"] == .number("0.00"))
            #expect(line["item"] != nil)
        }
        for row in NetSuitePayloadTests.items(body["taxDetails"]) {
            #expect(row["taxAmount"] == .number("0.00") && row["taxBasis"] == .number("0.00"))
        }
        let original = try NetSuitePayloads.creditMemo(memo, customerRef: "5", invoiceRef: "99", target: Self.target)
        #expect(NetSuitePayloadTests.items(original["item"]).count == NetSuitePayloadTests.items(body["item"]).count)

        let generated = try #require(NetSuitePayloadTests.scenario.invoices.first { $0.currency == .jpy })
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: generated.json)
        let voided = try NetSuitePayloads.voidedInvoice(invoice, customerRef: "5", target: Self.target)
        #expect(voided["apply"] == nil)
        #expect(NetSuitePayloadTests.items(voided["item"]).allSatisfy { $0["amount"] == .number("0") })
    }

    @Test("subsidiary: the customer's netsuite_subsidiary over the connection's default, on the customer and its transactions")
    func subsidiary() throws {
        let customerJSON = #"{"lago_id": "cus_1", "external_id": "C1", "name": "Acme", "netsuite_subsidiary": "4"}"#
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: customerJSON)
        #expect(try NetSuitePayloads.customer(customer, target: Self.target)["subsidiary"] == .reference("4"))
        let plain = try DocumentDecoder.decode(BillingCustomer.self, from: #"{"lago_id": "cus_2", "external_id": "C2", "name": "Acme"}"#)
        #expect(try NetSuitePayloads.customer(plain, target: Self.target)["subsidiary"] == .reference("1"))

        let memo = try Self.creditNote(credit: nil, refund: nil, subsidiary: "4")
        #expect(
            try NetSuitePayloads.creditMemo(memo, customerRef: "5", invoiceRef: "99", target: Self.target)["subsidiary"] == .reference("4"))
        let withoutCustomer = try Self.creditNote(credit: nil, refund: nil)
        #expect(
            try NetSuitePayloads.creditMemo(withoutCustomer, customerRef: "5", invoiceRef: "99", target: Self.target)["subsidiary"] == nil)
    }

    @Test("currency: the customer with its primary currency and the added one in currencyList; nothing for an unmapped currency")
    func addedCurrency() throws {
        let customer = try DocumentDecoder.decode(
            BillingCustomer.self, from: #"{"lago_id": "cus_1", "external_id": "C1", "name": "Acme", "currency": "USD"}"#)
        let body = try #require(try NetSuitePayloads.customer(customer, addingCurrency: .eur, target: Self.target))
        #expect(body["currency"] == .reference("1"))
        #expect(body["currencyList"] == .sublist([.object([("currency", .reference("1"))]), .object([("currency", .reference("2"))])]))
        #expect(body["companyName"] == .string("Acme"))
        let unmapped = try NetSuitePayloads.customer(customer, addingCurrency: try Currency(code: "CHF"), target: Self.target)
        #expect(unmapped == nil)
    }
}
