import ExactJSON
import Foundation
import Simulators
import Sync
import SyncTesting
import Synchronization
import Testing

@testable import ZohoBooks

/// The Zoho Books provider (`ZohoBooksDriver.makeProvider`) against the simulator: upserts by
/// the unique custom field, credit notes applied once, linked records updated by id, and the
/// further requests of a job paced through `SyncTarget.beforeFurtherRequest`.
@Suite("Zoho Books provider against the simulator", .timeLimit(.minutes(2)))
struct ZohoBooksProviderTests {
    @Test("the upsert creates a contact, then updates the same one: no duplicate")
    func upsertCreatesThenUpdates() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try bed.provider(tokens: InMemoryTokenStore())
            let target = bed.target()
            let first = try await provider.upsertCustomer(try ConformanceDocuments.customer("up-1"), target: target)
            let second = try await provider.upsertCustomer(try ConformanceDocuments.customer("up-1", version: 2), target: target)
            #expect(first == second)
            let contacts = bed.records("contacts")
            #expect(contacts.count == 1)
            #expect(contacts.first?["contact_name"]?.stringValue?.contains("v2") == true, "\(contacts)")
            #expect(ZohoTestBed.billingID(contacts[0]) == "up-1")

            // An invoice likewise, with its number kept and its total exact.
            let invoice1 = try await provider.upsertInvoice(
                try ConformanceDocuments.invoice("up-inv", customerID: "up-1"), customerRef: first, target: target)
            let invoice2 = try await provider.upsertInvoice(
                try ConformanceDocuments.invoice("up-inv", customerID: "up-1", version: 2), customerRef: first, target: target)
            #expect(invoice1 == invoice2)
            let invoices = bed.records("invoices")
            #expect(invoices.count == 1)
            let total = Money(amountCents: ConformanceDocuments.invoiceTotalCents(version: 2), currency: try Currency(code: "USD"))
            #expect(invoices.first?["total"]?.numberText.flatMap { try? Money(parsing: $0, currency: total.currency) } == total)
        }
    }

    @Test("a credit note is applied to its invoice once: a retried job applies nothing more, a larger credit only the rest")
    func creditAppliedOnce() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try bed.provider(tokens: InMemoryTokenStore())
            let customer = try await provider.upsertCustomer(try ConformanceDocuments.customer("cn-cus"), target: bed.target())
            let invoice = try await provider.upsertInvoice(
                try ConformanceDocuments.invoice("cn-inv", customerID: "cn-cus"), customerRef: customer, target: bed.target())
            let usd = try Currency(code: "USD")
            func applied() -> Money? {
                bed.records("invoices").first?["credits_applied"]?.numberText.flatMap { try? Money(parsing: $0, currency: usd) }
            }
            // Counts the further requests the provider paces.
            let further = Mutex(0)
            var target = bed.target()
            target.beforeFurtherRequest = { further.withLock { $0 += 1 } }

            let memo1 = try ConformanceDocuments.creditNote("cn-1", invoiceID: "cn-inv")
            let id = try await provider.upsertCreditMemo(memo1, customerRef: customer, invoiceRef: invoice, target: target)
            #expect(applied() == Money(amountCents: memo1.appliedToInvoiceCents, currency: usd))
            #expect(further.withLock { $0 } == 1, "the application is the job's second request")

            // The job again (its answer lost after both requests): nothing more is applied.
            let again = try await provider.upsertCreditMemo(memo1, customerRef: customer, invoiceRef: invoice, target: target)
            #expect(again == id)
            #expect(applied() == Money(amountCents: memo1.appliedToInvoiceCents, currency: usd))
            #expect(further.withLock { $0 } == 1, "nothing to apply: no further request")

            // A larger credit note: only the difference is applied.
            let memo2 = try ConformanceDocuments.creditNote("cn-1", invoiceID: "cn-inv", version: 2)
            _ = try await provider.upsertCreditMemo(memo2, customerRef: customer, invoiceRef: invoice, target: target)
            #expect(applied() == Money(amountCents: memo2.appliedToInvoiceCents, currency: usd))
            #expect(bed.records("creditnotes").count == 1)
        }
    }

    @Test("a linked record is updated by its id, never matched or created by the billing id")
    func linkedRecordUpdatedByID() async throws {
        try await ZohoTestBed.run { bed in
            let client = try bed.client(tokens: InMemoryTokenStore())
            let created = try await client.send(
                "POST", "contacts", body: .object([("contact_name", .string("Made in Zoho")), ("contact_type", .string("customer"))]))
            let zohoID = try #require(created["contact"]?["contact_id"]?.stringValue)
            let provider = try bed.provider(tokens: InMemoryTokenStore())
            var target = bed.target()
            target.existingProviderID = zohoID
            target.existingIsLinked = true
            let written = try await provider.upsertCustomer(try ConformanceDocuments.customer("linked-1"), target: target)
            #expect(written == zohoID)
            #expect(bed.records("contacts").count == 1)

            target.existingProviderID = "460000000099999"
            let gone = await #expect(throws: SyncError.self) {
                try await provider.upsertCustomer(try ConformanceDocuments.customer("linked-1"), target: target)
            }
            #expect(gone?.errorClass == .permanent)
            #expect(gone?.message.contains("refs link") == true, "\(String(describing: gone))")
        }
    }

    @Test("settings.unique_field names the upsert's custom field; a field Zoho does not take as unique is refused, pointing at the set-up")
    func uniqueFieldSetting() async throws {
        var configuration = ZohoBooksSimulator.Configuration()
        configuration.uniqueCustomFields = ["contacts": ["cf_billing_ref"]]
        try await ZohoTestBed.run(configuration) { bed in
            let provider = try ZohoBooksDriver().makeProvider(
                for: bed.connection(extra: ["unique_field": "cf_billing_ref"]), context: bed.context(tokens: InMemoryTokenStore()))
            let first = try await provider.upsertCustomer(try ConformanceDocuments.customer("uf-1"), target: bed.target())
            let second = try await provider.upsertCustomer(try ConformanceDocuments.customer("uf-1", version: 2), target: bed.target())
            #expect(first == second)
            #expect(bed.records("contacts").count == 1)
            #expect(bed.records("contacts").first.flatMap { ZohoTestBed.billingID($0, field: "cf_billing_ref") } == "uf-1")

            let plain = try bed.provider(tokens: InMemoryTokenStore())
            let error = await #expect(throws: SyncError.self) {
                try await plain.upsertCustomer(try ConformanceDocuments.customer("uf-2"), target: bed.target())
            }
            #expect(error?.errorClass == .permanent)
            #expect(error?.message.contains("cf_ledgersync_id") == true)
            #expect(error?.message.contains("connections test") == true, "\(String(describing: error))")
        }
        let bad = #expect(throws: StoreError.self) {
            try ZohoBooksDriver().validateSettings(.init(extra: ["unique_field": "ledgersync id"]))
        }
        #expect(bad?.field == "settings.unique_field")
    }

    @Test("a connection without a refresh token or a token store is refused with the field named")
    func clearConfigurationErrors() async throws {
        try await ZohoTestBed.run { bed in
            let noRefresh = ConnectionSecrets(["client_id": "1000.X", "client_secret": "s", "grant_code": "1000.code"])
            let error = #expect(throws: StoreError.self) { try bed.provider(tokens: InMemoryTokenStore(), secrets: noRefresh) }
            #expect(error?.field == "secrets.refresh_token")
            let noStore = #expect(throws: StoreError.self) {
                try ZohoBooksDriver().makeProvider(for: bed.connection(), context: ProviderContext(http: bed.http))
            }
            #expect(noStore?.field == "secrets")
        }
    }
}

@Suite("Zoho Books payments against the simulator", .timeLimit(.minutes(2)))
struct ZohoBooksPaymentTests {
    @Test("one payment spread over three invoices: each invoice gets exactly its amount, once, and an update moves the amounts")
    func paymentSpreadOverInvoices() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try bed.provider(tokens: InMemoryTokenStore())
            let target = bed.target()
            let usd = try Currency(code: "USD")
            let customer = try await provider.upsertCustomer(try ConformanceDocuments.customer("pay-cus"), target: target)
            var refs: [String: String] = [:]
            for n in 1...3 {
                refs["pay-inv-\(n)"] = try await provider.upsertInvoice(
                    try ConformanceDocuments.invoice("pay-inv-\(n)", customerID: "pay-cus"), customerRef: customer, target: target)
            }
            func payment(_ amounts: [Int64]) throws -> BillingPayment {
                let ids = (1...3).map { "pay-inv-\($0)" }
                let object: [String: Any] = [
                    "payment": [
                        "lago_id": "pay-1", "invoice_ids": ids, "amount_cents": amounts.reduce(0, +), "amount_currency": "USD",
                        "payment_status": "succeeded", "type": "manual", "reference": "wire pay-1", "paid_at": "2026-11-10",
                        "invoice_amounts": zip(ids, amounts).map { ["invoice_id": $0.0, "amount_cents": $0.1] },
                    ] as [String: Any]
                ]
                let text = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
                return try DocumentDecoder.decode(BillingPayment.self, from: text)
            }
            func paid(_ invoiceID: String) -> Money? {
                let invoice = bed.records("invoices").first { ZohoBooksProvider.idText($0["invoice_id"]) == invoiceID }
                return invoice?["payment_made"]?.numberText.flatMap { try? Money(parsing: $0, currency: usd) }
            }
            let first = try await provider.upsertPayment(
                payment([1_001, 2_550, 7]), customerRef: customer, invoiceRefs: refs, target: target)
            // The job again (its answer lost): the same payment, the same applications.
            let again = try await provider.upsertPayment(
                payment([1_001, 2_550, 7]), customerRef: customer, invoiceRefs: refs, target: target)
            #expect(first == again)
            #expect(bed.records("customerpayments").count == 1)
            #expect(bed.records("customerpayments").first?["amount"]?.numberText == "35.58")
            #expect(paid(refs["pay-inv-1"] ?? "") == Money(amountCents: 1_001, currency: usd))
            #expect(paid(refs["pay-inv-2"] ?? "") == Money(amountCents: 2_550, currency: usd))
            #expect(paid(refs["pay-inv-3"] ?? "") == Money(amountCents: 7, currency: usd))

            // The payment updated with other amounts: the invoices hold the new ones.
            _ = try await provider.upsertPayment(payment([500, 0 + 1, 3_000]), customerRef: customer, invoiceRefs: refs, target: target)
            #expect(bed.records("customerpayments").count == 1)
            #expect(paid(refs["pay-inv-1"] ?? "") == Money(amountCents: 500, currency: usd))
            #expect(paid(refs["pay-inv-2"] ?? "") == Money(amountCents: 1, currency: usd))
            #expect(paid(refs["pay-inv-3"] ?? "") == Money(amountCents: 3_000, currency: usd))
        }
    }
}

@Suite("Zoho Books refunds and voids against the simulator", .timeLimit(.minutes(2)))
struct ZohoBooksRefundAndVoidTests {
    /// A credit note of 20.00 on `invoiceID`: 15.00 credited to the invoice, 5.00 refunded.
    static func memo(_ id: String, invoiceID: String) throws -> BillingCreditMemo {
        let note: [String: Any] = [
            "lago_id": id, "number": "CN-\(id)", "lago_invoice_id": invoiceID, "issuing_date": "2026-11-02",
            "currency": "USD", "reason": "other", "description": "Refund test",
            "items": [["lago_id": "\(id)-item", "amount_cents": 2_000, "amount_currency": "USD"]],
            "sub_total_excluding_taxes_amount_cents": 2_000, "coupons_adjustment_amount_cents": 0,
            "taxes_amount_cents": 0, "total_amount_cents": 2_000, "credit_amount_cents": 1_500, "refund_amount_cents": 500,
        ]
        let text = String(
            decoding: try JSONSerialization.data(withJSONObject: ["credit_note": note], options: [.sortedKeys]), as: UTF8.self)
        return try DocumentDecoder.decode(BillingCreditMemo.self, from: text)
    }

    @Test("a credit note's refund is made once: the job again finds it; every request of the refund is paced")
    func refundOnce() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try bed.provider(tokens: InMemoryTokenStore())
            let customer = try await provider.upsertCustomer(try ConformanceDocuments.customer("rf-cus"), target: bed.target())
            let invoice = try await provider.upsertInvoice(
                try ConformanceDocuments.invoice("rf-inv", customerID: "rf-cus"), customerRef: customer, target: bed.target())
            let memo = try Self.memo("rf-1", invoiceID: "rf-inv")
            let further = Mutex(0)
            var target = bed.target()
            target.beforeFurtherRequest = { further.withLock { $0 += 1 } }
            let note = try await provider.upsertCreditMemo(memo, customerRef: customer, invoiceRef: invoice, target: target)
            #expect(further.withLock { $0 } == 1)
            let refund = try await provider.upsertCustomerRefund(memo, customerRef: customer, creditMemoRef: note, target: target)
            #expect(further.withLock { $0 } == 3, "the read and the refund both follow the credit note's requests")
            let again = try await provider.upsertCustomerRefund(memo, customerRef: customer, creditMemoRef: note, target: target)
            #expect(again == refund)
            #expect(further.withLock { $0 } == 4, "the job again: one read, no second refund")
            let held = try #require(bed.records("creditnotes").first)
            #expect(held["creditnote_refunds"]?.arrayValue?.count == 1)
            #expect(held["balance"]?.numberText.flatMap { ExactDecimal($0) } == ExactDecimal(0))
        }
    }

    @Test("an invoice is voided, and voiding it again counts as done")
    func voidTwice() async throws {
        try await ZohoTestBed.run { bed in
            let provider = try bed.provider(tokens: InMemoryTokenStore())
            let customer = try await provider.upsertCustomer(try ConformanceDocuments.customer("vd-cus"), target: bed.target())
            let document = try ConformanceDocuments.invoice("vd-inv", customerID: "vd-cus")
            let invoice = try await provider.upsertInvoice(document, customerRef: customer, target: bed.target())
            var target = bed.target()
            target.existingProviderID = invoice
            #expect(try await provider.voidInvoice(document, customerRef: customer, target: target) == invoice)
            #expect(try await provider.voidInvoice(document, customerRef: customer, target: target) == invoice)
            #expect(bed.records("invoices").first?["status"]?.stringValue == "void")
            // Nothing recorded to void: the job waits for the invoice's push.
            let unknown = await #expect(throws: SyncError.self) {
                try await provider.voidInvoice(document, customerRef: customer, target: bed.target())
            }
            #expect(unknown?.errorClass == .dependency)
        }
    }
}
